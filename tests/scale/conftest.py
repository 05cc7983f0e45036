"""Scale-out fixtures: a real ``redis-server`` on a random loopback port and real
``python -m telebot.worker`` processes, beside the usual fake Bot API, origin and bot front.

Skipped with a clear reason where ``redis-server`` is not installed (CI installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests import polling
from tests.conftest import ROOT, BotProcess, bot_env
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.ports import reserved_port
from tests.processes import ChildProcess

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

requires_redis = pytest.mark.skipif(
    not os.access(REDIS_SERVER, os.X_OK),
    reason="redis-server is not installed (Debian package redis-server): scale-out tests "
    "need a real Redis",
)


@dataclass
class RedisServer:
    """A throwaway redis-server: loopback only, no persistence."""

    folder: Path
    port: int = field(default_factory=reserved_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "redis.conf"
        conf.write_text(
            f'port {self.port}\nbind 127.0.0.1\nsave ""\nappendonly no\n'
            f"dir {self.folder}\nprotected-mode yes\n"
        )
        self.proc = subprocess.Popen(
            [REDIS_SERVER, str(conf)],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        polling.wait_until(self.answers, 10, "redis-server to answer PING")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("redis-server is not installed: scale-out tests need a real Redis")
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class WorkerProcess(ChildProcess):
    """A real ``python -m telebot.worker`` with its own folder (downloads, mirror, log)."""

    terminate_timeout: ClassVar[float] = 30.0  # a worker hands its tasks back first

    name: str
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    pool: str = "threads"

    def start(self) -> WorkerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        before = len(self.log_text())  # a restarted worker appends to the same log
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "telebot.worker",
                    "--name", f"{self.name}@test", "--pool", self.pool,
                ],
                cwd=self.home,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        polling.wait_until(
            lambda: " ready." in self.log_text()[before:] or self.proc.poll() is not None,  # type: ignore[union-attr]
            60,
            f"worker {self.name} to be ready",
        )
        assert self.proc.poll() is None, self.stderr()
        return self


def scale_env(api: FakeBotAPI, redis: RedisServer, **extra: str) -> dict[str, str]:
    env = bot_env(api, CELERY_BROKER_URL=redis.url, PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


@pytest.fixture
def make_worker(
    bot_api: FakeBotAPI, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """``make_worker(name, **env)`` → a started worker; killed at the end of the test."""
    started: list[WorkerProcess] = []

    def make(name: str, **extra: str) -> WorkerProcess:
        worker = WorkerProcess(
            name, tmp_path / f"worker-{name}", scale_env(bot_api, redis_server, **extra)
        )
        started.append(worker)
        return worker.start()

    yield make
    for worker in started:
        worker.stop_quietly()


@pytest.fixture
def make_front(
    bot_api: FakeBotAPI, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Callable[..., BotProcess]]:
    """``make_front(**env)`` → the real bot in front mode; killed at the end of the test."""
    started: list[BotProcess] = []

    def make(**extra: str) -> BotProcess:
        home = tmp_path / "front"
        home.mkdir(exist_ok=True)
        front = BotProcess(bot_api, home, scale_env(bot_api, redis_server, **extra))
        started.append(front)
        return front.start()

    yield make
    for front in started:
        front.stop_quietly()
