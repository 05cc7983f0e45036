"""Tests of telebot.resilience.breaker: states, counting, threads, guarded_call."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import requests.exceptions as rex
import telegram.error as tge

from telebot.errors import (
    BadInputError,
    CircuitOpenError,
    HTTPStatusError,
    SecurityError,
    TaskCancelled,
    TransientError,
)
from telebot.resilience.breaker import (
    BUSY_RETRY_IN,
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    counts_against_health,
    guarded_call,
)
from telebot.resilience.errors import ErrorTracker
from telebot.resilience.ratelimit import RateLimited
from telebot.resilience.retry import AlreadyReported, PartialProgress, RetryPolicy
from tests.resilience.conftest import FakeClock

WAIT = 10.0  # generous bound for event waits; only reached when a test fails


def ok() -> str:
    return "ok"


def fail(exc: BaseException) -> Callable[[], None]:
    def raiser() -> None:
        raise exc

    return raiser


def breaker(clock: FakeClock, **config: float) -> CircuitBreaker:
    return CircuitBreaker("files.example", BreakerConfig(**config), clock=clock)  # type: ignore[arg-type]


def fail_times(b: CircuitBreaker, n: int, exc: BaseException | None = None) -> None:
    for _ in range(n):
        with pytest.raises(Exception):  # noqa: B017 - any of several kinds
            b.call(fail(exc or TransientError("down")))


@pytest.mark.parametrize(
    "exc",
    [TransientError("x"), HTTPStatusError(500, "h"), HTTPStatusError(503, "h"),
     HTTPStatusError(408, "h"), rex.ConnectionError("refused"), rex.ReadTimeout("slow"),
     ConnectionResetError(104, "reset"), TimeoutError(), tge.TimedOut(),
     tge.NetworkError("httpx.ReadError"), OSError(113, "No route to host")],
    ids=repr,
)
def test_health_failures_count(exc: BaseException) -> None:
    assert counts_against_health(exc)


@pytest.mark.parametrize(
    "exc",
    [HTTPStatusError(404, "h"), HTTPStatusError(403, "h"), HTTPStatusError(429, "h"),
     TaskCancelled("stop"), BadInputError("bad"), SecurityError("no"),
     CircuitOpenError("h", 1), TypeError("bug"), ValueError("bug"), KeyError("k"),
     AttributeError("a"), RuntimeError("Event loop is closed"), rex.InvalidURL("x"),
     tge.BadRequest("Message is not modified"), tge.RetryAfter(5), tge.Forbidden("blocked"),
     OSError(28, "No space left on device"), PermissionError(13, "denied"),
     RateLimited("no slot"), KeyboardInterrupt()],
    ids=repr,
)
def test_errors_saying_nothing_about_the_host_do_not_count(exc: BaseException) -> None:
    assert not counts_against_health(exc)


def test_opens_after_consecutive_failures_and_fails_fast(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=3, cool_down=30)
    fail_times(b, 2)
    assert b.state == "closed"
    fail_times(b, 1)
    assert b.state == "open"
    clock.advance(12)
    called = []
    with pytest.raises(CircuitOpenError) as info:
        b.call(lambda: called.append(1))
    assert not called
    assert info.value.key == "files.example"
    assert info.value.retry_in == pytest.approx(18)
    assert str(info.value) == "files.example is failing repeatedly; it will be tried again in 18 s"


def test_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=3, min_calls=1000)
    for _ in range(5):
        fail_times(b, 2)
        assert b.call(ok) == "ok"
    assert b.state == "closed"


def test_opens_on_failure_rate_once_min_calls_seen(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=100, min_calls=10, failure_rate=0.5)
    for _ in range(4):
        b.call(ok)
        fail_times(b, 1)
    assert b.state == "closed"  # 4 of 8: below min_calls
    b.call(ok)
    fail_times(b, 1)
    assert b.state == "open"  # 5 of 10 = 0.5


def test_failure_rate_window_slides(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=100, min_calls=4, failure_rate=0.5, window=60)
    fail_times(b, 3)
    clock.advance(61)  # those three are out of the window now
    b.call(ok)
    b.call(ok)
    b.call(ok)
    fail_times(b, 1)
    assert b.state == "closed"  # 1 of 4 in the window; 4 of 7 without sliding


def test_half_open_trial_success_closes(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=1, cool_down=30)
    fail_times(b, 1)
    clock.advance(29.5)
    assert b.state == "open" and b.retry_in() == pytest.approx(0.5)
    clock.advance(0.5)
    assert b.state == "half_open" and b.retry_in() == 0
    assert b.call(ok) == "ok"
    assert b.state == "closed"
    fail_times(b, 1)  # the outage's history was cleared: threshold counts afresh
    assert b.state == "open"


def test_half_open_trial_failure_reopens_with_new_cool_down(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=1, cool_down=30)
    fail_times(b, 1)
    clock.advance(30)
    fail_times(b, 1)
    assert b.state == "open"
    assert b.retry_in() == pytest.approx(30)


def test_neutral_error_gives_the_trial_slot_back(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=1, cool_down=5)
    fail_times(b, 1)
    clock.advance(5)
    fail_times(b, 1, HTTPStatusError(404, "h"))
    assert b.state == "half_open"
    assert b.call(ok) == "ok"  # the slot was free again
    assert b.state == "closed"


def test_partial_progress_is_a_success_and_already_reported_is_neutral(
        clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=2, min_calls=1000, cool_down=5)
    for _ in range(5):  # every other call breaks after bytes arrived: never opens
        fail_times(b, 1)
        fail_times(b, 1, PartialProgress("cut after bytes"))
    for _ in range(5):  # siblings of one outage: one failure, whatever their number
        fail_times(b, 1, AlreadyReported("refused"))
    assert b.state == "closed"
    fail_times(b, 2)
    clock.advance(5)
    fail_times(b, 1, PartialProgress("cut after bytes"))  # a trial that got bytes closes it
    assert b.state == "closed"


def test_neutral_errors_never_open(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=2, min_calls=2)
    for exc in [HTTPStatusError(404, "h"), TaskCancelled("x"), ValueError("bug")] * 5:
        fail_times(b, 1, exc)
    assert b.state == "closed"


def test_all_trial_slots_busy_fails_fast(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=1, cool_down=5)
    fail_times(b, 1)
    clock.advance(5)
    seen: list[float] = []

    def trial() -> str:
        with pytest.raises(CircuitOpenError) as info:
            b.call(ok)
        seen.append(info.value.retry_in)
        return "trial"

    assert b.call(trial) == "trial"
    assert seen == [BUSY_RETRY_IN]
    assert b.state == "closed"


def test_stale_trial_from_an_earlier_half_open_period_is_ignored(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=1, cool_down=5, half_open_max_calls=2)
    fail_times(b, 1)
    clock.advance(5)

    def trial_a() -> str:
        fail_times(b, 1)  # trial B fails meanwhile: open again
        assert b.state == "open"
        clock.advance(5)
        assert b.state == "half_open"  # a new half-open period began
        return "a"

    assert b.call(trial_a) == "a"
    # A belonged to the earlier period: its success is no trial of this one,
    # so two fresh trial successes are still needed to close.
    assert b.call(ok) == "ok"
    assert b.state == "half_open"
    assert b.call(ok) == "ok"
    assert b.state == "closed"


def test_late_failure_of_a_call_admitted_while_closed_is_ignored(clock: FakeClock) -> None:
    b = breaker(clock, failure_threshold=2, cool_down=30)

    def slow_call() -> None:
        fail_times(b, 2)  # others open the breaker while this call runs
        clock.advance(10)
        raise TransientError("late")

    with pytest.raises(TransientError):
        b.call(slow_call)
    assert b.state == "open"
    assert b.retry_in() == pytest.approx(20)  # cool-down not restarted by the late one


def test_config_validates() -> None:
    for bad in [{"failure_threshold": 0}, {"window": 0}, {"failure_rate": 0},
                {"failure_rate": 1.5}, {"half_open_max_calls": 0}, {"cool_down": -1}]:
        with pytest.raises(ValueError):
            BreakerConfig(**bad)  # type: ignore[arg-type]


# -- threads ---------------------------------------------------------------


def test_half_open_admits_no_more_than_its_trials_under_32_threads(clock: FakeClock) -> None:
    trials = 3
    b = breaker(clock, failure_threshold=1, cool_down=10, half_open_max_calls=trials)
    for _round in range(10):
        fail_times(b, 1)
        clock.advance(10)
        assert b.state == "half_open"
        outcome = _race_32_threads(b)
        assert outcome["inside"] == trials
        assert outcome["rejected"] == 32 - trials
        assert b.state == "closed"


def _race_32_threads(b: CircuitBreaker) -> dict[str, int]:
    """32 threads call at once; admitted ones block until every thread is done."""
    start = threading.Barrier(32)
    release = threading.Event()
    lock = threading.Condition()
    counts = {"inside": 0, "rejected": 0, "max_inside": 0}

    def protected() -> None:
        with lock:
            counts["inside"] += 1
            lock.notify_all()
        assert release.wait(WAIT)

    def worker() -> None:
        start.wait(WAIT)
        try:
            b.call(protected)
        except CircuitOpenError:
            with lock:
                counts["rejected"] += 1
                lock.notify_all()

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    with lock:
        assert lock.wait_for(lambda: counts["inside"] + counts["rejected"] == 32, WAIT)
    release.set()
    for thread in threads:
        thread.join(WAIT)
    return counts


def test_closed_breaker_runs_32_calls_in_parallel() -> None:
    """All 32 calls are inside ``fn`` at the same time.

    The barrier inside ``fn`` only opens once 32 threads wait on it, so if the
    breaker serialised calls (held its lock during ``fn``) the barrier would
    break. Hence wall time is that of one call, not the sum of 32.
    """
    registry = BreakerRegistry()
    together = threading.Barrier(32)
    results: list[str] = []

    def protected() -> str:
        together.wait(WAIT)  # raises BrokenBarrierError unless all 32 are in here
        return "ok"

    def worker() -> None:
        results.append(guarded_call("h", protected, policy=RetryPolicy(attempts=1),
                                    breakers=registry))

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert results == ["ok"] * 32
    assert registry.get("h").state == "closed"


def test_concurrent_failures_open_the_breaker_then_fail_fast() -> None:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=5, min_calls=1000))
    b = registry.get("h")
    go = threading.Barrier(32)
    outcomes: list[str] = []

    def worker() -> None:
        go.wait(WAIT)
        for _ in range(20):
            try:
                b.call(fail(TransientError("down")))
            except CircuitOpenError:
                outcomes.append("fast")
            except TransientError:
                outcomes.append("called")

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert b.state == "open"
    assert len(outcomes) == 640
    # Calls admitted before the opening may still finish, but at most one per thread.
    assert 5 <= outcomes.count("called") <= 5 + 31


# -- registry and guarded_call ---------------------------------------------


def test_registry_keeps_one_breaker_per_key_and_reports(clock: FakeClock) -> None:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, cool_down=60), clock=clock)
    assert registry.get("a") is registry.get("a")
    fail_times(registry.get("b"), 1)
    clock.advance(10)
    fail_times(registry.get("c"), 1)
    registry.get("d")
    assert registry.snapshot() == {"a": "closed", "b": "open", "c": "open", "d": "closed"}
    assert registry.open_breakers() == [("b", 50.0), ("c", 60.0)]


def test_registry_forgets_idle_breakers_beyond_its_bound(clock: FakeClock) -> None:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=clock, max_breakers=4)
    fail_times(registry.get("down"), 1)
    for i in range(10):
        registry.get(f"host{i}").call(ok)
    keys = registry.snapshot()
    assert len(keys) <= 4
    assert keys["down"] == "open"  # breakers with history are kept


def test_guarded_call_retries_then_fails_fast_once_open(clock: FakeClock) -> None:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=3, cool_down=30), clock=clock)
    tracker = ErrorTracker(clock=clock)
    calls = []

    def down() -> None:
        calls.append(1)
        raise rex.ConnectionError("refused https://u:secret@dead.example/x?token=abc")

    with pytest.raises(CircuitOpenError) as info:
        guarded_call("dead.example", down, policy=RetryPolicy(attempts=10), breakers=registry,
                     tracker=tracker, clock=clock, sleep=clock.sleep, rng=lambda: 0.0)
    assert len(calls) == 3  # the fourth attempt met the open breaker and was not retried
    assert "dead.example is failing repeatedly" in str(info.value)
    assert tracker.counts() == {("ConnectionError", "dead.example"): 3,
                                ("CircuitOpenError", "dead.example"): 1}
    assert "secret" not in " ".join(tracker.recent("ConnectionError"))
    assert "abc" not in " ".join(tracker.recent("ConnectionError"))
    assert guarded_call("alive.example", ok, policy=RetryPolicy(), breakers=registry) == "ok"


def test_guarded_call_ignores_a_policy_that_would_retry_open_circuits(clock: FakeClock) -> None:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1), clock=clock)
    fail_times(registry.get("h"), 1)
    everything = RetryPolicy(transient=lambda exc: True)
    with pytest.raises(CircuitOpenError):
        guarded_call("h", ok, policy=everything, breakers=registry, clock=clock,
                     sleep=clock.sleep)
    assert clock.sleeps == []


def test_guarded_call_uses_source_for_tracking(clock: FakeClock) -> None:
    registry = BreakerRegistry(clock=clock)
    tracker = ErrorTracker(clock=clock)
    with pytest.raises(HTTPStatusError):
        guarded_call("api.telegram.org", fail(HTTPStatusError(404, "api.telegram.org")),
                     policy=RetryPolicy(), breakers=registry, tracker=tracker,
                     source="telegram", clock=clock, sleep=clock.sleep)
    assert tracker.counts() == {("HTTPStatusError", "telegram"): 1}
    assert tracker.recent("HTTPStatusError") == ["telegram: HTTP 404 from api.telegram.org"]
