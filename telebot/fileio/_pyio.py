"""Pure-Python backend: the same strategies and contracts as native/iocore.c.

Used when the C extension is not built (or TELEBOT_FORCE_COPY=python).  It
mirrors the C code step for step so both paths pass one test suite.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import stat
import threading

from telebot.fileio._job import (
    CLONE,
    COPY_RANGE,
    FADVISE_MIN,
    NAME_LINKAT,
    NAME_PROC,
    NAME_TEMP,
    PAGE,
    READWRITE,
    RW_BUFFER,
    SENDFILE,
    SHORT_COPY,
    UNSUPPORTED,
    Job,
    temp_name,
)

NAME = "python"
# linux/fs.h: _IOW(0x94, 9, int)
FICLONE = 0x40049409
# Same as IOC_CLONE_MIN: below this a plain copy costs what the ioctl costs.
CLONE_MIN = 64 * 1024


class TreeError(OSError):
    """A tree copy failed at ``rel`` (a path relative to the source root)."""

    def __init__(self, err: int, rel: str) -> None:
        super().__init__(err, os.strerror(err))
        self.rel = rel


def _aligned_buffer(size: int) -> mmap.mmap:
    """A page-aligned buffer (anonymous mmap): a plain bytearray sits 16 bytes
    off a page boundary and made read/write copies ~1.5x slower in the probes."""
    return mmap.mmap(-1, max(PAGE, -(-size // PAGE) * PAGE))


def _step(level: int, fin: int, fout: int, off: int, oof: int, length: int,
          buf: list[mmap.mmap]) -> int:
    """One copy call at ``level``: source offset ``off``, destination offset ``oof``."""
    if level == COPY_RANGE:
        return os.copy_file_range(fin, fout, length, off, oof)
    if level == SENDFILE:
        os.lseek(fout, oof, os.SEEK_SET)
        return os.sendfile(fout, fin, off, length)
    if not buf:
        buf.append(_aligned_buffer(min(length, RW_BUFFER)))
    view = memoryview(buf[0])[: min(length, len(buf[0]))]
    got = os.preadv(fin, [view], off)
    put = 0
    while put < got:
        put += os.pwrite(fout, view[put:got], oof + put)
    return got


def _copy_span(fin: int, fout: int, off: int, length: int, job: Job,
               buf: list[mmap.mmap], report: bool, level: list[int], shift: int = 0) -> bool:
    """Copy source [off, off+length) to destination offset off - shift in CHUNK
    steps; True when the source hit EOF early."""
    end = off + length
    while off < end:
        stop = min(end, off + job.chunk) if report else end
        while off < stop:
            try:
                n = _step(level[0], fin, fout, off, off - shift, stop - off, buf)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno in UNSUPPORTED and level[0] < READWRITE:
                    level[0] += 1
                    continue
                raise
            if n == 0:
                return True
            off += n
            job.done += n
        if report and job.hook is not None and job.hook(job.done, job.total):
            raise OSError(errno.ECANCELED, os.strerror(errno.ECANCELED))
    return False


def _try_clone(fin: int, fout: int, size: int, job: Job) -> bool:
    if job.level != CLONE or size < CLONE_MIN:
        return False
    try:
        fcntl.ioctl(fout, FICLONE, fin)
        return True
    except OSError as exc:
        if exc.errno not in UNSUPPORTED:
            raise
    job.level = COPY_RANGE
    return False


def _next_extent(fin: int, pos: int, size: int) -> tuple[int, int] | None:
    """The next (data, hole) extent at or after pos; None when only a hole is left.

    Raises OSError when SEEK_DATA is not supported (the caller copies densely).
    """
    try:
        data = os.lseek(fin, pos, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return None
        raise
    return data, min(os.lseek(fin, data, os.SEEK_HOLE), size)


def copy_fd(fin: int, fout: int, size: int, job: Job, st: os.stat_result | None = None) -> int:
    """Copy ``size`` bytes of fin to the empty fout, keeping holes; see ioc_copy_fd."""
    st = st or os.fstat(fin)
    start = job.done
    if _try_clone(fin, fout, size, job):
        job.done += size
        return size
    # A small file skipped the clone probe: copy it in-kernel without giving
    # up on clones for the bigger files of the same job (as in the C core).
    level = [COPY_RANGE if job.level == CLONE else job.level]
    first = level[0]
    if level[0] == READWRITE and size >= FADVISE_MIN:
        os.posix_fadvise(fin, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    # Fewer allocated blocks than the size means holes: copy data extents only.
    sparse = st.st_blocks * 512 < size
    buf: list[mmap.mmap] = []
    pos = 0
    try:
        while pos < size:
            data, hole = pos, size
            if sparse:
                try:
                    extent = _next_extent(fin, pos, size)
                except OSError:
                    sparse = False
                    continue
                if extent is None:
                    job.done += size - pos  # a hole up to the end
                    break
                data, hole = extent
            job.done += data - pos
            try:
                eof = _copy_span(fin, fout, data, hole - data, job, buf, size > job.chunk, level)
            finally:
                if level[0] != first:
                    job.level = level[0]  # unsupported here: later files skip it
            if eof:  # the source shrank under us
                raise OSError(SHORT_COPY, os.strerror(SHORT_COPY))
            pos = hole
        if sparse:
            os.ftruncate(fout, size)
    finally:
        for b in buf:
            b.close()
    return job.done - start


# Process-wide naming method, only ever lowered (as in the C core).  Python
# cannot pass AT_EMPTY_PATH to linkat, so this path starts at the /proc link.
_naming = NAME_PROC


def naming(value: int = -1) -> int:
    """Set the naming method when ``value`` is a NAME_* (tests, bench); return it."""
    global _naming
    if NAME_LINKAT <= value <= NAME_TEMP:
        _naming = max(value, NAME_PROC)
    return _naming


class _UseTemp(Exception):
    """An unnamed file cannot be linked in here (this filesystem, or no /proc
    for the process): copy again through a named temp."""


def copy_path(src: str, tmp: str, dst: str, job: Job) -> int:
    """Copy the file src to a new file named dst: an unnamed O_TMPFILE file
    linked in when complete, else tmp (created O_EXCL) renamed onto dst.
    Mode and times are kept, fsync if job.fsync; nothing is left on error
    (ioc_copy_path)."""
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fin)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        job.total = st.st_size
        start = job.done
        if _naming != NAME_TEMP:
            try:
                return _copy_unnamed(fin, st, dst, job)
            except _UseTemp:
                job.done = start
        return _copy_via_temp(fin, st, tmp, dst, job)
    finally:
        os.close(fin)


def _copy_unnamed(fin: int, st: os.stat_result, dst: str, job: Job) -> int:
    try:
        fout = os.open(os.path.dirname(dst) or ".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC,
                       stat.S_IMODE(st.st_mode))
    except OSError as exc:  # EISDIR: no O_TMPFILE in the kernel; others: this fs
        if exc.errno in UNSUPPORTED or exc.errno == errno.EISDIR:
            raise _UseTemp from exc
        raise
    try:
        _copy_whole(fin, fout, st, job)
        _publish_unnamed(fout, dst)
    finally:
        os.close(fout)  # an unnamed file's blocks are freed here
    return job.done


_root_fd = -1
_root_lock = threading.Lock()


def _link_proc(proc: str, name: str) -> None:
    """linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW).

    CPython calls plain link(2) unless a dir_fd is given, and link(2) does
    not follow the /proc magic link (EXDEV); a dir_fd for "/" makes it use
    linkat, and the kernel ignores it for the absolute source path.
    """
    global _root_fd
    if _root_fd < 0:
        with _root_lock:
            if _root_fd < 0:
                _root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    os.link(proc, name, src_dir_fd=_root_fd, follow_symlinks=True)


def _publish_unnamed(fd: int, dst: str) -> None:
    """Link the unnamed file fd in as dst (an existing dst is replaced in one
    step); raise _UseTemp where this cannot be done, as the C core does."""
    global _naming
    proc = f"/proc/self/fd/{fd}"
    try:
        try:
            _link_proc(proc, dst)
        except FileExistsError:
            _replace_with_unnamed(proc, dst)
    except OSError as exc:
        if not os.access("/proc/self/fd", os.X_OK):  # no /proc: named temps for good
            _naming = NAME_TEMP
            raise _UseTemp from exc
        if exc.errno in _LINK_REFUSED:  # this filesystem only
            raise _UseTemp from exc
        raise


# linkat errors that say "this filesystem will not link an unnamed file".
_LINK_REFUSED = UNSUPPORTED | {errno.EPERM, errno.EACCES}


def _replace_with_unnamed(proc: str, dst: str) -> None:
    for _ in range(16):
        tmp = temp_name(dst)
        try:
            _link_proc(proc, tmp)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
    try:
        os.rename(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy_via_temp(fin: int, st: os.stat_result, tmp: str, dst: str, job: Job) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    fout = os.open(tmp, flags, stat.S_IMODE(st.st_mode))
    try:
        try:
            _copy_whole(fin, fout, st, job)
        finally:
            os.close(fout)
        os.rename(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return job.done


def _same_size(fin: int, st: os.stat_result) -> None:
    """Raise the short-copy error when the source no longer has the size it was copied for:
    a file that shrank into a hole, or grew, would otherwise pass as complete (same_size)."""
    if os.fstat(fin).st_size != st.st_size:
        raise OSError(SHORT_COPY, os.strerror(SHORT_COPY))


def _copy_whole(fin: int, fout: int, st: os.stat_result, job: Job) -> None:
    copy_fd(fin, fout, st.st_size, job, st)
    _same_size(fin, st)
    _copy_attrs(fout, st, job.umask)
    if job.fsync:
        os.fsync(fout)
    if job.hook is not None and job.hook(job.done, job.total):
        raise OSError(errno.ECANCELED, os.strerror(errno.ECANCELED))


def copy_range(fin: int, fout: int, offset: int, length: int, job: Job) -> int:
    """Copy fin's bytes [offset, offset+length) to fout's [0, length); see ioc_copy_range.

    Returns the bytes copied (fewer when the source ends first).
    """
    if offset < 0 or length < 0:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    start = job.done
    # No clone level for ranges (FICLONERANGE needs block-aligned offsets).
    level = [max(job.level, COPY_RANGE)]
    if level[0] == READWRITE and length >= FADVISE_MIN:
        os.posix_fadvise(fin, offset, length, os.POSIX_FADV_SEQUENTIAL)
    buf: list[mmap.mmap] = []
    try:
        _copy_span(fin, fout, offset, length, job, buf, True, level, shift=offset)
    finally:
        job.level = max(job.level, level[0])
        for b in buf:
            b.close()
    if job.hook is not None and job.hook(job.done, job.total):
        raise OSError(errno.ECANCELED, os.strerror(errno.ECANCELED))
    return job.done - start


# ---- tree walker (mirrors the C walker) --------------------------------

# Progress call at least every this many files (same as IOC_TREE_FILES_PER_CALL).
TREE_FILES_PER_CALL = 256


def _copy_attrs(fd: int, st: os.stat_result, umask: int = -1) -> None:
    """Mode and times; fchmod only when the umask may have hidden a bit."""
    mode = stat.S_IMODE(st.st_mode)
    if umask < 0 or mode & umask or mode & 0o7000:
        os.fchmod(fd, mode)
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_file_at(src: str, dst: str, job: Job) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fin)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fout = os.open(dst, flags, stat.S_IMODE(st.st_mode))
        try:
            copy_fd(fin, fout, st.st_size, job, st)
            _same_size(fin, st)
            _copy_attrs(fout, st, job.umask)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    job.files += 1
    due = job.files % TREE_FILES_PER_CALL == 0
    if due and job.hook is not None and job.hook(job.done, job.total):
        raise OSError(errno.ECANCELED, os.strerror(errno.ECANCELED))


def _walk(src: str, dst: str, rel: str, job: Job) -> None:
    with os.scandir(src) as entries:
        for entry in entries:
            try:
                _walk_entry(entry, os.path.join(dst, entry.name), rel + entry.name, job)
            except TreeError:
                raise
            except OSError as exc:
                raise TreeError(exc.errno or errno.EIO, rel + entry.name) from exc


def _walk_entry(entry: os.DirEntry[str], dst: str, rel: str, job: Job) -> None:
    if entry.is_symlink():
        os.symlink(os.readlink(entry.path), dst)
    elif entry.is_file(follow_symlinks=False):
        _copy_file_at(entry.path, dst, job)
    elif entry.is_dir(follow_symlinks=False):
        _copy_dir(entry.path, dst, rel + "/", job)
    # fifos, sockets, devices: not ours to copy (as in the C walker)


def _copy_dir(src: str, dst: str, rel: str, job: Job) -> None:
    os.mkdir(dst, 0o700)
    _walk(src, dst, rel, job)
    # Attributes after the children: creating them bumps the mtime.
    fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_attrs(fd, os.stat(src, follow_symlinks=False))
    finally:
        os.close(fd)


def copy_tree(src: str, dst: str, job: Job) -> int:
    """Copy the tree src into the new directory dst; see ioc_copy_tree.

    Raises TreeError (rel = failing entry) or OSError for the roots.
    """
    os.stat(src)
    _copy_dir(src, dst, "", job)
    if job.fsync:
        os.sync()  # no syncfs() in the os module; sync() is the superset
    if job.hook is not None and job.hook(job.done, job.total):
        raise OSError(errno.ECANCELED, os.strerror(errno.ECANCELED))
    return job.files


def rename_noreplace(src: str, dst: str) -> None:
    """Rename that refuses to replace dst (check-then-rename: the os module has
    no renameat2; the native core closes this race)."""
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
    os.rename(src, dst)

