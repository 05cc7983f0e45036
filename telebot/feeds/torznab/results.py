"""The model of a search: one :class:`Result` per torrent an indexer named, the
:class:`Search` that holds a requester's sorted results and the indexers that failed, and the
:class:`Searches` kept for their buttons (bounded in number and age: memory only, a restart
forgets them and their buttons answer "expired")."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PER_PAGE = 5  # results on one page: name, size, seeders and indexer stay on one phone screen
MAX_SEARCHES = 50  # searches kept for their buttons; the oldest goes first
SEARCH_TTL = 1800.0  # seconds a search's buttons work


@dataclass(frozen=True)
class Result:
    """One torrent in an indexer's answer. ``link`` is what a task is started with: a magnet
    (preferred) or the http(s) link of the .torrent file. Counts are None when not given."""

    title: str
    link: str
    indexer: str
    size: int | None = None
    seeders: int | None = None
    peers: int | None = None
    categories: tuple[int, ...] = ()


@dataclass(frozen=True)
class Failure:
    """An indexer that gave no results, and why in a few words (never its URL or key)."""

    indexer: str
    reason: str


def by_seeders(results: Sequence[Result]) -> list[Result]:
    """Most seeders first (unknown counts last); ties by size (bigger first), then title."""
    return sorted(results, key=lambda r: (-(r.seeders if r.seeders is not None else -1),
                                          -(r.size or 0), r.title.lower()))


@dataclass(frozen=True)
class Search:
    """One /search: who asked (only they may press its buttons), what, and what came back."""

    user_id: int
    chat_id: int
    query: str
    category: str | None
    results: tuple[Result, ...]
    failures: tuple[Failure, ...] = ()
    created: float = 0.0
    capped: tuple[str, ...] = ()  # indexers that had more items than were read

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.results) // PER_PAGE))

    def page(self, number: int) -> tuple[int, list[tuple[int, Result]]]:
        """The page ``number`` clamped to the pages there are, and its results with their
        index in :attr:`results`."""
        number = min(max(number, 0), self.pages - 1)
        start = number * PER_PAGE
        return number, list(enumerate(self.results[start:start + PER_PAGE], start))


class Searches:
    """The last :data:`MAX_SEARCHES` searches by a short random id, each for
    :data:`SEARCH_TTL` seconds. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 limit: int = MAX_SEARCHES, ttl: float = SEARCH_TTL) -> None:
        self._clock = clock
        self._limit = limit
        self._ttl = ttl
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, Search] = OrderedDict()

    def now(self) -> float:
        return self._clock()

    def add(self, search: Search) -> str:
        """Keep ``search``; its id (8 hex digits: short enough for callback data)."""
        with self._lock:
            self._expire()
            while len(self._kept) >= self._limit:
                self._kept.popitem(last=False)
            sid = secrets.token_hex(4)
            while sid in self._kept:
                sid = secrets.token_hex(4)
            self._kept[sid] = search
            return sid

    def get(self, sid: str) -> Search | None:
        """The search ``sid``, or None when it expired, was pushed out or closed."""
        with self._lock:
            self._expire()
            return self._kept.get(sid)

    def forget(self, sid: str) -> None:
        with self._lock:
            self._kept.pop(sid, None)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, kept in self._kept.items() if now - kept.created > self._ttl]:
            del self._kept[sid]
