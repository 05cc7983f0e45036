"""A loopback Torznab indexer (the answers of Jackett or Prowlarr, docs/FEEDS.md).

:class:`FakeTorznab` answers ``GET <path>?t=search&q=..&apikey=..`` with a fixture file from
tests/fixtures/torznab/ (its ``${name}`` fields filled in, XML-escaped), checks the API key
(a wrong one gets the ``<error code="100">`` answer), records every query, and fails on demand
(``fail = 500``: HTTP 500; ``fail = "error"``: an ``<error>`` answer), and can hold its answer
until an event is set (``hold``). :meth:`add_file` serves a
.torrent at a path, behind the same key (``jackett_apikey`` or ``apikey``), like Jackett's
download links.
"""

from __future__ import annotations

import threading
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

from tests.fakes._server import LoopbackServer, QuietHandler

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "torznab"


def fixture(name: str, **fields: str) -> bytes:
    """A fixture file with its ``${field}`` placeholders filled in, XML-escaped (for text and
    attribute values alike); unknown placeholders stay as written."""
    escaped = {key: quoteattr(value)[1:-1] for key, value in fields.items()}
    return Template((FIXTURES / name).read_text(encoding="utf-8")).safe_substitute(escaped).encode()


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        owner: FakeTorznab = self.server.owner
        owner.answer(self)


class FakeTorznab:
    """One indexer endpoint on 127.0.0.1 (see the module docstring)."""

    def __init__(self, fixture_name: str, api_key: str, *, path: str = "/api",
                 **fields: str) -> None:
        self.fixture_name = fixture_name
        self.api_key = api_key
        self.path = path
        self.fields = fields
        self.fail: int | str | None = None
        self.body: bytes | None = None  # answer these bytes instead of the fixture
        self.queries: list[dict[str, str]] = []
        self.files: dict[str, bytes] = {}
        self.downloads = 0
        # Set on every search query; a query waits for ``hold`` (when given) before answering,
        # and answers 500 if it is not set within ``hold_timeout`` seconds.
        self.queried = threading.Event()
        self.hold: threading.Event | None = None
        self.hold_timeout = 30.0
        self._lock = threading.Lock()
        self._server = LoopbackServer(_Handler, self)

    @property
    def base(self) -> str:
        return self._server.url

    @property
    def url(self) -> str:
        """The Torznab endpoint, as TORZNAB_URL holds it."""
        return self.base + self.path

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.queries)

    def add_file(self, path: str, content: bytes) -> str:
        """Serve ``content`` at ``path`` (behind the key); returns its URL without the key."""
        self.files[path] = content
        return self.base + path

    def start(self) -> FakeTorznab:
        self._server.start("fake-torznab")
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeTorznab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, h: QuietHandler) -> None:
        parts = urlsplit(h.path)
        params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        key_ok = self.api_key in (params.get("apikey"), params.get("jackett_apikey"))
        if parts.path in self.files:
            if not key_ok:
                h.send_plain(401, b"unauthorized")
                return
            with self._lock:
                self.downloads += 1
            h.send_plain(200, self.files[parts.path],
                         {"Content-Type": "application/x-bittorrent"})
            return
        if parts.path != self.path:
            h.send_plain(404, b"not found")
            return
        with self._lock:
            self.queries.append(params)
        self.queried.set()
        if self.hold is not None and not self.hold.wait(self.hold_timeout):
            h.send_plain(500, b"held too long")
            return
        xml = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if not key_ok:
            h.send_plain(200, fixture("error.xml"), xml)
        elif self.fail == 500:
            h.send_plain(500, b"Internal Server Error")
        elif self.fail == "error":
            h.send_plain(200, fixture("error.xml"), xml)
        elif params.get("t") != "search":
            h.send_plain(200, b'<error code="202" description="No such function" />', xml)
        else:
            fields: dict[str, Any] = {"base": self.base, "key": self.api_key, **self.fields}
            h.send_plain(200, self.body if self.body is not None
                         else fixture(self.fixture_name, **fields), xml)
