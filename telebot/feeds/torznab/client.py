"""Asking the configured Torznab indexers (docs/FEEDS.md): every indexer in its own thread,
through the bot's guarded HTTP layer and its per-host retry and breaker.

The indexer URLs are the owner's own setting (TORZNAB_URL), and Jackett or Prowlarr usually run
on the owner's machine or LAN: so a query may reach loopback and private addresses whatever
ALLOW_PRIVATE_LINKS says (the scheme and "no user:pass@" rules still hold on every redirect
hop). What a query returns is only parsed, never fetched here: a result's link starts a task
through the intake, where the normal rules judge it like any link a user sends.

The API key is a secret: it travels only in the query string on the wire. Every text that
leaves this module (a failure's reason, a log line) names the indexer by its label, never its
URL; the key is also registered with the redactor (``Config.secrets``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import requests

from telebot.errors import CircuitOpenError, HTTPStatusError, SecurityError, TelebotError
from telebot.feeds.torznab.parse import MAX_BODY, MAX_ITEMS, Page, TorznabError, parse_answer
from telebot.feeds.torznab.results import Failure, Result, by_seeders
from telebot.resilience import BREAKERS, ERRORS, BreakerRegistry, ErrorTracker, guarded_call
from telebot.resilience.retry import RetryPolicy
from telebot.sources.http.netguard import GuardedAdapter
from telebot.sources.http.options import HttpOptions
from telebot.sources.http.request import default_session, open_response

log = logging.getLogger(__name__)

#: One retry after a short pause: a person waits for the answer, and a search is cheap to repeat.
SEARCH_POLICY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0, deadline=20.0)
#: Seconds a search waits for all its indexers; a slower one is reported as not answering.
SEARCH_TIMEOUT = 60.0
_CHUNK = 64 * 1024
_ACCEPT = "application/rss+xml, application/xml;q=0.9, text/xml;q=0.8"

SessionFactory = Callable[[GuardedAdapter], requests.Session]


@dataclass(frozen=True)
class Indexer:
    """One Torznab endpoint; ``label`` is how chat and logs name it."""

    url: str = field(repr=False)
    api_key: str = field(repr=False)
    label: str = ""


def label_of(url: str) -> str:
    """A short, secret-free name of an endpoint: ``host:port``, with Jackett's indexer name
    (``/indexers/<name>/``) or Prowlarr's indexer number (``/<n>/api``) when the URL has one."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    where = f"{host}:{parts.port}" if parts.port else host
    segments = [s for s in parts.path.split("/") if s]
    if "indexers" in segments[:-1]:
        name = segments[segments.index("indexers") + 1]
        if name != "all":
            return f"{name} ({where})"[:60]
    if len(segments) >= 2 and segments[-1] == "api" and segments[-2].isdigit():
        return f"{where} #{segments[-2]}"
    return where[:60]


def indexers_of(urls: Sequence[str], keys: Sequence[str]) -> list[Indexer]:
    """The configured endpoints (config.py has checked there is one key per URL); labels made
    unique so a failure names one indexer."""
    made: list[Indexer] = []
    seen: dict[str, int] = {}
    for url, key in zip(urls, keys, strict=True):
        label = label_of(url)
        seen[label] = seen.get(label, 0) + 1
        made.append(Indexer(url, key, label if seen[label] == 1 else f"{label} ({seen[label]})"))
    return made


def query_url(indexer: Indexer, words: str, categories: Sequence[int] = ()) -> str:
    """``<url>?t=search&q=<words>&apikey=<key>[&cat=<ids>]`` (after the URL's own query)."""
    params = {"t": "search", "q": words, "apikey": indexer.api_key, "limit": str(MAX_ITEMS)}
    if categories:
        params["cat"] = ",".join(str(c) for c in categories)
    separator = "&" if urlsplit(indexer.url).query else "?"
    return f"{indexer.url}{separator}{urlencode(params)}"


@dataclass(frozen=True)
class Answer:
    """What a search found over all indexers: results sorted by seeders, the indexers that
    failed, and those that had more items than :data:`MAX_ITEMS`."""

    results: list[Result]
    failures: list[Failure]
    truncated: list[str] = field(default_factory=list)


def reason_of(exc: BaseException) -> str:
    """A few words for the chat about why an indexer failed; never a URL (requests' own texts
    quote the URL with its API key)."""
    if isinstance(exc, HTTPStatusError):
        return f"HTTP {exc.status}"
    if isinstance(exc, TorznabError | SecurityError | CircuitOpenError):
        return str(exc)[:120]
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    if isinstance(exc, TelebotError):
        return type(exc).__name__
    return f"failed ({type(exc).__name__})"


class TorznabClient:
    """Searches every indexer of the configuration at once. Thread-safe; blocking (never on
    the event loop)."""

    def __init__(
        self,
        indexers: Sequence[Indexer],
        *,
        breakers: BreakerRegistry = BREAKERS,
        errors: ErrorTracker = ERRORS,
        policy: RetryPolicy = SEARCH_POLICY,
        timeout: float = SEARCH_TIMEOUT,
        max_body: int = MAX_BODY,
        max_items: int = MAX_ITEMS,
        session_factory: SessionFactory = default_session,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.indexers = list(indexers)
        self._breakers = breakers
        self._errors = errors
        self._policy = policy
        self._timeout = timeout
        self._max_body = max_body
        self._max_items = max_items
        self._session_factory = session_factory
        self._sleep = sleep

    def search(self, words: str, categories: Sequence[int] = ()) -> Answer:
        """Ask every indexer for ``words`` (in ``categories``, if any), in parallel. One
        indexer failing (or not answering within the timeout) is a :class:`Failure` in the
        answer; it never fails the search."""
        outcomes: list[Page | BaseException | None] = [None] * len(self.indexers)

        def ask(slot: int, indexer: Indexer) -> None:
            try:
                outcomes[slot] = self._ask(indexer, query_url(indexer, words, categories))
            except BaseException as exc:  # reported as this indexer's failure
                outcomes[slot] = exc

        threads = [
            threading.Thread(target=ask, args=(slot, indexer), name=f"torznab-{slot}", daemon=True)
            for slot, indexer in enumerate(self.indexers)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + self._timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        results: list[Result] = []
        failures: list[Failure] = []
        truncated: list[str] = []
        for indexer, outcome in zip(self.indexers, outcomes, strict=True):
            if isinstance(outcome, Page):
                results.extend(outcome.results)
                if outcome.truncated:
                    truncated.append(indexer.label)
                log.info("torznab %s: %d result(s)", indexer.label, len(outcome.results))
                continue
            reason = (f"no answer within {self._timeout:g} s" if outcome is None
                      else reason_of(outcome))
            log.warning("torznab %s failed: %s", indexer.label, reason)
            failures.append(Failure(indexer.label, reason))
        return Answer(by_seeders(results), failures, truncated)

    def _ask(self, indexer: Indexer, url: str) -> Page:
        host = urlsplit(url).hostname or "?"
        result: Page = guarded_call(
            host, lambda: self._fetch(indexer, url), policy=self._policy,
            breakers=self._breakers, tracker=self._errors, source="torznab", sleep=self._sleep,
        )
        return result

    def _fetch(self, indexer: Indexer, url: str) -> Page:
        options = HttpOptions(allow_private=True)  # the owner's own indexer (module docstring)
        session = self._session_factory(GuardedAdapter(allow_private=True))
        try:
            with open_response(session, "GET", url, options, {"Accept": _ACCEPT}) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self._max_body:
                    raise TorznabError(f"answer larger than {self._max_body >> 20} MiB")
                body = bytearray()
                for chunk in resp.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > self._max_body:
                        raise TorznabError(f"answer larger than {self._max_body >> 20} MiB")
        finally:
            session.close()
        return parse_answer(bytes(body), indexer.label, max_items=self._max_items,
                            max_body=self._max_body)
