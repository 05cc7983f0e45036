"""Copy levels, temp names, the per-operation job state and the progress/cancel hook.

Shared by the native and the pure-Python backends so both behave the same.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from telebot.errors import TaskCancelled

# Strategy levels, fastest first (the numbers match IOC_* in native/iocore.h).
CLONE = 0
COPY_RANGE = 1
SENDFILE = 2
READWRITE = 3
LEVEL_NAMES = {CLONE: "clone", COPY_RANGE: "copy_file_range", SENDFILE: "sendfile",
               READWRITE: "rw"}

# How a whole-file copy gets its final name (IOC_NAME_* in native/iocore.h):
# an unnamed O_TMPFILE file linked in when complete (by AT_EMPTY_PATH, or
# through /proc without CAP_DAC_READ_SEARCH), else a named temp + rename.
NAME_LINKAT = 0
NAME_PROC = 1
NAME_TEMP = 2
NAMING_NAMES = {NAME_LINKAT: "linkat", NAME_PROC: "proc-link", NAME_TEMP: "temp-rename"}

# Bytes between progress calls inside one file.  16 MiB is ~8 ms at the
# ~2 GB/s page-cache ceiling measured here: cancel is seen quickly while the
# cost of crossing back into Python (~2 us) stays far below 0.1 %.
CHUNK = 16 * 1024 * 1024

# Page-aligned read/write buffer for the last-resort level, as IOC_RW_BUFFER:
# 64 KiB .. 4 MiB measured within noise here (40-47 ms for 64 MiB on tmpfs);
# 256 KiB follows the probe (aligned 128-256 KiB best) and stays
# L2-sized.  A file smaller than this is read in one call.
RW_BUFFER = 256 * 1024
PAGE = 4096
FADVISE_MIN = 1024 * 1024

# Errnos that mean "this strategy is not supported here": fall to the next.
# Anything else (ENOSPC, EIO, EACCES, ...) is a real error and propagates.
UNSUPPORTED = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY,
                         errno.EBADF})


# The errno of a short copy (IOC_SHORT_COPY in native/iocore.h): the source ended before the
# bytes it had when the copy began, or no longer has that size at the end. The copy syscalls
# never fail with ENODATA themselves, so it cannot be mistaken for a real IO error.
SHORT_COPY = errno.ENODATA


class ShortCopyError(OSError):
    """Fewer (or more) bytes than the source or the asked range holds: it changed size while
    it was copied, or ends before the range. No file is left under the destination name and a
    move keeps its source. ``filename`` is the source, ``filename2`` the destination."""


def read_umask() -> int:
    """The process umask without changing it (os.umask() can only set it,
    which would race with threads creating files), or -1 when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return -1


# Read once: telebot never changes its umask after start-up.  Files are
# created with their final mode and fchmod() is skipped when the umask could
# not have hidden any bit (one syscall less per small file).
UMASK = read_umask()

# Temp names: ".tbpart-<pid>-<n>" beside the destination (the C core's own
# names carry "-n<k>", so the two never clash).
TEMP_PREFIX = ".tbpart-"
_temp_counter = itertools.count()
_pid = os.getpid()


def _new_pid() -> None:
    global _pid
    _pid = os.getpid()


# The pid is part of every temp name; cache it (a syscall per small file
# showed in the profile) and refresh it in a forked child.
os.register_at_fork(after_in_child=_new_pid)


def temp_name(dst: str) -> str:
    """A fresh temporary name in the folder of ``dst``."""
    parent, sep, _ = dst.rpartition("/")
    folder = (parent or "/") if sep else "."
    return os.path.join(folder, f"{TEMP_PREFIX}{_pid}-{next(_temp_counter)}")


ProgressFn = Callable[[int, int], None]
CancelArg = threading.Event | Callable[[], bool] | None


def is_cancelled(cancel: CancelArg) -> bool:
    """True when ``cancel`` (an Event or a predicate) says stop."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class Hook:
    """Called between chunks with the bytes done; returns True to cancel.

    Exceptions raised by the user's progress callback are kept in ``error``
    (the native core cannot carry them) and re-raised by the caller.
    """

    def __init__(self, progress: ProgressFn | None, cancel: CancelArg, total: int) -> None:
        self.progress = progress
        self.cancel = cancel
        self.total = total
        self.cancelled = False
        self.error: BaseException | None = None

    def __call__(self, done: int, total: int = -1) -> bool:
        """Report progress and poll cancel; ``total`` >= 0 overrides the known total."""
        if total >= 0:
            self.total = total
        try:
            if self.progress is not None:
                self.progress(done, self.total)
            if is_cancelled(self.cancel):
                self.cancelled = True
        except BaseException as exc:  # re-raised by raise_pending()
            self.error = exc
        return self.cancelled or self.error is not None

    def raise_pending(self) -> None:
        """Raise what stopped the copy: the callback's error or TaskCancelled."""
        if self.error is not None:
            raise self.error
        if self.cancelled:
            raise TaskCancelled("copy cancelled")


@dataclass
class Job:
    """Mutable state of one copy operation (a file or a whole tree)."""

    level: int
    hook: Hook | None = None
    fsync: bool = False
    total: int = -1
    chunk: int = 0  # 0: the module's CHUNK at creation (tests shrink it)
    umask: int = UMASK
    done: int = 0
    files: int = 0

    def __post_init__(self) -> None:
        if self.chunk <= 0:
            self.chunk = CHUNK
