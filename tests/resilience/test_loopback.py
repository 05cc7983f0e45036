"""The primitives against real loopback sockets: requests errors, resume, dead hosts.

The end-to-end tests through tests/fakes/origin.py live with the downloader;
these only show that the classification and the breaker behave with the real
errors requests raises, and that a resuming callable yields an intact body.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from telebot.errors import CircuitOpenError
from telebot.resilience import BreakerConfig, BreakerRegistry, ErrorTracker, guarded_call
from telebot.resilience.policies import request_not_delivered
from telebot.resilience.retry import RetryPolicy, default_is_transient
from tests.fakes.ports import reserved_port
from tests.resilience.conftest import FakeClock

PAYLOAD = bytes(range(256)) * 512  # 128 KiB
CUT_AFTER = 40_000  # bytes sent before a "dropping" response hangs up


class Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first two responses drop mid-body."""

    drops_left = 2
    lock = threading.Lock()

    def do_GET(self) -> None:
        start = 0
        header = self.headers.get("Range")
        if header:
            start = int(header.removeprefix("bytes=").split("-")[0])
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with Handler.lock:
            drop = Handler.drops_left > 0
            Handler.drops_left -= drop
        if drop:
            self.wfile.write(body[:CUT_AFTER])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def origin() -> Iterator[str]:
    Handler.drops_left = 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_host() -> str:
    """An address where nothing listens: connections are refused at once."""
    return f"127.0.0.1:{reserved_port()}"


def test_dropped_connections_mid_body_still_yield_an_intact_file(origin: str,
                                                                  clock: FakeClock) -> None:
    received = bytearray()
    session = requests.Session()

    def fetch_rest() -> bytes:
        headers = {"Range": f"bytes={len(received)}-"} if received else {}
        with session.get(f"http://{origin}/f", headers=headers, stream=True, timeout=5) as r:
            for chunk in r.iter_content(8192):
                received.extend(chunk)
        return bytes(received)

    retries: list[str] = []
    data = guarded_call(origin, fetch_rest, policy=RetryPolicy(), breakers=BreakerRegistry(),
                        clock=clock, sleep=clock.sleep,
                        on_retry=lambda n, exc, d: retries.append(type(exc).__name__))
    assert data == PAYLOAD
    assert retries == ["ChunkedEncodingError", "ChunkedEncodingError"]


def test_dead_host_opens_its_breaker_while_other_hosts_work(origin: str, dead_host: str,
                                                            clock: FakeClock) -> None:
    Handler.drops_left = 0
    registry = BreakerRegistry(BreakerConfig(failure_threshold=3, cool_down=60), clock=clock)
    tracker = ErrorTracker(clock=clock)
    policy = RetryPolicy(attempts=2)

    def get(host: str) -> bytes:
        return guarded_call(host, lambda: requests.get(f"http://{host}/f", timeout=5).content,
                            policy=policy, breakers=registry, tracker=tracker,
                            clock=clock, sleep=clock.sleep)

    with pytest.raises(requests.ConnectionError) as info:
        get(dead_host)
    assert default_is_transient(info.value) and request_not_delivered(info.value)
    with pytest.raises(CircuitOpenError):
        get(dead_host)  # the third refusal opened it; the retry met the open breaker
    clock.advance(5)
    with pytest.raises(CircuitOpenError) as fast:
        get(dead_host)  # later tasks fail fast, with the host and the wait in the text
    assert str(fast.value) == (f"{dead_host} is failing repeatedly; "
                               "it will be tried again in 55 s")
    assert get(origin) == PAYLOAD
    assert registry.snapshot() == {dead_host: "open", origin: "closed"}
    assert tracker.totals_by_kind()["ConnectionError"] == 3


def test_read_timeout_is_transient_but_maybe_delivered() -> None:
    """A server that accepts and never answers: the request may have been acted on."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(requests.ReadTimeout) as info:
            requests.post(f"http://127.0.0.1:{port}/upload", data=b"x", timeout=(2, 0.05))
    finally:
        listener.close()
    assert default_is_transient(info.value)
    assert not request_not_delivered(info.value)
