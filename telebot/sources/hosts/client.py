"""The real :class:`~telebot.sources.hosts.base.PageClient`: a resolver's small requests
through the bot's guarded HTTP layer.

One :class:`GuardedPageClient` serves one resolve: it holds one ``requests`` session (so the
cookies a host sets are sent back on the next request of that resolve) over a
:class:`~telebot.sources.http.netguard.GuardedAdapter`. Redirects are followed by hand, each
hop checked by the SSRF guard (:func:`~telebot.sources.http.netguard.check_url`). Every request
runs through the host's circuit breaker with a short retry policy (a page is small: a host that
does not answer a page within a few tries is down), its body is read up to :data:`MAX_PAGE`
and no further, and a cancel aborts the sockets within a tick.

:class:`Rebase` is the owner's way (``HOSTS_BASE_URLS``) to send one host's requests to
another base: tests point MediaFire at a loopback server this way. It rewrites only URLs on
that host's own domains (and the service domains it declares: its API, its download servers),
so a user's link cannot steer anything: the mapping comes from the configuration alone.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests

from telebot.errors import DownloadError, HTTPStatusError, TaskCancelled
from telebot.resilience import (
    BREAKERS,
    ERRORS,
    BreakerRegistry,
    ErrorTracker,
    RetryPolicy,
    guarded_call,
    parse_retry_after,
)
from telebot.sources.hosts.base import Host, Page
from telebot.sources.http.errors import translate
from telebot.sources.http.netguard import GuardedAdapter, check_url
from telebot.sources.http.request import (
    CONNECT_TIMEOUT,
    MAX_REDIRECTS,
    REDIRECTS,
    abort_on_cancel,
    default_session,
)

MAX_PAGE = 2 << 20  # 2 MiB: the largest share page seen is a few hundred KiB
PAGE_READ_TIMEOUT = 20.0  # a page that stalls this long is a transient failure
#: A page that trickles in (a byte per read timeout) is given up after this long in all.
PAGE_DEADLINE = 60.0
#: A page is small and the user waits on it: three tries within half a minute, then the
#: host is reported down (its breaker counts it like any download's failure).
PAGE_POLICY = RetryPolicy(attempts=3, base_delay=1.0, max_delay=5.0, deadline=30.0)
BROWSER_AGENT = (  # some hosts serve a bare robot page to unknown agents
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)

SessionFactory = Callable[[GuardedAdapter], requests.Session]


def host_key(host: Host) -> str:
    """The name a host goes by in ``HOSTS_BASE_URLS``: its display name, lower case,
    letters and digits only ("MediaFire" -> "mediafire", "1fichier" -> "1fichier")."""
    return "".join(ch for ch in host.name.lower() if ch.isalnum())


def on_domain(hostname: str, domains: Iterable[str]) -> bool:
    """Is ``hostname`` one of ``domains`` or a subdomain of one?"""
    hostname = hostname.lower().rstrip(".")
    return any(hostname == d or hostname.endswith("." + d) for d in domains)


class Rebase:
    """URLs on a host's domains, and on the service domains it declares (its API, its
    download servers), sent to the base the owner configured for it.

    One instance serves the resolver's requests (:class:`GuardedPageClient`, each redirect hop
    included), the direct links it returns, and the downloader's redirect hops
    (``HttpOptions.rewrite``): a share that redirects to its host's content domain stays on the
    configured base. Without a base for a host, its URLs are left as they are."""

    def __init__(self, hosts: Iterable[Host], bases: Mapping[str, str]) -> None:
        self._bases = [((*h.domains, *h.service_domains), bases[host_key(h)]) for h in hosts
                       if host_key(h) in bases]

    def __call__(self, url: str) -> str:
        parts = urlsplit(url)
        for domains, base in self._bases:
            if on_domain(parts.hostname or "", domains):
                to = urlsplit(base)
                return urlunsplit((to.scheme, to.netloc, parts.path, parts.query,
                                   parts.fragment))
        return url


def no_rebase(url: str) -> str:
    return url


class GuardedPageClient:
    """A :class:`PageClient` for one resolve; :meth:`close` it when the resolve ends."""

    def __init__(
        self,
        *,
        allow_private: bool,
        cancel: threading.Event,
        rebase: Callable[[str], str] = no_rebase,
        breakers: BreakerRegistry = BREAKERS,
        errors: ErrorTracker = ERRORS,
        policy: RetryPolicy = PAGE_POLICY,
        max_page: int = MAX_PAGE,
        session_factory: SessionFactory = default_session,
    ) -> None:
        self._allow_private = allow_private
        self._cancel = cancel
        self._rebase = rebase
        self._breakers = breakers
        self._errors = errors
        self._policy = policy
        self._max_page = max_page
        self._adapter = GuardedAdapter(allow_private=allow_private)
        self._session = session_factory(self._adapter)
        self._session.headers["User-Agent"] = BROWSER_AGENT

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> GuardedPageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cookies(self) -> dict[str, str]:
        """Every cookie the hosts set during this resolve (name -> value)."""
        return {c.name: c.value or "" for c in self._session.cookies}

    def get(self, url: str, *, params: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None, allow_redirects: bool = True) -> Page:
        if params:
            url = url + ("&" if "?" in url else "?") + urlencode(params)
        return self._request("GET", url, headers, allow_redirects, {})

    def post(self, url: str, *, data: Mapping[str, str] | None = None, json: Any = None,
             headers: Mapping[str, str] | None = None, allow_redirects: bool = True) -> Page:
        body: dict[str, Any] = {}
        if data is not None:
            body["data"] = dict(data)
        if json is not None:
            body["json"] = json
        return self._request("POST", url, headers, allow_redirects, body)

    # ----------------------------------------------------------------------------- inside

    def _request(self, method: str, url: str, headers: Mapping[str, str] | None,
                 allow_redirects: bool, body: dict[str, Any]) -> Page:
        url = self._rebase(url)
        host = urlsplit(url).hostname or "?"

        def once() -> Page:
            try:
                return self._send(method, url, dict(headers or {}), allow_redirects, body)
            except Exception as exc:
                if self._cancel.is_set():  # our abort broke the socket: not the host's fault
                    raise TaskCancelled("cancelled") from exc
                raise

        if self._cancel.is_set():
            raise TaskCancelled("cancelled")
        try:
            with abort_on_cancel(self._cancel, self._adapter):
                page: Page = guarded_call(host, once, policy=self._policy,
                                          breakers=self._breakers, tracker=self._errors,
                                          source="hosts", cancel=self._cancel)
                return page
        except BaseException as exc:
            translated = translate(exc, host)
            if translated is exc:
                raise
            raise translated from exc

    def _send(self, method: str, url: str, headers: dict[str, str], allow_redirects: bool,
              body: dict[str, Any]) -> Page:
        seen, current = {url}, url
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(current, allow_private=self._allow_private)
            resp = self._session.request(
                method, current, headers=headers, stream=True, allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, PAGE_READ_TIMEOUT), **body)
            with resp:
                location = resp.headers.get("location")
                if allow_redirects and resp.status_code in REDIRECTS and location:
                    nxt = self._rebase(urljoin(current, location))
                    if nxt in seen:
                        raise DownloadError(f"redirect loop at {urlsplit(nxt).hostname}")
                    seen.add(nxt)
                    current = nxt
                    if resp.status_code in (301, 302, 303) and method == "POST":
                        method, body = "GET", {}  # as browsers do: the form is not sent again
                    continue
                if resp.status_code >= 400:
                    raise HTTPStatusError(
                        resp.status_code, urlsplit(current).hostname or "?",
                        retry_after=parse_retry_after(resp.headers.get("retry-after")))
                return Page(url=current, status=resp.status_code,
                            headers={k.lower(): v for k, v in resp.headers.items()},
                            text=self._read(resp), cookies=self.cookies())
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {urlsplit(url).hostname}")

    def _read(self, resp: requests.Response) -> str:
        """The body, decoded; a body over :data:`MAX_PAGE` is refused, not cut, and one slower
        than :data:`PAGE_DEADLINE` in all is given up."""
        chunks, size, began = [], 0, time.monotonic()
        for chunk in resp.iter_content(64 * 1024):
            if time.monotonic() - began > PAGE_DEADLINE:
                raise DownloadError(f"{urlsplit(resp.url).hostname}: the page took over "
                                    f"{PAGE_DEADLINE:.0f} s")
            size += len(chunk)
            if size > self._max_page:
                raise DownloadError(
                    f"{urlsplit(resp.url).hostname}: the page is over {self._max_page >> 20} MiB")
            chunks.append(chunk)
        return b"".join(chunks).decode(charset(resp.headers.get("content-type")),
                                       errors="replace")


def charset(content_type: str | None) -> str:
    """The charset a Content-Type names, if Python knows it; else UTF-8 (what every host
    here serves; requests' ISO-8859-1 default for text/* would garble their names)."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset":
            name = value.strip().strip('"')
            try:
                codecs.lookup(name)
            except LookupError:
                break
            return name
    return "utf-8"
