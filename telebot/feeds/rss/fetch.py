"""A feed's bytes, fetched through the bot's guarded HTTP layer.

Feedparser is never given a URL (it would fetch with urllib, past the SSRF guard): this module
fetches, and feedparser parses the bytes. Each fetch goes through
:func:`~telebot.sources.http.request.open_response` (the SSRF guard on every redirect hop, and
:class:`~telebot.sources.http.netguard.GuardedAdapter` on every connected socket), retries
transient failures and reports to the host's circuit breaker
(:func:`~telebot.resilience.guarded_call`), reads at most :data:`MAX_FEED_BYTES`, and sends
the validators of the last answer (``If-None-Match``, ``If-Modified-Since``): a 304 means
nothing changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from telebot.errors import DownloadError, TaskCancelled
from telebot.resilience import BREAKERS, ERRORS, BreakerRegistry, ErrorTracker, guarded_call
from telebot.resilience.retry import RetryPolicy
from telebot.sources.http.errors import translate
from telebot.sources.http.netguard import GuardedAdapter
from telebot.sources.http.options import HttpOptions
from telebot.sources.http.request import abort_on_cancel, default_session, open_response

#: Largest feed read: real feeds are tens of kilobytes; a body past this is refused unread.
MAX_FEED_BYTES = 5 * 1024 * 1024
#: A few quick retries: the next check comes at the next interval anyway, and a feed that keeps
#: failing is paused after MAX_FAILURES checks (feeds/rss/service.py), not retried for long.
FEED_POLICY = RetryPolicy(attempts=3, base_delay=0.5, max_delay=4.0, deadline=30.0)
#: What a feed reader says it accepts (some servers answer HTML to a bare */*).
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Validators:
    """What the last answer said to send back to learn whether anything changed."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """The body (None: 304, nothing changed since ``Validators``) and the new validators."""

    body: bytes | None
    validators: Validators


class FeedFetcher:
    """Fetches feeds; one instance serves every feed (thread-safe)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        breakers: BreakerRegistry = BREAKERS,
        errors: ErrorTracker = ERRORS,
        policy: RetryPolicy = FEED_POLICY,
        session_factory: Callable[[GuardedAdapter], requests.Session] = default_session,
    ) -> None:
        self._allow_private = allow_private
        self._breakers = breakers
        self._errors = errors
        self._policy = policy
        self._session_factory = session_factory

    def fetch(
        self, url: str, known: Validators = Validators(), cancel: threading.Event | None = None
    ) -> Fetched:
        """GET ``url`` with ``known``'s validators. Raises a TelebotError (SecurityError for
        a private address, HTTPStatusError, DownloadError, CircuitOpenError) when it fails."""
        stop = cancel or threading.Event()
        parts = urlsplit(url)
        # The breaker of this host and port: a feed service, whatever else the host serves.
        host = (parts.hostname or "?").lower()
        key = f"feed:{host}:{parts.port or parts.scheme}"
        try:
            return guarded_call(
                key, lambda: self._once(url, known, stop), policy=self._policy,
                breakers=self._breakers, tracker=self._errors, source="rss", cancel=stop,
            )
        except Exception as exc:
            # One line naming the host, never the library's text (it quotes the URL, whose
            # path or query may hold a passkey).
            translated = translate(exc, host)
            if translated is exc:
                raise
            raise translated from exc

    def _once(self, url: str, known: Validators, stop: threading.Event) -> Fetched:
        adapter = GuardedAdapter(allow_private=self._allow_private)
        session = self._session_factory(adapter)
        headers = {"Accept": ACCEPT}
        if known.etag:
            headers["If-None-Match"] = known.etag
        if known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        options = HttpOptions(allow_private=self._allow_private)
        try:
            with abort_on_cancel(stop, adapter):
                resp = open_response(session, "GET", url, options, headers)
                with resp:
                    if resp.status_code == 304:
                        return Fetched(None, known)
                    body = _read_capped(resp, stop)
                    return Fetched(body, Validators(
                        resp.headers.get("etag"), resp.headers.get("last-modified")
                    ))
        finally:
            session.close()


def _read_capped(resp: requests.Response, stop: threading.Event) -> bytes:
    declared = resp.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
        raise DownloadError(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(CHUNK):
        if stop.is_set():
            raise TaskCancelled("stopped")
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            raise DownloadError(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)
