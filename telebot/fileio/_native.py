"""Native backend: the cffi wrapper around native/iocore.c.

Importing this module raises ImportError when the extension is not built;
telebot.fileio then uses the pure-Python backend.  cffi releases the GIL for
the duration of every C call, and the progress callback takes it back only
between chunks.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

from telebot.fileio._iocore import ffi, lib
from telebot.fileio._job import UMASK, Hook, Job
from telebot.fileio._pyio import TreeError

NAME = "native"
# Bound once: module attribute look-ups showed in the per-file profile.
_copy_file = lib.ioc_copy_file
fsencode = os.fsencode


@ffi.def_extern()
def ioc_python_progress(ctx: Any, done: int, total: int) -> int:
    """Trampoline from C: ctx is a handle to the job's Hook."""
    hook: Hook = ffi.from_handle(ctx)
    return 1 if hook(done, total) else 0


def _raise(rc: int) -> None:
    raise OSError(-rc, os.strerror(-rc))


_local = threading.local()


class _CJob:
    """An ioc_job mirroring a Job, with the handle kept alive during the call."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.handle = None
        if job.hook is None:
            # No callback, so no re-entry from this thread: reuse one struct
            # per thread instead of allocating 4 KiB per small file.
            self.c = getattr(_local, "c", None) or _new_struct()
            self.c.progress = ffi.NULL
            self.c.ctx = ffi.NULL
        else:
            self.c = ffi.new("ioc_job *")
            self.handle = ffi.new_handle(job.hook)
            self.c.progress = lib.ioc_python_progress
            self.c.ctx = self.handle
        c = self.c
        c.level, c.fsync, c.umask, c.chunk = job.level, job.fsync, job.umask, job.chunk
        c.done, c.files, c.total = job.done, job.files, job.total

    def sync_back(self) -> None:
        self.job.level = self.c.level
        self.job.done = self.c.done
        self.job.files = self.c.files
        self.job.total = self.c.total


def _new_struct() -> Any:
    _local.c = ffi.new("ioc_job *")
    return _local.c


def copy_fd(fin: int, fout: int, size: int, job: Job, st: os.stat_result | None = None) -> int:
    """Copy ``size`` bytes of fin to the empty fout, keeping holes (ioc_copy_fd)."""
    cjob = _CJob(job)
    rc = lib.ioc_copy_fd(fin, fout, size, cjob.c)
    cjob.sync_back()
    if rc < 0:
        _raise(rc)
    return int(rc)


def naming(value: int = -1) -> int:
    """Set the naming method when ``value`` is a NAME_* (tests, bench); return it."""
    return int(lib.ioc_naming(value))


def copy_path(src: str, tmp: str, dst: str, job: Job) -> int:
    """Copy the file src to a new file named dst: an unnamed file linked in
    when complete, else tmp (created O_EXCL) renamed onto dst.  Mode and
    times are kept, fsync if job.fsync; nothing is left on error (ioc_copy_path)."""
    cjob = _CJob(job)
    rc = lib.ioc_copy_path(os.fsencode(src), os.fsencode(tmp), os.fsencode(dst), cjob.c)
    cjob.sync_back()
    if rc < 0:
        _raise(rc)
    return int(rc)


def copy_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], level: int) -> int:
    """copy_path without progress, cancel or fsync at the lowest per-call cost
    (ioc_copy_file: any temp name is made in C, no job struct).  Raises
    OSError without file names; the caller adds them."""
    rc: int = _copy_file(fsencode(src), fsencode(dst), level, UMASK)
    if rc < 0:
        _raise(rc)
    return rc


def copy_range(fin: int, fout: int, offset: int, length: int, job: Job) -> int:
    """Copy fin's bytes [offset, offset+length) to fout's [0, length) (ioc_copy_range)."""
    cjob = _CJob(job)
    rc = lib.ioc_copy_range(fin, fout, offset, length, cjob.c)
    cjob.sync_back()
    if rc < 0:
        _raise(rc)
    return int(rc)


def copy_tree(src: str, dst: str, job: Job) -> int:
    """Copy the tree src into the new directory dst (ioc_copy_tree).

    Raises TreeError (rel = failing entry) or OSError for the roots.
    """
    cjob = _CJob(job)
    rc = lib.ioc_copy_tree(os.fsencode(src), os.fsencode(dst), cjob.c)
    cjob.sync_back()
    if rc >= 0:
        return int(rc)
    rel = os.fsdecode(ffi.string(cjob.c.err_path))
    if rel and -rc != errno.ECANCELED:
        raise TreeError(-rc, rel.rstrip("/"))
    _raise(rc)
    return 0  # unreachable; keeps mypy's return analysis simple


def fs_magic(path: str) -> int:
    """statfs(2) f_type of the filesystem holding path, or -errno."""
    return int(lib.ioc_fs_magic(os.fsencode(path)))


def rename_noreplace(src: str, dst: str) -> None:
    """rename(2) with RENAME_NOREPLACE: never replaces an existing dst."""
    rc = lib.ioc_rename_noreplace(os.fsencode(src), os.fsencode(dst))
    if rc < 0:
        _raise(rc)
