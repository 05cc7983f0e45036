"""Retry with full-jitter exponential backoff.

A :class:`RetryPolicy` is an immutable value shared by every caller of a kind
(downloads, Bot API calls, RPC). :func:`call_with_retry` runs a zero-argument
callable under a policy; :func:`retry` is the decorator form.

Contracts:

* Only errors the policy calls transient are retried (:func:`default_is_transient`);
  cancellation, bad input, security refusals, open circuits and most 4xx never are.
* The wait before retry *k* is ``uniform(0, min(max_delay, base_delay * 2**(k-1)))``
  ("full jitter", AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):
  it spreads clients that failed together, unlike "equal" or no jitter.
* When the error carries a server-given wait (HTTP ``Retry-After``, Telegram's
  ``retry_after``) that wait wins over the backoff, capped by ``max_retry_after``.
* A retry never sleeps past ``deadline`` (seconds since the first attempt): if
  the next wait would cross it, the last error is raised instead.
* A retry *resumes* when the callable does: ``fn`` is called again as is, so a
  downloader whose ``fn`` continues from the bytes already on disk resumes.

Outside libraries (requests, urllib3, PTB, httpx) are recognised through
``sys.modules`` rather than imported: an exception of a library can only exist
once that library is imported, and importing PTB here would cost every process
that never talks to Telegram ~0.3 s of start-up.
"""

from __future__ import annotations

import datetime as dtm
import email.utils
import functools
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from telebot.errors import (
    BadInputError,
    CircuitOpenError,
    HTTPStatusError,
    SecurityError,
    TaskCancelled,
    TransientError,
)

__all__ = [
    "AlreadyReported",
    "PartialProgress",
    "RetryPolicy",
    "call_with_retry",
    "default_is_transient",
    "parse_retry_after",
    "retry",
    "retry_after_of",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

OnRetry = Callable[[int, BaseException, float], None]

#: HTTP statuses that say "try again later" although they are 4xx:
#: 408 Request Timeout (RFC 9110 §15.5.9), 425 Too Early (RFC 8470 §5.2),
#: 429 Too Many Requests (RFC 6585 §4).
TRANSIENT_4XX = frozenset({408, 425, 429})

# Never-retried telebot errors, checked before anything else.
_PERMANENT = (TaskCancelled, CircuitOpenError, BadInputError, SecurityError)

# RFC 9110 §10.2.3: delay-seconds = 1*DIGIT. A fraction is accepted leniently.
_SECONDS_RE = re.compile(r"\d+(?:\.\d+)?")

# Beyond 2**62 the cap always wins; clamping avoids int -> float overflow.
_MAX_EXPONENT = 62


class PartialProgress(TransientError):
    """A transient failure after useful work, e.g. a body cut after some bytes arrived.

    Progress is not failure: the retry loop starts its count and deadline over
    (the next wait is the first backoff step), and a circuit breaker records the
    call as a success, because the host answered. Raise it only when the work
    done is kept, so that the next attempt continues after it (a download that
    resumes at its offset), or a flaky host could loop forever.
    """


class AlreadyReported(TransientError):
    """A transient failure whose cause a sibling call already reported to the breaker.

    Retried like any transient error, but not counted against the host again:
    eight segments of one download cut at the same moment are one host failure.
    """


def _module(name: str) -> Any:
    """The already-imported module ``name``, or None (never imports it)."""
    return sys.modules.get(name)


def is_transient_status(status: int) -> bool:
    """True for HTTP statuses worth retrying: 408, 425, 429 and every 5xx."""
    return status in TRANSIENT_4XX or status >= 500


def _ptb_is_transient(exc: BaseException) -> bool | None:
    """Classify a python-telegram-bot error; None when ``exc`` is not one."""
    ptb = _module("telegram.error")
    if ptb is None or not isinstance(exc, ptb.TelegramError):
        return None
    # BadRequest subclasses NetworkError, so it must be ruled out first
    # (docs/TELEGRAM.md, errors: "message is not modified" must not be retried).
    if isinstance(exc, ptb.BadRequest | ptb.Forbidden | ptb.InvalidToken):
        return False
    return isinstance(exc, ptb.RetryAfter | ptb.TimedOut | ptb.NetworkError)


def _requests_is_transient(exc: BaseException) -> bool | None:
    """Classify a requests or urllib3 error; None when ``exc`` is neither."""
    rex = _module("requests.exceptions")
    if rex is not None and isinstance(exc, rex.RequestException):
        if isinstance(exc, rex.SSLError):
            # Certificate and protocol mismatches do not heal by waiting.
            return False
        return isinstance(exc, rex.ConnectionError | rex.Timeout | rex.ChunkedEncodingError)
    uex = _module("urllib3.exceptions")
    if uex is not None and isinstance(exc, uex.HTTPError):
        return isinstance(exc, uex.ProtocolError | uex.ReadTimeoutError)
    return None


def default_is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may go away by itself, so that retrying makes sense.

    True: :class:`TransientError`; :class:`HTTPStatusError` 408/425/429/5xx;
    requests ``ConnectionError``/``Timeout``/``ChunkedEncodingError`` (not
    ``SSLError``); urllib3 ``ProtocolError``/``ReadTimeoutError``; built-in
    ``ConnectionError``/``TimeoutError``; PTB ``RetryAfter``/``TimedOut``/
    ``NetworkError`` except ``BadRequest``/``Forbidden``/``InvalidToken``.
    False for everything else, in particular cancellation, open circuits, bad
    input, security refusals, other 4xx and programming errors.
    """
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, HTTPStatusError):
        return is_transient_status(exc.status)
    for classify in (_ptb_is_transient, _requests_is_transient):
        verdict = classify(exc)
        if verdict is not None:
            return verdict
    return isinstance(exc, ConnectionError | TimeoutError)


def retry_after_of(exc: BaseException) -> float | None:
    """The server-given wait carried by ``exc`` in seconds, or None.

    Reads ``exc.retry_after`` as int, float or :class:`datetime.timedelta`
    (PTB 22 returns a timedelta under ``PTB_TIMEDELTA=1``). Negative, NaN or
    non-numeric values are treated as absent.
    """
    # PTB's public RetryAfter.retry_after emits a deprecation warning unless
    # PTB_TIMEDELTA=1; its private timedelta says the same without the noise.
    value = getattr(exc, "_retry_after", None)
    if not isinstance(value, dtm.timedelta):
        value = getattr(exc, "retry_after", None)
    if isinstance(value, dtm.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    if not seconds >= 0:  # also rejects NaN
        return None
    return seconds


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse an HTTP ``Retry-After`` header into seconds to wait.

    Accepts delay-seconds (``"120"``, leniently ``"1.5"``) or an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``, RFC 9110 §10.2.3); a date is turned
    into seconds from ``now`` (epoch seconds, default ``time.time()``) and a
    date in the past gives 0. Returns None when absent or unparsable.
    Callers cap the result (:attr:`RetryPolicy.max_retry_after`).
    """
    if value is None:
        return None
    text = value.strip()
    if _SECONDS_RE.fullmatch(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # HTTP-dates are always GMT (RFC 9110 §5.6.7); "-0000" parses naive.
        when = when.replace(tzinfo=dtm.UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry; immutable and shareable.

    ``attempts`` counts every call including the first. ``deadline`` (seconds
    since the first attempt, None for none) bounds the total time spent
    waiting. ``max_retry_after`` caps a server-given wait.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float | None = 120.0
    max_retry_after: float = 300.0
    transient: Callable[[BaseException], bool] = default_is_transient

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, not {self.attempts!r}")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.deadline is not None and self.deadline < 0:
            raise ValueError(f"deadline must be >= 0 or None, not {self.deadline!r}")
        if self.max_retry_after < 0:
            raise ValueError(f"max_retry_after must be >= 0, not {self.max_retry_after!r}")

    def backoff_cap(self, attempt: int) -> float:
        """Upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        return min(self.max_delay, self.base_delay * (1 << exponent))

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        """Full-jitter wait after failed attempt ``attempt``: ``rng() * backoff_cap``.

        ``rng`` returns floats in [0, 1), like :func:`random.random`.
        """
        return rng() * self.backoff_cap(attempt)

    def wait_for(self, attempt: int, exc: BaseException, rng: Callable[[], float]) -> float:
        """The wait before the next attempt: the server's wait if ``exc`` has one."""
        told = retry_after_of(exc)
        if told is not None:
            return min(told, self.max_retry_after)
        return self.delay(attempt, rng)


def _wait(
    seconds: float, cancel: threading.Event | None, sleep: Callable[[float], None] | None
) -> None:
    """Wait ``seconds``; raise :class:`TaskCancelled` if ``cancel`` is (or gets) set."""
    if sleep is not None:
        sleep(seconds)
        cancelled = cancel is not None and cancel.is_set()
    elif cancel is not None:
        cancelled = cancel.wait(seconds)
    else:
        time.sleep(seconds)
        cancelled = False
    if cancelled:
        raise TaskCancelled("cancelled while waiting to retry")


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> T:
    """Call ``fn()`` until it returns, retrying transient errors under ``policy``.

    ``on_retry(attempt, exc, delay)`` runs before each wait (attempt is the
    1-based number of the attempt that failed). Waits use ``sleep`` when given,
    else ``cancel.wait`` so that a set ``cancel`` interrupts them with
    :class:`TaskCancelled`, else :func:`time.sleep`. Raises the last error when
    attempts are used up, the error is not transient, or the next wait would
    end past ``policy.deadline``.
    """
    return _run(fn, policy, on_retry, cancel, clock, sleep, rng)


def _run(
    fn: Callable[[], T],
    policy: RetryPolicy,
    on_retry: OnRetry | None,
    cancel: threading.Event | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None] | None,
    rng: Callable[[], float],
    *,
    retry_open_circuit: bool = True,
) -> T:
    """The retry loop. ``retry_open_circuit=False`` never retries CircuitOpenError."""
    start = clock()
    attempt = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise TaskCancelled("cancelled")
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if isinstance(exc, PartialProgress):
                attempt, start = 0, clock()  # progress: the count starts over
            delay = _plan(policy, attempt, exc, start, clock, rng)
            if delay is None or (
                not retry_open_circuit and isinstance(exc, CircuitOpenError)
            ):
                raise
            log.info("retry %d/%d in %.2f s after %s", attempt, policy.attempts - 1,
                     delay, type(exc).__name__)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            _wait(delay, cancel, sleep)


def _plan(
    policy: RetryPolicy,
    attempt: int,
    exc: BaseException,
    start: float,
    clock: Callable[[], float],
    rng: Callable[[], float],
) -> float | None:
    """The wait before another attempt, or None when ``exc`` must be raised."""
    if attempt >= policy.attempts or not policy.transient(exc):
        return None
    delay = policy.wait_for(attempt, exc, rng)
    if policy.deadline is not None and clock() - start + delay > policy.deadline:
        return None
    return delay


def retry(
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of :func:`call_with_retry` with the same options."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return _run(
                functools.partial(fn, *args, **kwargs), policy, on_retry, cancel, clock, sleep, rng
            )

        return wrapper

    return decorate
