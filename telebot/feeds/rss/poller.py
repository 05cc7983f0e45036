"""The thread that checks the feeds: each every RSS_INTERVAL seconds, and at once when asked
(/rss add -all, /rss resume, /rss check).

One daemon thread for every feed: checks are a few small requests each, and one thread keeps
a slow feed from being fetched twice at once. At start it checks every active feed (what was
published while the bot was down starts now), then each when it is due. A stop wakes it; a
check in progress stops before its next item.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from telebot.feeds.rss.service import RssService

log = logging.getLogger(__name__)

#: How long :meth:`Poller.stop` waits for a check in progress (its fetch is bounded by the
#: HTTP timeouts; the items stop at the next one).
JOIN_TIMEOUT = 15.0


class Poller:
    def __init__(
        self, service: RssService, interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Set at the first getUpdates: tasks start only once the engine restored the journal's
        # (wiring.Restorer waits for the same moment), like a typed command's.
        self._go = threading.Event()
        self._lock = threading.Lock()
        # Feeds asked for, in order, each with the futures of those waiting for its check.
        self._urgent: dict[int, list[Future[str]]] = {}
        self._due: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, name="rss-poller", daemon=True)
        service.poke = self.poke

    def start(self) -> None:
        self._thread.start()

    def polling_started(self) -> None:
        """On the loop: only sets an event."""
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._go.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT)
        self._cancel_waiting()

    def _cancel_waiting(self) -> None:
        with self._lock:
            left = [future for futures in self._urgent.values() for future in futures]
            self._urgent.clear()
        for future in left:
            future.cancel()

    def poke(self, feed_id: int) -> Future[str]:
        """Check ``feed_id`` as soon as the thread is free (from any thread; never blocks).
        The future gets the check's summary (RssService.check), or is cancelled at stop."""
        done: Future[str] = Future()
        with self._lock:
            if self._stop.is_set():
                done.cancel()
                return done
            self._urgent.setdefault(feed_id, []).append(done)
        self._wake.set()
        return done

    def _run(self) -> None:
        self._go.wait()
        if self._stop.is_set():
            return
        try:
            self._service.report_interrupted()
        except Exception:
            log.exception("RSS: reporting interrupted items failed")
        while not self._stop.is_set():
            self._wake.clear()
            feed_id, waiting = self._next()
            if feed_id is None:
                self._wake.wait(self._sleep_for())
                continue
            try:
                summary = self._service.check(feed_id, self._stop)
            except Exception as exc:  # one broken feed must not end the thread
                log.exception("RSS: checking feed %s failed", feed_id)
                summary = f"the check failed ({type(exc).__name__})"
            for future in waiting:
                future.set_result(summary)
            self._due[feed_id] = self._clock() + self._interval
        self._cancel_waiting()

    def _next(self) -> tuple[int | None, list[Future[str]]]:
        """The feed to check now: an asked-for one first (with its waiting futures), else the
        most overdue active one."""
        with self._lock:
            if self._urgent:
                feed_id = next(iter(self._urgent))
                return feed_id, self._urgent.pop(feed_id)
        now = self._clock()
        active = {sub.id for sub in self._service.book.all() if not sub.paused}
        for gone in set(self._due) - active:
            del self._due[gone]
        for feed_id in active:
            self._due.setdefault(feed_id, now)  # new (or resumed) feeds are due at once
        due = [(when, feed_id) for feed_id, when in self._due.items() if when <= now]
        return (min(due)[1] if due else None), []

    def _sleep_for(self) -> float:
        now = self._clock()
        return max(0.0, min(self._due.values(), default=now + self._interval) - now)
