"""The default mirror destination: a folder on this machine (``MIRROR_DIR``).

Contract: a final name appears only when its bytes are complete, and nothing is ever overwritten.

1. *Stage* the result on the mirror folder's filesystem. Same filesystem: the fetched file or
   folder itself. Across filesystems: a copy under the hidden name ``.telebot-<gid>.partial`` in
   ``MIRROR_DIR``; the IO core gives that name to a copy only once it is complete (an unnamed
   file linked in, or a temp tree renamed in). The payload is flushed (``fsync``) only with
   ``durable`` (``DURABLE_WRITES=true``); by default, like any download tool, it is not, and a
   placement recorded before a reboot is checked after it (``fileio.durable.intact``).
2. *Place* it under its final name in one no-replace step: ``link(2)`` for a file,
   ``rename(2)`` with ``RENAME_NOREPLACE`` for a folder (and for a file where the filesystem has
   no hard links; where it lacks ``RENAME_NOREPLACE`` too, a check right before the rename).
   ``name``, ``name (1)``, ``name (2)``… are tried in turn, moving on only on ``EEXIST``; the
   folder is then ``fsync``'ed.
3. Record the :class:`Delivery` in the task's state file (``taskstate``), then drop the temp.

A kill anywhere leaves at most the complete temp, which the resumed run places (or removes, if it
was not finished). The one window that could deliver twice, killed after step 2 and before step 3,
is closed by identity: a staged *file* then has a second link (``st_nlink > 1``) and the resumed
run finds the name sharing its inode; before renaming anything the sink records its device and
inode (``pipeline.record_placing``) and the resumed run looks for it; when that run comes after
a reboot and the placement was not flushed, what it finds must still have the noted size and no
hole, or it is removed and the task fetched again (``pipeline.TornPayload``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from telebot import fileio
from telebot.engine.pipeline import (
    Delivery,
    TornPayload,
    placing,
    placing_size,
    record_delivered,
    record_placing,
)
from telebot.engine.task import Task
from telebot.errors import SecurityError, UploadError
from telebot.fileio.durable import fsync_dir, fsync_file, intact, measure
from telebot.fileio.walk import regular_files, tree_size
from telebot.monitor.perf import monitor_performance
from telebot.processing.rename import delivered_name
from telebot.sources.names import MAX_NAME_BYTES, fit_name, sanitize_filename

TEMP_PREFIX = ".telebot-"
TEMP_SUFFIX = ".partial"
MAX_CLASH_NUMBER = 10_000


def numbered(name: str, number: int) -> str:
    """``"a.tar.gz", 2`` → ``"a (2).tar.gz"`` (the number goes before the last extension).

    The result fits NAME_MAX: a long stem is shortened (at a UTF-8 character boundary) to make
    room for the number."""
    tag = f" ({number})"
    name = fit_name(name, MAX_NAME_BYTES - len(tag))
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name}{tag}"
    return f"{stem}{tag}.{ext}"


def inside(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` (resolved) stays within ``root`` (resolved)."""
    try:
        candidate.resolve(strict=False).relative_to(root.resolve(strict=False))
    except ValueError:
        return False
    return True


class LocalSink:
    """Moves finished downloads into one folder."""

    engine = "Local"

    def __init__(self, root: Path, *, durable: bool = False) -> None:
        self.root = root
        self.durable = durable  # DURABLE_WRITES: flush the payload before placing it

    @monitor_performance("sink.local.deliver")
    def deliver(self, task: Task, path: Path) -> Delivery:
        self.root.mkdir(parents=True, exist_ok=True)
        wanted = sanitize_filename(delivered_name(task.spec, path), fallback=path.name)
        temp = self.root / f"{TEMP_PREFIX}{task.gid}{TEMP_SUFFIX}"
        try:
            target = self._placed_before(task, path, temp)
            if target is None:
                target = self._place(task, self._stage(task, path, temp), wanted)
            size = _size_of(target)
            delivery = Delivery(
                name=target.name, size=size, location=str(target), files=_count_files(target)
            )
            record_delivered(task, delivery)
        except BaseException:
            _discard(temp)  # a half copy, or one not placed: the next run copies afresh
            raise
        _discard(temp)  # placed (a file's temp is a second link to the result) and recorded
        task.progress(size, size)
        task.name = target.name
        return delivery

    # -- 1. stage ---------------------------------------------------------------------------

    def _stage(self, task: Task, path: Path, temp: Path) -> Path:
        """The result as an entry on the mirror folder's filesystem (see the module docstring)."""
        if path.is_dir():
            # A torrent that keeps seeding (-d) keeps its folder: copy it, never rename it away.
            # (A file is linked into place, so seeding keeps it anyway.)
            if _same_fs(path, self.root) and not task.spec.seeding:
                return path
            # A leftover complete copy is reused only when it was flushed: an unflushed one may
            # be torn if the machine rebooted meanwhile (taskstate), and copying is cheap here.
            if not (self.durable and temp.is_dir()):
                _discard(temp)
                fileio.copy_tree(
                    path, temp, progress=task.progress, cancel=task.cancel_event,
                    fsync=self.durable,
                )
            return temp
        if _same_fs(path, self.root):
            if self.durable:
                fsync_file(path)
            return path
        if self.durable and temp.is_file():  # complete and flushed, not yet placed
            return temp
        _discard(temp)
        task.progress(0, path.stat().st_size)
        fileio.copy_file(
            path, temp, progress=task.progress, cancel=task.cancel_event, fsync=self.durable
        )
        return temp

    # -- 2. place ---------------------------------------------------------------------------

    def _place(self, task: Task, staged: Path, name: str) -> Path:
        target: Path | None = None
        if not staged.is_dir():
            try:
                target = self._claim(name, lambda candidate: os.link(staged, candidate))
            except OSError as exc:
                if exc.errno not in NO_HARD_LINKS:
                    raise
        if target is None:  # a folder, or a filesystem without hard links (exFAT, some FUSE)
            record_placing(
                task, staged.stat(), durable=self.durable, size=measure(staged)
            )
            target = self._claim(name, lambda candidate: _rename_noreplace(staged, candidate))
        fsync_dir(self.root)
        return target

    def _claim(self, name: str, put: Callable[[Path], None]) -> Path:
        """Give the staged result the first free ``name``/``name (n)``; only EEXIST moves on."""
        for number in range(MAX_CLASH_NUMBER):
            candidate = self.root / (name if number == 0 else numbered(name, number))
            if not inside(self.root, candidate):
                raise SecurityError("the result's name would leave the mirror folder")
            try:
                put(candidate)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENOTEMPTY:  # rename onto a non-empty folder: taken
                    continue
                if exc.errno == errno.ENAMETOOLONG:
                    raise UploadError("the result's name is too long for this filesystem") from exc
                raise
            return candidate
        raise UploadError(f"too many files called {name!r} in the mirror folder")

    # -- resuming ---------------------------------------------------------------------------

    def _placed_before(self, task: Task, path: Path, temp: Path) -> Path | None:
        """Where an earlier run of this task already placed the result, if it did."""
        for staged in (temp, path):
            try:
                st = staged.lstat()
            except FileNotFoundError:
                continue
            if not os.path.isdir(staged) and st.st_nlink > 1:
                found = self._find(st.st_dev, st.st_ino, exclude=temp.name)
                if (
                    found is not None and staged == temp and not self.durable and path.exists()
                    and not intact(found, list(measure(path)))
                ):
                    # A copy linked into place, never flushed, torn by a reboot: its source is
                    # still here (checked by the manager), so place a fresh copy instead.
                    _discard(found)  # our own inode, found by it
                    _discard(temp)
                    return None
                if found is not None:
                    return found
        moved = placing(task)
        if moved is None or temp.exists():  # a staged folder still under its temp name
            return None
        found = self._find(*moved, exclude=temp.name)
        if found is None and not path.exists():
            raise UploadError("the result was moved away while the bot was down")
        # Renamed into place before a crash: unflushed, a reboot may have torn it. The check is
        # cheap and holds within one boot too (written pages are data, not holes, to SEEK_HOLE).
        expected = placing_size(task)
        torn = (
            found is not None and not self.durable and expected is not None
            and not intact(found, expected)
        )
        if found is not None and torn:
            _discard(found)  # our own inode (found by it), under a final name: not kept
            raise TornPayload(str(found))
        return found

    def _find(self, dev: int, ino: int, *, exclude: str) -> Path | None:
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name == exclude or entry.inode() != ino:
                    continue
                if entry.stat(follow_symlinks=False).st_dev == dev:
                    return Path(entry.path)
        return None


# link(2) errors that mean "this filesystem has no hard links" (link(2) man page): the result
# is renamed into place instead.
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS})
# renameat2(2): EINVAL when the filesystem does not support RENAME_NOREPLACE.
NO_NOREPLACE = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS})


def _rename_noreplace(src: Path, dst: Path) -> None:
    try:
        fileio.rename_noreplace(src, dst)
    except OSError as exc:
        if exc.errno not in NO_NOREPLACE:
            raise
        # Such a filesystem leaves only check-then-rename; the window is a few microseconds
        # and only another writer in MIRROR_DIR choosing the same name at once could hit it.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        os.rename(src, dst)


def _same_fs(path: Path, root: Path) -> bool:
    return path.stat().st_dev == root.stat().st_dev


def _discard(temp: Path) -> None:
    """Remove our own temp (it only ever holds a copy; never the result's only name)."""
    if temp.is_dir() and not temp.is_symlink():
        shutil.rmtree(temp, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _size_of(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return tree_size(path)


def _count_files(path: Path) -> int:
    if not path.is_dir():
        return 1
    return sum(1 for _ in regular_files(path))
