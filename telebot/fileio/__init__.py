"""Fast, safe file copies and moves: the Python face of the native IO core.

``NATIVE`` is True when the C extension (native/iocore.c, built with
``python setup.py build_ext --inplace``) is loaded; otherwise the same API
runs on a pure-Python backend with identical behaviour.  ``active_path()``
names the path in use (for /stats).  ``TELEBOT_FORCE_COPY`` or
``force_strategy()`` selects the backend/level (see telebot.fileio._backend).
"""

from __future__ import annotations

import os

from telebot.fileio import _backend
from telebot.fileio._job import ShortCopyError
from telebot.fileio.batch import BatchResult, batch
from telebot.fileio.ops import copy_file, copy_tree, move, move_tree
from telebot.fileio.ranges import copy_range
from telebot.fileio.statcache import StatCache, stat_cache

NATIVE: bool = _backend.NATIVE_MODULE is not None and _backend.current()[0] is not _backend._pyio


def active_path() -> str:
    """'native' or 'python', the first copy level and how finished copies get
    their names, e.g. 'native/clone+linkat'."""
    from telebot.fileio._job import LEVEL_NAMES

    backend, level = _backend.current()
    return f"{backend.NAME}/{LEVEL_NAMES[level]}+{_backend.naming()}"


def rename_noreplace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """rename(2) that never replaces ``dst`` (FileExistsError instead): RENAME_NOREPLACE in
    the native core; the pure-Python backend checks first and cannot close that race."""
    _backend.current()[0].rename_noreplace(os.fspath(src), os.fspath(dst))


def force_strategy(value: str | None) -> None:
    """Force backend/level: 'python', 'python:rw', 'sendfile', ... ; None = auto."""
    _backend.force(value)


__all__ = [
    "NATIVE",
    "BatchResult",
    "ShortCopyError",
    "StatCache",
    "active_path",
    "batch",
    "copy_file",
    "copy_range",
    "copy_tree",
    "force_strategy",
    "move",
    "move_tree",
    "rename_noreplace",
    "stat_cache",
]
