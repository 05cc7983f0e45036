"""A value made on first use: what start-up should neither import nor build (the plug-ins, the
HTTP clients of /mediainfo, /search and /rss) waits until a thread first asks for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """``get()`` calls ``make`` once and returns its value from then on. Thread-safe: callers
    racing the first ``get()`` wait for the one ``make``; a ``make`` that raised runs again at
    the next ``get()``."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._make()
                value = self._value
        return value

    @property
    def made(self) -> T | None:
        """The value if ``get()`` has made it, else None (never makes it)."""
        return self._value
