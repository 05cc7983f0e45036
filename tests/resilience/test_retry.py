"""Tests of telebot.resilience.retry: classification, Retry-After, backoff, the loop."""

from __future__ import annotations

import datetime as dtm
import email.utils
import random
import statistics
import threading

import pytest
import requests.exceptions as rex
import telegram.error as tge
import urllib3.exceptions as uex
from hypothesis import given
from hypothesis import strategies as st

from telebot.errors import (
    BadInputError,
    CircuitOpenError,
    DownloadError,
    HTTPStatusError,
    SecurityError,
    TaskCancelled,
    TransientError,
)
from telebot.resilience.retry import (
    PartialProgress,
    RetryPolicy,
    call_with_retry,
    default_is_transient,
    parse_retry_after,
    retry,
    retry_after_of,
)
from tests.resilience.conftest import FakeClock

TRANSIENT = [
    TransientError("flaky"),
    HTTPStatusError(408, "h"),
    HTTPStatusError(425, "h"),
    HTTPStatusError(429, "h"),
    HTTPStatusError(500, "h"),
    HTTPStatusError(503, "h"),
    rex.ConnectionError("refused"),
    rex.ConnectTimeout("slow"),
    rex.ReadTimeout("slow"),
    rex.ChunkedEncodingError("cut"),
    uex.ProtocolError("cut"),
    uex.ReadTimeoutError(None, "/", "slow"),  # type: ignore[arg-type]
    ConnectionResetError(104, "reset"),
    TimeoutError("slow"),
    tge.RetryAfter(3),
    tge.TimedOut(),
    tge.NetworkError("httpx.ConnectError: boom"),
]
PERMANENT = [
    TaskCancelled("stop"),
    CircuitOpenError("h", 3.0),
    BadInputError("no link"),
    SecurityError("private address"),
    HTTPStatusError(400, "h"),
    HTTPStatusError(403, "h"),
    HTTPStatusError(404, "h"),
    HTTPStatusError(416, "h"),
    DownloadError("bad archive"),
    rex.SSLError("certificate verify failed"),
    rex.InvalidURL("nope"),
    tge.BadRequest("Message is not modified"),
    tge.Forbidden("bot was blocked"),
    tge.InvalidToken(),
    ValueError("bug"),
    KeyError("bug"),
    OSError(28, "No space left on device"),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=repr)
def test_transient_errors_are_retried(exc: BaseException) -> None:
    assert default_is_transient(exc)


@pytest.mark.parametrize("exc", PERMANENT, ids=repr)
def test_permanent_errors_are_not_retried(exc: BaseException) -> None:
    assert not default_is_transient(exc)


def test_retry_after_of_reads_numbers_timedeltas_and_ptb() -> None:
    assert retry_after_of(TransientError("x", retry_after=2.5)) == 2.5
    assert retry_after_of(HTTPStatusError(429, "h", retry_after=7)) == 7.0
    assert retry_after_of(tge.RetryAfter(dtm.timedelta(seconds=12))) == 12.0
    assert retry_after_of(tge.RetryAfter(4)) == 4.0
    assert retry_after_of(TransientError("x")) is None
    assert retry_after_of(ValueError("x")) is None


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_retry_after_of_ignores_nonsense(bad: object) -> None:
    exc = TransientError("x")
    exc.retry_after = bad  # type: ignore[assignment]
    assert retry_after_of(exc) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (" 3 ", 3.0), ("1.5", 1.5), ("0", 0.0), (None, None), ("", None),
     ("-5", None), ("soon", None), ("1e3", None), ("inf", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=0.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0  # past
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 -0000", now=now) == 30.0
    assert parse_retry_after("Wed, 99 Foo 2015 07:28:30 GMT", now=now) is None


@given(st.integers(min_value=0, max_value=10**6), st.floats(min_value=0, max_value=2e9))
def test_parse_retry_after_round_trips_dates(offset: int, now: float) -> None:
    when = int(now) + offset
    header = email.utils.formatdate(when, usegmt=True)
    assert parse_retry_after(header, now=float(int(now))) == float(offset)


def test_policy_validates() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=5, max_delay=1)
    with pytest.raises(ValueError):
        RetryPolicy(deadline=-1)
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.attempts = 3  # type: ignore[misc]


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=10),
    cap_extra=st.floats(min_value=0, max_value=100),
    u=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_stays_within_full_jitter_bounds(
    attempt: int, base: float, cap_extra: float, u: float
) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=base + cap_extra)
    cap = min(policy.max_delay, base * 2 ** min(attempt - 1, 62))
    delay = policy.delay(attempt, lambda: u)
    assert 0 <= delay <= cap
    assert delay <= policy.max_delay
    assert delay == pytest.approx(u * cap)


@given(st.integers(min_value=1, max_value=8), st.integers(min_value=0, max_value=2**32))
def test_jitter_spreads_over_the_whole_range(attempt: int, seed: int) -> None:
    # A seeded PRNG, not Hypothesis' adversarial randoms: this checks the spread
    # a real random source gives, for any seed.
    rnd = random.Random(seed)
    policy = RetryPolicy(base_delay=1.0, max_delay=1000.0)
    cap = policy.backoff_cap(attempt)
    delays = [policy.delay(attempt, rnd.random) for _ in range(400)]
    # Full jitter is uniform on [0, cap): mean cap/2, both ends reached.
    assert statistics.fmean(delays) == pytest.approx(cap / 2, rel=0.15)
    assert min(delays) < 0.1 * cap
    assert max(delays) > 0.9 * cap
    assert all(0 <= d < cap for d in delays)


def test_backoff_cap_doubles_then_saturates() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [policy.backoff_cap(k) for k in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


class Flaky:
    """Fails with the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(fn: Flaky, policy: RetryPolicy, clock: FakeClock, **kwargs: object) -> str:
    return call_with_retry(fn, policy, clock=clock, sleep=clock.sleep, rng=lambda: 0.5,
                           **kwargs)  # type: ignore[arg-type]


def test_retries_transient_errors_with_backoff(clock: FakeClock) -> None:
    fn = Flaky(TransientError("a"), rex.ConnectionError("b"), TimeoutError("c"))
    seen: list[tuple[int, str, float]] = []
    result = run(fn, RetryPolicy(base_delay=1, max_delay=10), clock,
                 on_retry=lambda n, e, d: seen.append((n, type(e).__name__, d)))
    assert result == "ok"
    assert fn.calls == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert seen == [(1, "TransientError", 0.5), (2, "ConnectionError", 1.0),
                    (3, "TimeoutError", 2.0)]


def test_success_needs_no_sleep(clock: FakeClock) -> None:
    assert run(Flaky(), RetryPolicy(), clock) == "ok"
    assert clock.sleeps == []


def test_permanent_error_raised_at_once(clock: FakeClock) -> None:
    fn = Flaky(HTTPStatusError(404, "h"))
    with pytest.raises(HTTPStatusError):
        run(fn, RetryPolicy(), clock)
    assert fn.calls == 1 and clock.sleeps == []


def test_gives_up_after_attempts_with_last_error(clock: FakeClock) -> None:
    fn = Flaky(*(TransientError(str(i)) for i in range(10)))
    with pytest.raises(TransientError, match=r"^2$"):
        run(fn, RetryPolicy(attempts=3), clock)
    assert fn.calls == 3 and len(clock.sleeps) == 2


def test_partial_progress_starts_the_count_and_deadline_over(clock: FakeClock) -> None:
    # 3 attempts allowed; a failure after progress resets the count, so 2 + 3 failures pass.
    fn = Flaky(TransientError("a"), PartialProgress("cut after bytes"), TransientError("b"),
               TransientError("c"))
    policy = RetryPolicy(attempts=3, base_delay=1, max_delay=100, deadline=2.0)
    assert run(fn, policy, clock) == "ok"
    assert fn.calls == 5
    # the backoff starts over too: 0.5 (after "a"), 0.5 (progress), 0.5, 1.0
    assert clock.sleeps == [0.5, 0.5, 0.5, 1.0]


def test_server_retry_after_wins_and_is_capped(clock: FakeClock) -> None:
    fn = Flaky(tge.RetryAfter(dtm.timedelta(seconds=7)), HTTPStatusError(429, "h", retry_after=999))
    assert run(fn, RetryPolicy(max_retry_after=60, deadline=None), clock) == "ok"
    assert clock.sleeps == [7.0, 60.0]


def test_never_sleeps_past_the_deadline(clock: FakeClock) -> None:
    fn = Flaky(*(TransientError("x") for _ in range(10)))
    policy = RetryPolicy(attempts=10, base_delay=4, max_delay=4, deadline=5.0)
    with pytest.raises(TransientError):
        call_with_retry(fn, policy, clock=clock, sleep=clock.sleep, rng=lambda: 0.99)
    assert sum(clock.sleeps) <= 5.0
    assert fn.calls == 2  # 3.96 s fits; the next wait would end at 7.92 s


def test_deadline_counts_time_spent_in_calls(clock: FakeClock) -> None:
    def slow_failure() -> None:
        clock.advance(100)
        raise TransientError("slow")

    with pytest.raises(TransientError):
        call_with_retry(slow_failure, RetryPolicy(deadline=50), clock=clock,
                        sleep=clock.sleep)
    assert clock.sleeps == []


def test_cancel_before_start_and_during_wait(clock: FakeClock) -> None:
    cancel = threading.Event()
    cancel.set()
    fn = Flaky()
    with pytest.raises(TaskCancelled):
        run(fn, RetryPolicy(), clock, cancel=cancel)
    assert fn.calls == 0

    cancel = threading.Event()
    fn = Flaky(TransientError("x"))
    with pytest.raises(TaskCancelled):
        call_with_retry(fn, RetryPolicy(), clock=clock, sleep=lambda s: cancel.set(),
                        cancel=cancel)
    assert fn.calls == 1


def test_cancel_interrupts_a_real_wait() -> None:
    """Without an injected sleep the wait is cancel.wait(): setting it ends the wait."""
    cancel = threading.Event()
    started = threading.Event()
    outcome: list[BaseException] = []

    def fn() -> None:
        started.set()
        raise TransientError("x", retry_after=3600)  # would wait an hour

    def worker() -> None:
        try:
            call_with_retry(fn, RetryPolicy(deadline=None, max_retry_after=3600), cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(5)
    cancel.set()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], TaskCancelled)
    assert isinstance(outcome[0].__context__, TransientError)


def test_keyboard_interrupt_is_not_caught(clock: FakeClock) -> None:
    fn = Flaky(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run(fn, RetryPolicy(), clock)
    assert fn.calls == 1


def test_retry_resumes_where_the_callable_left_off(clock: FakeClock) -> None:
    """A callable that keeps its progress continues instead of starting over."""
    payload = bytes(range(256)) * 40
    received = bytearray()
    cuts = [1000, 5000]

    def fetch_rest() -> bytes:
        start = len(received)  # like a Range: bytes=<start>- request
        end = cuts.pop(0) if cuts else len(payload)
        received.extend(payload[start:end])
        if end < len(payload):
            raise rex.ChunkedEncodingError("connection dropped mid-body")
        return bytes(received)

    assert call_with_retry(fetch_rest, RetryPolicy(), clock=clock, sleep=clock.sleep) == payload


def test_decorator_passes_arguments_and_keeps_metadata(clock: FakeClock) -> None:
    calls: list[tuple[int, int]] = []

    @retry(RetryPolicy(), clock=clock, sleep=clock.sleep, rng=lambda: 0.0)
    def add(a: int, b: int = 0) -> int:
        """Add two numbers."""
        calls.append((a, b))
        if len(calls) < 3:
            raise TransientError("again")
        return a + b

    assert add(2, b=3) == 5
    assert calls == [(2, 3)] * 3
    assert add.__name__ == "add" and add.__doc__ == "Add two numbers."
