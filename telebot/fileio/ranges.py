"""Copying one byte range of a file into a new file (used to split files for leech).

Same ladder as the whole-file copy, fastest first: ``copy_file_range`` (in-kernel, no data through
user space), then ``sendfile``, then ``pread``/``pwrite`` through one reusable buffer. A level is
left only for errors that mean "not supported here"; ENOSPC, EIO and the like propagate. The
result is written under a temporary name and renamed into place when complete, so a file with the
final name is always whole.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from telebot.errors import TaskCancelled

# Errors that mean "this level cannot do it here", not "the copy failed" (copy_file_range(2),
# sendfile(2)): cross-device, missing syscall, unsupported file types or flags.
_UNSUPPORTED = frozenset(
    {
        errno.EXDEV,
        errno.ENOSYS,
        errno.EOPNOTSUPP,
        errno.EINVAL,
        errno.ENOTSUP,
        errno.EBADF,
        errno.EPERM,
    }
)
# Big steps keep syscall overhead negligible while cancel is still checked several times a second
# even on slow disks (64 MiB at ~200 MB/s is ~0.3 s).
STEP = 64 * 1024 * 1024
BUFFER = 1024 * 1024


def _kernel_copy(
    fin: int,
    fout: int,
    offset: int,
    length: int,
    cancel: threading.Event | None,
    use_sendfile: bool,
) -> int:
    """Copy with copy_file_range or sendfile; returns bytes copied (short only on EOF)."""
    done = 0
    while done < length:
        if cancel is not None and cancel.is_set():
            raise TaskCancelled("cancelled")
        step = min(STEP, length - done)
        if use_sendfile:
            os.lseek(fout, done, os.SEEK_SET)
            n = os.sendfile(fout, fin, offset + done, step)
        else:
            n = os.copy_file_range(fin, fout, step, offset + done, done)
        if n == 0:
            break
        done += n
    return done


def _buffered_copy(
    fin: int, fout: int, offset: int, length: int, cancel: threading.Event | None
) -> int:
    done = 0
    while done < length:
        if cancel is not None and cancel.is_set():
            raise TaskCancelled("cancelled")
        data = os.pread(fin, min(BUFFER, length - done), offset + done)
        if not data:
            break
        os.pwrite(fout, data, done)
        done += len(data)
    return done


def _copy_span(
    fin: int, fout: int, offset: int, length: int, cancel: threading.Event | None
) -> int:
    for use_sendfile in (False, True):
        try:
            return _kernel_copy(fin, fout, offset, length, cancel, use_sendfile)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            os.ftruncate(fout, 0)
    return _buffered_copy(fin, fout, offset, length, cancel)


def copy_range(
    src: Path | str,
    dst: Path | str,
    offset: int,
    length: int,
    *,
    cancel: threading.Event | None = None,
) -> int:
    """Write bytes ``[offset, offset + length)`` of ``src`` to the new file ``dst``.

    Returns the bytes written (fewer only when ``src`` is shorter). Raises OSError with both
    names, or TaskCancelled; on any error no file is left behind.
    """
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    fin = os.open(src, os.O_RDONLY)
    try:
        fout = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            done = _copy_span(fin, fout, offset, length, cancel)
        finally:
            os.close(fout)
        os.replace(tmp, dst)
        return done
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise type(exc)(exc.errno, exc.strerror, str(src), None, str(dst)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fin)
