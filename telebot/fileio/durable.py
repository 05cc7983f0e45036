"""Durable writes and their check after a reboot, for any code that writes results: flush a
file, a tree or a folder's entries (``fsync``), measure a result, tell whether it is still
intact (no hole where written bytes should be), and this boot's id.

Why a boot id (engine/taskstate.py's docstring, docs/ARCHITECTURE.md §2): payload that was
written but not flushed survives a process crash (the page cache does) but maybe not a reboot;
a record that carries the boot id it was written in tells which case a restart is in.
"""

from __future__ import annotations

import os
from pathlib import Path

from telebot.fileio.walk import regular_files

#: Where the kernel tells this boot's id (Linux). A module attribute so tests can simulate a
#: reboot by pointing it at a file of their own.
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot's id; "" where the kernel has none (then only flushed records are trusted
    after a restart: "" never equals a recorded id, see ``taskstate.unverified``)."""
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return ""


def measure(path: Path) -> tuple[int, int]:
    """``(bytes, regular files)`` of a file or a tree (symbolic links not followed)."""
    if not path.is_dir():
        return path.stat().st_size, 1
    total = files = 0
    for entry in regular_files(path):
        total += entry.stat(follow_symlinks=False).st_size
        files += 1
    return total, files


def intact(path: Path, expected: list[int] | None) -> bool:
    """Whether ``path`` still looks like what was recorded: the same bytes and files, and no
    hole in any file. Pages that never reached the disk before a power loss read back as a
    hole (an unwritten extent of a preallocated file, or blocks never allocated), which
    ``SEEK_HOLE`` finds without reading the data. A file system without ``SEEK_HOLE`` reports
    no hole, and then only the size is checked."""
    if expected is None or not path.exists():
        return False
    if list(measure(path)) != expected:
        return False
    if not path.is_dir():
        return path.is_symlink() or not _has_hole(path)
    return not any(_has_hole(Path(entry.path)) for entry in regular_files(path))


def _has_hole(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        return size > 0 and os.lseek(fd, 0, os.SEEK_HOLE) < size
    except OSError:
        return False  # no SEEK_HOLE here: the size check stands alone
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """:func:`fsync_file` each regular file of a file or a tree (symbolic links not followed)."""
    if not path.is_dir():
        if not path.is_symlink():
            fsync_file(path)
        return
    for entry in regular_files(path):
        fsync_file(Path(entry.path))


def fsync_file(path: Path) -> None:
    """Flush one file's data and size to the disk (before a state file records it)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename or link inside ``folder`` survive a power loss."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
