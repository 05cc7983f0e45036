"""Which filesystem holds a path: used to decide whether a move must fsync.

A cross-filesystem move unlinks the source after copying.  When the source
lives in RAM (tmpfs, ramfs) it would not survive a crash anyway, so flushing
the copy first protects nothing; on a disk source the fsync is what makes the
unlink safe.
"""

from __future__ import annotations

import os

from telebot.fileio._backend import NATIVE_MODULE

VOLATILE = frozenset({"tmpfs", "ramfs"})
# statfs(2) f_type of the same two (linux/magic.h: TMPFS_MAGIC, RAMFS_MAGIC).
VOLATILE_MAGIC = frozenset({0x01021994, 0x858458F6})
MOUNTS = "/proc/self/mounts"


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    return field.encode().decode("unicode_escape") if "\\" in field else field


def fs_type(path: str) -> str | None:
    """The fstype of the mount holding ``path``, or None when unknown."""
    try:
        with open(MOUNTS, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, best_type = "", None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fields[2]
    return best_type


def is_volatile(path: str) -> bool:
    """True when ``path`` is on a RAM filesystem (lost on power failure).

    Asked once per cross-filesystem move: the C core's statfs() is one
    syscall, where parsing /proc/self/mounts took ~0.2 ms, more than moving
    a 4 KiB file.
    """
    if NATIVE_MODULE is not None:
        magic = NATIVE_MODULE.fs_magic(path)
        if magic >= 0:
            return magic in VOLATILE_MAGIC
    return fs_type(path) in VOLATILE
