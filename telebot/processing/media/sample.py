"""``-sv [duration[:start]]``: a sample clip of each video of a leech, sent right after it.

A :class:`~telebot.engine.pipeline.Stage` like the screenshots (it links the result into its
folder and writes the clip into the extras folder, :mod:`telebot.processing.media.extras`).
``-sv`` alone is 60 s from the middle of the video, ``-sv 30`` 30 s from the middle, and
``-sv 30:120`` 30 s starting 120 s in; a video shorter than the clip gives the whole video, and
a start past the end gives the last ``duration`` seconds.

The clip is cut by stream copy (no re-encoding: as fast as the disk) into the video's own
container: input ``-ss`` with copy starts at the keyframe at or before the start, so the clip
is up to one keyframe interval longer than asked. Where copy fails (a container ffmpeg cannot
write back, a codec the container refuses) it is encoded again as H.264/AAC MP4. Every run is
boxed (``fftools.run``) and stops within a second on cancel.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from telebot import fftools
from telebot.engine.task import Task, TaskSpec
from telebot.errors import ProcessingError, TaskCancelled
from telebot.processing.media import extras

log = logging.getLogger(__name__)

# Containers ffmpeg writes back with stream copy, by extension (as videosplit.SPLITTABLE).
COPYABLE = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
_FASTSTART = frozenset({".mp4", ".m4v", ".mov"})


def clip_window(duration: float, length: float, start: float | None) -> tuple[float, float]:
    """(start, length) of the clip in a video of ``duration`` seconds (module docstring)."""
    length = min(length, duration)
    if start is None:
        start = (duration - length) / 2
    start = max(0.0, min(start, duration - length))
    return start, length


def sample_name(video: Path, ext: str) -> str:
    stem = video.stem.encode()[:150].decode("utf-8", "ignore") or "video"
    return f"{stem}.sample{ext}"


class SampleStage:
    """A sample clip of every video of the result."""

    name = "sample"
    engine = "ffmpeg"

    def __init__(self, seconds: float, start: float | None) -> None:
        self.seconds = seconds
        self.start = start

    def process(self, task: Task, path: Path, out: Path) -> Path:
        result = extras.carry(path, out)
        videos = extras.videos_of(result)
        task.progress(0, max(1, len(videos)))
        for done, video in enumerate(videos, start=1):
            if task.cancel_event.is_set():
                raise TaskCancelled(task.cancel_reason or "cancelled")
            info = extras.probe(video.path, task.cancel_event)
            if info is not None:
                folder = extras.sample_folder(result, video.key)
                folder.mkdir(parents=True, exist_ok=True)
                at, length = clip_window(info.duration, self.seconds, self.start)
                self._cut(task, video.path, folder, at, length)
            task.progress(done, len(videos))
        return result

    def _cut(self, task: Task, video: Path, folder: Path, at: float, length: float) -> Path:
        ext = video.suffix.lower()
        if ext in COPYABLE:
            try:
                return self._run(task, video, folder, at, length, ext, ["-c", "copy"])
            except ProcessingError as exc:
                log.info("%s: stream copy failed (%s); encoding the sample", video.name, exc)
        encode = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
                  "-c:a", "aac", "-b:a", "128k"]  # fmt: skip
        return self._run(task, video, folder, at, length, ".mp4", encode)

    def _run(
        self, task: Task, video: Path, folder: Path, at: float, length: float, ext: str,
        codec: list[str],
    ) -> Path:
        target = folder / sample_name(video, ext)
        temp = folder / f".tmp-{target.name}"  # the extras reader skips dot names
        argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", f"{at:.3f}", "-t",
                f"{length:.3f}", *fftools.input_options(video), "-i", fftools.input_url(video),
                "-map", "0:v:0", "-map", "0:a:0?", *codec, "-avoid_negative_ts", "make_zero",
                *(["-movflags", "+faststart"] if ext in _FASTSTART else []),
                "-f", _muxer(ext), fftools.output_url(temp)]  # fmt: skip
        try:
            done = fftools.run(argv, reads=video, writes=folder, cancel=task.cancel_event,
                               timeout=_timeout(length))
            extras.check(done, temp, f"a sample of {video.name}")
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target


def _muxer(ext: str) -> str:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov"}.get(ext, "mp4")


def _timeout(length: float) -> float:
    # Encoding runs at least at real time on a slow machine; copy is far faster.
    return 120.0 + 2 * length


def sample_factory(spec: TaskSpec) -> SampleStage | None:
    """The stage for a leech asking for a sample (-sv), else None."""
    # A -m member's result joins its group's folder: the group's delivery makes them.
    if spec.kind != "leech" or spec.group is not None or spec.sample_seconds <= 0:
        return None
    return SampleStage(spec.sample_seconds, spec.sample_start)
