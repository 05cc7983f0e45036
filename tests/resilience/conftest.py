"""Shared fixtures: a fake monotonic clock whose sleep advances time."""

from __future__ import annotations

import threading

import pytest


class FakeClock:
    """A thread-safe clock that only moves when told to (or when slept on).

    ``sleep(d)`` advances the time by ``d`` at once and records ``d``, so code
    under test can "wait" without the test really sleeping.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
