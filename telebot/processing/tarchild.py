"""The tar extractor that runs outside the bot, as a boxed child (``-e`` on tar archives).

Run as ``python -I -S tarchild.py --dest DIR --max-entries N --max-bytes N`` with the tar
stream (plain, gzip, bzip2 or xz; ``.tar.zst`` arrives already decompressed by ``zstd``) on
standard input. It imports only the standard library: ``-I -S`` keeps site-packages, the
user's site and ``PYTHON*`` variables out, and the box lets it read little else.

Contract (what :mod:`telebot.processing.extract` relies on):

* Nothing is written outside ``DIR``, whatever the archive holds and whatever is already on
  disk: every path is made relative to a directory fd, each parent opened with
  ``O_NOFOLLOW | O_DIRECTORY``, files created with ``O_EXCL | O_NOFOLLOW``. A link extracted
  earlier (or a chain of them longer than ``PATH_MAX``, CVE-2025-4517) can never redirect a
  later write: an entry whose folder is a link is skipped with a note. ``tarfile``'s
  ``filter="data"`` is not relied on: it judges paths with ``os.path.realpath``, which stops
  expanding past ``PATH_MAX``.
* Policy, the same as :mod:`telebot.processing.archivecheck`'s docstring: an entry *name* that
  is absolute, has a drive letter or a ``..`` component refuses the whole archive; symbolic
  links whose target is absolute or, resolved against what is on disk (links already extracted
  followed, ``..`` applied after them, not textually), leaves ``DIR``, hard links whose target
  is absolute, climbs (``..``) or is not a regular file reached without links, devices, FIFOs
  and sockets are skipped with a note; so are entries whose path beneath ``DIR`` would pass
  ``PATH_MAX`` (less room for later renames), so that everything written can be walked by path.
* Headers are read with a size cap: a GNU long name/long link, a pax header or a sparse map
  larger than ``--max-header`` bytes refuses the archive *before* it is read (``tarfile`` would
  read it whole into memory).
* At most ``--max-entries`` entries (folders, files, links) and ``--max-bytes`` bytes are
  written; past either it stops with a ``limit`` line.

Standard output is one JSON object per line (``ev`` says which):

* ``progress``: ``read`` (bytes of standard input read), ``entries``, ``bytes``; at most every
  0.2 s, and at the end as ``done`` with ``files`` too;
* ``skip``: ``name`` (cut to 100 characters), ``why``;
* ``limit``: ``what`` (``entries`` or ``bytes``), ``entries``, ``bytes`` (what it would reach);
* ``refuse``: ``why`` (one line), ``name`` (or null), ``security`` (true when the archive was
  made to attack: a refused entry name).

The last line (``done``, ``limit`` or ``refuse``) carries ``peak_kib``, the child's peak RSS.

Exit status: 0 done, 1 refused or limit (a line said why), 2 bad arguments; anything else is a
crash (the parent reports the status).
"""

from __future__ import annotations

import argparse
import bz2
import errno
import gzip
import json
import lzma
import os
import re
import stat
import sys
import tarfile
import time
from typing import IO, Any

MAX_HEADER = 64 * 1024  # a path is at most 4 KiB (PATH_MAX); pax adds a few small records
PATH_MAX = 4096  # Linux <limits.h>, bytes with the final NUL
MAX_HOPS = 40  # symbolic links followed while judging one target (the kernel's MAXSYMLINKS)
MAX_DEPTH = 512  # folders deep while judging one (an fd each; the box allows 1,024 open files)
NAME_SHOWN = 100  # characters of a name quoted in a line
CHUNK = 1 << 20
PROGRESS_EVERY = 0.2  # seconds between progress lines
MAX_SKIP_LINES = 1000  # the parent shows 20; the rest is counted, not sent
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DRIVE = re.compile(r"^[A-Za-z]:")


class Refused(Exception):
    """The archive is refused; ``str()`` is the reason, one line."""

    def __init__(self, why: str, name: str | None = None, *, security: bool = False) -> None:
        super().__init__(why)
        self.name, self.security = name, security


class Limit(Exception):
    def __init__(self, what: str, entries: int, size: int) -> None:
        super().__init__(what)
        self.what, self.entries, self.size = what, entries, size


class Skip(Exception):
    """This entry is left out; ``str()`` says why."""


def shown(name: str) -> str:
    """``name`` fit for a message: at most :data:`NAME_SHOWN` characters, printable UTF-8."""
    cut = name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 1] + "…"
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def unsafe_name(path: str) -> str | None:
    """Why an entry name refuses the archive (archivecheck.unsafe_path's rules), or None."""
    if path.startswith(("/", "\\")):
        return "an absolute path"
    if _DRIVE.match(path):
        return "a drive letter"
    if ".." in re.split(r"[/\\]", path):
        return "a parent reference (..)"
    return None


# -- headers with a size cap ------------------------------------------------------------------


class CappedInfo(tarfile.TarInfo):
    """A TarInfo whose extension headers are refused past :data:`MAX_HEADER` *before* tarfile
    reads them (it reads a long name or pax header whole, whatever its declared size)."""

    cap = MAX_HEADER

    def _check(self, what: str, size: int) -> None:
        if size > self.cap:
            raise Refused(f"the archive has a {what} of {size:,} bytes (at most {self.cap:,})")

    def _proc_gnulong(self, tf: Any) -> Any:
        self._check("GNU long name header", self.size)
        return super()._proc_gnulong(tf)  # type: ignore[misc]

    def _proc_pax(self, tf: Any) -> Any:
        self._check("pax header", self.size)
        return super()._proc_pax(tf)  # type: ignore[misc]

    def _proc_sparse(self, tf: Any) -> Any:
        # Old GNU sparse: a chain of 512-byte extension blocks, each flagged "more follows";
        # tarfile keeps every entry. The same cap, counted in blocks, bounds the chain.
        structs, isextended, origsize = self._sparse_structs  # type: ignore[attr-defined]
        del self._sparse_structs  # type: ignore[attr-defined]
        blocks = 0
        while isextended:
            blocks += 1
            self._check("GNU sparse map", blocks * tarfile.BLOCKSIZE)
            buf = tf.fileobj.read(tarfile.BLOCKSIZE)
            for pos in range(0, 21 * 24, 24):
                try:
                    offset = nti(buf[pos : pos + 12])
                    numbytes = nti(buf[pos + 12 : pos + 24])
                except ValueError:
                    break
                if offset and numbytes:
                    structs.append((offset, numbytes))
            isextended = bool(buf[504]) if len(buf) > 504 else False
        self.sparse = structs
        self.offset_data = tf.fileobj.tell()
        tf.offset = self.offset_data + self._block(self.size)  # type: ignore[attr-defined]
        self.size = origsize
        return self

    def _proc_gnusparse_10(self, info: Any, pax_headers: Any, tf: Any) -> Any:
        # GNU sparse 1.0: a count at the head of the data, then that many numbers, one a line;
        # tarfile reads until it has them all, so a huge count would read the whole archive
        # into a list. Read at most the cap.
        buf = tf.fileobj.read(tarfile.BLOCKSIZE)
        head, _, buf = buf.partition(b"\n")
        if not head.strip().isdigit():
            raise Refused("the archive is damaged: a bad GNU sparse map")
        wanted = int(head) * 2
        self._check("GNU sparse map", wanted * 2)  # each number takes two bytes at least
        numbers: list[int] = []
        read = tarfile.BLOCKSIZE
        while len(numbers) < wanted:
            if b"\n" not in buf:
                read += tarfile.BLOCKSIZE
                self._check("GNU sparse map", read)
                more = tf.fileobj.read(tarfile.BLOCKSIZE)
                if not more:
                    raise EOFError("the sparse map ends too early")
                buf += more
                continue
            number, _, buf = buf.partition(b"\n")
            numbers.append(int(number))
        info.offset_data = tf.fileobj.tell()
        info.sparse = list(zip(numbers[::2], numbers[1::2], strict=True))


def nti(raw: bytes) -> int:
    """A number field of a header (tarfile's own parser; raises ValueError)."""
    return int(tarfile.nti(raw))  # type: ignore[attr-defined]


# -- writing beneath a directory fd -----------------------------------------------------------


class Output:
    """Everything the child writes, relative to the fd of ``DIR``; never through a link."""

    def __init__(self, dest: str, max_entries: int, max_bytes: int) -> None:
        self.root = os.open(dest, _DIR_FLAGS)
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.entries = self.files = self.bytes = 0

    def charge(self, entries: int, size: int) -> None:
        if self.entries + entries > self.max_entries:
            raise Limit("entries", self.entries + entries, self.bytes + size)
        if self.bytes + size > self.max_bytes:
            raise Limit("bytes", self.entries + entries, self.bytes + size)
        self.entries += entries
        self.bytes += size

    def parent(self, parts: list[str], *, create: bool) -> int:
        """An fd of the folder ``parts`` beneath the root, each step opened without following a
        link (made when ``create``). Raises :class:`Skip` when a step is a link or a file,
        FileNotFoundError when it is missing and not ``create``."""
        fd = os.dup(self.root)
        try:
            for part in parts:
                try:
                    step = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    self.charge(1, 0)
                    os.mkdir(part, 0o700, dir_fd=fd)
                    step = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise Skip("an entry whose folder is a link or a file") from None
                    raise
                os.close(fd)
                fd = step
            return fd
        except BaseException:
            os.close(fd)
            raise

    def stays_inside(self, folder: list[str], target: str) -> bool:
        """Whether a link in ``folder`` pointing at ``target`` resolves beneath the root, judged
        against what is on disk: links already there are followed before a later ``..`` applies
        (``lll/..`` is not ``.`` when ``lll`` is a link). What does not exist yet is judged by
        name; the parent removes, after extraction, any link that ends up pointing outside.
        Raises :class:`Skip` for a loop or a resolution deeper than :data:`MAX_DEPTH`."""
        if target.startswith("/"):
            return False
        # One fd per level walked (None below a missing or non-folder level), so each step is
        # one system call whatever the depth; ".." closes the top one.
        stack: list[int | None] = [os.dup(self.root)]
        try:
            pending = target.split("/")[::-1]  # popped from the end: the next part last
            for part in folder:
                _descend(stack, part)
            hops = 0
            while pending:
                part = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":
                    if len(stack) == 1:
                        return False
                    _close(stack.pop())
                    continue
                inner = _link_at(stack[-1], part)
                if inner is not None:
                    hops += 1
                    if hops > MAX_HOPS:
                        raise Skip("a symbolic link loop")
                    if inner.startswith("/"):
                        return False
                    pending.extend(inner.split("/")[::-1])
                    continue
                if len(stack) > MAX_DEPTH:
                    raise Skip("a symbolic link too deep to judge")
                _descend(stack, part)
            return True
        finally:
            for fd in stack:
                _close(fd)

    def _replace(self, fd: int, name: str) -> None:
        """Make room for a new entry ``name`` in ``fd``: a later tar member replaces an earlier
        file or link (never a folder); unlink never follows a link."""
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            raise Skip("an entry where a folder of that name exists")
        os.unlink(name, dir_fd=fd)
        self.entries -= 1

    def folder(self, parts: list[str], mode: int) -> None:
        fd = self.parent(parts, create=True)
        try:
            os.chmod(fd, 0o700 | (mode & 0o755))
        finally:
            os.close(fd)

    def file(self, parts: list[str], member: tarfile.TarInfo, data: IO[bytes] | None) -> None:
        fd = self.parent(parts[:-1], create=True)
        try:
            self._replace(fd, parts[-1])
            self.charge(1, member.size)  # the declared size, before a byte is written
            out = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            written = 0
            while data is not None and (chunk := data.read(CHUNK)):
                written += len(chunk)
                if written > member.size:  # tarfile never gives more; a guard all the same
                    raise Refused("the archive is damaged: an entry is longer than its header")
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
            os.fchmod(out, 0o600 | (member.mode & 0o755))
            os.utime(out, (member.mtime, member.mtime))
        finally:
            os.close(out)
        self.files += 1

    def symlink(self, parts: list[str], target: str) -> None:
        if target.startswith(("/", "\\")) or _DRIVE.match(target):
            raise Skip("symbolic link pointing outside")
        if not self.stays_inside(parts[:-1], target):
            raise Skip("symbolic link pointing outside")
        fd = self.parent(parts[:-1], create=True)
        try:
            self._replace(fd, parts[-1])
            self.charge(1, 0)
            os.symlink(target, parts[-1], dir_fd=fd)
        finally:
            os.close(fd)
        self.files += 1

    def hardlink(self, parts: list[str], target: str) -> None:
        if unsafe_name(target) is not None:
            raise Skip("hard link pointing outside")
        source = [p for p in target.split("/") if p not in ("", ".")]
        if not source:
            raise Skip("hard link pointing outside")
        try:
            src = self.parent(source[:-1], create=False)
        except FileNotFoundError:
            raise Skip("hard link to a missing file") from None
        except Skip:
            raise Skip("hard link through a link") from None
        try:
            try:
                mode = os.stat(source[-1], dir_fd=src, follow_symlinks=False).st_mode
            except FileNotFoundError:
                raise Skip("hard link to a missing file") from None
            if not stat.S_ISREG(mode):
                raise Skip("hard link to a link or a folder")
            fd = self.parent(parts[:-1], create=True)
            try:
                self._replace(fd, parts[-1])
                self.charge(1, 0)
                os.link(source[-1], parts[-1], src_dir_fd=src, dst_dir_fd=fd,
                        follow_symlinks=False)
            finally:
                os.close(fd)
        finally:
            os.close(src)
        self.files += 1


def _descend(stack: list[int | None], part: str) -> None:
    """Push the fd of folder ``part`` beneath the top of ``stack`` (None when it is missing,
    not a folder, or the top is None already)."""
    top = stack[-1]
    fd = None
    if top is not None:
        try:
            fd = os.open(part, _DIR_FLAGS, dir_fd=top)
        except OSError:
            fd = None
    stack.append(fd)


def _link_at(folder: int | None, part: str) -> str | None:
    """The target of ``part`` in ``folder`` when it is a symbolic link, else None."""
    if folder is None:
        return None
    try:
        return os.readlink(part, dir_fd=folder)
    except OSError:  # EINVAL: not a link; ENOENT: not there (yet)
        return None


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


# -- the run ------------------------------------------------------------------------------------


class Reader:
    """Standard input, counted (progress is bytes of the archive read)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.position += len(data)
        return data


class Replay:
    """``raw`` with ``head`` (already read from it) given back first."""

    def __init__(self, head: bytes, raw: Reader) -> None:
        self._head, self._raw = head, raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            if size < 0:
                data, self._head = data + self._raw.read(), b""
            return data
        return self._raw.read(size)


def decompressed(reader: Reader) -> Any:
    """The tar stream: gzip, bzip2 and xz are told by their magic bytes and read through the
    file classes, which hand out at most what is asked (tarfile's own ``r|*`` stream gives
    each 10 KiB of input all its output at once: a bzip2 run of zeros is gigabytes)."""
    head = reader.read(6)
    replay: Any = Replay(head, reader)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=replay, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(replay)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(replay)
    return replay


class Run:
    def __init__(self, out: Output, reader: Reader, emit: Any, max_path: int) -> None:
        self.out, self.reader, self.emit = out, reader, emit
        self.max_path = max_path
        self.skips = 0
        self._last = 0.0

    def progress(self, ev: str = "progress", *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_EVERY:
            self._last = now
            self.emit({"ev": ev, "read": self.reader.position, "entries": self.out.entries,
                       "bytes": self.out.bytes, "files": self.out.files})

    def skip(self, name: str, why: str) -> None:
        self.skips += 1
        if self.skips <= MAX_SKIP_LINES:
            self.emit({"ev": "skip", "name": shown(name), "why": why})

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        reason = unsafe_name(member.name)
        if reason is not None:
            raise Refused(reason, member.name, security=True)
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if not parts:
            return  # "./": the root itself
        if len(os.fsencode("/".join(parts))) > self.max_path:
            # Deeper than PATH_MAX allows beneath the output: whatever walks the result by
            # path later (the link check, the sinks) could not reach it.
            self.skip(member.name, "an entry whose path is too long (PATH_MAX)")
            return
        try:
            if member.isdir():
                self.out.folder(parts, member.mode)
            elif member.isreg():
                self.out.file(parts, member, tar.extractfile(member))
            elif member.issym():
                self.out.symlink(parts, member.linkname)
            elif member.islnk():
                self.out.hardlink(parts, member.linkname)
            else:
                raise Skip("special file")
        except Skip as exc:
            self.skip(member.name, str(exc))
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                self.skip(member.name, "an entry whose name is too long for the disk")
            elif exc.errno == errno.EFBIG:
                raise Refused("file size limit: an entry is larger than the box allows") from None
            elif exc.errno == errno.ENOSPC:
                raise Refused("the disk is full") from None
            else:
                raise Refused(f"cannot write {shown(member.name)!r}: {exc.strerror}") from None

    def all(self, tar: tarfile.TarFile) -> None:
        while True:
            member = tar.next()
            if member is None:
                return
            # Stream mode keeps every TarInfo in tar.members: a million entries would be a
            # million objects. Nothing here looks back, so drop them as they come.
            tar.members = []  # type: ignore[attr-defined]
            self.member(tar, member)
            self.progress()


def emit_to(stream: IO[str]) -> Any:
    def emit(event: dict[str, Any]) -> None:
        if event["ev"] in ("done", "limit", "refuse"):
            event["peak_kib"] = peak_kib()
        stream.write(json.dumps(event) + "\n")
        stream.flush()

    return emit


def peak_kib() -> int | None:
    """This process's peak RSS (``VmHWM``), or None where the box hides /proc. Not rusage: its
    ``ru_maxrss`` also counts the parent's pages inherited at fork, before exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tarchild")
    parser.add_argument("--dest", required=True)
    parser.add_argument("--max-entries", type=int, required=True)
    parser.add_argument("--max-bytes", type=int, required=True)
    parser.add_argument("--max-header", type=int, default=MAX_HEADER)
    args = parser.parse_args(argv)
    emit = emit_to(sys.stdout)
    CappedInfo.cap = args.max_header
    reader = Reader(sys.stdin.buffer)
    run: Run | None = None
    try:
        # Room left for a path beneath DEST within PATH_MAX, less a name's worth (255) for
        # what later stages add (a renamed or "name (2)" folder, a longer mirror folder).
        max_path = max(255, PATH_MAX - len(os.fsencode(os.path.abspath(args.dest))) - 256)
        run = Run(Output(args.dest, args.max_entries, args.max_bytes), reader, emit, max_path)
        stream = decompressed(reader)
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=CappedInfo) as tar:
            run.all(tar)
        run.progress("done", force=True)
        return 0
    except Limit as exc:
        emit({"ev": "limit", "what": exc.what, "entries": exc.entries, "bytes": exc.size})
    except Refused as exc:
        emit({"ev": "refuse", "why": str(exc), "security": exc.security,
              "name": shown(exc.name) if exc.name is not None else None})
    except MemoryError:
        emit({"ev": "refuse", "why": "memory limit SANDBOX_MEMORY: the archive needs more memory "
              "than the box allows", "security": False, "name": None})
    except EOFError:
        emit({"ev": "refuse", "why": "the tar archive ends too early", "security": False,
              "name": None})
    except (tarfile.TarError, OSError, ValueError, UnicodeError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        emit({"ev": "refuse", "why": f"the tar archive is damaged: {detail}", "security": False,
              "name": None})
    return 1


if __name__ == "__main__":
    sys.exit(main())
