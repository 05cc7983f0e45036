"""The ``-j`` stage: split sets ``name.001``, ``name.002``, ... become ``name`` again.

* In a folder (a torrent, a multi-file download) each folder's sets are joined, in place of
  their parts; every other file passes through (a hard link: nothing is copied).
* A set is ``name.001`` and at least ``name.002``, numbered without a gap; a lone ``name.001``
  is not a set, nor are numbered files without a ``.001`` (``photo.100``): they pass through.
  A gap is an error naming the first missing part: a file joined around a hole would be
  silently wrong.
* A single file (not a folder) has nothing to join and passes through.

The bytes are appended with ``copy_file_range`` (in-kernel, reflinks where the filesystem has
them), falling back to ``sendfile``: :func:`telebot.fileio.copy_range` writes a new file from
offset 0, which a join cannot use for its second part onwards. Progress: bytes joined / the
size of all sets; cancel is checked between 16 MiB chunks.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

from telebot.engine.task import Task, TaskSpec
from telebot.errors import ProcessingError, TaskCancelled
from telebot.fileio import copy_file

CHUNK = 16 << 20  # between cancel/progress checks, as the IO core's copies (fileio._job)
_PART = re.compile(r"^(?P<base>.+)\.(?P<num>\d{3})$")
# copy_file_range cannot serve this pair (old kernel, another filesystem, a special file).
_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}


class JoinStage:
    name = "join"
    engine = "join"

    def process(self, task: Task, path: Path, out: Path) -> Path:
        result = out / path.name
        if not path.is_dir():
            _link(path, result)
            return result
        plan = _walk(path, result)
        total = sum(p.stat().st_size for _, _, sets in plan for parts in sets.values()
                    for p in parts)
        joined = 0
        task.progress(0, total)

        def progress(done: int) -> None:
            task.progress(joined + done, total)

        for _here, target, sets in plan:
            for name, parts in sorted(sets.items()):
                joined += _concat(parts, target / name, task, progress)
        if not any(sets for _, _, sets in plan):
            task.warnings.append("nothing to join: no split set (name.001, name.002, ...)")
        else:
            count = sum(len(sets) for _, _, sets in plan)
            task.warnings.append(f"joined {count} split set{'s' if count != 1 else ''}")
        return result


def join_factory() -> Callable[[TaskSpec], JoinStage | None]:
    stage = JoinStage()

    def factory(spec: TaskSpec) -> JoinStage | None:
        return stage if spec.join else None

    return factory


def _walk(src: Path, dst: Path) -> list[tuple[Path, Path, dict[str, list[Path]]]]:
    """Mirror ``src``'s folders into ``dst``, linking every file that is not part of a set;
    returns, per folder, the sets to join (name → parts in order)."""
    found = []
    for folder, dirs, files in os.walk(src):
        dirs.sort()
        here = Path(folder)
        target = dst / here.relative_to(src)
        target.mkdir(mode=0o700, exist_ok=True)
        sets = find_sets(files)
        taken = set(files) | set(dirs)
        in_sets = {p for parts in sets.values() for p in parts}
        for name in sorted(set(files) - in_sets):
            _link(here / name, target / name)
        named: dict[str, list[Path]] = {}
        for base, parts in sets.items():
            joined = base if base not in taken else f"{base}.joined"
            named[joined] = [here / p for p in parts]
        found.append((here, target, named))
    return found


def find_sets(names: list[str]) -> dict[str, list[str]]:
    """Split sets among ``names``: base name → part names in order. Raises
    :class:`ProcessingError` naming the first missing part of a set with a gap."""
    numbered: dict[str, dict[int, str]] = {}
    for name in names:
        match = _PART.match(name)
        if match:
            numbered.setdefault(match["base"], {})[int(match["num"])] = name
    sets: dict[str, list[str]] = {}
    for base, parts in numbered.items():
        if len(parts) < 2 or 1 not in parts:
            continue  # a lone name.001, or numbered files that do not start a set
        for number in range(1, max(parts) + 1):
            if number not in parts:
                raise ProcessingError(
                    f"cannot join {base[:80]}: part {base[:80]}.{number:03d} is missing "
                    f"(found {len(parts)} parts up to .{max(parts):03d})"
                )
        sets[base] = [parts[n] for n in sorted(parts)]
    return sets


def _concat(parts: list[Path], dst: Path, task: Task, progress: Callable[[int], None]) -> int:
    """Write ``parts`` one after the other into the new file ``dst``; returns its size."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    written = 0
    try:
        for part in parts:
            written = _append(part, fd, written, task, progress)
    finally:
        os.close(fd)
    return written


def _append(
    part: Path, fd: int, offset: int, task: Task, progress: Callable[[int], None]
) -> int:
    """Copy ``part`` to ``fd`` at ``offset``; returns the new end."""
    with open(part, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        done = 0
        while done < size:
            if task.cancel_event.is_set():
                raise TaskCancelled(task.cancel_reason or "cancelled")
            n = _copy_chunk(src.fileno(), fd, done, offset + done, min(CHUNK, size - done))
            if n == 0:
                raise ProcessingError(f"{part.name[:80]} shrank while it was joined")
            done += n
            progress(offset + done)
    return offset + size


def _copy_chunk(fin: int, fout: int, src_at: int, dst_at: int, count: int) -> int:
    try:
        return os.copy_file_range(fin, fout, count, src_at, dst_at)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
    os.lseek(fout, dst_at, os.SEEK_SET)
    return os.sendfile(fout, fin, src_at, count)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        copy_file(src, dst)
