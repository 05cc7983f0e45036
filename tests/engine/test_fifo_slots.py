"""FifoSlots: a counting semaphore that serves waiters in arrival order."""

from __future__ import annotations

import threading
from functools import partial

import pytest

from telebot.engine.manager import FifoSlots
from telebot.errors import TaskCancelled
from tests.engine.fakes import WAIT, wait_until


class Waiter:
    """Acquires ``key`` on its own thread and records when it got in (or was cancelled)."""

    def __init__(self, slots: FifoSlots, key: str, got_in: list[str]) -> None:
        self.key = key
        self.cancel = threading.Event()
        self.entered = threading.Event()
        self.outcome: str | None = None
        self._slots = slots
        self._got_in = got_in
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._slots.acquire(self.key, self.cancel)
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
    for expected in "abcd":
        slots.release()
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
    slots.release()
    assert waiters[0].entered.wait(WAIT)
    assert not waiters[1].entered.is_set()
    slots.release()
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
    slots.release()
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
