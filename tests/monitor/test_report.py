from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from telebot.monitor.perf import PerfRegistry
from telebot.monitor.report import Reporter, build_report
from telebot.monitor.sampler import Sampler
from tests.monitor.helpers import FakeClock, FakePsutil


class EventHandler(logging.Handler):
    """Collects messages and sets an event once `wanted` of them arrived."""

    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.wanted = wanted
        self.enough = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if len(self.messages) >= self.wanted:
            self.enough.set()


@pytest.fixture
def logger() -> logging.Logger:
    lg = logging.getLogger(f"test.report.{id(object())}")
    lg.setLevel(logging.INFO)
    lg.propagate = False
    return lg


def test_build_report_contents(tmp_path: Path):
    ps = FakePsutil()
    ps.fail = {"net"}
    sampler = Sampler(disk_path=tmp_path, clock=FakeClock(), psutil_module=ps)
    sampler.sample_once()
    perf = PerfRegistry()
    perf.record("sinks.telegram.upload", 12.0)
    perf.record("sinks.telegram.upload", 20.0, error=True)
    perf.record("store.write", 0.002)
    text = build_report(
        sampler=sampler,
        perf=perf,
        errors={"TransientError": 5, "DownloadError": 3},
        breakers={"a.example": "open", "b.example": "closed", "c.example": "half_open"},
    )
    lines = text.splitlines()
    assert lines[0] == "performance report"
    assert lines[1].startswith("system: bot cpu 12% rss 50.0 MiB threads 7 fds 9 | host cpu 40%")
    assert "sampler errors 1 (last: net: OSError: injected net failure)" in lines[1]
    assert lines[3] == "  sinks.telegram.upload 20.0 s/16.0 s/20.0 s, 2, 1"
    assert lines[4] == "  store.write 2 ms/2 ms/2 ms, 1, 0"
    assert lines[5] == "errors: TransientError=5, DownloadError=3"
    assert lines[6] == "breakers: a.example=open, c.example=half_open (1 closed)"


def test_build_report_when_nothing_happened():
    text = build_report(sampler=None, perf=PerfRegistry(), errors={}, breakers={})
    assert text.splitlines()[1:] == [
        "system: no sample yet",
        "slowest: no timings yet",
        "errors: none",
        "breakers: none",
    ]
    text = build_report(sampler=None, perf=PerfRegistry(), errors={}, breakers={"x": "closed"})
    assert text.endswith("breakers: all 1 closed")


def test_reporter_logs_periodically_and_on_stop(logger: logging.Logger):
    handler = EventHandler(wanted=2)
    logger.addHandler(handler)
    counter = iter(range(1000))
    reporter = Reporter(0.01, lambda: f"report {next(counter)}", logger=logger)
    reporter.start()
    assert handler.enough.wait(5), "no periodic report reached the log"
    reporter.stop()
    messages = list(handler.messages)
    assert messages[:2] == ["report 0", "report 1"]
    assert messages[-1] == f"report {len(messages) - 1}"  # the final report on stop
    assert not reporter._thread or not reporter._thread.is_alive()


def test_reporter_survives_a_failing_build(logger: logging.Logger):
    handler = EventHandler(wanted=3)
    logger.addHandler(handler)
    calls = {"n": 0}
    done = threading.Event()

    def build() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("broken")
        return "fine"

    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) > 2:  # two reports, then the thread ends by itself
            done.set()
            return True
        return False

    reporter = Reporter(1800, build, logger=logger, wait=wait)
    reporter.start()
    assert done.wait(5)
    reporter.stop(timeout=5)
    assert handler.enough.wait(5)
    assert handler.messages == ["performance report failed", "fine", "fine"]  # last: stop()
    assert waits == [1800, 1800, 1800]


def test_reporter_rejects_bad_interval():
    with pytest.raises(ValueError):
        Reporter(0, lambda: "")
