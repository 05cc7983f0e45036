"""STORAGE_THRESHOLD: keep a minimum of free space on the download disk (docs/ARCHITECTURE.md §4).

One :class:`DiskGuard` per bot watches the file system of ``DOWNLOAD_DIR``. Whoever is about
to put bytes there consults it:

* **a size known in advance** (HTTP Content-Length, a Telegram file's size, torrent metadata,
  yt-dlp's filesize, an archive's unpacked size) → :meth:`DiskGuard.check` before writing: it
  raises :class:`NoRoom` (a :class:`~telebot.errors.DownloadError` with one line naming the
  threshold) when writing ``need`` more bytes would leave less than the threshold free;
* **a size unknown or growing** (a stream without Content-Length, a compressor's output) →
  :meth:`DiskGuard.gate` gives a :class:`SpaceGate`; call ``gate.wait(n, stop)`` before each
  write of ``n`` bytes. It returns at once while there is room, and otherwise *pauses* the
  writer, with a status line (``note``) "⏸ waiting for disk space: …", until space returns or
  ``stop`` is set (then :class:`~telebot.errors.TaskCancelled`). So a writer never meets
  ENOSPC half-way because other tasks filled the disk.

Processing stages get the bot's guard from ``wiring.py`` (``limits.disk``) and use it the same
way, e.g. for an extraction whose unpacked size the archive lists::

    guard.check(unpacked, "extracting it")           # refused before a byte is written
    gate = guard.gate(lambda text: setattr(task, "note", text))
    for chunk in chunks:                             # an output of unknown size
        gate.wait(len(chunk), task.cancel_event)     # pauses while the disk is low
        out.write(chunk)

A child process that writes by itself (7-Zip, ffmpeg) cannot be gated per write: check the
known size first, and otherwise compare :meth:`DiskGuard.room` in the loop that waits for it.

**Reservations.** Two downloads whose sizes became known at the same moment would each see the
same free space. So a task that passed :meth:`DiskGuard.check` with a ``key`` *reserves* what
it will still write (:meth:`DiskGuard.reserve`, released at the task's end): every later check,
gate and :meth:`DiskGuard.room` counts the part of each reservation not yet on disk
(:func:`allocated` of its folder) as used. A writer that fills its own reservation therefore
sees its room unchanged, and one whose disk was taken by others pauses.

A gate is cheap on the hot path: it asks the file system (``statvfs``) only when the bytes
written since its last look could have used up the room it saw then, or after
:data:`RECHECK_SECONDS` (other tasks write too). The free-space function and the clock are
injectable, so tests need neither a full disk nor real waiting. The threshold can be changed
live (``/bsetting``) with :meth:`DiskGuard.set_threshold`; 0 turns the guard off.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from telebot.errors import DownloadError, TaskCancelled
from telebot.fileio.walk import entries
from telebot.units import format_size

FreeSpace = Callable[[], int]
NoteFn = Callable[["str | None"], None]

#: How long a gate trusts one free-space reading while bytes flow: other tasks share the disk.
RECHECK_SECONDS = 1.0
#: How often a paused writer looks again (one statvfs; cheap, and space returns at human pace).
POLL_SECONDS = 2.0


class NoRoom(DownloadError):
    """Writing the announced size would cross STORAGE_THRESHOLD."""


def statvfs_free(path: Path) -> FreeSpace:
    """Free bytes for an unprivileged writer on ``path``'s file system (``f_bavail``, what
    ``df`` shows as available: root's reserved blocks are not ours to count on)."""

    def free() -> int:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize

    return free


def allocated(folder: Path) -> int:
    """Bytes already allocated on disk under ``folder`` (a resumed, preallocated or sparse
    download counts what is really there)."""
    used = 0
    for entry in entries(folder, ignore_errors=True):
        try:
            # Folders (and links to them) hold no downloaded bytes; a link counts its own
            # blocks, never its target's.
            if not entry.is_dir():
                used += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:  # removed meanwhile
            continue
    return used


class DiskGuard:
    """Keeps ``threshold`` bytes free on one file system; thread-safe, one per bot."""

    def __init__(
        self,
        threshold: int,
        free: FreeSpace,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll: float = POLL_SECONDS,
    ) -> None:
        self._threshold = max(0, threshold)
        self._free = free
        self._clock = clock
        self._poll = poll
        self._reserved: dict[str, tuple[int, Path]] = {}  # key -> (bytes in all, its folder)
        self._lock = threading.Lock()
        # outstanding() walks folders: gates polling every second share one recent answer.
        self._outstanding_cache: tuple[float, int] | None = None

    @property
    def threshold(self) -> int:
        return self._threshold

    def set_threshold(self, value: int) -> None:
        """A new threshold (``/bsetting``); gates see it at their next look."""
        self._threshold = max(0, value)

    def free(self) -> int:
        return self._free()

    def room(self) -> int:
        """Bytes that may still be written before the threshold, the unwritten part of every
        reservation counted as used (negative: already below)."""
        return self._free() - self._threshold - self.outstanding()

    def check(self, need: int, what: str = "this task", *, key: str | None = None) -> None:
        """Raise :class:`NoRoom` when writing ``need`` more bytes would cross the threshold,
        counting the other reservations (``key``'s own reservation, if any, is ``need``)."""
        if self._threshold <= 0 or need <= 0:
            return
        free = self._free()
        others = self.outstanding(excluding=key, fresh=True)
        if free - others - need < self._threshold:
            held = f", {format_size(others)} of it promised to other tasks" if others else ""
            raise NoRoom(
                f"not enough disk space: {what} needs {format_size(need)}, "
                f"{format_size(free)} free{held}, and {format_size(self._threshold)} must "
                "stay free (STORAGE_THRESHOLD)"
            )

    def reserve(self, key: str, total: int, folder: Path) -> None:
        """Hold room for ``total`` bytes under ``folder`` (what is there already counts)
        until :meth:`release`; a second call replaces the first (a size that changed)."""
        with self._lock:
            self._reserved[key] = (total, folder)
            self._outstanding_cache = None

    def release(self, key: str) -> None:
        with self._lock:
            if self._reserved.pop(key, None) is not None:
                self._outstanding_cache = None

    def outstanding(self, *, excluding: str | None = None, fresh: bool = False) -> int:
        """Reserved bytes not yet on disk, over every reservation but ``excluding``'s.
        Without ``fresh`` (and ``excluding``) an answer up to :data:`RECHECK_SECONDS` old."""
        with self._lock:
            cached = self._outstanding_cache
            items = [v for k, v in self._reserved.items() if k != excluding]
        now = self._clock()
        if not (fresh or excluding) and cached and now - cached[0] < RECHECK_SECONDS:
            return cached[1]
        total = sum(max(0, size - allocated(folder)) for size, folder in items)
        if excluding is None:
            with self._lock:
                self._outstanding_cache = (now, total)
        return total

    def waiting_line(self, free: int) -> str:
        return f"⏸ waiting for disk space: {format_size(free)} free, keeping " + format_size(
            self._threshold
        )

    def gate(self, note: NoteFn) -> SpaceGate:
        """A gate for one writer; ``note`` shows (and with None clears) its waiting line."""
        return SpaceGate(self, note)

    def _pause(self, stop: threading.Event) -> None:
        if stop.wait(self._poll):
            raise TaskCancelled("cancelled while waiting for disk space")


class SpaceGate:
    """One writer's view of a :class:`DiskGuard` (not shared between threads of a task that
    write concurrently: give each its own, or serialize; a lost update only makes it look
    again sooner)."""

    __slots__ = ("_allowance", "_guard", "_lock", "_looked_at", "_note")

    def __init__(self, guard: DiskGuard, note: NoteFn) -> None:
        self._guard = guard
        self._note = note
        self._allowance = 0  # bytes that may be written before looking again
        self._looked_at = float("-inf")
        self._lock = threading.Lock()

    def wait(self, n: int, stop: threading.Event) -> None:
        """Return when ``n`` more bytes fit above the threshold; pause (with the note) until
        then; :class:`~telebot.errors.TaskCancelled` when ``stop`` is set while paused."""
        guard = self._guard
        if guard.threshold <= 0:
            return
        with self._lock:
            fresh = guard._clock() - self._looked_at < RECHECK_SECONDS
            if fresh and self._allowance >= n:
                self._allowance -= n
                return
        paused = False
        try:
            while True:
                free = guard.free()
                room = free - guard.threshold - guard.outstanding()
                if room >= n:
                    with self._lock:
                        self._allowance, self._looked_at = room - n, guard._clock()
                    return
                if not paused:
                    paused = True
                self._note(guard.waiting_line(free))
                guard._pause(stop)
        finally:
            if paused:
                self._note(None)
