"""Fixtures for the engine tests: a real Store on tmp_path and TaskManagers that are always
shut down (so no worker thread outlives its test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telebot.engine.manager import TaskManager
from telebot.store import Store
from tests.engine.fakes import FakeSink, FakeSource, Recorder, pipeline

MakeManager = Callable[..., TaskManager]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "telebot.db")
    yield db
    db.close()


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def make_manager(
    downloads: Path, source: FakeSource, sink: FakeSink, recorder: Recorder, store: Store
) -> Iterator[MakeManager]:
    """``make_manager(queue_all=.., ...)`` → a TaskManager over the fakes and the real store."""
    made: list[TaskManager] = []

    def make(**kw: Any) -> TaskManager:
        options: dict[str, Any] = {
            "download_dir": downloads,
            "pipeline": pipeline(source, sink),
            "listener": recorder,
            "store": store,
        }
        options.update(kw)
        manager = TaskManager(**options)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.shutdown(timeout=5)
