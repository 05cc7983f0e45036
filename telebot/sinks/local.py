"""The default mirror destination: a folder on this machine (``MIRROR_DIR``).

The result is moved with the native IO core (one rename on the same filesystem, a synced copy
across filesystems). Nothing is ever overwritten: a clash gets ``name (1).ext``, ``name (2).ext``…
and a name is *reserved* atomically (``O_EXCL`` file or ``mkdir``) before the move, so two tasks
finishing at once with the same name cannot take the same slot.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from telebot import fileio
from telebot.engine.pipeline import Delivery
from telebot.engine.task import Task
from telebot.errors import SecurityError, UploadError
from telebot.monitor.perf import monitor_performance
from telebot.sources.names import sanitize_filename

MAX_CLASH_NUMBER = 10_000


def numbered(name: str, number: int) -> str:
    """``"a.tar.gz", 2`` → ``"a (2).tar.gz"`` (the number goes before the last extension)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({number})"
    return f"{stem} ({number}).{ext}"


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

    def __init__(self, root: Path) -> None:
        self.root = root

    @monitor_performance("sink.local.deliver")
    def deliver(self, task: Task, path: Path) -> Delivery:
        self.root.mkdir(parents=True, exist_ok=True)
        wanted = sanitize_filename(task.spec.name or path.name, fallback=path.name)
        is_dir = path.is_dir()
        size = _size_of(path)
        task.progress(0, size)
        target = self._reserve(wanted, is_dir)
        try:
            # A torrent that keeps seeding (-d) keeps its files: copy instead of move.
            seeding = task.spec.seeding
            if is_dir:
                os.rmdir(target)  # the reservation; the tree functions want to create it
                tree = fileio.copy_tree if seeding else fileio.move_tree
                tree(path, target, progress=task.progress, cancel=task.cancel_event)
            else:
                one = fileio.copy_file if seeding else fileio.move
                one(path, target, progress=task.progress, cancel=task.cancel_event)
        except BaseException:
            _drop_reservation(target, is_dir)
            raise
        task.progress(size, size)
        task.name = target.name
        return Delivery(
            name=target.name, size=size, location=str(target), files=_count_files(target)
        )

    def _reserve(self, name: str, is_dir: bool) -> Path:
        """Claim the first free ``name``/``name (n)`` in the root and return it."""
        for number in range(MAX_CLASH_NUMBER):
            candidate = self.root / (name if number == 0 else numbered(name, number))
            if not inside(self.root, candidate):
                raise SecurityError("the result's name would leave the mirror folder")
            try:
                if is_dir:
                    os.mkdir(candidate)
                else:
                    os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno == errno.ENAMETOOLONG:
                    raise UploadError("the result's name is too long for this filesystem") from exc
                raise
            return candidate
        raise UploadError(f"too many files called {name!r} in the mirror folder")


def _drop_reservation(target: Path, is_dir: bool) -> None:
    try:
        if is_dir:
            os.rmdir(target)
        elif target.stat().st_size == 0:
            target.unlink()
    except OSError:
        pass  # gone already, or a real file now: never delete something we did not create


def _size_of(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _count_files(path: Path) -> int:
    if not path.is_dir():
        return 1
    return sum(1 for f in path.rglob("*") if f.is_file())
