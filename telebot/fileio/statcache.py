"""A small size cache with explicit invalidation.

Status pages ask for the same sizes every few seconds; the cache serves
those.  It can never go stale through the bot's own writes because every
write in telebot.fileio invalidates the paths it touched; code that writes
files by other means (a download, an extractor) must call
:meth:`StatCache.invalidate` / :meth:`StatCache.invalidate_tree` when done.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

# Entries kept: a status page shows at most a few tasks with a few files each;
# 4096 covers that with room and bounds the memory (~1 MB worst case).
MAX_ENTRIES = 4096


class StatCache:
    """Thread-safe LRU of path -> size."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every invalidation: a stat that raced with one is not cached.
        self._generation = 0

    @staticmethod
    def _key(path: str | os.PathLike[str]) -> str:
        return os.path.abspath(os.fspath(path))

    def size(self, path: str | os.PathLike[str]) -> int:
        """st_size of path (following symlinks), cached until invalidated."""
        key = self._key(path)
        with self._lock:
            if key in self._sizes:
                self._sizes.move_to_end(key)
                return self._sizes[key]
            generation = self._generation
        size = os.stat(key).st_size
        with self._lock:
            if generation != self._generation:
                return size
            self._sizes[key] = size
            if len(self._sizes) > self._max:
                self._sizes.popitem(last=False)
        return size

    def invalidate(self, path: str | os.PathLike[str]) -> None:
        """Forget path: call after changing the file by any means."""
        # On the per-file hot path of every copy: an empty cache needs only the
        # generation bump.  A racing bump may be lost, but either way the value
        # differs from the one a concurrent size() read, which is all it checks.
        self._generation += 1
        if not self._sizes:
            return
        with self._lock:
            self._generation += 1
            self._sizes.pop(self._key(path), None)

    def invalidate_tree(self, path: str | os.PathLike[str]) -> None:
        """Forget path and everything below it."""
        key = self._key(path)
        prefix = key.rstrip("/") + "/"
        with self._lock:
            self._generation += 1
            for k in [k for k in self._sizes if k == key or k.startswith(prefix)]:
                del self._sizes[k]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._sizes.clear()


stat_cache = StatCache()
