"""The loop-lag probe: its statistics with a fake clock, and the probe on a real event loop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from telebot.monitor.looplag import LagSummary, LagWindow, LoopLagProbe
from telebot.monitor.perf import PerfRegistry
from telebot.monitor.report import build_report
from telebot.monitor.stats import render_stats
from tests.monitor.helpers import FakeClock
from tests.monitor.test_stats import stats_input


def test_window_p95_and_max() -> None:
    clock = FakeClock()
    window = LagWindow(60.0, clock=clock)
    for i in range(100):  # lags 0.01 .. 1.00 s
        window.record((i + 1) / 100)
        clock.advance(0.5)
    summary = window.summary()
    assert summary.count == 100
    assert summary.p95 == pytest.approx(0.95)  # nearest rank: the 95th of 100
    assert summary.max == pytest.approx(1.0)


def test_window_forgets_old_lags() -> None:
    clock = FakeClock()
    window = LagWindow(60.0, clock=clock)
    window.record(5.0)  # a big lag long ago ...
    clock.advance(61)
    window.record(0.002)  # ... and a small one now
    summary = window.summary()
    assert (summary.count, summary.max) == (1, 0.002)
    clock.advance(61)
    assert window.summary() == LagSummary(0, 0.0, 0.0, 60.0)


def test_window_memory_is_bounded() -> None:
    window = LagWindow(60.0, max_samples=10, clock=FakeClock())
    for _ in range(1000):
        window.record(0.1)
    assert window.summary().count == 10


def test_negative_lag_counts_as_zero() -> None:
    window = LagWindow(clock=FakeClock())
    window.record(-0.003)  # timers may fire a hair early
    assert window.summary().max == 0.0


def test_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    probe = LoopLagProbe(clock=clock, warn_lag=1.0, warn_every=60.0)
    with caplog.at_level(logging.WARNING, logger="telebot.monitor.looplag"):
        probe.observe(0.5)  # under the threshold: no warning
        probe.observe(1.5)
        clock.advance(10)
        probe.observe(2.0)  # within the minute: counted, not logged
        probe.observe(3.0)
        clock.advance(60)
        probe.observe(1.2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "lag 1.50 s" in warnings[0] and "1 time since" in warnings[0]
    assert "lag 1.20 s" in warnings[1] and "3 times since" in warnings[1]
    assert probe.summary().count == 5


def test_probe_on_a_real_loop_sees_a_blocked_loop(caplog: pytest.LogCaptureFixture) -> None:
    """A callback that "blocks" the loop for 2 s (the fake clock jumps) shows up as a lag of
    about 2 s, and the probe keeps re-arming itself."""
    clock = FakeClock()
    probe = LoopLagProbe(interval=0.001, clock=clock)
    loop = asyncio.new_event_loop()
    try:

        async def main() -> None:
            probe.start(loop)
            while probe.summary().count < 3:
                await asyncio.sleep(0)  # yields to the loop; the probe's timer fires
            clock.advance(2.0)  # as if a handler held the loop for two seconds
            while probe.summary().count < 6:
                await asyncio.sleep(0)
            probe.stop()

        with caplog.at_level(logging.WARNING, logger="telebot.monitor.looplag"):
            loop.run_until_complete(asyncio.wait_for(main(), timeout=30))
    finally:
        loop.close()
    summary = probe.summary()
    assert summary.max == pytest.approx(2.0 - 0.001)
    assert summary.count >= 6
    assert any("event loop lag 2.00 s" in r.getMessage() for r in caplog.records)


def test_stats_and_report_show_the_lag() -> None:
    lag = LagSummary(count=600, p95=0.012, max=1.5, window=300.0)
    text = render_stats(stats_input(loop_lag=lag))
    assert "<b>Loop lag</b> (last 5m): p95 12 ms · max 1.5 s · 600 probes" in text.splitlines()
    idle = render_stats(stats_input(loop_lag=LagSummary(0, 0.0, 0.0, 300.0)))
    assert "<b>Loop lag</b> (last 5m): no probes yet" in idle.splitlines()
    report = build_report(sampler=None, perf=PerfRegistry(), errors={}, breakers={}, loop_lag=lag)
    assert "loop lag (last 300 s): p95 12 ms max 1.5 s" in report.splitlines()
