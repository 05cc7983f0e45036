"""Monitoring: psutil sampler, per-function timings, loop lag, reports, /stats, its chart.

Everything here is a plain component with injectable clocks and waits; the
wiring (starting threads, the /stats handler, the heartbeat of getUpdates)
lives in the application.
"""

from __future__ import annotations

from telebot.monitor.chart import render_chart
from telebot.monitor.looplag import LagSummary, LoopLagProbe
from telebot.monitor.perf import REGISTRY, FunctionStats, PerfRegistry, monitor_performance, timed
from telebot.monitor.report import Reporter, build_report
from telebot.monitor.sampler import Sample, Sampler, SamplerErrors
from telebot.monitor.stats import StatsInput, render_stats, tool_versions

__all__ = [
    "REGISTRY",
    "FunctionStats",
    "LagSummary",
    "LoopLagProbe",
    "PerfRegistry",
    "Reporter",
    "Sample",
    "Sampler",
    "SamplerErrors",
    "StatsInput",
    "build_report",
    "monitor_performance",
    "render_chart",
    "render_stats",
    "timed",
    "tool_versions",
]
