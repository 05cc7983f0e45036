"""A host that goes down mid-download: one outage is one host failure, and the task waits.

Time is a fake clock here: the breaker's cool-down, the retry waits and the waiting for an
open breaker all run on it, so ten minutes of outage take milliseconds.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from telebot.errors import DownloadError, TaskCancelled
from telebot.resilience import BreakerConfig, BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import HttpOptions, HttpSource, ProbeResult
from tests.fakes.origin import FakeOrigin
from tests.resilience.conftest import FakeClock
from tests.sources.conftest import SEGMENTED
from tests.sources.test_http import sha

MB = 1_000_000


class Notes(list[str | None]):
    def __call__(self, text: str | None) -> None:
        self.append(text)


def _source(clock: FakeClock, registry: BreakerRegistry) -> HttpSource:
    return HttpSource(breakers=registry, errors=ErrorTracker(), clock=clock, sleep=clock.sleep)


def _down_after_probe(origin: FakeOrigin, path: str, answers: int) -> object:
    """An on_probe hook: the next *answers* requests after the probe get 503."""
    def hook(probe: ProbeResult) -> None:
        origin.fault(path, statuses=[503] * answers, times=answers)
    return hook


def test_segments_failing_together_are_one_failure_and_the_task_waits(
        origin: FakeOrigin, tmp_path: Path) -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(failure_threshold=5, cool_down=30), clock=clock)
    res = origin.add("/f.bin", size=2 * MB, seed=1)
    notes = Notes()
    # 4 segments fail at once (one host failure), then the leader alone retries; its
    # failures open the breaker, and the task waits for the trials until the host answers.
    path = _source(clock, registry).download(
        f"{origin.url}/f.bin", tmp_path / "t", SEGMENTED, progress=lambda d, t: None,
        cancel=threading.Event(), on_probe=_down_after_probe(origin, "/f.bin", 12),
        on_note=notes)
    assert sha(path) == res.sha256()
    assert "waiting for 127.0.0.1, retry in 30 s" in notes
    assert notes[-1] is None  # the waiting note is cleared once the host answers
    gets = origin.requests_for("/f.bin", "GET")
    assert [r.status for r in gets].count(503) == 12
    # While the breaker is open nobody asks: 12 failures cost 12 requests, no more.
    assert len(gets) <= 12 + 4 + 4


def test_a_host_down_longer_than_the_timeout_fails_saying_so(
        origin: FakeOrigin, tmp_path: Path) -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(cool_down=30), clock=clock)
    origin.add("/f.bin", size=2 * MB, seed=2)
    began = clock()
    with pytest.raises(DownloadError, match=r"^127\.0\.0\.1 did not answer for 10 min$"):
        _source(clock, registry).download(
            f"{origin.url}/f.bin", tmp_path / "t", SEGMENTED, progress=lambda d, t: None,
            cancel=threading.Event(), on_probe=_down_after_probe(origin, "/f.bin", 10_000))
    assert 600 <= clock() - began < 700
    # One trial per cool-down, not a storm: about 600 / 30 trials plus the first tries.
    assert len(origin.requests_for("/f.bin", "GET")) < 40


def test_host_down_timeout_is_an_option(origin: FakeOrigin, tmp_path: Path) -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(cool_down=30), clock=clock)
    origin.add("/f.bin", size=2 * MB, seed=3)
    options = HttpOptions(allow_private=True, segments=2, min_segment_size=MB,
                          host_down_timeout=90)
    with pytest.raises(DownloadError, match=r"did not answer for 90 s"):
        _source(clock, registry).download(
            f"{origin.url}/f.bin", tmp_path / "t", options, progress=lambda d, t: None,
            cancel=threading.Event(), on_probe=_down_after_probe(origin, "/f.bin", 10_000))


def test_a_probe_to_an_open_breaker_waits_too(origin: FakeOrigin, tmp_path: Path) -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, cool_down=30), clock=clock)
    res = origin.add("/f.bin", size=MB, seed=4)
    registry.get("127.0.0.1").call(lambda: None)
    with pytest.raises(DownloadError):  # another task's failure opened the host's breaker
        registry.get("127.0.0.1").call(lambda: (_ for _ in ()).throw(DownloadError("down")))
    assert registry.get("127.0.0.1").state == "open"
    notes = Notes()
    path = _source(clock, registry).download(
        f"{origin.url}/f.bin", tmp_path / "t", SEGMENTED, progress=lambda d, t: None,
        cancel=threading.Event(), on_note=notes)
    assert sha(path) == res.sha256()
    assert notes[0] == "waiting for 127.0.0.1, retry in 30 s" and notes[-1] is None


def test_the_outage_clock_starts_at_the_probes_first_failure(
        origin: FakeOrigin, tmp_path: Path) -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerConfig(failure_threshold=5, cool_down=30), clock=clock)
    origin.add("/f.bin", size=MB, seed=5)
    origin.fault("/f.bin", statuses=[503] * 10_000)  # down from the first request on
    began = clock()
    with pytest.raises(DownloadError, match="did not answer for 10 min"):
        _source(clock, registry).download(
            f"{origin.url}/f.bin", tmp_path / "t", SEGMENTED, progress=lambda d, t: None,
            cancel=threading.Event())
    # Ten minutes from the first failed probe, not ten minutes after the breaker opened.
    assert clock() - began == pytest.approx(600, abs=0.01)


def test_cancel_while_segments_wait_for_a_down_host_is_prompt(
        origin: FakeOrigin, tmp_path: Path) -> None:
    import time

    origin.add("/f.bin", size=2 * MB, seed=6)
    source = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker())  # real waits
    cancel, outcome = threading.Event(), []

    def run() -> None:
        try:
            source.download(f"{origin.url}/f.bin", tmp_path / "t", SEGMENTED,
                            progress=lambda d, t: None, cancel=cancel,
                            on_probe=_down_after_probe(origin, "/f.bin", 10_000))
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    deadline, tick = time.monotonic() + 10, threading.Event()
    while not any(r.status == 503 for r in origin.requests_for("/f.bin", "GET")):
        assert time.monotonic() < deadline
        tick.wait(0.01)  # polling for the outage to begin, not waiting for time to pass
    began = time.monotonic()
    cancel.set()
    runner.join(5)
    assert time.monotonic() - began < 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], TaskCancelled)
