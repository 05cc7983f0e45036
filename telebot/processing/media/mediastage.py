"""The frame shared by the ffmpeg stages (``-cv``/``-ca`` conversion, ``-ff`` presets,
``-meta``): each media file of the result goes through ffmpeg, every other file passes through.

A stage is a :class:`MediaStage` with a *recipe*: given one file and what ffprobe says of it, the
recipe returns a :class:`Plan` (the output's extension and one or more ffmpeg steps) or None to
leave the file as it is. The frame

* walks the result (a file, or every regular file of a folder), probing only files whose
  extension is a media one (:data:`MEDIA_EXTENSIONS`); a file ffprobe cannot read (or refuses:
  a playlist named ``.mp4``) passes through, with a line in the done message;
* writes the same tree into the stage's ``out``: passed-through files as hard links (no byte
  copied), planned ones as ffmpeg's output, named ``<stem><ext>``; the original is dropped
  unless the spec keeps it (``-keep``, for the stages that honour it), and a converted file that
  would take an original's name gets ``.<tag>`` before its extension;
* reports progress in bytes of input: the files done plus ffmpeg's share of the current one
  (``out_time_us`` against the probed duration), and stops within a second of a cancel with
  ffmpeg reaped (:func:`~telebot.processing.media.ffjob.run_ffmpeg`).

Everything is written inside ``out`` (chained steps through ``out/.work``), so a rerun after a
restart, which gets a fresh ``out``, starts clean. ffmpeg is boxed: it reads the one input and
writes beneath ``out``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telebot import fftools
from telebot.engine.task import Task, TaskSpec
from telebot.errors import ProcessingError, TaskCancelled
from telebot.fileio.walk import regular_files
from telebot.namefit import MAX_BASE_BYTES, fit_name
from telebot.processing.media.ffjob import MediaInfo, probe, run_ffmpeg

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".flv", ".ts", ".m2ts", ".mpg", ".mpeg",
    ".wmv", ".3gp", ".ogv",
})  # fmt: skip
AUDIO_EXTENSIONS = frozenset({
    ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wav", ".wma", ".ac3", ".mka",
    ".aiff", ".ape", ".wv", ".alac",
})  # fmt: skip
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS
WORK_DIR = ".work"

#: ``step(src, output)``: the ffmpeg arguments reading ``src`` and writing ``output`` (the step
#: names its input with :func:`input_args` and its output with ``fftools.output_url``).
Step = Callable[[Path, Path], list[str]]


@dataclass(frozen=True)
class Plan:
    """What to do with one media file: the output's extension (``.mp4``) and the ffmpeg steps,
    each reading the previous step's output; ``how`` is shown on the status line ("stream
    copy", "re-encoding video") and kept in :attr:`MediaStage.done`."""

    ext: str
    steps: tuple[Step, ...]
    how: str = ""
    tag: str = "converted"
    exts: tuple[str, ...] = ()  # each step's output extension, when steps differ (-ff a,b)

    def step_ext(self, number: int) -> str:
        """The extension of step ``number``'s (from 1) output."""
        return self.exts[number - 1] if len(self.exts) >= number else self.ext


#: ``recipe(spec, file, info)``: the plan for one media file, or None to pass it through.
Recipe = Callable[[TaskSpec, Path, MediaInfo], Plan | None]


def input_args(src: Path) -> list[str]:
    """``<whitelists> -i file:<src>``: how every step names its input."""
    return [*fftools.input_options(src), "-i", fftools.input_url(src)]


@dataclass
class MediaStage:
    """A stage that runs ``recipe`` over each media file (see the module docstring)."""

    name: str
    engine: str
    recipe: Recipe
    keeps: Callable[[TaskSpec], bool] = lambda spec: False
    #: (input name, output name, how) of each file converted by the last run, for logs/tests.
    done: list[tuple[str, str, str]] = field(default_factory=list)

    def process(self, task: Task, path: Path, out: Path) -> Path:
        self.done = []
        files = [path] if path.is_file() else sorted(Path(e.path) for e in regular_files(path))
        plans: dict[Path, tuple[Plan, MediaInfo]] = {}
        for file in files:
            _check_cancel(task)
            if file.suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            info = probe(file, task.cancel_event)
            if info is None:
                task.warnings.append(f"{file.name[:80]}: not readable as media, left as it is")
                continue
            plan = self.recipe(task.spec, file, info)
            if plan is not None:
                plans[file] = (plan, info)
        total = sum(f.stat().st_size for f in plans) or 1
        task.progress(0, total)
        keep = self.keeps(task.spec)
        if path.is_file():
            if path not in plans:
                return _link(path, out / path.name)
            if not keep:
                return self._convert(task, path, plans[path], out, out, 0, total)
            root = out / fit_name(path.stem, MAX_BASE_BYTES)
        else:
            root = out / path.name
        root.mkdir()
        # Every file that stays first, so a converted file never takes the name of one.
        folders: dict[Path, Path] = {}
        for file in files:
            relative = Path(file.name) if path.is_file() else file.relative_to(path)
            folders[file] = root / relative.parent
            folders[file].mkdir(parents=True, exist_ok=True)
            if file not in plans or keep:
                _link(file, folders[file] / file.name)
        finished = 0
        for file, planned in plans.items():
            _check_cancel(task)
            self._convert(task, file, planned, folders[file], out, finished, total)
            finished += file.stat().st_size
        return root

    def _convert(
        self, task: Task, src: Path, planned: tuple[Plan, MediaInfo], folder: Path, out: Path,
        before: int, total: int,
    ) -> Path:
        """Run ``src``'s plan into ``folder`` (inside ``out``); returns the output file."""
        plan, info = planned
        size = src.stat().st_size
        target = _output_name(src, plan, folder)
        task.detail = f"{plan.how}: {src.name[:60]}" if plan.how else None
        steps: Sequence[Step] = plan.steps
        work = out / WORK_DIR
        current = src
        for number, step in enumerate(steps, start=1):
            last = number == len(steps)
            output = target if last else work / f"step{number}{plan.step_ext(number)}"
            output.parent.mkdir(parents=True, exist_ok=True)
            share = 1 / len(steps)

            def report(fraction: float, number: int = number, share: float = share) -> None:
                done = ((number - 1) + fraction) * share
                task.progress(before + int(size * done), total)

            try:
                run_ffmpeg(
                    step(current, output), reads=current, writes=out,
                    duration=info.duration, cancel=task.cancel_event, on_fraction=report,
                    what=src.name[:80],
                )
            except TaskCancelled:
                raise TaskCancelled(task.cancel_reason or "cancelled") from None
            if not output.is_file():
                raise ProcessingError(f"ffmpeg wrote nothing for {src.name[:80]}")
            if current != src:
                current.unlink(missing_ok=True)
            current = output
        self.done.append((src.name, target.name, plan.how))
        log.info("%s: %s → %s (%s)", self.name, src.name, target.name, plan.how)
        shutil.rmtree(work, ignore_errors=True)
        task.progress(before + size, total)
        return target


def _output_name(src: Path, plan: Plan, folder: Path) -> Path:
    stem = fit_name(src.stem, MAX_BASE_BYTES - len(plan.ext) - len(plan.tag) - 1)
    target = folder / f"{stem}{plan.ext}"
    if target.exists():
        target = folder / f"{stem}.{plan.tag}{plan.ext}"
    return target


def _link(src: Path, dst: Path) -> Path:
    """``dst`` as a hard link of ``src`` (a copy where the filesystem has none)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _check_cancel(task: Task) -> None:
    if task.cancel_event.is_set():
        raise TaskCancelled(task.cancel_reason or "cancelled")
