"""copy_file, move, copy_tree, move_tree: the safe layer over the backends.

Safety contract:

* A file copy writes an unnamed O_TMPFILE file in the destination folder
  and links it in under the final name only when complete (after an fsync
  when asked); an existing destination is replaced through a temporary link
  and one rename.  Where unnamed files cannot be linked (no /proc, a
  filesystem without O_TMPFILE) it writes ``.tbpart-<pid>-<n>`` and renames
  that instead.  Either way no half file ever carries the final name.
* A tree copy builds a temporary sibling directory and renames it into place
  at the end (with RENAME_NOREPLACE where the native core is loaded).  One
  rename per tree instead of one per file keeps the per-file cost in C, and
  a half tree never carries the final name either.
* On any error the temporary file/tree is removed and the OSError carries
  both names (``filename`` = source, ``filename2`` = destination).
* A source that changes size while it is copied (ends early, or is no
  longer the size it had at the start) fails with ShortCopyError: the copy
  is never published and a move keeps its source.
* Mode and mtime (and atime) are preserved.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from telebot.errors import TaskCancelled
from telebot.fileio import _backend
from telebot.fileio._fsinfo import is_volatile
from telebot.fileio._job import (
    SHORT_COPY,
    CancelArg,
    Hook,
    Job,
    ProgressFn,
    ShortCopyError,
    is_cancelled,
    temp_name,
)
from telebot.fileio._pyio import TreeError
from telebot.fileio.reaper import REAP_MIN, reaper
from telebot.fileio.statcache import stat_cache
from telebot.fileio.walk import tree_size

PathLike = str | os.PathLike[str]


def _names_error(exc: OSError, src: str, dst: str) -> OSError:
    """The same error (subclass chosen by errno) naming both files."""
    err = exc.errno or errno.EIO
    if err == SHORT_COPY:  # a backend's bare errno gets words; ours keeps its own
        text = exc.strerror if isinstance(exc, ShortCopyError) else SHORT_COPY_TEXT
        return ShortCopyError(err, text or SHORT_COPY_TEXT, src, None, dst)
    return OSError(err, exc.strerror or os.strerror(err), src, None, dst)


SHORT_COPY_TEXT = "short copy: the source changed size while it was copied"


def _make_hook(progress: ProgressFn | None, cancel: CancelArg, total: int) -> Hook | None:
    if progress is None and cancel is None:
        return None
    return Hook(progress, cancel, total)


def _check_cancel(cancel: CancelArg) -> None:
    if is_cancelled(cancel):
        raise TaskCancelled("copy cancelled")


@contextmanager
def _translated(src: str, dst: str, hook: Hook | None) -> Iterator[None]:
    """Turn the core's errors into TaskCancelled / OSError with both names."""
    try:
        yield
    except TreeError as exc:
        if hook is not None and (hook.cancelled or hook.error is not None):
            hook.raise_pending()
        raise _names_error(exc, os.path.join(src, exc.rel), os.path.join(dst, exc.rel)) from exc
    except OSError as exc:
        if hook is not None and (hook.cancelled or hook.error is not None):
            hook.raise_pending()
        raise _names_error(exc, src, dst) from exc


def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_file(src: PathLike, dst: PathLike, *, progress: ProgressFn | None = None,
              cancel: CancelArg = None, fsync: bool = False) -> int:
    """Copy the regular file ``src`` to the path ``dst`` (replaced if present).

    Returns the bytes copied.  ``progress(done, total)`` is called between
    chunks (16 MiB) and once at the end; ``cancel`` (Event or predicate) is
    checked at the same points and raises TaskCancelled.  With ``fsync`` the
    data and the directory entry are flushed before returning.
    """
    backend, level = _backend.selected
    if progress is None and cancel is None and not fsync and backend is _NATIVE:
        # The common case in one C call (temp name made in C): per-call
        # Python work was ~40 % of a 4 KiB copy on tmpfs.
        try:
            done: int = backend.copy_file(src, dst, level)
        except OSError as exc:
            raise _names_error(exc, os.fspath(src), os.fspath(dst)) from exc
        stat_cache.invalidate(dst)
        return done
    return _copy_file_job(os.fspath(src), os.fspath(dst), progress, cancel, fsync)


_NATIVE = _backend.NATIVE_MODULE


def _copy_file_job(s: str, d: str, progress: ProgressFn | None, cancel: CancelArg,
                   fsync: bool) -> int:
    """copy_file with a Job: progress, cancel, fsync or the pure-Python backend."""
    hook = None
    if progress is not None or cancel is not None:
        _check_cancel(cancel)
        hook = Hook(progress, cancel, -1)
    backend, level = _backend.selected
    # Plain try/except rather than _translated(): this is the per-file hot path.
    try:
        while True:
            try:
                done = int(backend.copy_path(s, temp_name(d), d, Job(level, hook, fsync)))
                break
            except FileExistsError:  # another process left a temp with our number
                continue
        if fsync:
            _fsync_dir(d)
    except OSError as exc:
        if hook is not None and (hook.cancelled or hook.error is not None):
            hook.raise_pending()
        raise _names_error(exc, s, d) from exc
    stat_cache.invalidate(d)
    return done


def _unlink_quietly(path: str) -> None:
    # Best effort on an error path: the original error is the one to report.
    with contextlib.suppress(OSError):
        os.unlink(path)


def _durable(src: str, fsync: bool | None) -> bool:
    return (not is_volatile(src)) if fsync is None else fsync


def move(src: PathLike, dst: PathLike, *, progress: ProgressFn | None = None,
         cancel: CancelArg = None, fsync: bool | None = None) -> None:
    """Move the file or directory ``src`` to the path ``dst``.

    Within a filesystem this is one rename (a file replaces dst).  Across
    filesystems it copies, fsyncs, then unlinks the source; a big source's
    blocks are freed on a background thread after its name is gone
    (:mod:`telebot.fileio.reaper`).  ``fsync=None``
    (default) skips the flush when the source is on tmpfs/ramfs: such a source
    would not survive a crash anyway, so the flush would protect nothing.
    """
    s, d = os.fspath(src), os.fspath(dst)
    _check_cancel(cancel)
    try:
        os.rename(s, d)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise _names_error(exc, s, d) from exc
    else:
        stat_cache.invalidate_tree(s)
        stat_cache.invalidate_tree(d)
        return
    if os.path.isdir(s) and not os.path.islink(s):
        move_tree(s, d, progress=progress, cancel=cancel, fsync=fsync)
        return
    size = copy_file(s, d, progress=progress, cancel=cancel, fsync=_durable(s, fsync))
    try:
        if size >= REAP_MIN:
            reaper.unlink_later(s)  # the kernel frees its blocks off our path
        else:
            os.unlink(s)
    except OSError as exc:
        raise _names_error(exc, s, d) from exc
    stat_cache.invalidate(s)


def copy_tree(src: PathLike, dst: PathLike, *, progress: ProgressFn | None = None,
              cancel: CancelArg = None, fsync: bool = False) -> int:
    """Copy the directory ``src`` to ``dst``, which must not exist.

    Files keep mode and times, directories their mode and mtime, symlinks are
    copied as links; fifos, sockets and devices are skipped.  The copy is
    built in a temporary sibling and renamed into place when complete.
    Returns the bytes copied.  Progress is reported every 16 MiB or 256 files.
    """
    s, d = os.fspath(src), os.fspath(dst)
    _check_cancel(cancel)
    if os.path.lexists(d):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), s, None, d)
    hook = _make_hook(progress, cancel, tree_size(s) if progress is not None else -1)
    backend, level = _backend.current()
    tmp = temp_name(d)
    job = Job(level=level, hook=hook, fsync=fsync)
    try:
        with _translated(s, d, hook):
            try:
                backend.copy_tree(s, tmp, job)
            except TreeError:
                raise
            except OSError as exc:  # the roots: rename tmp in the message
                raise OSError(exc.errno, exc.strerror) from exc
            backend.rename_noreplace(tmp, d)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stat_cache.invalidate_tree(d)
    return job.done


def move_tree(src: PathLike, dst: PathLike, *, progress: ProgressFn | None = None,
              cancel: CancelArg = None, fsync: bool | None = None) -> None:
    """Move the directory ``src`` to ``dst`` (which must not exist).

    One rename within a filesystem; across filesystems copy_tree (synced
    unless the source is on tmpfs/ramfs, see :func:`move`) then remove src.
    """
    s, d = os.fspath(src), os.fspath(dst)
    _check_cancel(cancel)
    if os.path.lexists(d):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), s, None, d)
    try:
        os.rename(s, d)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise _names_error(exc, s, d) from exc
        copy_tree(s, d, progress=progress, cancel=cancel, fsync=_durable(s, fsync))
        _remove_tree(s, d)
    stat_cache.invalidate_tree(s)
    stat_cache.invalidate_tree(d)


def _remove_tree(s: str, d: str) -> None:
    def onerror(_func: Any, path: str, info: Any) -> None:
        exc = info[1]
        if isinstance(exc, OSError):
            raise _names_error(exc, path, d) from exc
        raise exc

    shutil.rmtree(s, onerror=onerror)
