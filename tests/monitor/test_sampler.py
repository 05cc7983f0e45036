from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from telebot.monitor.sampler import Sample, Sampler
from tests.monitor.helpers import FakeClock, FakePsutil


def make(tmp_path: Path, **kw) -> tuple[Sampler, FakeClock, FakePsutil]:
    clock = kw.pop("clock", FakeClock())
    ps = kw.pop("psutil_module", FakePsutil())
    kw.setdefault("disk_path", tmp_path)
    sampler = Sampler(clock=clock, psutil_module=ps, **kw)
    return sampler, clock, ps


def test_sample_fields_and_network_rates(tmp_path: Path):
    sampler, clock, ps = make(tmp_path)
    first = sampler.sample_once()
    assert first is not None
    assert (first.net_rx_rate, first.net_tx_rate) == (0.0, 0.0)  # no previous reading
    clock.advance(5)
    ps.rx += 5_000
    ps.tx += 10_000
    s = sampler.sample_once()
    assert s == Sample(
        at=clock.now, proc_cpu=12.5, proc_rss=50 * 2**20, proc_threads=7, proc_open_files=9,
        host_cpu=40.0, mem_used=2 * 2**30, mem_total=8 * 2**30, disk_free=40 * 2**30,
        disk_total=100 * 2**30, net_rx_rate=1000.0, net_tx_rate=2000.0,
        net_rx_total=ps.rx, net_tx_total=ps.tx,
    )  # fmt: skip
    assert sampler.latest() == s


def test_counter_reset_gives_zero_rate_not_negative(tmp_path: Path):
    sampler, clock, ps = make(tmp_path)
    sampler.sample_once()
    clock.advance(5)
    ps.rx = 10  # interface re-created
    s = sampler.sample_once()
    assert s is not None and s.net_rx_rate == 0.0


def test_ring_buffer_is_bounded(tmp_path: Path):
    sampler, clock, _ = make(tmp_path, interval=5.0, history=20.0)  # ceil(20/5) = 4 slots
    for _ in range(50):
        sampler.sample_once()
        clock.advance(5)
    kept = sampler.history()
    assert len(kept) == 4
    assert [s.at for s in kept] == [clock.now - 5 * k for k in (4, 3, 2, 1)]


def test_default_ring_holds_one_hour(tmp_path: Path):
    sampler, clock, _ = make(tmp_path)
    for _ in range(800):
        sampler.sample_once()
        clock.advance(5)
    assert len(sampler.history()) == 720  # 3600 s / 5 s


def test_psutil_failure_is_recorded_and_other_readings_continue(tmp_path: Path):
    sampler, clock, ps = make(tmp_path)
    good = sampler.sample_once()
    assert good is not None
    ps.fail = {"disk"}
    clock.advance(5)
    s = sampler.sample_once()
    assert s is not None
    assert s.host_cpu == 40.0 and s.at == clock.now
    assert s.disk_free == good.disk_free  # the failed group keeps its previous value
    assert sampler.errors.count == 1
    assert sampler.errors.last == "disk: OSError: injected disk failure"


def test_total_failure_returns_none_and_keeps_history(tmp_path: Path):
    sampler, _, ps = make(tmp_path)
    ps.fail = {"process", "host", "disk", "net"}
    assert sampler.sample_once() is None
    assert sampler.history() == []
    assert sampler.errors.count == 4


def test_thread_survives_failures_and_stops_by_itself(tmp_path: Path):
    ps = FakePsutil()
    ps.fail = {"process", "host", "disk", "net"}
    calls: list[float] = []
    clock = FakeClock()
    finished = threading.Event()

    def wait(seconds: float) -> bool:  # returns True (stop) after five rounds
        calls.append(seconds)
        clock.advance(seconds)
        if len(calls) == 3:
            ps.fail = set()  # psutil recovers
        if len(calls) >= 5:
            finished.set()
            return True
        return False

    sampler, _, _ = make(tmp_path, clock=clock, psutil_module=ps, wait=wait)
    sampler.start()
    assert finished.wait(5)
    sampler.stop(timeout=5)
    assert not sampler.running
    assert calls == [5.0] * 5
    assert sampler.errors.count == 12  # 3 failed rounds x 4 groups
    assert len(sampler.history()) == 2


def test_stop_is_prompt_with_the_default_wait(tmp_path: Path):
    sampler, _, ps = make(tmp_path, clock=time.time, interval=5.0)
    sampler.start()
    assert ps.net_called.wait(5)  # the first sample is taken at once
    began = time.monotonic()
    sampler.stop(timeout=1.0)
    assert not sampler.running
    assert time.monotonic() - began < 1.0
    with pytest.raises(RuntimeError):
        sampler.start()


def test_heartbeat_file(tmp_path: Path):
    beat = tmp_path / "telebot.db.heartbeat"
    sampler, clock, _ = make(tmp_path, heartbeat_path=beat)
    sampler.sample_once()
    body = json.loads(beat.read_text())
    assert body == {"pid": os.getpid(), "sample_at": clock.now, "poll_at": None, "interval": 5.0}
    sampler.note_poll(123.0)
    clock.advance(5)
    sampler.sample_once()
    body = json.loads(beat.read_text())
    assert (body["poll_at"], body["sample_at"]) == (123.0, clock.now)
    sampler.note_poll()
    sampler.sample_once()
    assert json.loads(beat.read_text())["poll_at"] == clock.now
    assert sorted(p.name for p in tmp_path.iterdir()) == [beat.name]  # no temp files left


def test_unwritable_heartbeat_is_an_error_not_a_crash(tmp_path: Path):
    sampler, _, _ = make(tmp_path, heartbeat_path=tmp_path / "missing-dir" / "hb")
    assert sampler.sample_once() is not None
    assert sampler.errors.count == 1
    assert sampler.errors.last is not None and sampler.errors.last.startswith("heartbeat:")


def test_missing_download_dir_measures_nearest_parent(tmp_path: Path):
    sampler, _, ps = make(tmp_path, disk_path=tmp_path / "not" / "yet")
    sampler.sample_once()
    assert ps.disk_paths == [str(tmp_path)]


def test_invalid_settings(tmp_path: Path):
    with pytest.raises(ValueError):
        Sampler(disk_path=tmp_path, interval=0)
    with pytest.raises(ValueError):
        Sampler(disk_path=tmp_path, interval=10, history=5)


def test_real_psutil_sample(tmp_path: Path):
    sampler = Sampler(disk_path=tmp_path)
    sampler.sample_once()
    s = sampler.sample_once()
    assert s is not None
    assert s.proc_rss > 0 and s.proc_threads >= threading.active_count()
    assert 0 < s.mem_used < s.mem_total and 0 < s.disk_free <= s.disk_total
    assert s.proc_open_files > 0
    assert sampler.errors.count == 0


def test_repeated_failure_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    sampler, _, ps = make(tmp_path)
    ps.fail = {"net"}
    with caplog.at_level("DEBUG", logger="telebot.monitor.sampler"):
        for _ in range(5):
            sampler.sample_once()
    levels = [r.levelname for r in caplog.records if "net:" in r.getMessage()]
    assert levels == ["WARNING"] + ["DEBUG"] * 4
    assert sampler.errors.count == 5


class SlowPsutil(FakePsutil):
    """The first process reading blocks until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def Process(self):  # the name psutil uses
        assert self.release.wait(10)
        return super().Process()


def test_latest_can_wait_for_the_threads_first_sample(tmp_path: Path):
    # /stats right after the start: the thread (started with polling) is still on its first
    # sample; latest(wait=...) waits for it instead of answering "no sample yet".
    ps = SlowPsutil()
    sampler, _, _ = make(tmp_path, psutil_module=ps, interval=60.0)
    sampler.start()
    try:
        assert sampler.latest() is None  # no wait: the first sample is not done
        got: list[Sample | None] = []
        waiter = threading.Thread(target=lambda: got.append(sampler.latest(wait=10)))
        waiter.start()
        ps.release.set()
        waiter.join(10)
        assert got and got[0] is not None and got[0].proc_threads == 7
    finally:
        sampler.stop()


def test_latest_does_not_wait_for_a_sampler_that_never_started(tmp_path: Path):
    sampler, _, _ = make(tmp_path)
    began = time.monotonic()
    assert sampler.latest(wait=30) is None
    assert time.monotonic() - began < 5  # returned at once, not after the 30 s
