"""FIFO slots: the ``QUEUE_DOWNLOAD`` and ``QUEUE_UPLOAD`` lines inside a running task
(docs/ARCHITECTURE.md §4). Each waiter is told its place; a slot given up for a menu is taken
back at the head of the line."""

from __future__ import annotations

import threading
from collections import deque

from telebot.errors import TaskCancelled


class FifoSlots:
    """A counting semaphore that serves waiters strictly in arrival order."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_use = 0
        self._waiting: deque[str] = deque()
        self._holders: set[str] = set()  # keys that hold a slot now
        self._cond = threading.Condition()

    def reserve(self, key: str) -> None:
        """Take a place in line now (at dispatch), before the worker thread gets to acquire()."""
        with self._cond:
            if key not in self._waiting:
                self._waiting.append(key)

    def forget(self, key: str) -> None:
        """Give up a reserved place (the task ended before it acquired)."""
        with self._cond:
            if key in self._waiting:
                self._waiting.remove(key)
                self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def acquire(self, key: str, cancel: threading.Event, *, first: bool = False) -> None:
        """Block until ``key`` holds a slot; raises TaskCancelled when ``cancel`` is set first.
        ``first``: go to the head of the line (a task that already had its turn)."""
        with self._cond:
            if key in self._waiting:
                pass
            elif first:
                self._waiting.appendleft(key)
            else:
                self._waiting.append(key)
            try:
                while not self._may_enter(key):
                    if cancel.is_set():
                        raise TaskCancelled("cancelled while queued")
                    # The timeout is only a safety net: cancel() and release() notify.
                    self._cond.wait(timeout=1.0)
                if cancel.is_set():
                    raise TaskCancelled("cancelled while queued")
                self._in_use += 1
                self._holders.add(key)
            finally:
                self._waiting.remove(key)
                self._cond.notify_all()

    def _may_enter(self, key: str) -> bool:
        free = self._limit <= 0 or self._in_use < self._limit
        return free and self._waiting[0] == key

    def release(self, key: str) -> None:
        """Give back ``key``'s slot; nothing when it holds none (given back earlier)."""
        with self._cond:
            if key not in self._holders:
                return
            self._holders.discard(key)
            self._in_use -= 1
            self._cond.notify_all()

    def holds(self, key: str) -> bool:
        with self._cond:
            return key in self._holders

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def set_limit(self, limit: int) -> None:
        """A new limit, live (/bsetting): waiters enter at once if it grew; if it shrank, the
        holders keep their slots and no one enters until enough of them are released."""
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def position(self, key: str) -> int | None:
        with self._cond:
            try:
                return self._waiting.index(key) + 1
            except ValueError:
                return None
