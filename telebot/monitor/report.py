"""Periodic performance reports in the log.

:func:`build_report` turns the live parts into a compact block of text (one
line per topic); :class:`Reporter` logs it every ``interval`` seconds on a
daemon thread and once more when stopped, so the last report before a
shutdown is never lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from telebot.monitor.looplag import LagSummary
from telebot.monitor.perf import PerfRegistry
from telebot.monitor.sampler import Sampler
from telebot.units import format_bytes, format_seconds

__all__ = ["Reporter", "build_report"]

log = logging.getLogger("telebot.monitor.report")

REPORT_SLOWEST = 5  # functions listed in a report


def build_report(
    *,
    sampler: Sampler | None,
    perf: PerfRegistry,
    errors: Mapping[str, int],
    breakers: Mapping[str, str],
    loop_lag: LagSummary | None = None,
) -> str:
    """A compact multi-line report.

    ``errors`` maps an error kind to its count; ``breakers`` maps a breaker key
    to its state name ("closed", "open", "half_open"); only breakers that are
    not closed are listed by name. ``loop_lag`` adds the event loop's lag once
    the probe has measured any.
    """
    lines = ["performance report", "system: " + _system(sampler)]
    slowest = perf.slowest(REPORT_SLOWEST)
    if slowest:
        lines.append("slowest (p95/mean/max, calls, errors):")
        lines += [
            f"  {s.name} {format_seconds(s.p95)}/{format_seconds(s.mean)}/"
            f"{format_seconds(s.max)}, {s.calls}, {s.errors}"
            for s in slowest
        ]
    else:
        lines.append("slowest: no timings yet")
    ranked = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    lines.append("errors: " + (", ".join(f"{k}={v}" for k, v in ranked) or "none"))
    lines.append("breakers: " + _breakers(breakers))
    if loop_lag is not None and loop_lag.count:
        lines.append(
            f"loop lag (last {loop_lag.window:.0f} s): p95 {format_seconds(loop_lag.p95)}"
            f" max {format_seconds(loop_lag.max)}"
        )
    return "\n".join(lines)


def _system(sampler: Sampler | None) -> str:
    sample = sampler.latest() if sampler is not None else None
    if sample is None:
        return "no sample yet"
    text = (
        f"bot cpu {sample.proc_cpu:.0f}% rss {format_bytes(sample.proc_rss)} "
        f"threads {sample.proc_threads} fds {sample.proc_open_files} | "
        f"host cpu {sample.host_cpu:.0f}% mem {format_bytes(sample.mem_used)}/"
        f"{format_bytes(sample.mem_total)} | disk free {format_bytes(sample.disk_free)}/"
        f"{format_bytes(sample.disk_total)} | net rx {format_bytes(sample.net_rx_rate)}/s "
        f"tx {format_bytes(sample.net_tx_rate)}/s"
    )
    failures = sampler.errors if sampler is not None else None
    if failures is not None and failures.count:
        text += f" | sampler errors {failures.count} (last: {failures.last})"
    return text


def _breakers(breakers: Mapping[str, str]) -> str:
    troubled = sorted((k, v) for k, v in breakers.items() if v != "closed")
    closed = len(breakers) - len(troubled)
    if not troubled:
        return f"all {closed} closed" if closed else "none"
    listed = ", ".join(f"{k}={v}" for k, v in troubled)
    return f"{listed} ({closed} closed)"


class Reporter:
    """Logs ``build()`` every ``interval`` seconds and once more on :meth:`stop`.

    ``wait`` is called with the seconds to wait and returns True when the
    thread should stop; by default it waits on the stop event. A failing
    ``build`` is logged and does not stop the reporter.
    """

    def __init__(
        self,
        interval: float,
        build: Callable[[], str],
        *,
        logger: logging.Logger | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._build = build
        self._log = logger or log
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None
        self._emit_lock = threading.Lock()  # one report at a time, never interleaved

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("reporter already started")
        self._thread = threading.Thread(target=self._run, name="telebot-reporter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread, then log the final report."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.emit()

    def emit(self) -> None:
        """Build and log one report now."""
        with self._emit_lock:
            try:
                text = self._build()
            except Exception:
                self._log.exception("performance report failed")
                return
            self._log.info("%s", text)

    def _run(self) -> None:
        while not self._wait(self.interval) and not self._stop.is_set():
            self.emit()
