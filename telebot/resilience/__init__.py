"""The resilience layer every network call of the bot goes through.

Retry with full-jitter backoff (:mod:`.retry`), per-host circuit breakers
(:mod:`.breaker`), rate limits and flood gates (:mod:`.ratelimit`), error
counts for /stats (:mod:`.errors`) and ready-made policies (:mod:`.policies`).

Typical use, from a worker thread::

    from telebot.resilience import BREAKERS, ERRORS, guarded_call
    from telebot.resilience.policies import DOWNLOAD_POLICY

    data = guarded_call(host, fetch_rest, policy=DOWNLOAD_POLICY,
                        breakers=BREAKERS, tracker=ERRORS, cancel=task.cancel_event)
"""

from __future__ import annotations

from telebot.resilience.breaker import (
    BreakerConfig,
    BreakerRegistry,
    CircuitBreaker,
    counts_against_health,
    guarded_call,
)
from telebot.resilience.errors import ErrorTracker, redact
from telebot.resilience.policies import (
    DOWNLOAD_POLICY,
    TELEGRAM_POLICY,
    TELEGRAM_UPLOAD_POLICY,
    request_not_delivered,
    telegram_policy,
    transient_if_not_delivered,
)
from telebot.resilience.ratelimit import (
    FloodGate,
    KeyedLimiter,
    RateLimited,
    TelegramLimiter,
    TokenBucket,
)
from telebot.resilience.retry import (
    AlreadyReported,
    PartialProgress,
    RetryPolicy,
    call_with_retry,
    default_is_transient,
    parse_retry_after,
    retry,
    retry_after_of,
)

__all__ = [
    "BREAKERS",
    "DOWNLOAD_POLICY",
    "ERRORS",
    "TELEGRAM_POLICY",
    "TELEGRAM_UPLOAD_POLICY",
    "AlreadyReported",
    "BreakerConfig",
    "BreakerRegistry",
    "CircuitBreaker",
    "ErrorTracker",
    "FloodGate",
    "KeyedLimiter",
    "PartialProgress",
    "RateLimited",
    "RetryPolicy",
    "TelegramLimiter",
    "TokenBucket",
    "call_with_retry",
    "counts_against_health",
    "default_is_transient",
    "guarded_call",
    "parse_retry_after",
    "redact",
    "request_not_delivered",
    "retry",
    "retry_after_of",
    "telegram_policy",
    "transient_if_not_delivered",
]

#: The process-wide breakers, one per host or service name.
BREAKERS = BreakerRegistry()
#: The process-wide error counts shown by /stats and the periodic report.
ERRORS = ErrorTracker()
