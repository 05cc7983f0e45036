"""Fixtures for the source tests: a fake origin and an HttpSource that never really sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sources.http import HttpOptions, HttpSource
from tests.fakes.origin import FakeOrigin

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
