"""What the extract stage lets out of an archive, and how much.

Entry policy (decided from the listing, before anything is written):

* **refused** (the whole archive fails, nothing is kept): a path that is absolute (``/x``,
  ``\\x``), carries a drive letter (``C:x``) or climbs with a ``..`` component. Such an archive
  was made to attack, so none of it is trusted.
* **skipped** with a note in the done message: symbolic links and hard links in 7-Zip's formats
  (zip/7z/rar do not list a link's target, so none can be proven harmless); in tar, links whose
  target leaves the output (absolute, or climbing out of it); device files, FIFOs and sockets
  anywhere. Everything else is extracted.
* **after** extraction, every symlink in the output is checked with ``lstat`` and removed (with a
  note) when it points outside: defence in depth against what a listing did not show.

Limits (:class:`Limits`, from ``EXTRACT_MAX_RATIO``, ``EXTRACT_MAX_FILES`` and the disk reserve)
are charged to one :class:`Budget` per stage run, nested archives included: the sizes an archive
declares are checked before it is opened, and the real output is watched while 7-Zip writes
(:class:`OutputWatch`), because a header can lie or say nothing (bzip2 stores no size).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from telebot.errors import ProcessingError, SecurityError
from telebot.processing.sevenzip import Entry

_DRIVE = re.compile(r"^[A-Za-z]:")
WATCH_INTERVAL = 0.1  # seconds between looks at 7-Zip's output (a zero-filled bomb writes
# about 250 MB/s here: 7zz on a 1 GiB bzip2 of zeros, 4.5 s), so it overshoots by tens of MB


class LimitExceeded(ProcessingError):
    """An extraction limit was reached; the message names it."""


@dataclass(frozen=True)
class Limits:
    max_ratio: float = 100.0  # EXTRACT_MAX_RATIO: output at most this x the archives' size
    max_files: int = 100_000  # EXTRACT_MAX_FILES
    min_free: int = 2_000_000_000  # bytes left free on the disk (DESIGN.md: STORAGE_THRESHOLD)


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
    shown = name[:80]
    return SecurityError(f"refused: the archive holds {shown!r}, {reason}; nothing was extracted")


@dataclass
class Plan:
    """What one archive's listing says: what to leave out and how much it declares."""

    skipped: list[str] = field(default_factory=list)  # entry paths 7-Zip must leave out
    notes: list[str] = field(default_factory=list)
    size: int = 0
    files: int = 0
    encrypted: bool = False


def plan_entries(entries: Iterable[Entry]) -> Plan:
    """Check a 7-Zip listing against the policy; raises :class:`SecurityError` on a refusal."""
    plan = Plan()
    for entry in entries:
        reason = unsafe_path(entry.path)
        if reason is not None:
            raise refuse(entry.path, reason)
        plan.encrypted = plan.encrypted or entry.encrypted
        special = _special_7z(entry)
        if special is not None:
            plan.skipped.append(entry.path)
            plan.notes.append(f"skipped {special} {entry.path[:80]}")
            continue
        plan.files += 1
        plan.size += entry.size
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


def tar_verdict(member: tarfile.TarInfo) -> str | None:
    """None to extract ``member``, or why it is skipped; raises :class:`SecurityError` on a
    refused path."""
    reason = unsafe_path(member.name)
    if reason is not None:
        raise refuse(member.name, reason)
    if member.isdev() or member.isfifo() or not (member.isreg() or member.isdir() or
                                                 member.issym() or member.islnk()):
        return "special file"
    if member.issym():
        base = PurePosixPath(member.name).parent
        if _leaves(str(base / member.linkname)):
            return "symbolic link pointing outside"
    if member.islnk() and _leaves(member.linkname):
        return "hard link pointing outside"
    return None


def _leaves(target: str) -> bool:
    """True when ``target``, relative to the output root, is absolute or climbs above it."""
    if target.startswith(("/", "\\")) or _DRIVE.match(target):
        return True
    depth = 0
    for part in re.split(r"[/\\]", target):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def remove_links_out(root: Path) -> list[str]:
    """Remove every symlink under ``root`` that resolves outside it; returns notes."""
    notes: list[str] = []
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            if not stat.S_ISLNK(path.lstat().st_mode):
                continue
            target = Path(folder, os.readlink(path)).resolve()  # the whole chain
            if not (target == real_root or real_root in target.parents):
                path.unlink()
                notes.append(f"removed a link pointing outside: {path.relative_to(root)}")
    return notes


def tree_usage(root: Path) -> tuple[int, int, int]:
    """(bytes, entries, files) under ``root``, by lstat: links are not followed; entries count
    folders too (an archive of empty folders is a bomb as well), files do not."""
    size = count = files = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for item in it:
                    count += 1
                    if item.is_dir(follow_symlinks=False):
                        stack.append(item.path)
                    else:
                        files += 1
                        size += item.stat(follow_symlinks=False).st_size
        except OSError:  # removed meanwhile (7-Zip renames, a cancel cleans up)
            continue
    return size, count, files


class Budget:
    """What one run of the extract stage may still write, over all its archives."""

    def __init__(self, limits: Limits, archive_bytes: int, disk: Path,
                 free: Callable[[Path], int] | None = None) -> None:
        self.limits = limits
        self.max_bytes = int(limits.max_ratio * max(archive_bytes, 1))
        self.bytes = 0
        self.files = 0
        self._disk = disk
        self._free = free or (lambda p: shutil.disk_usage(p).free)

    def exceeded(self, size: int, files: int, *, live: bool = False) -> str | None:
        """Which limit ``size`` more bytes and ``files`` more entries would pass, or None.
        ``live``: the bytes are on disk already (the disk check must not count them twice)."""
        if self.bytes + size > self.max_bytes:
            return (f"the output would pass EXTRACT_MAX_RATIO ({self.limits.max_ratio:g}x the "
                    f"archive size, {self.max_bytes:,} bytes)")
        if self.files + files > self.limits.max_files:
            return f"the archive holds more than EXTRACT_MAX_FILES ({self.limits.max_files:,})"
        free = self._free(self._disk) - (0 if live else size)
        if free < self.limits.min_free:
            return f"the disk would have less than {self.limits.min_free:,} bytes free"
        return None

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
                 interval: float = WATCH_INTERVAL) -> None:
        self.stop = threading.Event()
        self.reason: str | None = None
        self._folder, self._budget, self._cancel = folder, budget, cancel
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="extract-watch", daemon=True)

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
            size, entries, _files = tree_usage(self._folder)
            # A walk of a huge output is slow: look less often rather than walk all the time.
            pause = max(self._interval, 4 * (time.monotonic() - began))
            reason = self._budget.exceeded(size, entries, live=True)
            if reason is not None:
                self.reason = reason
                self.stop.set()
                return
