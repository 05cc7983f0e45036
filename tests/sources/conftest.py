"""Fixtures for the source tests: a fake origin and an HttpSource that never really sleeps."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import HttpOptions, HttpSource
from tests.fakes.origin import FakeOrigin
from tests.fakes.ports import reserved_port

# Small segments so that a few-MB test file is split like a multi-GB one would be.
SEGMENTED = HttpOptions(allow_private=True, segments=4, min_segment_size=256 * 1024)
SINGLE = replace(SEGMENTED, segments=1)


class Recorder:
    """Collects the delays the retry layer asked to sleep, without sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def origin() -> Iterator[FakeOrigin]:
    with FakeOrigin() as server:
        yield server


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
def source(sleeps: Recorder) -> HttpSource:
    # A fresh breaker registry per test: every fake origin is "127.0.0.1".
    return HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker(), sleep=sleeps)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "task"


def no_cancel() -> threading.Event:
    return threading.Event()


# ------------------------------------------------------------------------ real nginx

NGINX = "/usr/sbin/nginx"

_NGINX_CONF = """
daemon off;
worker_processes 1;
user root root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    etag {etag};
    server {{
        listen 127.0.0.1:{port};
        root {root};
        limit_rate {rate};
    }}
}}
"""


class Nginx:
    """Real nginx on loopback serving ``root``; stop() and start() again on the same port.

    ``rate`` is nginx's per-connection ``limit_rate`` (bytes/s, 0 = none), so a download
    is still running when a test stops the server or replaces a file under it.
    """

    def __init__(self, tmp: Path, *, rate: int = 0, etag: bool = True) -> None:
        self.tmp = tmp
        self.root = tmp / "www"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = reserved_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = _NGINX_CONF.format(tmp=tmp, root=self.root, port=self.port, rate=rate,
                                  etag="on" if etag else "off")
        self.conf = tmp / "nginx.conf"
        self.conf.write_text(conf)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._proc = subprocess.Popen([NGINX, "-p", str(self.tmp), "-c", str(self.conf)],
                                      stdin=subprocess.DEVNULL)
        deadline, tick = time.monotonic() + timeout, threading.Event()
        while True:  # polls until the port answers: nginx says nothing when it is ready
            assert self._proc.poll() is None, (self.tmp / "error.log").read_text()
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "nginx did not start listening"
            tick.wait(0.02)

    def stop(self) -> None:
        """Terminate nginx (fast shutdown: open connections are cut)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    assert os.access(NGINX, os.X_OK), "nginx is not installed (.ci/run installs it)"
    started: list[Nginx] = []

    def make(**kwargs: int | bool) -> Nginx:
        server = Nginx(tmp_path / f"nginx{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()
