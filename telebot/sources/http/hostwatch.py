"""One download's view of its host's health: one failure per outage, and waiting it out.

When a web server restarts, every segment of a download fails at the same moment. Reported
one by one, eight segments would open the host's breaker with one outage, and the task
would fail although nothing retries it. :class:`HostWatch` makes that one host failure
and lets the task wait:

* The first segment whose request fails with a health-counting error becomes the *leader*:
  it alone reports to the breaker and retries. The others wait for its verdict
  (:meth:`HostWatch.enter`) instead of hammering the host, and a failure of theirs at the
  same moment is not reported again (:meth:`HostWatch.failed` returns False).
* Any response that delivers bytes clears the suspicion (:meth:`HostWatch.alive`).
* While the breaker is open, the task waits for it to half-open, showing
  "waiting for <host>, retry in N s" (:meth:`HostWatch.wait_open`), until the host has
  been down for ``timeout`` seconds; then it fails saying so.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

from telebot.errors import CircuitOpenError, DownloadError, TaskCancelled

__all__ = ["HostWatch", "NoteFn", "describe_timeout"]

NoteFn = Callable[["str | None"], None]

#: How often a waiting task refreshes its "retry in N s" note (and checks a follower's
#: wait): once a second matches the note's one-second resolution.
STEP = 1.0
#: Shortest wait on an open breaker, so a breaker that reports 0 s left cannot spin.
MIN_WAIT = 0.05


def describe_timeout(seconds: float) -> str:
    """``600`` -> ``"10 min"``, ``90`` -> ``"90 s"``: how the failure message says it."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


class HostWatch:
    """Shared by the probe and the segments of one download; thread-safe."""

    def __init__(self, timeout: float, *, clock: Callable[[], float],
                 sleep: Callable[[float], None] | None, note: NoteFn) -> None:
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep  # injected by tests; else waits are on the stop event
        self._note = note
        self._cond = threading.Condition()
        self._leader: object | None = None
        self._down_since: float | None = None
        self._waiting = False  # the note currently shown is ours

    def enter(self, who: object, stop: threading.Event) -> None:
        """Before a request: wait while another caller leads a probe of a suspect host."""
        with self._cond:
            while self._leader is not None and self._leader is not who:
                if stop.is_set():
                    raise TaskCancelled("download cancelled")
                self._cond.wait(STEP)

    def failed(self, who: object) -> bool:
        """A request of *who* failed in a way that counts against the host.

        Returns True when *who* is to report it to the breaker (it leads now), False
        when another caller already reported this outage.
        """
        with self._cond:
            if self._down_since is None:
                self._down_since = self._clock()
            if self._leader is None:
                self._leader = who
            return self._leader is who

    def wake(self) -> None:
        """Wake callers waiting in :meth:`enter`, so that a stop is seen at once."""
        with self._cond:
            self._cond.notify_all()

    def down(self) -> None:
        """A request failed against the host's health: start the outage clock if stopped."""
        with self._cond:
            if self._down_since is None:
                self._down_since = self._clock()

    def alive(self) -> None:
        """A response delivered bytes: the host is up; release the waiting callers."""
        with self._cond:
            if self._leader is None and self._down_since is None and not self._waiting:
                return
            self._leader = None
            self._down_since = None
            waiting, self._waiting = self._waiting, False
            self._cond.notify_all()
        if waiting:
            self._note(None)

    def wait_open(self, exc: CircuitOpenError, stop: threading.Event) -> None:
        """The breaker of ``exc.key`` is open: wait until it lets a trial through.

        Raises DownloadError once the host has been down for ``timeout`` seconds,
        TaskCancelled when *stop* is set.
        """
        with self._cond:
            if self._down_since is None:
                self._down_since = self._clock()
            since = self._down_since
        end = self._clock() + max(exc.retry_in, MIN_WAIT)
        while True:
            now = self._clock()
            if now - since >= self.timeout:
                raise DownloadError(
                    f"{exc.key} did not answer for {describe_timeout(self.timeout)}") from exc
            left = end - now
            if left <= 0:
                return
            self._show(f"waiting for {exc.key}, retry in {math.ceil(left)} s")
            self._pause(min(STEP, left, since + self.timeout - now), stop)

    def _show(self, text: str) -> None:
        with self._cond:
            self._waiting = True
        self._note(text)

    def _pause(self, seconds: float, stop: threading.Event) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
            cancelled = stop.is_set()
        else:
            cancelled = stop.wait(seconds)
        if cancelled:
            raise TaskCancelled("download cancelled")
