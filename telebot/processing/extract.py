"""The ``-e [password]`` stage: archives in the result become folders.

* A single archive ``a.zip`` becomes the folder ``a``; a folder keeps its shape, each archive in
  it (the first volume of each set) replaced by a folder of the archive's stem, later volumes
  dropped, other files passed through (hard links, so nothing is copied).
* Archives found inside what was extracted are extracted once more, in place of themselves, and
  no further (a nested one that fails is kept as it is, with a note).
* A result with no archive passes through with the note "nothing to extract".
* zip/7z/gz/bz2/xz and volume sets go through 7-Zip (:mod:`telebot.processing.sevenzip`:
  password on stdin, never on a command line; its listing streamed and stopped at
  ``EXTRACT_MAX_FILES``); RAR through unar (:mod:`telebot.processing.unar`); tar (and
  ``.tar.zst`` through ``zstd -dc``: Python 3.11 has no zstd, 7-Zip would give a ``.tar`` to
  extract a second time) through the boxed child of :mod:`telebot.processing.tarbox`, never in
  the bot's process. Every tool runs in a box (:func:`telebot.sandbox.for_stage`): it reads the
  archive and writes the stage's folder.
* What may come out of an archive and how much: :mod:`telebot.processing.archivecheck`. On any
  failure, limit or cancel the stage raises and the manager removes its folder: nothing
  half-extracted is delivered.

Progress: bytes of archive read (7-Zip's percent x the archive's size, the tar child's position in
the archive file) against the size of all top-level archives.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from telebot import sandbox
from telebot.engine.task import Task, TaskSpec
from telebot.errors import TaskCancelled, TelebotError
from telebot.fileio import copy_file
from telebot.processing import archivecheck, sevenzip, tarbox, unar
from telebot.processing.archivecheck import Budget, LimitExceeded, Limits, OutputWatch
from telebot.processing.archives import Kind, Role, kind_of, role_of, stem_of, volumes_of

NOTHING = "nothing to extract: no archive in the result"
_EXCLUDE_LIST = ".telebot-exclude"  # 7-Zip's -x@ list of skipped entries


class ExtractStage:
    name = "extract"
    engine = "extract"

    def __init__(self, limits: Limits) -> None:
        self._limits = limits

    def process(self, task: Task, path: Path, out: Path) -> Path:
        run = _Run(task, self._limits, out, task.spec.extract_password)
        if path.is_dir():
            result = out / path.name
            run.folder(path, result)
        elif role_of(path.name, [path.name]) is Role.FIRST:
            result = out / stem_of(path.name)
            run.top([(path, result, [path])])
        else:
            result = out / path.name
            _pass_through(path, result)
        if not run.extracted:
            task.warnings.append(NOTHING)
        else:
            task.warnings.append(
                f"extracted {run.extracted} archive{'s' if run.extracted != 1 else ''}: "
                f"{run.files:,} file{'s' if run.files != 1 else ''}"
            )
        task.warnings.extend(run.notes[:20])
        more = len(run.notes) - 20 + run.unlisted
        if more > 0:
            task.warnings.append(f"... and {more} more skipped entries")
        return result


def extract_factory(limits: Limits) -> Callable[[TaskSpec], ExtractStage | None]:
    stage = ExtractStage(limits)

    def factory(spec: TaskSpec) -> ExtractStage | None:
        return stage if spec.extract else None

    return factory


class _Run:
    """One run of the stage: its budget, progress and notes."""

    def __init__(self, task: Task, limits: Limits, out: Path, password: str | None) -> None:
        self.task, self.limits, self.out, self.password = task, limits, out, password
        self.budget = Budget(limits, 0, out)
        self.notes: list[str] = []
        self.unlisted = 0  # skipped entries counted but not named (each tool names the first)
        self.extracted = 0
        self.files = 0  # in the folders the top-level archives became, after the nested pass
        self._done = 0  # archive bytes read by finished archives
        self._total = 0

    def folder(self, src: Path, dst: Path) -> None:
        """Mirror ``src`` into ``dst``, archives extracted, then the nested pass."""
        jobs: list[tuple[Path, Path, list[Path]]] = []
        for folder, dirs, files in os.walk(src):
            here = Path(folder)
            target = dst / here.relative_to(src)
            target.mkdir(mode=0o700, exist_ok=True)
            dirs.sort()
            names = set(files) | set(dirs)
            firsts = [n for n in sorted(files) if role_of(n, files) is Role.FIRST]
            consumed: set[str] = set()
            for name in firsts:
                volumes = volumes_of(name, files)
                consumed.update(volumes)
                dest = _free_name(target, stem_of(name), names)
                jobs.append((here / name, dest, [here / v for v in volumes]))
            for name in sorted(set(files) - consumed):  # a volume without its first passes too
                _pass_through(here / name, target / name)
        self.top(jobs)

    def top(self, jobs: list[tuple[Path, Path, list[Path]]]) -> None:
        """Extract the top-level archives (each into its folder), then what they held."""
        self._total = sum(_size(v) for _, _, volumes in jobs for v in volumes)
        self.budget = Budget(self.limits, self._total, self.out, free=None)
        self.task.progress(0, self._total)
        made = []
        for archive, dest, volumes in jobs:
            size = sum(_size(v) for v in volumes)
            self._extract(archive, dest, size)
            self._done += size
            self.task.progress(self._done, self._total)  # 7-Zip may not report a small one
            made.append(dest)
        for dest in made:
            self._nested(dest)
            self.files += archivecheck.tree_usage(dest)[2]

    def _nested(self, root: Path) -> None:
        for folder, _dirs, files in os.walk(root):
            here = Path(folder)
            for name in sorted(files):
                if role_of(name, files) is not Role.FIRST or not (here / name).is_file():
                    continue
                volumes = [here / v for v in volumes_of(name, files)]
                dest = _free_name(here, stem_of(name), set(os.listdir(here)))
                try:
                    self._extract(here / name, dest, 0)
                except (TaskCancelled, LimitExceeded):
                    raise
                except TelebotError as exc:
                    self.notes.append(f"kept {name[:80]} as it is: {exc}")
                    continue
                for volume in volumes:
                    volume.unlink(missing_ok=True)
        # os.walk listed the new folders too late or not at all: never a third level, since
        # only files present when each folder was listed are looked at once.

    def _extract(self, archive: Path, dest: Path, size: int) -> None:
        kind = kind_of(archive.name)
        try:
            if unar.handles(archive.name):  # 7-Zip on Debian cannot read RAR: unar.py says why
                self.notes.extend(unar.extract(
                    archive, dest, budget=self.budget, password=self.password,
                    cancel=self.task.cancel_event, on_percent=self._percent_of(size)))
            elif kind is Kind.SEVENZIP:
                self._with_7zip(archive, dest, size)
            else:
                self._with_tar(archive, dest, size, kind)
        except BaseException:
            _remove(dest)
            raise
        self.notes.extend(archivecheck.remove_links_out(dest))
        self.extracted += 1

    # -- 7-Zip ------------------------------------------------------------------------

    def _with_7zip(self, archive: Path, dest: Path, size: int) -> None:
        # Reads the archive's folder (a volume set's later volumes sit beside its first, and
        # 7-Zip opens them itself), writes the stage's folder.
        box = sandbox.for_stage(archive.parent.absolute(), self.out.absolute())
        exclude = self.out / _EXCLUDE_LIST  # beside the result, never inside it
        try:
            with exclude.open("w", encoding="utf-8") as skipped, contextlib.closing(
                sevenzip.iter_entries(archive, password=self.password,
                                      cancel=self.task.cancel_event, box=box)
            ) as entries:
                plan = archivecheck.plan_entries(entries, self.budget, skipped)
            if plan.encrypted and self.password is None:
                raise sevenzip.PasswordNeeded()
            self.budget.check(plan.size, plan.files)
            self.notes.extend(plan.notes)
            self.unlisted += plan.skipped - len(plan.notes)
            dest.mkdir(mode=0o700)
            args = ["x", "-y", "-scsUTF-8", f"-o{dest}"]
            if plan.skipped:
                args.append(f"-x@{exclude}")
            self._run_watched([*args, "--", str(archive)], dest, size, box)
        finally:
            exclude.unlink(missing_ok=True)
        used, entries_on_disk, _files = archivecheck.tree_usage(dest)
        self.budget.charge(used, entries_on_disk)
        self.budget.check(0, 0)  # what it wrote after the watch's last look

    def _percent_of(self, size: int) -> Callable[[int], None]:
        def on_percent(percent: int) -> None:
            self.task.progress(self._done + size * percent // 100, self._total)

        return on_percent

    def _run_watched(self, args: list[str], dest: Path, size: int, box: sandbox.Box) -> None:
        on_percent = self._percent_of(size)
        with OutputWatch(dest, self.budget, self.task.cancel_event) as watch:
            try:
                sevenzip.run(args, password=self.password, cancel=watch.stop,
                             on_percent=on_percent, box=box)
            except TaskCancelled:
                if watch.reason is not None:
                    raise LimitExceeded(f"extraction stopped: {watch.reason}") from None
                raise TaskCancelled(self.task.cancel_reason or "cancelled") from None

    # -- tar --------------------------------------------------------------------------

    def _with_tar(self, archive: Path, dest: Path, size: int, kind: Kind) -> None:
        def on_read(position: int) -> None:
            self.task.progress(self._done + min(position, size), self._total)

        try:
            notes, unlisted = tarbox.extract(
                archive, dest, zstd=kind is Kind.ZSTD_TAR, stage_out=self.out,
                budget=self.budget, cancel=self.task.cancel_event, on_read=on_read,
            )  # fmt: skip
        except TaskCancelled:
            raise TaskCancelled(self.task.cancel_reason or "cancelled") from None
        self.notes.extend(notes)
        self.unlisted += unlisted


def _pass_through(src: Path, dst: Path) -> None:
    """``src`` appears at ``dst`` without a copy when the filesystem allows (a hard link)."""
    try:
        os.link(src, dst)
    except OSError:
        copy_file(src, dst)


def _free_name(folder: Path, name: str, taken: set[str]) -> Path:
    """``folder/name``, or ``name (2)``, ... when that name is taken."""
    candidate, n = name, 1
    while candidate in taken or (folder / candidate).exists():
        n += 1
        candidate = f"{name} ({n})"
    taken.add(candidate)
    return folder / candidate


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


