"""Tests of telebot.resilience.ratelimit: buckets, keyed limiters, flood gates, Telegram."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebot.errors import TaskCancelled
from telebot.resilience.ratelimit import (
    FloodGate,
    KeyedLimiter,
    RateLimited,
    TelegramLimiter,
    TokenBucket,
)
from telebot.resilience.retry import default_is_transient
from tests.resilience.conftest import FakeClock

WAIT = 10.0  # bound for event waits; only reached when a test fails
EPS = 1e-9


def max_in_window(times: list[float], width: float) -> int:
    """The most grants in any half-open interval [t, t + width)."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= width - EPS:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_bucket_starts_full_and_refills_up_to_capacity(clock: FakeClock) -> None:
    bucket = TokenBucket(2, 3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_acquire() and not bucket.try_acquire()
    clock.advance(100)
    assert bucket.is_full()
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_bucket_validates(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1, 0)
    with pytest.raises(ValueError):
        TokenBucket(1, 2, clock=clock).acquire(3)


def test_acquire_waits_for_its_tokens(clock: FakeClock) -> None:
    bucket = TokenBucket(4, 1, clock=clock, sleep=clock.sleep)
    start = clock()
    for _ in range(9):
        assert bucket.acquire()
    assert clock() - start == pytest.approx(2.0)  # 1 free, then 8 at 4/s
    assert clock.sleeps == [pytest.approx(0.25)] * 8


def test_acquire_gives_up_at_once_when_the_wait_exceeds_the_timeout(clock: FakeClock) -> None:
    bucket = TokenBucket(1, 1, clock=clock, sleep=clock.sleep)
    assert bucket.acquire()
    assert bucket.acquire(timeout=0.5) is False
    assert clock.sleeps == []  # no waiting in vain
    assert bucket.acquire(timeout=1.0) is True
    assert clock.sleeps == [1.0]


def test_cancelled_acquire_raises_and_gives_tokens_back(clock: FakeClock) -> None:
    cancel = threading.Event()
    bucket = TokenBucket(1, 1, clock=clock, sleep=lambda s: cancel.set())
    assert bucket.acquire()
    with pytest.raises(TaskCancelled):
        bucket.acquire(cancel=cancel)
    clock.advance(1)
    assert bucket.try_acquire()  # the cancelled reservation was refunded


def test_cancel_interrupts_a_real_wait() -> None:
    bucket = TokenBucket(0.001, 1)  # the next token is 1000 s away
    assert bucket.acquire()
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def worker() -> None:
        try:
            bucket.acquire(cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    cancel.set()
    thread.join(WAIT)
    assert not thread.is_alive() and isinstance(outcome[0], TaskCancelled)


@settings(max_examples=150)
@given(
    rate=st.sampled_from([0.3, 1.0, 2.5, 29.0]),
    capacity=st.sampled_from([1.0, 2.0, 3.0, 5.0]),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=3), st.sampled_from([0.5, 1.0, 2.0])),
        min_size=1, max_size=60,
    ),
)
def test_no_interval_ever_exceeds_capacity_plus_rate(
    rate: float, capacity: float, steps: list[tuple[float, float]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, capacity, clock=clock, sleep=clock.sleep)
    grants: list[tuple[float, float]] = []
    for idle, n in steps:
        clock.advance(idle)
        if n <= capacity and bucket.acquire(n):
            grants.append((clock(), n))
    for i, (t_i, _) in enumerate(grants):
        taken = 0.0
        for t_j, n in grants[i:]:
            taken += n
            assert taken <= capacity + rate * (t_j - t_i) + 1e-6


def test_32_threads_never_get_more_tokens_than_were_made(clock: FakeClock) -> None:
    """Lost updates under contention would grant extra tokens; count them all."""
    rate, capacity, step = 64.0, 4.0, 0.0625  # exact binary fractions: 4 tokens a step
    bucket = TokenBucket(rate, capacity, clock=clock)
    granted = [0]
    cond = threading.Condition()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            if bucket.try_acquire():
                with cond:
                    granted[0] += 1
                    cond.notify_all()

    threads = [threading.Thread(target=hammer) for _ in range(32)]
    for thread in threads:
        thread.start()
    try:
        for k in range(1, 21):
            with cond:
                assert cond.wait_for(lambda k=k: granted[0] >= 4 * k, WAIT)  # type: ignore[misc]
            clock.advance(step)
        with cond:
            assert cond.wait_for(lambda: granted[0] >= 84, WAIT)
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT)
    assert granted[0] == capacity + rate * step * 20  # 84: not one more


def test_blocking_acquire_across_threads_keeps_the_rate() -> None:
    """Real clock: 160 tokens at 400/s with a burst of 2 take at least 0.395 s."""
    bucket = TokenBucket(400, 2)
    go = threading.Barrier(8)

    def worker() -> None:
        go.wait(WAIT)
        for _ in range(20):
            assert bucket.acquire(timeout=WAIT)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert time.monotonic() - start >= (160 - 2) / 400 - 0.005


def test_keyed_limiter_has_a_bucket_per_key(clock: FakeClock) -> None:
    limiter = KeyedLimiter(lambda key: TokenBucket(1, 1, clock=clock, sleep=clock.sleep))
    assert limiter.try_acquire("a") and limiter.try_acquire("b")
    assert not limiter.try_acquire("a")
    assert limiter.acquire("a", timeout=0) is False
    assert limiter.acquire("a") is True and clock.sleeps == [1.0]


def test_keyed_limiter_forgets_only_full_buckets(clock: FakeClock) -> None:
    limiter = KeyedLimiter(lambda key: TokenBucket(1, 1, clock=clock), max_keys=3)
    assert limiter.try_acquire("busy")
    for key in ["x", "y", "z", "w"]:
        limiter.bucket(key)
    assert len(limiter) <= 3
    assert not limiter.try_acquire("busy")  # its state survived


def test_flood_gate_blocks_a_key_until_its_time(clock: FakeClock) -> None:
    gate = FloodGate(clock=clock, sleep=clock.sleep)
    gate.block("chat", 5)
    gate.block("chat", 2)  # never shortens
    assert gate.wait_time("chat") == 5 and gate.wait_time("other") == 0
    assert gate.wait("chat", timeout=1) is False and clock.sleeps == []
    assert gate.wait("chat") is True and clock.sleeps == [5]
    assert gate.wait_time("chat") == 0


def test_flood_gate_waits_for_a_block_extended_meanwhile(clock: FakeClock) -> None:
    def sleep_while_another_429_arrives(seconds: float) -> None:
        first = not clock.sleeps
        clock.sleep(seconds)
        if first:
            gate.block("k", 3)

    gate = FloodGate(clock=clock, sleep=sleep_while_another_429_arrives)
    gate.block("k", 2)
    assert gate.wait("k") is True
    assert clock.sleeps == [2, 3]


def test_flood_gate_wait_can_be_cancelled(clock: FakeClock) -> None:
    cancel = threading.Event()
    gate = FloodGate(clock=clock, sleep=lambda s: cancel.set())
    gate.block(1, 10)
    with pytest.raises(TaskCancelled):
        gate.wait(1, cancel=cancel)


def _send_many(limiter: TelegramLimiter, clock: FakeClock, chats: list[int | str]) -> list[float]:
    times = []
    for chat in chats:
        assert limiter.acquire(chat)
        times.append(clock())
    return times


def test_telegram_private_chat_gets_about_one_a_second(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    times = _send_many(limiter, clock, [42] * 63)
    # A small burst goes at once, paced only by the global 30/s.
    assert times[2] - times[0] == pytest.approx(2 / 29)
    assert max_in_window(times, 60.0) <= 63  # 3 + 1/s * 60
    assert max_in_window(times[3:], 1.0) == 1
    assert times[-1] - times[0] == pytest.approx(60)


def test_telegram_group_never_exceeds_20_a_minute(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    times = _send_many(limiter, clock, [-100123] * 100)
    assert 19 <= max_in_window(times, 60.0) <= 20  # the limit, and not far below it
    channel = _send_many(limiter, clock, ["@news"] * 50)
    assert 19 <= max_in_window(channel, 60.0) <= 20


def test_telegram_overall_never_exceeds_30_a_second(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    times = _send_many(limiter, clock, list(range(1, 601)))  # 600 chats, one each
    assert max_in_window(times, 1.0) <= 30
    assert times[-1] - times[0] == pytest.approx(599 / 29)


def test_telegram_429_blocks_that_chat_only(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    limiter.note_retry_after(42, 7)
    assert limiter.wait_time("42") == 7  # "42" and 42 are the same chat
    assert limiter.acquire(43) and clock.sleeps == []
    assert limiter.acquire(42, timeout=1) is False and clock.sleeps == []
    with pytest.raises(RateLimited) as info:
        limiter.acquire_or_raise(42, timeout=1)
    assert default_is_transient(info.value)
    assert limiter.acquire(42) and clock.sleeps == [7]


def test_telegram_global_429_blocks_every_chat(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    limiter.note_retry_after(42, 4, global_=True)
    assert limiter.acquire(99)
    assert clock.sleeps == [4]


def test_telegram_timeout_takes_nothing(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    _send_many(limiter, clock, [-5] * 2)  # the group's burst is spent
    assert limiter.acquire(-5, timeout=1) is False
    clock.advance(1 / 0.3)
    assert limiter.acquire(-5, timeout=0)  # exactly one token came back, none was lost


def test_telegram_a_call_that_sends_nothing_skips_the_chat_bucket(clock: FakeClock) -> None:
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    _send_many(limiter, clock, [42] * 3)  # the private chat's burst is spent
    spent = clock()
    # A delete waits only for the global 30/s, not the second the chat's next token takes...
    assert limiter.acquire(42, timeout=0.1, sends=False)
    assert clock() - spent < 0.1
    assert limiter.acquire(42, timeout=0) is False  # ...and the chat's budget is untouched
    limiter.note_retry_after(42, 5)  # a 429 still holds every call to the chat
    assert limiter.acquire(42, timeout=1, sends=False) is False
