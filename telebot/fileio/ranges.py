"""Copying one byte range of a file into a new file (used to split files for leech).

The bytes move through the active backend (telebot.fileio._backend): the C core's
``ioc_copy_range`` when it is loaded, else the pure-Python mirror in ``_pyio``.  Both use the
same ladder, fastest first: ``copy_file_range`` with explicit offsets (in-kernel), then
``sendfile``, then ``pread``/``pwrite`` through a page-aligned buffer, leaving a level only for
errors that mean "not supported here"; ENOSPC, EIO and the like propagate.  The GIL is released
while C copies, and cancel/progress are checked between 16 MiB chunks.

Safety: the part is written under a temporary name in the destination folder and renamed into
place when complete, so a file with the final name is always whole; on any error (or cancel)
the temporary file is removed.  (copy_file writes an unnamed O_TMPFILE file instead, which saves
~20 us per small file; a part is up to 2 GB, where the rename is not measurable.)
"""

from __future__ import annotations

import contextlib
import os

from telebot.fileio import _backend
from telebot.fileio._job import (
    SHORT_COPY,
    CancelArg,
    Hook,
    Job,
    ProgressFn,
    ShortCopyError,
    temp_name,
)
from telebot.fileio.ops import PathLike, _check_cancel, _names_error
from telebot.fileio.statcache import stat_cache

# Mode of a new part file (before the umask), as the pure-Python version always used.
PART_MODE = 0o644


def copy_range(
    src: PathLike,
    dst: PathLike,
    offset: int,
    length: int,
    *,
    cancel: CancelArg = None,
    progress: ProgressFn | None = None,
) -> int:
    """Write bytes ``[offset, offset + length)`` of ``src`` to the new file ``dst``.

    ``dst`` is replaced if it exists.  Returns the bytes written, always ``length``: a source
    that ends before ``offset + length`` (it was shorter, or shrank during the copy) raises
    :class:`ShortCopyError`.  Raises OSError naming both files (``filename`` = src,
    ``filename2`` = dst), ValueError for a negative offset or length, or TaskCancelled; on any
    error no file is left behind.
    """
    if offset < 0 or length < 0:
        raise ValueError(f"offset and length must be >= 0, not {offset} and {length}")
    s, d = os.fspath(src), os.fspath(dst)
    _check_cancel(cancel)
    hook = None if progress is None and cancel is None else Hook(progress, cancel, length)
    backend, level = _backend.selected
    tmp = temp_name(d)
    created = False
    try:
        fin = os.open(s, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fout = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PART_MODE)
            created = True
            try:
                done = int(backend.copy_range(fin, fout, offset, length,
                                              Job(level, hook, total=length)))
            finally:
                os.close(fout)
        finally:
            os.close(fin)
        if done != length:  # a part with missing bytes must never get its final name
            raise ShortCopyError(SHORT_COPY, f"short copy: the source has {done:,} of the "
                                 f"{length:,} bytes asked from offset {offset:,}")
        os.replace(tmp, d)
    except BaseException as exc:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if hook is not None and (hook.cancelled or hook.error is not None):
            hook.raise_pending()
        if isinstance(exc, OSError):
            raise _names_error(exc, s, d) from exc
        raise
    stat_cache.invalidate(d)
    return done
