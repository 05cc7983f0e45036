"""How late the event loop runs its callbacks: the loop-lag probe.

Handlers must never block the loop (docs/ARCHITECTURE.md §1). This measures whether they do: a
callback
re-arms itself every ``interval`` seconds with ``loop.call_later`` and records how much later
than planned it actually ran. On an idle, healthy loop the lag is a millisecond or two; a
handler that blocks the loop for two seconds shows up as a lag of about two seconds.

:class:`LagWindow` keeps the recent lags (pure statistics, its clock injected);
:class:`LoopLagProbe` schedules the callback on the loop and warns in the log, rate-limited,
when the lag passes :data:`WARN_LAG`. The probe's methods except :meth:`LoopLagProbe.start` and
:meth:`LoopLagProbe.stop` run on the loop; :meth:`LoopLagProbe.summary` on any thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LagSummary", "LagWindow", "LoopLagProbe"]

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between probes: fine enough to see a blocked second, cheap when idle
WINDOW = 300.0  # /stats shows the last five minutes: recent enough to mean "now"
WARN_LAG = 1.0  # a loop late by a second delays every user's command visibly
WARN_EVERY = 60.0  # at most one warning a minute; a stuck loop would otherwise flood the log
# 5 min / 0.5 s = 600 probes; a blocked loop probes less often, so this bounds memory safely.
MAX_SAMPLES = int(WINDOW / INTERVAL) + 1


@dataclass(frozen=True)
class LagSummary:
    """Loop lag over the recent window, in seconds (all 0.0 when ``count`` is 0)."""

    count: int
    p95: float
    max: float
    window: float


class LagWindow:
    """The lags of the last ``window`` seconds; thread-safe (the loop records, /stats reads)."""

    def __init__(
        self,
        window: float = WINDOW,
        *,
        max_samples: int = MAX_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._clock = clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()  # guards _samples; held for list operations only

    def record(self, lag: float) -> None:
        with self._lock:
            self._samples.append((self._clock(), max(0.0, lag)))

    def summary(self) -> LagSummary:
        """p95 (nearest rank) and max of the lags recorded in the last ``window`` seconds."""
        since = self._clock() - self.window
        with self._lock:
            while self._samples and self._samples[0][0] < since:
                self._samples.popleft()
            lags = sorted(lag for _, lag in self._samples)
        if not lags:
            return LagSummary(0, 0.0, 0.0, self.window)
        rank = math.ceil(0.95 * len(lags)) - 1  # nearest-rank percentile
        return LagSummary(len(lags), lags[rank], lags[-1], self.window)


class LoopLagProbe:
    """Measures the event loop's lag every ``interval`` seconds and warns when it is large.

    ``clock`` must be the clock ``call_later`` schedules by (the loop's ``time()`` is
    ``time.monotonic``); tests inject a fake clock to make a lag without blocking anything.
    """

    def __init__(
        self,
        *,
        interval: float = INTERVAL,
        window: LagWindow | None = None,
        warn_lag: float = WARN_LAG,
        warn_every: float = WARN_EVERY,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.interval = interval
        self.window = window or LagWindow(clock=clock)
        self._warn_lag = warn_lag
        self._warn_every = warn_every
        self._clock = clock
        self._log = logger
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._expected = 0.0
        self._warned_at: float | None = None
        self._unwarned = 0  # lags over the threshold since the last warning

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Begin probing ``loop``; callable from any thread."""
        self._loop = loop
        loop.call_soon_threadsafe(self._arm)

    def stop(self) -> None:
        """Stop probing; callable from any thread (a closed loop simply drops the timer)."""
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._cancel)

    def summary(self) -> LagSummary:
        return self.window.summary()

    def _arm(self) -> None:
        if self._loop is None:
            return
        self._expected = self._clock() + self.interval
        self._handle = self._loop.call_later(self.interval, self._tick)

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        self.observe(self._clock() - self._expected)
        self._arm()

    def observe(self, lag: float) -> None:
        """Record one lag; warn if it passes the threshold (at most once per ``warn_every``)."""
        self.window.record(lag)
        if lag < self._warn_lag:
            return
        now = self._clock()
        self._unwarned += 1
        if self._warned_at is not None and now - self._warned_at < self._warn_every:
            return
        self._log.warning(
            "event loop lag %.2f s (over %.1f s %d time%s since the last warning): "
            "something blocks the loop",
            lag,
            self._warn_lag,
            self._unwarned,
            "" if self._unwarned == 1 else "s",
        )
        self._warned_at, self._unwarned = now, 0
