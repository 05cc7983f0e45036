"""Checks a torrent's file list before any of its data is written.

libtorrent sanitises paths itself (``..`` → ``_``, leading ``/`` dropped; docs/ENGINES.md,
libtorrent
[lt-evil]); these checks do not rely on that: every path must stay inside the save folder, and
the selected size must fit the size limit and the free disk space.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import libtorrent as lt

from telebot.errors import DownloadError, SecurityError
from telebot.units import format_bytes

NAME_MAX = 255  # bytes in one path element (Linux NAME_MAX)
PATH_MAX = 4096  # bytes in a whole path (Linux PATH_MAX)


def is_pad(files: lt.file_storage, index: int) -> bool:
    return bool(files.file_flags(index) & lt.file_storage.flag_pad_file)


def check_layout(files: lt.file_storage, root: Path) -> None:
    """Raise SecurityError when any file (or symlink target) would land outside ``root``."""
    base = os.path.realpath(root)
    for index in range(files.num_files()):
        if is_pad(files, index):
            continue
        _check_path(files.file_path(index), base)
        if files.file_flags(index) & lt.file_storage.flag_symlink:
            _check_path(files.symlink(index), base)


def _check_path(relative: str, base: str) -> None:
    shown = relative[:80]
    escapes = f"refused: the torrent has a file path that leaves its folder ({shown!r})"
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts or "\0" in relative:
        raise SecurityError(escapes)
    if any(len(part.encode()) > NAME_MAX for part in path.parts):
        raise SecurityError(f"refused: a file name in the torrent is too long ({shown!r}…)")
    full = os.path.realpath(os.path.join(base, relative))
    if len(full.encode()) > PATH_MAX or os.path.commonpath([base, full]) != base:
        raise SecurityError(escapes)


def selected_size(files: lt.file_storage, priorities: Sequence[int]) -> int:
    return sum(
        files.file_size(i)
        for i in range(files.num_files())
        if priorities[i] > 0 and not is_pad(files, i)
    )


def check_room(wanted: int, already: int, root: Path, max_size: int | None) -> None:
    """Raise DownloadError when ``wanted`` bytes break the size limit or do not fit the disk."""
    if max_size is not None and wanted > max_size:
        raise DownloadError(
            f"the selected files are {format_bytes(wanted)}, over the "
            f"{format_bytes(max_size)} limit"
        )
    free = shutil.disk_usage(root).free
    if wanted - already > free:
        raise DownloadError(
            f"not enough disk space: {format_bytes(wanted - already)} needed, "
            f"{format_bytes(free)} free"
        )
