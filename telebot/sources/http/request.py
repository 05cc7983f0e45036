"""One HTTP request as the downloader sends it: the session, redirects by hand under the
SSRF guard, and abort on cancel for calls that run in the caller's thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import requests

from telebot.errors import DownloadError, HTTPStatusError
from telebot.resilience import parse_retry_after
from telebot.sources.http.netguard import GuardedAdapter, check_url
from telebot.sources.http.options import HttpOptions

MAX_REDIRECTS = 10  # the limit
CONNECT_TIMEOUT = 10.0  # requests' docs: slightly above a multiple of 3 s (TCP SYN retransmit)
READ_TIMEOUT = 30.0  # a stalled body for this long is a transient failure -> resume
TICK = 0.1  # coordinator period: cancel check + progress callback (10 Hz)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "telebot/1.0"


@contextlib.contextmanager
def abort_on_cancel(cancel: threading.Event, adapter: GuardedAdapter) -> Iterator[None]:
    """While the body runs, a cancel aborts *adapter*'s sockets within one TICK.

    The probe runs in the caller's thread, so unlike the segment workers it has
    no supervisor; a stalled HEAD would otherwise hold a cancel for READ_TIMEOUT.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(TICK):
            if cancel.is_set():
                adapter.abort()
                return

    watcher = threading.Thread(target=watch, name="http-probe-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def default_session(adapter: GuardedAdapter) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment: the guard checks peers
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return session


def open_response(session: requests.Session, method: str, url: str, options: HttpOptions,
                  headers: Mapping[str, str], *, link: str | None = None) -> requests.Response:
    """Send one request, following up to MAX_REDIRECTS redirects by hand.

    Every hop is checked by the SSRF guard; the user's headers and auth go
    only to the origin of the *link* they gave (default: *url*), like
    browsers and requests do. ``options.rewrite``, when set, is applied to
    every address first (the URL given and each redirect target) and the
    guard checks what it returns: the rewritten address is the one
    connected to.
    Returns a streamed 2xx response; raises HTTPStatusError for >= 400.
    """
    rewrite = options.rewrite or _unchanged
    current = rewrite(url)
    origin, seen = origin_of(rewrite(link) if link else current), {current}
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(current, allow_private=options.allow_private)
        same = origin_of(current) == origin
        resp = session.request(
            method, current, headers={**(options.headers if same else {}), **headers},
            auth=options.auth if same else None, stream=True, allow_redirects=False,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        if resp.status_code in REDIRECTS and "location" in resp.headers:
            nxt = rewrite(urljoin(current, resp.headers["location"]))
            resp.close()
            if nxt in seen:
                raise DownloadError(f"redirect loop at {urlsplit(nxt).hostname}")
            seen.add(nxt)
            current = nxt
            continue
        if resp.status_code >= 400:
            resp.close()
            raise HTTPStatusError(resp.status_code, urlsplit(current).hostname or "?",
                                  retry_after=parse_retry_after(resp.headers.get("retry-after")))
        return resp
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {urlsplit(url).hostname}")


def _unchanged(url: str) -> str:
    return url


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
