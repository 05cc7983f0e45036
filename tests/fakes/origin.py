"""A loopback HTTP origin serving generated files, with Range support and faults.

:class:`FakeOrigin` is a real :class:`http.server.ThreadingHTTPServer` on 127.0.0.1
(OS-chosen port, HTTP/1.1 keep-alive) running in a daemon thread. Downloader tests
register resources with :meth:`FakeOrigin.add`, break them with :meth:`FakeOrigin.fault`
and assert on :attr:`FakeOrigin.requests`.

Content is either literal ``data`` or ``size`` deterministic pseudo-random bytes made
on the fly from ``seed`` (see :class:`Resource`), so multi-GB files cost no memory.

The server base shared with :mod:`tests.fakes.bot_api` (:class:`LoopbackServer`,
:class:`QuietHandler`, :func:`parse_range`) lives in :mod:`tests.fakes._server` and is
re-exported here, where tests have always imported it from.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes._server import IDLE_TIMEOUT as IDLE_TIMEOUT
from tests.fakes._server import PEER_GONE as PEER_GONE
from tests.fakes._server import POLL_INTERVAL as POLL_INTERVAL
from tests.fakes._server import LoopbackServer, QuietHandler, parse_range

__all__ = [
    "FakeOrigin",
    "Fault",
    "Headers",
    "LoopbackServer",
    "QuietHandler",
    "RequestLog",
    "Resource",
    "parse_range",
]


# --------------------------------------------------------------------------- content

BLOCK = 1 << 16  # generation block: 64 KiB, also the socket write size
_POOL = 1 << 20  # 1 MiB random pool per seed; blocks are stamped windows into it
_STRIDE = 7919 * 64  # prime-ish stride so consecutive blocks start at unrelated offsets


@functools.lru_cache(maxsize=16)
def _pool(seed: int) -> bytes:
    return hashlib.shake_128(b"telebot-fake-origin:%d" % seed).digest(_POOL + BLOCK)


def _block(seed: int, index: int) -> bytes:
    """Deterministic 64 KiB block ``index`` of the stream for ``seed``.

    Each block starts with its own index (8 bytes) so a segment written at the wrong
    offset always changes the file hash, then a window of the seed's random pool. This
    is ~10x faster than hashing every block (memcpy speed), so the origin is never the
    bottleneck of a download benchmark.
    """
    offset = (index * _STRIDE) % _POOL
    return index.to_bytes(8, "big") + _pool(seed)[offset : offset + BLOCK - 8]


_POST_MARK = "\0post"  # add_post builds its resource under this key for a moment


@dataclass
class Resource:
    """One servable file. Content is ``data`` if given, else generated from ``seed``."""

    path: str
    size: int
    data: bytes | None = None
    seed: int = 0
    content_type: str = "application/octet-stream"
    content_disposition: str | None = None
    etag: str | None = None
    last_modified: float = 1_700_000_000.0
    headers: dict[str, str] = field(default_factory=dict)
    require: dict[str, str] = field(default_factory=dict)  # request headers it insists on
    _sha: str | None = field(default=None, repr=False)

    def iter_bytes(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of ``[start, end)`` in chunks of at most 64 KiB."""
        end = self.size if end is None else min(end, self.size)
        if self.data is not None:
            for pos in range(start, end, BLOCK):
                yield self.data[pos : min(pos + BLOCK, end)]
            return
        pos = start
        while pos < end:
            index, skip = divmod(pos, BLOCK)
            chunk = _block(self.seed, index)[skip : skip + end - pos]
            yield chunk
            pos += len(chunk)

    def bytes(self, start: int = 0, end: int | None = None) -> bytes:
        """The content of ``[start, end)`` (end exclusive, like slicing)."""
        return b"".join(self.iter_bytes(start, end))

    def sha256(self) -> str:
        """Hex SHA-256 of the whole content (computed once, streamed)."""
        if self._sha is None:
            digest = hashlib.sha256()
            for chunk in self.iter_bytes():
                digest.update(chunk)
            self._sha = digest.hexdigest()
        return self._sha

    @property
    def last_modified_http(self) -> str:
        return formatdate(self.last_modified, usegmt=True)


@dataclass
class Fault:
    """How to misbehave on a path; see :meth:`FakeOrigin.fault`."""

    drop_after: int | None = None
    lie_length: int | None = None
    ignore_range: bool = False
    no_head: bool = False
    no_length: bool = False
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    stall: float | None = None
    throttle: int | None = None
    times: int | None = None  # requests still to hit; None = every request
    every: int = 1  # only every N-th hit misbehaves; the others are served normally
    gate: threading.Event | None = None  # body bytes flow only while it is set
    hits: int = 0


class Headers(dict[str, str]):
    """A plain dict of request headers whose lookups ignore case (``h["range"]``)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        for key, value in dict(items).items():
            super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class RequestLog:
    """One request as the origin saw it. ``bytes_sent`` grows while the body streams."""

    method: str
    path: str
    headers: Headers
    at: float  # time.monotonic() when the request line was read
    bytes_sent: int = 0
    status: int = 0
    connection: int = 0  # ordinal of the TCP connection that carried it (keep-alive checks)
    done: bool = False
    query: str = ""  # raw query string, "" if none
    body: bytes = b""  # a POST's body (answered like a GET of the same path)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait(self, timeout: float = 10.0) -> RequestLog:
        """Block until the server has finished with this request (the client may see the
        last byte before ``bytes_sent``/``done`` are updated); returns self."""
        if not self._finished.wait(timeout):
            raise AssertionError(f"request {self.method} {self.path} still running")
        return self

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


# --------------------------------------------------------------------------- server


class _OriginHandler(QuietHandler):
    def do_HEAD(self) -> None:
        self.server.owner._serve(self, head=True)

    def do_GET(self) -> None:
        self.server.owner._serve(self, head=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.owner._serve(self, head=False, body=self.rfile.read(length))

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._conn_seq += 1
            self.conn_ordinal = self.server.owner._conn_seq


class FakeOrigin:
    """Loopback origin. Thread-safe; all state sits behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._resources: dict[str, Resource] = {}
        self._post_resources: dict[str, Resource] = {}  # add_post: what a POST gets instead
        self._redirects: dict[str, tuple[str, int, dict[str, str]]] = {}
        self._faults: dict[str, Fault] = {}
        self._requests: list[RequestLog] = []
        self._conn_seq = 0
        self._active = 0
        self.max_active = 0  # most requests in flight at once (segmented-download checks)
        self._server: LoopbackServer | None = None
        self.url = ""

    # ---- lifecycle

    def start(self) -> FakeOrigin:
        self._server = LoopbackServer(_OriginHandler, self)
        self.url = self._server.url
        self._server.start("fake-origin")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> FakeOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- configuration

    def add(
        self,
        path: str,
        *,
        size: int | None = None,
        data: bytes | None = None,
        seed: int = 0,
        content_disposition: str | None = None,
        content_type: str = "application/octet-stream",
        etag: str | None = None,
        headers: dict[str, str] | None = None,
        last_modified: float = 1_700_000_000.0,
        require: dict[str, str] | None = None,
    ) -> Resource:
        """Serve ``path`` (e.g. ``"/f.bin"``, or ``"/dl?id=1"`` to match that query only);
        replaces an earlier resource there.

        ``require`` lists request headers (e.g. ``Authorization``) that must have exactly
        these values; a request without them is answered 401.

        ``etag=None`` makes one from the content identity; ``etag=""`` sends none.
        """
        if (size is None) == (data is None):
            raise ValueError("give exactly one of size= or data=")
        length = len(data) if data is not None else int(size or 0)
        if etag is None:
            ident = hashlib.sha1(data).hexdigest()[:16] if data is not None else f"{seed:x}"
            etag = f'"{ident}-{length:x}"'
        res = Resource(
            path=path, size=length, data=data, seed=seed, content_type=content_type,
            content_disposition=content_disposition, etag=etag or None,
            last_modified=last_modified, headers=dict(headers or {}),
            require=dict(require or {}),
        )
        with self._lock:
            self._resources[path] = res
            self._redirects.pop(path, None)
        return res

    def add_post(self, path: str, **kwargs: Any) -> Resource:
        """Answer POSTs to ``path`` with a resource of their own (as :meth:`add` takes it), for
        pages whose form posts back to their own address; GETs keep what :meth:`add` gave."""
        res = self.add(path + _POST_MARK, **kwargs)
        with self._lock:
            self._post_resources[path] = self._resources.pop(path + _POST_MARK)
        return res

    def redirect(self, path: str, to: str, *, status: int = 302,
                 headers: dict[str, str] | None = None) -> None:
        """Answer ``path`` with ``status`` and ``Location: to`` (absolute or relative), and
        ``headers`` besides (a ``Set-Cookie`` the next hop needs)."""
        with self._lock:
            self._redirects[path] = (to, status, dict(headers or {}))

    def fault(
        self,
        path: str,
        *,
        drop_after: int | None = None,
        lie_length: int | None = None,
        ignore_range: bool = False,
        no_head: bool = False,
        no_length: bool = False,
        statuses: list[int] | None = None,
        retry_after: str | None = None,
        stall: float | None = None,
        throttle: int | None = None,
        times: int | None = None,
        every: int = 1,
        gate: threading.Event | None = None,
    ) -> None:
        """Make the next ``times`` requests for ``path`` misbehave (None: all of them).

        Every request to ``path`` counts as a hit, HEAD included.

        ``statuses`` are answered first, one per request (with ``Retry-After`` if given);
        once they run out the other faults apply. ``drop_after`` closes the connection
        after N body bytes; ``lie_length`` is sent as Content-Length whatever the body is
        (the real body follows, then the connection closes); ``stall`` pauses seconds
        after the headers; ``throttle`` caps bytes/s on the connection. Replaces any
        earlier fault on ``path``; :meth:`clear_fault` removes it. With ``every=N`` only
        every N-th hit misbehaves (``every=2, drop_after=X``: every other response is cut).
        ``no_length`` answers without Content-Length and without Range support (the size is
        unknown until the connection closes, like a generated stream). ``gate``: body bytes
        are written only while the event is set (clear it to hold a download mid-body for as
        long as a test needs, however slow the machine; set it to let the rest through).
        """
        if every < 1:
            raise ValueError("every must be >= 1")
        with self._lock:
            self._faults[path] = Fault(
                drop_after=drop_after, lie_length=lie_length, ignore_range=ignore_range,
                no_head=no_head, no_length=no_length, statuses=list(statuses or []),
                retry_after=retry_after,
                stall=stall, throttle=throttle, times=times, every=every, gate=gate,
            )

    def clear_fault(self, path: str) -> None:
        with self._lock:
            self._faults.pop(path, None)

    # ---- assertions

    @property
    def requests(self) -> list[RequestLog]:
        """Snapshot list of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str, method: str | None = None) -> list[RequestLog]:
        return [
            r for r in self.requests
            if r.path == path and (method is None or r.method == method)
        ]

    def bytes_sent(self, path: str | None = None) -> int:
        """Body bytes written so far, for ``path`` or for every path."""
        return sum(r.bytes_sent for r in self.requests if path is None or r.path == path)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuse checks)."""
        return self._server.connections_accepted if self._server else 0

    # ---- serving (runs on handler threads)

    def _take_fault(self, path: str) -> tuple[Fault | None, int | None]:
        """Consume one hit of the fault on ``path``: (fault, status-to-answer-or-None)."""
        with self._lock:
            fault = self._faults.get(path)
            if fault is None or (fault.times is not None and fault.hits >= fault.times):
                return None, None
            fault.hits += 1
            if fault.hits % fault.every:
                return None, None
            status = fault.statuses.pop(0) if fault.statuses else None
            return fault, status

    def _serve(self, h: _OriginHandler, *, head: bool, body: bytes = b"") -> None:
        parts = urlsplit(h.path)
        log = RequestLog(
            method=h.command, path=unquote(parts.path), headers=Headers(h.headers.items()),
            at=time.monotonic(), connection=h.conn_ordinal, query=parts.query, body=body,
        )
        with self._lock:
            self._requests.append(log)
            self._active += 1
            self.max_active = max(self.max_active, self._active)
            # A path registered with its query ("/dl?id=1") wins over the bare path.
            path = log.path
            if parts.query and f"{path}?{parts.query}" in self._known_paths():
                path = f"{path}?{parts.query}"
            redirect = self._redirects.get(path)
            res = self._resources.get(path)
            if h.command == "POST" and path in self._post_resources:
                res = self._post_resources[path]
        try:
            self._respond(h, log, path, head, redirect, res)
        finally:
            with self._idle:
                self._active -= 1
                log.done = True
                self._idle.notify_all()
            log._finished.set()

    def _known_paths(self) -> set[str]:
        return {*self._resources, *self._redirects, *self._faults, *self._post_resources}

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no request is in flight (e.g. before asserting on bytes_sent)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._active == 0, timeout):
                raise AssertionError(f"{self._active} request(s) still in flight")

    def _respond(
        self, h: _OriginHandler, log: RequestLog, path: str, head: bool,
        redirect: tuple[str, int, dict[str, str]] | None, res: Resource | None,
    ) -> None:
        fault, status = self._take_fault(path)
        if status is not None:
            self._send_status(h, log, res, status, fault)
            return
        if redirect is not None:
            log.status = redirect[1]
            h.send_plain(redirect[1], headers={**redirect[2], "Location": redirect[0]})
            return
        if res is None:
            log.status = 404
            h.send_plain(404, b"not found\n", {"Content-Type": "text/plain"})
            return
        if any(log.headers.get(k) != v for k, v in res.require.items()):
            log.status = 401
            h.send_plain(401, b"credentials required\n", {"WWW-Authenticate": 'Basic realm="t"'})
            return
        if fault is not None and fault.no_head and head:
            log.status = 405
            h.send_plain(405, headers={"Allow": "GET"})
            return
        self._send_resource(h, log, res, head, fault)

    def _send_status(
        self, h: _OriginHandler, log: RequestLog, res: Resource | None, status: int,
        fault: Fault | None,
    ) -> None:
        headers = {"Content-Type": "text/plain"}
        if fault is not None and fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if status == 416 and res is not None:
            headers["Content-Range"] = f"bytes */{res.size}"
        log.status = status
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        h.send_plain(status, f"{status} {phrase}\n".encode(), headers)

    def _choose_range(
        self, h: _OriginHandler, res: Resource, fault: Fault | None
    ) -> tuple[int, int] | str | None:
        header = h.headers.get("Range")
        if header is None or (fault is not None and fault.ignore_range):
            return None
        if_range = h.headers.get("If-Range")
        if if_range is not None and if_range.strip() not in (res.etag, res.last_modified_http):
            return None  # validator changed: RFC 9110 §13.1.5 says send the whole file
        return parse_range(header, res.size)

    def _send_resource(
        self, h: _OriginHandler, log: RequestLog, res: Resource, head: bool, fault: Fault | None
    ) -> None:
        chosen = self._choose_range(h, res, fault)
        if chosen == "unsatisfiable":
            log.status = 416
            h.send_plain(416, headers={"Content-Range": f"bytes */{res.size}"})
            return
        if fault is not None and fault.no_length:
            self._send_without_length(h, log, res, head, fault)
            return
        start, end = chosen if isinstance(chosen, tuple) else (0, res.size)
        log.status = 206 if isinstance(chosen, tuple) else 200
        h.send_response(log.status)
        self._send_entity_headers(h, res)
        if log.status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{res.size}")
        lie = fault.lie_length if fault is not None else None
        h.send_header("Content-Length", str(lie if lie is not None else end - start))
        if fault is not None and (lie is not None or fault.drop_after is not None):
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        if head:
            return
        h.wfile.flush()
        if fault is not None and fault.stall and h.server.stopping.wait(fault.stall):
            h.close_connection = True
            return
        self._stream(h, log, res, start, end, fault)

    def _send_without_length(
        self, h: _OriginHandler, log: RequestLog, res: Resource, head: bool, fault: Fault
    ) -> None:
        log.status = 200
        h.send_response(200)
        h.send_header("Content-Type", res.content_type)
        h.send_header("Connection", "close")  # the body ends when the connection does
        h.close_connection = True
        h.end_headers()
        if not head:
            self._stream(h, log, res, 0, res.size, fault)

    @staticmethod
    def _send_entity_headers(h: _OriginHandler, res: Resource) -> None:
        h.send_header("Content-Type", res.content_type)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Last-Modified", res.last_modified_http)
        if res.etag:
            h.send_header("ETag", res.etag)
        if res.content_disposition is not None:
            h.send_header("Content-Disposition", res.content_disposition)
        for name, value in res.headers.items():
            h.send_header(name, value)

    @staticmethod
    def _stream(
        h: _OriginHandler, log: RequestLog, res: Resource, start: int, end: int,
        fault: Fault | None,
    ) -> None:
        """Write ``[start, end)``, honouring drop_after and throttle."""
        budget = fault.drop_after if fault is not None else None
        rate = fault.throttle if fault is not None else None
        # Throttled writes go in ~20 slices per second so pacing stays smooth.
        piece = max(1, min(BLOCK, rate // 20)) if rate else BLOCK
        began = time.monotonic()
        gate = fault.gate if fault is not None else None
        for chunk in res.iter_bytes(start, end):
            for pos in range(0, len(chunk), piece):
                while gate is not None and not gate.wait(0.05):
                    if h.server.stopping.is_set():
                        h.close_connection = True
                        return
                part = chunk[pos : pos + piece]
                if budget is not None:
                    part = part[: max(0, budget - log.bytes_sent)]
                if part:
                    h.wfile.write(part)
                    log.bytes_sent += len(part)
                if budget is not None and log.bytes_sent >= budget:
                    h.close_connection = True
                    return
                if rate:
                    due = began + log.bytes_sent / rate - time.monotonic()
                    if due > 0 and h.server.stopping.wait(due):
                        h.close_connection = True
                        return
