"""Counters for the events that leave no state behind, read by the /metrics collector.

Most of what ``/metrics`` shows is read from the bot's live state when Prometheus scrapes
(``telebot/monitor/metrics.py``). Three things are gone by then and are counted here as they
happen: bytes moved per engine (a task's progress resets with each stage and the task is
forgotten when it ends), Telegram flood waits, and how long finished tasks took.

Plain Python under one lock, no ``prometheus_client`` import: the hooks run in every process
whether or not ``METRICS_PORT`` is set, and cost a dict update each.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class Task(Protocol):
    """What the counters read of an engine task (``engine.task.Task``). A protocol, not an
    import: ``monitor/`` sits below the engine (the Bot API client reports flood waits here)."""

    @property
    def gid(self) -> str: ...

    @property
    def state(self) -> Enum: ...

    @property
    def done(self) -> int: ...

    @property
    def engine(self) -> str: ...

__all__ = ["COUNTERS", "DURATION_BUCKETS", "Counters", "HistogramData"]

#: Upper bounds (seconds) of the task-duration buckets: a small file in a second or two, a large
#: torrent in hours; +Inf is implied.
DURATION_BUCKETS: tuple[float, ...] = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
)

# The task states whose progress is bytes moved over the network, and the direction they count
# in. Processing (extract, compress) counts files, not transfer; queued and done move nothing.
_DIRECTIONS = {"downloading": "download", "uploading": "upload"}


def engine_label(engine: str) -> str:
    """A source's or sink's display name ("HTTP", "yt-dlp") as a label value ("http",
    "yt-dlp"): lower case, so queries need not know how /status spells it."""
    return re.sub(r"[^a-z0-9_-]+", "_", engine.lower()) or "unknown"


@dataclass
class HistogramData:
    """Observations of one label set: per-bucket counts (not cumulative), their sum."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le means <=).
        self.buckets[bisect.bisect_left(DURATION_BUCKETS, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus's (le, count) pairs, +Inf last."""
        pairs, running = [], 0
        for bound, count in zip((*map(str, DURATION_BUCKETS), "+Inf"), self.buckets, strict=True):
            running += count
            pairs.append((bound, float(running)))
        return pairs

    @property
    def count(self) -> int:
        return sum(self.buckets)


class Counters:
    """Thread-safe event counters; one per process (:data:`COUNTERS`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes: dict[tuple[str, str], int] = {}  # (direction, engine) -> bytes
        # gid -> (direction, engine, bytes of the current stage already counted)
        self._credited: dict[str, tuple[str, str, int]] = {}
        self._durations: dict[tuple[str, str], HistogramData] = {}  # (kind, outcome) -> data
        self.flood_waits = 0
        self.flood_wait_seconds = 0.0
        self._host_failures: dict[str, int] = {}  # a file host's resolver -> failed resolves

    # -- hooks ------------------------------------------------------------------------------

    def credit(self, task: Task) -> None:
        """Count the bytes ``task`` moved in its current stage since the last call.

        Called before a stage resets its progress (``Task.begin``), when the task ends, and for
        each running task at scrape time, so a long download shows while it runs and no stage's
        tail is lost. ``done`` only grows within a stage; when it is lower than what was counted,
        the stage started over, and what it shows now is new transfer.
        """
        direction = _DIRECTIONS.get(task.state.value)
        if direction is None:
            return
        engine, done = engine_label(task.engine), task.done
        with self._lock:
            before = self._credited.get(task.gid)
            counted = before[2] if before is not None and before[:2] == (direction, engine) else 0
            new = done - counted if done >= counted else done
            if new > 0:
                key = (direction, engine)
                self._bytes[key] = self._bytes.get(key, 0) + new
            self._credited[task.gid] = (direction, engine, done)

    def task_ended(self, task: Task, kind: str, outcome: str, seconds: float) -> None:
        """The task ended: count its last bytes, forget it, observe its duration."""
        self.credit(task)
        with self._lock:
            self._credited.pop(task.gid, None)
            data = self._durations.setdefault((kind, outcome), HistogramData())
            data.observe(max(0.0, seconds))

    def stage_started(self, task: Task) -> None:
        """A new stage begins: the last one's bytes are counted, the new one counts from 0."""
        self.credit(task)
        with self._lock:
            self._credited.pop(task.gid, None)

    def flood_wait(self, seconds: float) -> None:
        """Telegram answered 429 with ``retry_after`` = ``seconds``."""
        with self._lock:
            self.flood_waits += 1
            self.flood_wait_seconds += max(0.0, seconds)

    def host_failure(self, host: str) -> None:
        """A file host's resolver failed (changed site, refusal, or the host unreachable)."""
        with self._lock:
            self._host_failures[host] = self._host_failures.get(host, 0) + 1

    # -- reading (the collector) ------------------------------------------------------------

    def host_failures(self) -> dict[str, int]:
        with self._lock:
            return dict(self._host_failures)

    def bytes_by(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._bytes)

    def durations(self) -> dict[tuple[str, str], HistogramData]:
        with self._lock:
            return {
                key: HistogramData(list(data.buckets), data.total)
                for key, data in self._durations.items()
            }

    def floods(self) -> tuple[int, float]:
        with self._lock:
            return self.flood_waits, self.flood_wait_seconds


#: The process's counters, fed by the hooks in engine/task.py, engine/manager.py and the
#: Messenger.
COUNTERS = Counters()
