"""The ``-e [password]`` stage: archives in the result become folders.

* A single archive ``a.zip`` becomes the folder ``a``; a folder keeps its shape, each archive in
  it (the first volume of each set) replaced by a folder of the archive's stem, later volumes
  dropped, other files passed through (hard links, so nothing is copied).
* Archives found inside what was extracted are extracted once more, in place of themselves, and
  no further (a nested one that fails is kept as it is, with a note).
* A result with no archive passes through with the note "nothing to extract".
* zip/7z/gz/bz2/xz and volume sets go through 7-Zip (:mod:`telebot.processing.sevenzip`:
  password on stdin, never on a command line), RAR through unar (:mod:`telebot.processing.unar`);
  tar through :mod:`tarfile` with
  ``filter="data"``; ``.tar.zst`` through ``zstd -dc`` into :mod:`tarfile` (Python 3.11 has no
  zstd; 7-Zip would give a ``.tar`` to extract a second time).
* What may come out of an archive and how much: :mod:`telebot.processing.archivecheck`. On any
  failure, limit or cancel the stage raises and the manager removes its folder: nothing
  half-extracted is delivered.

Progress: bytes of archive read (7-Zip's percent x the archive's size, tarfile's position in the
compressed file) against the size of all top-level archives.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from telebot import childproc
from telebot.engine.task import Task, TaskSpec
from telebot.errors import ProcessingError, TaskCancelled, TelebotError
from telebot.fileio import copy_file
from telebot.processing import archivecheck, sevenzip, unar
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
        if len(run.notes) > 20:
            task.warnings.append(f"... and {len(run.notes) - 20} more skipped entries")
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
                self._with_tarfile(archive, dest, size, kind)
        except BaseException:
            _remove(dest)
            raise
        self.notes.extend(archivecheck.remove_links_out(dest))
        self.extracted += 1

    # -- 7-Zip ------------------------------------------------------------------------

    def _with_7zip(self, archive: Path, dest: Path, size: int) -> None:
        cancel = self.task.cancel_event
        plan = archivecheck.plan_entries(
            sevenzip.list_entries(archive, password=self.password, cancel=cancel)
        )
        if plan.encrypted and self.password is None:
            raise sevenzip.PasswordNeeded()
        self.budget.check(plan.size, plan.files)
        self.notes.extend(plan.notes)
        dest.mkdir(mode=0o700)
        args = ["x", "-y", "-scsUTF-8", f"-o{dest}"]
        exclude = self.out / _EXCLUDE_LIST  # beside the result, never inside it
        if plan.skipped:
            exclude.write_text("\n".join(plan.skipped) + "\n", encoding="utf-8")
            args.append(f"-x@{exclude}")
        try:
            self._run_watched([*args, "--", str(archive)], dest, size)
        finally:
            exclude.unlink(missing_ok=True)
        used, entries, _files = archivecheck.tree_usage(dest)
        self.budget.charge(used, entries)
        self.budget.check(0, 0)  # what it wrote after the watch's last look

    def _percent_of(self, size: int) -> Callable[[int], None]:
        def on_percent(percent: int) -> None:
            self.task.progress(self._done + size * percent // 100, self._total)

        return on_percent

    def _run_watched(self, args: list[str], dest: Path, size: int) -> None:
        on_percent = self._percent_of(size)
        with OutputWatch(dest, self.budget, self.task.cancel_event) as watch:
            try:
                sevenzip.run(args, password=self.password, cancel=watch.stop,
                             on_percent=on_percent)
            except TaskCancelled:
                if watch.reason is not None:
                    raise LimitExceeded(f"extraction stopped: {watch.reason}") from None
                raise TaskCancelled(self.task.cancel_reason or "cancelled") from None

    # -- tar --------------------------------------------------------------------------

    def _with_tarfile(self, archive: Path, dest: Path, size: int, kind: Kind) -> None:
        if not hasattr(tarfile, "data_filter"):  # Python < 3.11.4 would extract unfiltered
            raise ProcessingError("tar archives need Python 3.11.4 or later on the bot's host")
        dest.mkdir(mode=0o700)
        cancel = self.task.cancel_event
        with _tar_stream(archive, kind, cancel) as (stream, position), _open_tar(stream) as tar:
            for member in _members(tar):
                self._tar_member(tar, member, dest)
                self.task.progress(self._done + min(position(), size), self._total)

    def _tar_member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
        skipped = archivecheck.tar_verdict(member)
        if skipped is not None:
            self.notes.append(f"skipped {skipped}: {member.name[:80]}")
            return
        self.budget.check(member.size if member.isreg() else 0, 1)
        try:
            tar.extract(member, dest, filter="data")
        except tarfile.FilterError as exc:  # the policy above should have caught it first
            raise archivecheck.refuse(member.name, str(exc)) from None
        except tarfile.TarError as exc:
            raise ProcessingError(f"the tar archive is damaged: {exc}") from None
        self.budget.charge(member.size if member.isreg() else 0, 1)


def _open_tar(stream: _CancellableReader) -> tarfile.TarFile:
    try:
        # "r|*": one pass over a stream (any compression), each member checked, then written.
        return tarfile.open(fileobj=stream, mode="r|*")  # type: ignore[call-overload]
    except tarfile.TarError as exc:
        raise ProcessingError(f"not a readable tar archive: {exc}") from None


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        yield from tar
    except tarfile.TarError as exc:
        raise ProcessingError(f"the tar archive is damaged: {exc}") from None
    except EOFError:
        raise ProcessingError("the tar archive ends too early") from None


class _CancellableReader:
    """A file wrapper whose reads raise TaskCancelled once ``cancel`` is set (tarfile reads in
    16 KiB pieces, so a cancel lands within milliseconds) and that counts what was read."""

    def __init__(self, raw: IO[bytes], cancel: threading.Event) -> None:
        self._raw, self._cancel = raw, cancel
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        if self._cancel.is_set():
            raise TaskCancelled("cancelled")
        data = self._raw.read(size)
        self.position += len(data)
        return data


@contextlib.contextmanager
def _tar_stream(
    archive: Path, kind: Kind, cancel: threading.Event
) -> Iterator[tuple[_CancellableReader, Callable[[], int]]]:
    """A cancellable stream of the tar archive (decompressed by ``zstd`` for .tar.zst) and a
    function returning how many bytes of the archive file were read."""
    if kind is not Kind.ZSTD_TAR:
        with open(archive, "rb") as raw:
            reader = _CancellableReader(raw, cancel)
            yield reader, lambda: reader.position
        return
    if shutil.which("zstd") is None:
        raise ProcessingError("zstd is not installed on the bot's host (Debian: apt install zstd)")
    with open(archive, "rb") as raw:
        # The name stays off zstd's command line: it reads the file on its standard input, and
        # the offset it reached is ours to read too (one shared open file description).
        proc = childproc.spawn(["zstd", "-dcq", "-"], stdin=raw.fileno())
        assert proc.stdout is not None
        reader = _CancellableReader(proc.stdout, cancel)
        try:
            yield reader, lambda: os.lseek(raw.fileno(), 0, os.SEEK_CUR)
        finally:
            if proc.poll() is None:
                childproc.stop_process(proc, grace=1.0)
            errors = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        if proc.returncode not in (0, None, -15):
            raise ProcessingError(f"zstd could not read the archive: {errors.strip()[:200]}")


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


