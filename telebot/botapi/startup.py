"""Reaching the Bot API at start-up: wait out an unreachable server, stop on a rejected token.

A newcomer's first run often points ``BOT_API_URL`` at a server that is not up yet (the local
Bot API container starts after the bot) or mistypes it. PTB's own bootstrap either gives up at
once or logs a traceback per attempt; :func:`connect` instead retries what may heal by itself
(connection refused, DNS failure, timeouts, 5xx) with capped exponential backoff and one log
line per attempt, and turns what cannot heal (the token rejected, a server that is not a Bot
API) into a :class:`~telebot.errors.ConfigError`, which ``python -m telebot`` reports as one
line and exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError

from telebot.errors import ConfigError
from telebot.resilience import retry_after_of

log = logging.getLogger("telebot")

__all__ = ["Backoff", "connect", "display_url"]


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``first``, ``first * factor``, ... never above ``cap`` (s).

    The cap of 60 s keeps a long outage visible in the log (one line a minute) while a server
    that comes up is noticed within a minute.
    """

    first: float = 1.0
    factor: float = 2.0
    cap: float = 60.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield min(delay, self.cap)
            delay = min(delay * self.factor, self.cap)


def display_url(url: str) -> str:
    """``url`` without user info (``user:password@``), safe for a log line.

    ``BOT_API_URL`` is the server's base URL; the token only ever goes into request paths,
    so this is all that could carry a secret.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


Sleep = Callable[[float], Awaitable[object]]


async def connect(
    initialize: Callable[[], Awaitable[object]],
    url: str,
    stop: asyncio.Event,
    *,
    backoff: Backoff = Backoff(),
    sleep: Sleep = asyncio.sleep,
) -> bool:
    """Await ``initialize()`` (PTB's ``Application.initialize``, whose getMe proves the token)
    until it succeeds. True once it has; False when ``stop`` was set first (an attempt or a
    wait in progress is abandoned at once).

    Raises ConfigError naming BOT_TOKEN when the server rejects the token (401/404) and naming
    BOT_API_URL when it answers but not like a Bot API.
    """
    shown = display_url(url)
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _unless_stopped(initialize(), stop)
        except InvalidToken as exc:
            # PTB's own message quotes the token: use the server's answer it wraps instead.
            answer = exc.__cause__ if isinstance(exc.__cause__, InvalidToken) else "401/404"
            raise ConfigError(
                "BOT_TOKEN", f"was rejected by the Bot API at {shown} ({answer}); check the token"
            ) from None
        except RetryAfter as exc:
            delay = max(next(delays), retry_after_of(exc) or 0.0)
            reason = str(exc)
        except NetworkError as exc:  # also TimedOut; PTB maps 5xx to NetworkError
            delay, reason = next(delays), str(exc)
        except TelegramError as exc:
            raise ConfigError(
                "BOT_API_URL", f"({shown}) does not answer like a Bot API: {exc}"
            ) from None
        log.warning(
            "Bot API at %s not reachable (attempt %d: %s); retrying in %.0f s",
            shown, attempt, reason, delay,
        )
        if not await _unless_stopped(sleep(delay), stop):
            return False


async def _unless_stopped(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first: True when it finished (its exception
    propagates), False when it was abandoned."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False
