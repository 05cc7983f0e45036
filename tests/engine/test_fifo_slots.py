"""FifoSlots: a counting semaphore that serves waiters in arrival order."""

from __future__ import annotations

import threading
from functools import partial

import pytest

from telebot.engine.slots import FifoSlots
from telebot.errors import TaskCancelled
from tests.engine.fakes import WAIT, wait_until


class Waiter:
    """Acquires ``key`` on its own thread and records when it got in (or was cancelled)."""

    def __init__(
        self, slots: FifoSlots, key: str, got_in: list[str], *, first: bool = False
    ) -> None:
        self.key = key
        self.first = first
        self.cancel = threading.Event()
        self.entered = threading.Event()
        self.outcome: str | None = None
        self._slots = slots
        self._got_in = got_in
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._slots.acquire(self.key, self.cancel, first=self.first)
        except TaskCancelled:
            self.outcome = "cancelled"
        else:
            self.outcome = "in"
            self._got_in.append(self.key)
        self.entered.set()

    def join(self) -> None:
        self._thread.join(WAIT)
        assert not self._thread.is_alive()


def is_queued(slots: FifoSlots, key: str) -> bool:
    return slots.position(key) is not None


def queue_up(slots: FifoSlots, keys: list[str], got_in: list[str]) -> list[Waiter]:
    """Start waiters one by one, each only after the previous one is queued (a known order)."""
    waiters = []
    for key in keys:
        waiters.append(Waiter(slots, key, got_in))
        wait_until(partial(is_queued, slots, key), what=f"{key} queued")
    return waiters


def test_waiters_enter_in_arrival_order_and_see_their_place() -> None:
    slots = FifoSlots(1)
    got_in: list[str] = []
    slots.acquire("holder", threading.Event())
    waiters = queue_up(slots, ["a", "b", "c", "d"], got_in)
    assert [slots.position(k) for k in "abcd"] == [1, 2, 3, 4]
    holder = "holder"
    for expected in "abcd":
        slots.release(holder)
        holder = expected
        waiter = next(w for w in waiters if w.key == expected)
        assert waiter.entered.wait(WAIT)
        assert slots.position(expected) is None
    assert got_in == list("abcd")
    for waiter in waiters:
        waiter.join()


def test_limit_is_never_exceeded() -> None:
    slots = FifoSlots(2)
    got_in: list[str] = []
    slots.acquire("h1", threading.Event())
    slots.acquire("h2", threading.Event())
    waiters = queue_up(slots, ["a", "b"], got_in)
    # Both holders in: nobody else may enter, however often the waiters are woken.
    for _ in range(3):
        slots.wake()
    assert not any(w.entered.is_set() for w in waiters)
    slots.release("h1")
    assert waiters[0].entered.wait(WAIT)
    assert not waiters[1].entered.is_set()
    slots.release("h2")
    assert waiters[1].entered.wait(WAIT)
    for waiter in waiters:
        waiter.join()


def test_cancel_while_waiting_leaves_the_queue_and_unblocks_the_next() -> None:
    slots = FifoSlots(1)
    got_in: list[str] = []
    slots.acquire("holder", threading.Event())
    first, second = queue_up(slots, ["a", "b"], got_in)
    first.cancel.set()
    slots.wake()
    assert first.entered.wait(WAIT)
    assert first.outcome == "cancelled"
    assert slots.position("a") is None
    assert slots.position("b") == 1
    slots.release("holder")
    assert second.entered.wait(WAIT)
    assert got_in == ["b"]
    first.join()
    second.join()


def test_cancelled_before_acquire_raises_even_with_a_free_slot() -> None:
    slots = FifoSlots(1)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TaskCancelled):
        slots.acquire("a", cancel)
    # The failed acquire took no slot.
    slots.acquire("b", threading.Event())
    assert slots.position("b") is None


def test_zero_means_unlimited() -> None:
    slots = FifoSlots(0)
    for n in range(50):
        slots.acquire(f"k{n}", threading.Event())
    assert slots.position("k0") is None


def test_a_key_that_gave_its_slot_back_is_not_released_twice() -> None:
    slots = FifoSlots(1)
    slots.acquire("menu", threading.Event())
    slots.release("menu")  # outside_queue: a menu waits without the slot
    slots.release("menu")  # _stage's own release afterwards must not free a second one
    slots.acquire("x", threading.Event())
    got_in: list[str] = []
    [waiter] = queue_up(slots, ["y"], got_in)
    assert not waiter.entered.is_set() and slots.holds("x") and not slots.holds("menu")
    slots.release("x")
    assert waiter.entered.wait(WAIT)
    waiter.join()


def test_first_goes_to_the_head_of_the_line() -> None:
    slots = FifoSlots(1)
    got_in: list[str] = []
    slots.acquire("holder", threading.Event())
    queue_up(slots, ["a", "b"], got_in)
    back = Waiter(slots, "menu", got_in, first=True)
    wait_until(partial(is_queued, slots, "menu"), what="menu queued")
    assert slots.position("menu") == 1
    slots.release("holder")
    assert back.entered.wait(WAIT)
    assert got_in == ["menu"]
