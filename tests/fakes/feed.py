"""A loopback RSS 2.0 / Atom feed whose items a test adds while the bot reads it.

Each feed answers with an ``ETag`` (a version number that grows with each change) and
``Last-Modified``; a request whose ``If-None-Match`` names the current version gets 304 with
no body. ``fail(path, status)`` makes every request answer that status until ``heal(path)``.
Every request is recorded (path, headers, status) so a test can see what the bot sent.
"""

from __future__ import annotations

import email.utils
import html
import threading
from dataclasses import dataclass, field

from tests.fakes._server import LoopbackServer, QuietHandler


@dataclass(frozen=True)
class FeedItem:
    title: str
    link: str
    guid: str | None = None
    torrent: str | None = None  # an enclosure of type application/x-bittorrent


@dataclass
class _Feed:
    title: str
    atom: bool
    items: list[FeedItem] = field(default_factory=list)  # oldest first
    version: int = 1
    failing: int | None = None


@dataclass(frozen=True)
class FeedRequest:
    path: str
    headers: dict[str, str]
    status: int


class FakeFeeds:
    """Thread-safe: one lock around every feed and the request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._feeds: dict[str, _Feed] = {}
        self._requests: list[FeedRequest] = []
        self._server: LoopbackServer | None = None
        self.url = ""

    def __enter__(self) -> FakeFeeds:
        self._server = LoopbackServer(_FeedHandler, self)
        self.url = self._server.url
        self._server.start("fake-feeds")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    def feed(self, path: str, title: str, items: list[FeedItem], *, atom: bool = False) -> str:
        """Serve a feed at ``path``; returns its URL."""
        with self._lock:
            self._feeds[path] = _Feed(title, atom, list(items))
        return self.url + path

    def publish(self, path: str, item: FeedItem) -> None:
        """Add an item (the newest), which changes the feed's ETag."""
        with self._lock:
            feed = self._feeds[path]
            feed.items.append(item)
            feed.version += 1

    def fail(self, path: str, status: int = 500) -> None:
        with self._lock:
            self._feeds[path].failing = status

    def heal(self, path: str) -> None:
        with self._lock:
            self._feeds[path].failing = None

    def requests_for(self, path: str) -> list[FeedRequest]:
        with self._lock:
            return [r for r in self._requests if r.path == path]

    def _answer(self, handler: _FeedHandler) -> None:
        path = handler.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            feed = self._feeds.get(path)
            if feed is None:
                status, body, etag = 404, b"no such feed", None
            elif feed.failing is not None:
                status, body, etag = feed.failing, b"broken", None
            else:
                etag = f'"v{feed.version}"'
                if headers.get("if-none-match") == etag:
                    status, body = 304, b""
                else:
                    status, body = 200, (_atom(feed) if feed.atom else _rss(feed)).encode()
            self._requests.append(FeedRequest(path, headers, status))
        handler.send_response(status)
        if etag is not None:
            handler.send_header("ETag", etag)
            handler.send_header("Last-Modified", email.utils.formatdate(1_700_000_000, usegmt=True))
        if status == 200 and feed is not None:
            kind = "application/atom+xml" if feed.atom else "application/rss+xml"
            handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(body)


class _FeedHandler(QuietHandler):
    def do_GET(self) -> None:
        self.server.owner._answer(self)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _rss(feed: _Feed) -> str:
    entries = []
    for item in reversed(feed.items):  # newest first, as feeds list them
        guid = f"<guid isPermaLink=\"false\">{_e(item.guid)}</guid>" if item.guid else ""
        enclosure = (
            f'<enclosure url="{_e(item.torrent)}" type="application/x-bittorrent" length="1"/>'
            if item.torrent else ""
        )
        entries.append(
            f"<item><title>{_e(item.title)}</title><link>{_e(item.link)}</link>"
            f"{guid}{enclosure}</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{_e(feed.title)}</title><link>http://example.invalid/</link>"
        f"<description>test</description>{''.join(entries)}</channel></rss>"
    )


def _atom(feed: _Feed) -> str:
    entries = []
    for item in reversed(feed.items):
        entries.append(
            f"<entry><title>{_e(item.title)}</title><link href=\"{_e(item.link)}\"/>"
            f"<id>{_e(item.guid or item.link)}</id>"
            "<updated>2024-01-01T00:00:00Z</updated></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{_e(feed.title)}</title><id>urn:test:feed</id>"
        f"<updated>2024-01-01T00:00:00Z</updated>{''.join(entries)}</feed>"
    )
