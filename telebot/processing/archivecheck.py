"""What the extract stage lets out of an archive, and how much.

Entry policy (decided from the listing or header, before anything is written):

* **refused** (the whole archive fails, nothing is kept): a path that is absolute (``/x``,
  ``\\x``), carries a drive letter (``C:x``) or climbs with a ``..`` component. Such an archive
  was made to attack, so none of it is trusted. A tar extension header (GNU long name or link,
  pax header, sparse map) over 64 KiB is refused before it is read.
* **skipped** with a note in the done message: symbolic links and hard links in 7-Zip's formats
  (zip/7z/rar do not list a link's target, so none can be proven harmless); in tar, symbolic
  links whose target is absolute or, resolved against what is already on disk (earlier links
  followed before a ``..`` applies), leaves the output; hard links whose target is absolute,
  climbs (``..``) or is not a regular file reached without links; entries whose folder is a
  link (nothing is ever written through a link); symbolic link loops; device files, FIFOs and
  sockets anywhere. Everything else is extracted. The tar rules are enforced by the boxed child
  :mod:`telebot.processing.tarchild`, which writes only beneath its output folder.
* **after** extraction, every symlink in the output is checked with ``lstat`` and removed (with a
  note) when it points outside or is part of a loop: defence in depth against what a listing
  did not show.

Limits (:class:`Limits`) are charged to one :class:`Budget` per stage run, nested archives
included. The output may never pass ``MAX_DOWNLOAD_SIZE`` nor leave less than the disk reserve
(``STORAGE_THRESHOLD``) free, nor hold more than ``EXTRACT_MAX_FILES`` entries;
``EXTRACT_MAX_RATIO`` (output against the archives' size) applies only past the absolute floor
``EXTRACT_RATIO_FLOOR``, since a ratio says nothing about a small output (a 6 KB zip of a 2 MiB
log is 318:1). The sizes an archive declares are checked before it is opened, and the real
output is watched while a tool writes (:class:`OutputWatch`), because a header can lie or say
nothing (bzip2 stores no size).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from telebot.config import Config
from telebot.errors import ProcessingError, SecurityError
from telebot.fileio.walk import entries
from telebot.processing.sevenzip import Entry

_DRIVE = re.compile(r"^[A-Za-z]:")
NAME_SHOWN = 100  # characters of an entry's name quoted in a message
NOTES_KEPT = 20  # the stage shows 20 notes and counts the rest
WATCH_INTERVAL = 0.1  # seconds between looks at 7-Zip's output (a zero-filled bomb writes
# about 250 MB/s here: 7zz on a 1 GiB bzip2 of zeros, 4.5 s), so it overshoots by tens of MB


class LimitExceeded(ProcessingError):
    """An extraction limit was reached; the message names it."""


@dataclass(frozen=True)
class Limits:
    """The extract stage's settings: what one extraction may write."""

    max_ratio: float = 100.0  # EXTRACT_MAX_RATIO: output at most this x the archives' size...
    ratio_floor: int = 1 << 30  # ...once it passes EXTRACT_RATIO_FLOOR bytes
    max_files: int = 100_000  # EXTRACT_MAX_FILES
    min_free: int = 2_000_000_000  # bytes left free on the disk (STORAGE_THRESHOLD)
    max_output: int | None = None  # MAX_DOWNLOAD_SIZE: the output is a download too

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        """STORAGE_THRESHOLD and MAX_DOWNLOAD_SIZE as they are at start: a /bsetting change
        reaches extractions through the engine's limits and the sandbox's file size limit."""
        return cls(
            max_ratio=config.extract_max_ratio,
            ratio_floor=config.extract_ratio_floor,
            max_files=config.extract_max_files,
            min_free=config.storage_threshold,
            max_output=config.max_download_size,
        )


def unsafe_path(path: str) -> str | None:
    """Why ``path`` (an entry's name, raw) may not be extracted, or None when it is fine."""
    if path.startswith(("/", "\\")):
        return "an absolute path"
    if _DRIVE.match(path):
        return "a drive letter"
    if ".." in re.split(r"[/\\]", path):
        return "a parent reference (..)"
    return None


def refuse(name: str, reason: str) -> SecurityError:
    return SecurityError(
        f"refused: the archive holds {shown(name)!r}, {reason}; nothing was extracted"
    )


def shown(name: str) -> str:
    """An entry's name fit for a message: at most :data:`NAME_SHOWN` characters."""
    return name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 1] + "…"


@dataclass
class Plan:
    """What one archive's listing says: what to leave out and how much it declares."""

    skipped: int = 0  # entries 7-Zip must leave out (their paths went to the exclude list)
    notes: list[str] = field(default_factory=list)  # the first NOTES_KEPT
    size: int = 0
    files: int = 0
    encrypted: bool = False


def plan_entries(
    entries: Iterable[Entry], budget: Budget | None = None, exclude: TextIO | None = None
) -> Plan:
    """Check a 7-Zip listing against the policy as it arrives; raises :class:`SecurityError` on
    a refusal and :class:`LimitExceeded` as soon as the entries pass ``EXTRACT_MAX_FILES`` in
    ``budget`` (the listing is not read further). Skipped paths are written to ``exclude``, one
    a line (7-Zip's ``-x@`` list), so nothing grows with the archive's size in memory."""
    plan = Plan()
    for entry in entries:
        reason = unsafe_path(entry.path)
        if reason is not None:
            raise refuse(entry.path, reason)
        plan.encrypted = plan.encrypted or entry.encrypted
        special = _special_7z(entry)
        if special is not None:
            plan.skipped += 1
            if exclude is not None:
                exclude.write(entry.path + "\n")
            if len(plan.notes) < NOTES_KEPT:
                plan.notes.append(f"skipped {special} {shown(entry.path)}")
            continue
        plan.files += 1
        plan.size += entry.size
        if budget is not None and budget.files + plan.files > budget.limits.max_files:
            budget.check(plan.size, plan.files)
    return plan


def _special_7z(entry: Entry) -> str | None:
    if entry.is_symlink:
        return "symbolic link"
    if entry.hard_link is not None:
        return "hard link"
    words = entry.attributes.split()
    mode = words[-1] if words else ""
    if mode[:1] in ("c", "b", "p", "s"):  # unix type letters: char/block device, FIFO, socket
        return "special file"
    return None


def remove_links_out(root: Path) -> list[str]:
    """Remove every symlink under ``root`` that resolves outside it or into a loop; returns
    notes. Judged by the kernel's own resolution (``realpath(strict=True)``), never by name."""
    real_root = root.resolve()
    doomed: list[tuple[Path, str]] = []
    for entry in entries(root, ignore_errors=True):
        path = Path(entry.path)
        try:  # by path, not the entry's cached type: the path must be one we can unlink
            if not stat.S_ISLNK(path.lstat().st_mode):
                continue
        except OSError:  # deeper than PATH_MAX (7-Zip may write that deep): not a path
            continue
        why = _link_outside(path, real_root)
        if why is not None:
            doomed.append((path, why))
    # Judged all before any is removed: removing one link of a loop would leave the others
    # dangling, and judged by name.
    notes: list[str] = []
    for path, why in doomed:
        path.unlink()
        notes.append(f"removed a link {why}: {shown(str(path.relative_to(root)))}")
    return notes


def _link_outside(path: Path, real_root: Path) -> str | None:
    try:
        target = Path(os.path.realpath(path, strict=True))  # the whole chain, by the kernel
    except FileNotFoundError:
        # Dangling: links on the way are followed as far as they exist, the rest by name.
        target = Path(os.path.realpath(path))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "in a loop"
        return "that cannot be resolved"
    except RuntimeError:  # pathlib's word for a loop on some versions
        return "in a loop"
    if target == real_root or real_root in target.parents:
        return None
    return "pointing outside"


def tree_usage(root: Path) -> tuple[int, int, int]:
    """(bytes, entries, files) under ``root``, by lstat: links are not followed; entries count
    folders too (an archive of empty folders is a bomb as well), files do not. A folder or an
    entry that goes away meanwhile (7-Zip renames, a cancel cleans up) is not counted."""
    size = count = files = 0
    for item in entries(root, ignore_errors=True):
        if item.is_dir(follow_symlinks=False):
            count += 1
            continue
        try:
            size += item.stat(follow_symlinks=False).st_size
        except OSError:
            continue
        count += 1
        files += 1
    return size, count, files


class Budget:
    """What one run of the extract stage may still write, over all its archives."""

    def __init__(self, limits: Limits, archive_bytes: int, disk: Path,
                 free: Callable[[Path], int] | None = None) -> None:
        self.limits = limits
        self.ratio_bytes = int(limits.max_ratio * max(archive_bytes, 1))
        # The most the output may reach: the ratio, not below the floor, never past the cap.
        self.max_bytes = max(self.ratio_bytes, limits.ratio_floor)
        if limits.max_output is not None:
            self.max_bytes = min(self.max_bytes, limits.max_output)
        self.bytes = 0
        self.files = 0
        self._disk = disk
        self._free = free or (lambda p: shutil.disk_usage(p).free)

    def exceeded(self, size: int, files: int, *, live: bool = False) -> str | None:
        """Which limit ``size`` more bytes and ``files`` more entries would pass, or None.
        ``live``: the bytes are on disk already (the disk check must not count them twice)."""
        total = self.bytes + size
        cap = self.limits.max_output
        if cap is not None and total > cap:
            return f"the output would pass MAX_DOWNLOAD_SIZE ({cap:,} bytes)"
        if total > self.max_bytes:
            return (f"the output would pass EXTRACT_MAX_RATIO ({self.limits.max_ratio:g}x the "
                    f"archive size, {self.ratio_bytes:,} bytes) beyond EXTRACT_RATIO_FLOOR "
                    f"({self.limits.ratio_floor:,} bytes)")
        if self.files + files > self.limits.max_files:
            return f"the archive holds more than EXTRACT_MAX_FILES ({self.limits.max_files:,})"
        free = self._free(self._disk) - (0 if live else size)
        if free < self.limits.min_free:
            return f"the disk would have less than {self.limits.min_free:,} bytes free"
        return None

    def bytes_left(self) -> int:
        """What may still be written before :attr:`max_bytes` (the disk reserve aside)."""
        return max(0, self.max_bytes - self.bytes)

    def files_left(self) -> int:
        return max(0, self.limits.max_files - self.files)

    def check(self, size: int, files: int) -> None:
        reason = self.exceeded(size, files)
        if reason is not None:
            raise LimitExceeded(f"extraction stopped: {reason}")

    def charge(self, size: int, files: int) -> None:
        self.bytes += size
        self.files += files


class OutputWatch:
    """Watches a folder 7-Zip writes into; sets :attr:`stop` when the budget is passed or the
    task is cancelled, so the 7-Zip run (whose ``cancel`` it is) ends. :attr:`reason` then says
    which limit, or stays None for a plain cancel."""

    def __init__(self, folder: Path, budget: Budget, cancel: threading.Event,
                 interval: float = WATCH_INTERVAL,
                 usage: Callable[[], tuple[int, int]] | None = None) -> None:
        self.stop = threading.Event()
        self.reason: str | None = None
        self._folder, self._budget, self._cancel = folder, budget, cancel
        # (bytes, entries) written so far: a walk of the folder unless the writer counts them
        # itself (the tar child reports its counts; walking 100,000 files ten times a second
        # would cost more than the extraction).
        self._usage = usage or self._walk
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="extract-watch", daemon=True)

    def _walk(self) -> tuple[int, int]:
        size, entries, _files = tree_usage(self._folder)
        return size, entries

    def __enter__(self) -> OutputWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        pause = self._interval
        while not self._done.wait(pause):
            if self._cancel.is_set():
                self.stop.set()
                return
            began = time.monotonic()
            size, entries = self._usage()
            # A walk of a huge output is slow: look less often rather than walk all the time.
            pause = max(self._interval, 4 * (time.monotonic() - began))
            reason = self._budget.exceeded(size, entries, live=True)
            if reason is not None:
                self.reason = reason
                self.stop.set()
                return
