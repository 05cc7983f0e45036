"""Fixtures for the torrent source: a leecher session, a loopback seeder, and task helpers."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from telebot.engine.task import Task, TaskSpec
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import HttpSource
from telebot.sources.torrent.metainfo import MetainfoFetcher
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings
from telebot.sources.torrent.source import TorrentSource
from tests.fakes.swarm import Seeder

# Loopback only, OS-chosen port, no DHT: a test swarm is exactly the seeder the test started.
LEECHER = TorrentSettings(port=0, listen="127.0.0.1", dht=False, allow_private=True, timeout=30)
_gids = itertools.count()


class SteppingClock:
    """An injected clock that moves ``step`` seconds each time it is read (no real waiting)."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@dataclass
class Leecher:
    session: TorrentSession
    source: TorrentSource
    workdir: Path

    def task(self, source: str, **spec: object) -> Task:
        full = TaskSpec(kind="mirror", source=source, chat_id=1, user_id=1)
        full = replace(full, **spec)  # type: ignore[arg-type]
        return Task(f"t{next(_gids)}", full, self.workdir)


@pytest.fixture
def seeder() -> Iterator[Seeder]:
    with Seeder() as swarm:
        yield swarm


@pytest.fixture
def make_leecher(tmp_path: Path) -> Iterator[Callable[..., Leecher]]:
    sessions: list[TorrentSession] = []

    def make(
        settings: TorrentSettings = LEECHER, clock: Callable[[], float] | None = None
    ) -> Leecher:
        session = TorrentSession(settings)
        sessions.append(session)
        http = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker(), sleep=lambda s: None)
        fetcher = MetainfoFetcher(settings, http=http)
        kwargs = {"clock": clock} if clock is not None else {}
        source = TorrentSource(session, metainfo=fetcher, **kwargs)  # type: ignore[arg-type]
        return Leecher(session, source, tmp_path / "task")

    yield make
    for session in sessions:
        session.shutdown()


@pytest.fixture
def leecher(make_leecher: Callable[..., Leecher]) -> Leecher:
    return make_leecher()


def fetch_in_thread(leecher: Leecher, task: Task) -> tuple[threading.Thread, list[object]]:
    """Run fetch in a thread; the list receives its result or its exception."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(leecher.source.fetch(task))
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out
