"""``-z [password]``: the result (a file or a folder) into one zip or 7z archive, by 7-Zip.

* Relative names only: 7-Zip runs in the result's parent folder and is given the result's name,
  so the archive holds ``name/...`` and never a path of the bot's disk. Symbolic links are
  stored as links (``-snl``), never followed: a link cannot pull a file from outside the task.
* Store mode when most bytes are already compressed (:mod:`telebot.processing.storemode`), else
  the fast level.
* A password encrypts with AES-256: zip by ``-mem=AES256`` (some old unzip tools cannot open it;
  the help says so), 7z with ``-mhe=on`` so the names are hidden too. The password reaches 7-Zip
  on its standard input (``-p`` without a value), never its command line.
* With a volume size (leech: the Telegram part size, :data:`VolumeSize`) 7-Zip writes
  volumes ``name.zip.001``, ``.002``, ... each at most that size: the sink sends each whole,
  never splitting one again, and the set opens with 7-Zip from its first volume (or after
  ``cat name.zip.0* > name.zip`` with any unzip). 7-Zip cannot write zip's own split format
  (``.z01``), and its numbered volumes are the same for both formats. When everything fits
  in one volume it is renamed to plain ``name.zip``.
* Volumes are at least :data:`MIN_VOLUME` (1 MiB) and at most ``MAX_PARTS`` (999) of them, like
  the sink's parts: a smaller ``-sp`` is refused with one line before 7-Zip starts (raising it
  silently would hand the sink volumes larger than the part size it then splits again), and a
  run whose volumes pass ``MAX_PARTS`` is refused before it starts when the size tells
  (store mode: the archive is the input's size) and stopped while 7-Zip writes otherwise.
* 7-Zip is boxed (:mod:`telebot.sandbox`): it reads the input's folder and writes ``out``.

Everything is written inside the stage's ``out`` folder, 7-Zip's work folder included
(``-w``), so a failed or cancelled run leaves nothing anywhere else; its partial output is
removed before the error goes up.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from telebot import sandbox
from telebot.engine.pipeline import Stage, StageFactory
from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError, ProcessingError, TaskCancelled
from telebot.fileio.walk import entries
from telebot.processing import sevenzip
from telebot.processing.media.split import MAX_PARTS
from telebot.processing.storemode import STORE_LEVEL, choose_level
from telebot.sources.names import MAX_NAME_BYTES, fit_name
from telebot.units import format_bytes

FORMATS = ("zip", "7z")
DEFAULT_FORMAT = "zip"
# 7-Zip numbers volumes with three digits (.001) and goes on with more past 999.
_VOLUME = re.compile(r"\.(\d{3,})$")
_VOLUMES_DIR = ".volumes"  # 7-Zip writes the numbered volumes here first
_WORK_DIR = ".work"  # 7-Zip's temporary files (-w), inside ``out`` like everything else
MIN_VOLUME = 1 << 20  # -z volumes: no smaller (issue 21: -sp 10 made ~10^8 files of 10 bytes)
_WATCH_INTERVAL = 0.1  # seconds between counts of the volumes 7-Zip wrote

#: The volume size for a spec, or None for one archive: for a leech, the Telegram sink's part
#: size (``TelegramSink.part_size_for``, given by plugins.py: sinks sit above processing).
VolumeSize = Callable[[TaskSpec], int | None]


def archive_format(value: str | None) -> str:
    """``-zf`` checked: ``zip`` (the default) or ``7z``."""
    fmt = (value or DEFAULT_FORMAT).lower()
    if fmt not in FORMATS:
        raise BadInputError("-zf takes zip or 7z, e.g. -z -zf 7z.")
    return fmt


class CompressStage:
    """The ``compress`` stage (see the module docstring for what it writes)."""

    name = "compress"
    engine = "7-Zip"

    def __init__(self, volume_size: VolumeSize, max_parts: int = MAX_PARTS) -> None:
        self._volume_size = volume_size
        self._max_parts = max_parts

    def process(self, task: Task, path: Path, out: Path) -> Path:
        spec = task.spec
        fmt = archive_format(spec.compress_format)
        archive = archive_name(path.name, fmt)
        total = _size_of(path)
        task.progress(0, total)
        volume = self._volume_size(spec)
        level = choose_level(path)
        if volume:
            self._check_volumes(volume, total, level)
        password = spec.compress_password or None  # -z "" is no password
        work = out / _WORK_DIR
        work.mkdir()
        target = out / _VOLUMES_DIR / archive if volume else out / archive
        target.parent.mkdir(exist_ok=True)
        args = _arguments(fmt, level, password, volume, work)
        try:
            with _VolumeWatch(target.parent, self._max_parts, task.cancel_event) as watch:
                try:
                    # Absolute: 7-Zip runs in the input's parent; DOWNLOAD_DIR may be relative.
                    _, errors = sevenzip.run(
                        [*args, "--", str(target.absolute()), path.name],
                        password=password,
                        cancel=watch.stop,
                        on_percent=lambda percent: task.progress(total * percent // 100, total),
                        cwd=path.parent,
                        # Absolute: the box is set up in 7-Zip's working folder.
                        box=sandbox.for_stage(path.parent.absolute(), out.absolute()),
                    )
                except TaskCancelled:
                    if watch.too_many:
                        raise self._too_many(volume or 0) from None
                    raise TaskCancelled(task.cancel_reason or "cancelled") from None
            _refuse_warnings(errors)
            if volume and watch.count() > self._max_parts:  # it ended between two looks
                raise self._too_many(volume)
        except BaseException:
            _clear(out)
            raise
        shutil.rmtree(work, ignore_errors=True)
        task.progress(total, total)
        return _volumes_result(target.parent, out, archive) if volume else target


    def _check_volumes(self, volume: int, total: int, level: int) -> None:
        """Refuse volumes under :data:`MIN_VOLUME`, and more than ``max_parts`` of them when the
        size already tells (store mode writes about the input's size)."""
        if volume < MIN_VOLUME:
            raise BadInputError(
                f"volumes (-z) are at least 1 MiB, and the part size here is "
                f"{format_bytes(volume)}: refused, nothing was archived (raise -sp to 1mib or more)"
            )
        if level == STORE_LEVEL and -(-total // volume) > self._max_parts:
            raise self._too_many(volume)

    def _too_many(self, volume: int) -> BadInputError:
        return BadInputError(
            f"that would make more than {self._max_parts} volumes (-z) of {format_bytes(volume)}; "
            f"the most is {self._max_parts} (raise -sp)"
        )


class _VolumeWatch:
    """Counts the volumes 7-Zip writes into ``folder``; sets :attr:`stop` (7-Zip's cancel) past
    ``max_parts`` (:attr:`too_many`) or when ``cancel`` is set."""

    def __init__(self, folder: Path, max_parts: int, cancel: threading.Event) -> None:
        self.stop = threading.Event()
        self.too_many = False
        self._folder, self._max, self._cancel = folder, max_parts, cancel
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="compress-watch", daemon=True)

    def __enter__(self) -> _VolumeWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def count(self) -> int:
        """Volumes in the folder now."""
        try:
            return sum(1 for name in os.listdir(self._folder) if _VOLUME.search(name))
        except OSError:
            return 0

    def _run(self) -> None:
        while not self._done.wait(_WATCH_INTERVAL):
            if self._cancel.is_set():
                self.stop.set()
                return
            if self.count() > self._max:
                self.too_many = True
                self.stop.set()
                return


def _size_of(path: Path) -> int:
    """Bytes to archive. Refuses fifos, sockets and devices: 7-Zip would open a fifo and wait
    for a writer for ever, deaf to SIGTERM (seen with 7-Zip 26.02)."""
    if not path.is_dir():
        return path.stat().st_size
    size = 0
    for entry in entries(path):
        if entry.is_file(follow_symlinks=False):
            size += entry.stat(follow_symlinks=False).st_size
        elif not entry.is_dir(follow_symlinks=False) and not entry.is_symlink():
            name = Path(entry.path).relative_to(path.parent)
            raise ProcessingError(f"cannot archive {name}: not a file or folder")
    return size


def _arguments(
    fmt: str, level: int, password: str | None, volume: int | None, work: Path
) -> list[str]:
    args = ["a", f"-t{fmt}", f"-mx={level}", "-snl", f"-w{work.absolute()}", "-y"]
    if fmt == "zip":
        args.append("-mcu=on")  # names in UTF-8, flagged so, whatever the locale
    if password:
        args += ["-p", "-mem=AES256"] if fmt == "zip" else ["-p", "-mhe=on"]
    if volume:
        args.append(f"-v{volume}b")
    return args


def archive_name(name: str, fmt: str) -> str:
    """``name.zip``; the name is trimmed so that ``name.zip.001`` still fits NAME_MAX."""
    suffix = f".{fmt}"
    room = MAX_NAME_BYTES - len(suffix) - len(".0000")  # volume numbers past 999 grow a digit
    return fit_name(name, room) + suffix


def _refuse_warnings(errors: list[str]) -> None:
    """7-Zip exits 1 when it skipped a file it could not read: the archive would be silently
    incomplete, so that is a failure here."""
    problems = [line for line in errors if "WARNING" in line.upper() or "ERROR" in line.upper()]
    if problems:
        raise ProcessingError(f"7-Zip could not archive everything: {problems[-1][:300]}")


def _volumes_result(folder: Path, out: Path, archive: str) -> Path:
    """One volume becomes ``out/name.zip``; several become the folder ``out/name.zip/``."""
    volumes = sorted(p for p in folder.iterdir() if _VOLUME.search(p.name))
    if not volumes:
        raise ProcessingError("7-Zip wrote no archive")
    if len(volumes) == 1:
        single = volumes[0].rename(out / archive)
        folder.rmdir()
        return single
    return folder.rename(out / archive)


def _clear(out: Path) -> None:
    """Remove what the failed run wrote (the manager removes ``out`` too; a caller that is not
    the manager gets the same promise)."""
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def compress_factory(volume_size: VolumeSize) -> StageFactory:
    """The compress stage for specs with ``-z``."""
    stage = CompressStage(volume_size)

    def factory(spec: TaskSpec) -> Stage | None:
        return stage if spec.compress else None

    return factory
