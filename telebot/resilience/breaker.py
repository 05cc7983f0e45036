"""Per-host circuit breakers.

A :class:`CircuitBreaker` guards calls to one host or service:

* **closed**: calls run; it opens after ``failure_threshold`` consecutive
  failures, or when at least ``min_calls`` calls in the last ``window`` seconds
  failed at a rate of ``failure_rate`` or more.
* **open**: calls fail fast with :class:`CircuitOpenError` (which host, and in
  how many seconds it is tried again) until ``cool_down`` seconds have passed
  on the monotonic clock.
* **half_open**: at most ``half_open_max_calls`` trial calls are let through;
  a failed trial opens the breaker again, and once that many trials succeeded
  it closes. Everyone else fails fast meanwhile.

Only failures that say something about the host's health count
(:func:`counts_against_health`); the others leave the state as it was and give
a half-open trial slot back. A :class:`PartialProgress` failure (bytes arrived,
then the connection broke) is recorded as a success: the host answered.

The breaker's lock is held only to read or change its state, never while the
protected call runs, so calls through a closed breaker run fully in parallel.
A trial call that never returns keeps its slot; callers bound their calls with
timeouts (requests timeouts, the Messenger's ``result(timeout)``).
"""

from __future__ import annotations

import errno
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from telebot.errors import (
    BadInputError,
    CircuitOpenError,
    ConfigError,
    HTTPStatusError,
    SecurityError,
    TaskCancelled,
)
from telebot.resilience.ratelimit import RateLimited
from telebot.resilience.retry import (
    AlreadyReported,
    OnRetry,
    PartialProgress,
    RetryPolicy,
    _module,
    _run,
)

if TYPE_CHECKING:
    from telebot.resilience.errors import ErrorTracker

__all__ = [
    "BreakerConfig",
    "BreakerRegistry",
    "CircuitBreaker",
    "counts_against_health",
    "guarded_call",
]

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]

#: Buckets of the sliding failure-rate window. Hystrix rolls its statistics
#: over 10 buckets (``metrics.rollingStats.numBuckets``); finer buys nothing here.
WINDOW_BUCKETS = 10

#: When half-open with every trial slot taken, the answer is unknown until a
#: trial ends; tell the user to expect news in about a second.
BUSY_RETRY_IN = 1.0

# Errors of ours or of the request, not of the host.
_NEUTRAL = (
    TaskCancelled, BadInputError, SecurityError, CircuitOpenError, ConfigError, RateLimited,
    AlreadyReported,
)
_PROGRAMMING = (
    TypeError, ValueError, LookupError, AttributeError, NameError,
    AssertionError, NotImplementedError, ArithmeticError, RuntimeError,
)
# Local filesystem trouble (disk full, read-only, too many open files).
_LOCAL_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE, errno.ENFILE, errno.EACCES,
     errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EEXIST}
)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Thresholds of a breaker; immutable and shared by a registry's breakers."""

    failure_threshold: int = 5
    window: float = 60.0
    failure_rate: float = 0.5
    min_calls: int = 10
    cool_down: float = 30.0
    half_open_max_calls: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.min_calls < 1 or self.half_open_max_calls < 1:
            raise ValueError("failure_threshold, min_calls, half_open_max_calls must be >= 1")
        if self.window <= 0 or self.cool_down < 0:
            raise ValueError("need window > 0 and cool_down >= 0")
        if not 0 < self.failure_rate <= 1:
            raise ValueError(f"failure_rate must be in (0, 1], not {self.failure_rate!r}")


def _ptb_counts(exc: BaseException) -> bool | None:
    ptb = _module("telegram.error")
    if ptb is None or not isinstance(exc, ptb.TelegramError):
        return None
    # BadRequest subclasses NetworkError: rule it out first. RetryAfter is the
    # server protecting itself per chat; the flood gate handles it, and counting
    # it would let one busy chat open the breaker for every chat.
    if isinstance(exc, ptb.BadRequest | ptb.RetryAfter):
        return False
    return isinstance(exc, ptb.NetworkError)


def _os_error_counts(exc: OSError) -> bool:
    rex = _module("requests.exceptions")
    if rex is not None and isinstance(exc, rex.RequestException):
        # InvalidURL, MissingSchema, ... are also ValueErrors: the request's fault.
        return not isinstance(exc, ValueError)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return exc.errno not in _LOCAL_ERRNOS


def counts_against_health(exc: BaseException) -> bool:
    """Whether ``exc`` is evidence that the host is unhealthy.

    Not counted: :class:`AlreadyReported` (a sibling call reported it), HTTP
    4xx other than 408 (404 means the host works), 429 and
    Telegram's RetryAfter (rate limiting, handled by waiting), PTB BadRequest/
    Forbidden/InvalidToken, cancellation, bad input, security refusals, open
    circuits, our own limiter's :class:`RateLimited`, programming errors
    (TypeError, ValueError, ...), local filesystem errors and non-``Exception``
    exits (KeyboardInterrupt).
    Everything else counts: timeouts, connection errors, 5xx, protocol errors.
    """
    if not isinstance(exc, Exception) or isinstance(exc, _NEUTRAL):
        return False
    if isinstance(exc, HTTPStatusError):
        return exc.status == 408 or exc.status >= 500
    verdict = _ptb_counts(exc)
    if verdict is not None:
        return verdict
    if isinstance(exc, OSError):
        return _os_error_counts(exc)
    return not isinstance(exc, _PROGRAMMING)


class CircuitBreaker:
    """One breaker; thread-safe. Create through :class:`BreakerRegistry`."""

    __slots__ = (
        "_buckets", "_clock", "_consecutive", "_generation", "_lock", "_opened_at", "_state",
        "_trial_successes", "_trials_admitted", "_width", "config", "key",
    )

    def __init__(
        self, key: str, config: BreakerConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.key = key
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._trials_admitted = 0
        self._trial_successes = 0
        # Numbers the half-open periods, so that a trial admitted in an earlier
        # period cannot close or reopen the breaker in a later one.
        self._generation = 0
        self._width = config.window / WINDOW_BUCKETS
        # [bucket index, calls, failures], oldest first.
        self._buckets: list[list[int]] = []

    @property
    def state(self) -> State:
        """``"closed"``, ``"open"`` or ``"half_open"`` (open past its cool-down)."""
        with self._lock:
            self._expire_open(self._clock())
            return self._state

    def retry_in(self) -> float:
        """Seconds until a call may be let through again; 0 when closed."""
        with self._lock:
            return self._retry_in(self._clock())

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` through the breaker and record how it went.

        Raises :class:`CircuitOpenError` without calling ``fn`` when the breaker
        is open or half-open with no trial slot free; otherwise returns or
        raises what ``fn`` does.
        """
        trial = self._admit()
        try:
            result = fn()
        except BaseException as exc:
            if isinstance(exc, PartialProgress):  # the host answered: that is health
                self._on_success(trial)
            else:
                self._on_failure(trial, counts_against_health(exc))
            raise
        self._on_success(trial)
        return result

    def is_idle(self) -> bool:
        """Closed with no failure on record: equivalent to a fresh breaker."""
        with self._lock:
            return self._state == "closed" and self._consecutive == 0 and not any(
                bucket[2] for bucket in self._buckets
            )

    # -- state changes; every method below runs with self._lock held --------

    def _admit(self) -> int | None:
        """Let a call through or raise; a trial gets its half-open generation."""
        # Closed is read without the lock: a call that sees "closed" just as
        # another thread opens the breaker is one admitted a moment earlier,
        # which the late-failure rule below already handles.
        if self._state == "closed":
            return None
        with self._lock:
            if self._state == "closed":
                return None
            now = self._clock()
            self._expire_open(now)
            if self._state == "half_open" and (
                self._trials_admitted < self.config.half_open_max_calls
            ):
                self._trials_admitted += 1
                return self._generation
            raise CircuitOpenError(self.key, self._retry_in(now))

    def _current_trial(self, trial: int | None) -> bool:
        return self._state == "half_open" and trial == self._generation

    def _on_success(self, trial: int | None) -> None:
        with self._lock:
            if trial is not None:
                if self._current_trial(trial):
                    self._trial_successes += 1
                    if self._trial_successes >= self.config.half_open_max_calls:
                        self._close()
                return
            if self._state == "closed":
                self._consecutive = 0
                self._count(False)

    def _on_failure(self, trial: int | None, counts: bool) -> None:
        with self._lock:
            if trial is not None:
                if self._current_trial(trial):
                    if counts:
                        self._open()
                    else:
                        self._trials_admitted -= 1  # the slot goes to the next caller
                return
            if not counts:
                return
            if self._state != "closed":
                return  # a late failure of a call admitted before the breaker opened
            self._consecutive += 1
            self._count(True)
            if self._consecutive >= self.config.failure_threshold or self._rate_exceeded():
                self._open()

    def _count(self, failed: bool) -> None:
        index = int(self._clock() // self._width)
        buckets = self._buckets
        if buckets and buckets[-1][0] == index:
            bucket = buckets[-1]
        else:
            bucket = [index, 0, 0]
            buckets.append(bucket)
            oldest = index - WINDOW_BUCKETS + 1
            while buckets[0][0] < oldest:
                del buckets[0]
        bucket[1] += 1
        bucket[2] += failed

    def _rate_exceeded(self) -> bool:
        oldest = int(self._clock() // self._width) - WINDOW_BUCKETS + 1
        calls = failures = 0
        for index, bucket_calls, bucket_failures in self._buckets:
            if index >= oldest:
                calls += bucket_calls
                failures += bucket_failures
        return calls >= self.config.min_calls and failures >= self.config.failure_rate * calls

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._trials_admitted = self._trial_successes = 0

    def _close(self) -> None:
        self._state = "closed"
        self._consecutive = 0
        self._trials_admitted = self._trial_successes = 0
        self._buckets.clear()  # the outage's failures must not reopen it at once

    def _expire_open(self, now: float) -> None:
        if self._state == "open" and now - self._opened_at >= self.config.cool_down:
            self._state = "half_open"
            self._generation += 1
            self._trials_admitted = self._trial_successes = 0

    def _retry_in(self, now: float) -> float:
        if self._state == "open":
            return max(0.0, self._opened_at + self.config.cool_down - now)
        if self._state == "half_open" and (
            self._trials_admitted >= self.config.half_open_max_calls
        ):
            return BUSY_RETRY_IN
        return 0.0


class BreakerRegistry:
    """Breakers by key (host or service name), created on first use.

    Idle breakers (closed, no failures on record) are forgotten once more than
    ``max_breakers`` exist, so a bot that touched thousands of hosts does not
    keep a breaker for each forever; a forgotten breaker is recreated fresh.
    """

    def __init__(
        self,
        config: BreakerConfig = BreakerConfig(),  # immutable, so a shared default is safe
        *,
        clock: Callable[[], float] = time.monotonic,
        max_breakers: int = 1024,
    ) -> None:
        self.config = config
        self._clock = clock
        self._max = max_breakers
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, key: str) -> CircuitBreaker:
        """The breaker for ``key``, created closed if there is none."""
        breaker = self._breakers.get(key)  # dict reads are atomic: no lock on the hot path
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                if len(self._breakers) >= self._max:
                    self._evict_idle()
                breaker = CircuitBreaker(key, self.config, clock=self._clock)
                self._breakers[key] = breaker
            return breaker

    def snapshot(self) -> dict[str, str]:
        """State of every known breaker, by key."""
        return {key: breaker.state for key, breaker in self._items()}

    def open_breakers(self) -> list[tuple[str, float]]:
        """``(key, retry_in)`` of every breaker that is not closed, soonest first."""
        result = [
            (key, breaker.retry_in()) for key, breaker in self._items()
            if breaker.state != "closed"
        ]
        return sorted(result, key=lambda item: (item[1], item[0]))

    def _items(self) -> list[tuple[str, CircuitBreaker]]:
        with self._lock:
            return list(self._breakers.items())

    def _evict_idle(self) -> None:
        for key in [key for key, breaker in self._breakers.items() if breaker.is_idle()]:
            del self._breakers[key]


def guarded_call(
    key: str,
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    breakers: BreakerRegistry,
    tracker: ErrorTracker | None = None,
    source: str = "",
    on_retry: OnRetry | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> T:
    """Call ``fn()`` through the breaker of ``key``, retrying under ``policy``.

    Every attempt goes through ``breakers.get(key).call(fn)``. A
    :class:`CircuitOpenError` is never retried, whatever the policy says: it
    reaches the caller at once, naming the host and when it is tried again.
    Each failed attempt is recorded in ``tracker`` (kind = exception class
    name, source = ``source or key``, detail = the redacted message).
    Other options are those of :func:`~telebot.resilience.retry.call_with_retry`.
    """
    breaker = breakers.get(key)

    def attempt() -> T:
        try:
            return breaker.call(fn)
        except Exception as exc:
            if tracker is not None:
                tracker.record(type(exc).__name__, source or key, str(exc))
            raise

    return _run(attempt, policy, on_retry, cancel, clock, sleep, rng, retry_open_circuit=False)
