"""The loopback HTTP server base shared by the fakes (:mod:`tests.fakes.origin`,
:mod:`tests.fakes.bot_api`).

:class:`LoopbackServer` is a :class:`http.server.ThreadingHTTPServer` on 127.0.0.1 (OS-chosen
port) that tracks its connections, so ``stop()`` returns promptly even with clients connected
or responses stalled. :class:`QuietHandler` is its HTTP/1.1 keep-alive handler: no access log,
vanished peers swallowed. :func:`parse_range` reads a ``Range`` header for both fakes.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "IDLE_TIMEOUT",
    "PEER_GONE",
    "POLL_INTERVAL",
    "LoopbackServer",
    "QuietHandler",
    "parse_range",
]

# Seconds an idle keep-alive connection may wait for its next request. Long enough for
# any test, short enough that an abandoned client cannot pin a thread for ever;
# stop() closes tracked connections anyway.
IDLE_TIMEOUT = 30.0
# How often serve_forever() checks for shutdown: bounds how long stop() waits.
POLL_INTERVAL = 0.02
# Errors that only mean "the peer went away"; never worth a traceback in a fake.
PEER_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class LoopbackServer(ThreadingHTTPServer):
    """ThreadingHTTPServer on 127.0.0.1 that tracks its connections so stop() is prompt."""

    daemon_threads = True
    block_on_close = False
    # listen() backlog: the stdlib default of 5 drops SYNs when a segmented downloader
    # opens many connections at once, and the client's SYN retry costs a whole second.
    request_queue_size = 128

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        owner: Any,
        port: int = 0,
        *,
        recv_buffer: int = 0,
    ) -> None:
        # SO_RCVBUF is set on the listening socket (inherited by every accepted one, before
        # the handshake fixes the window scale): a small one bounds how far a client can
        # write ahead of a handler that stops reading. 0 keeps the kernel's autotuning.
        self.recv_buffer = recv_buffer
        super().__init__(("127.0.0.1", port), handler)
        self.owner = owner
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.connections_accepted = 0
        self._thread: threading.Thread | None = None

    def server_bind(self) -> None:
        if self.recv_buffer:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.recv_buffer)
        super().server_bind()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(POLL_INTERVAL,), name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, release stalls, close every client connection; idempotent."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=2.0)
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            # shutdown() (not close()) wakes a handler thread blocked in recv/send.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, PEER_GONE) or self.stopping.is_set():
            return
        super().handle_error(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that never logs and swallows vanished peers."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # peer's delayed ACK and every small response costs ~40 ms on Linux loopback.
    disable_nagle_algorithm = True
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log (tests assert on recorded requests)."""

    def send_header(self, keyword: str, value: str) -> None:
        """Like the stdlib, but a value outside Latin-1 goes out as raw UTF-8 bytes, as
        many real servers send non-ASCII Content-Disposition file names."""
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            value = value.encode("utf-8").decode("latin-1")
        super().send_header(keyword, value)

    def handle(self) -> None:
        try:
            super().handle()
        except PEER_GONE:
            self.close_connection = True
        except (OSError, ValueError):
            # ValueError: I/O on a file closed by stop(); only expected while stopping.
            if not self.server.stopping.is_set():
                raise

    def send_plain(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        """Send a complete small response (body omitted for HEAD)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


# --------------------------------------------------------------------------- ranges

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """Parse one ``Range`` value against ``size`` (RFC 9110 §14.1.2).

    Returns ``(start, end_exclusive)``, ``None`` when the header must be ignored
    (malformed or several ranges: serving the whole file is allowed), or the string
    ``"unsatisfiable"`` (answer 416).
    """
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range "-n": the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # invalid range-spec: ignore the header
    if start >= size:
        return "unsatisfiable"
    return start, end
