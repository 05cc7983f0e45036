"""``-ss [n]`` and ``-tl RxC``: screenshots of each video of a leech, sent before it.

A :class:`~telebot.engine.pipeline.Stage` after the rename and compress stages: it links the
result into its folder and writes, for each video, ``n`` JPEG frames evenly spaced over its
length (the middle of each of ``n`` equal slices, so neither the black first frame nor the
credits) into the extras folder (:mod:`telebot.processing.media.extras`); the Telegram sink
sends them as photo albums (``MEDIA_GROUP``) before the video. With ``-tl RxC`` the frames,
scaled to :data:`TILE_WIDTH`, become one picture of R rows and C columns (ffmpeg's ``tile``
filter) sent as one photo.

Each frame is one boxed ffmpeg run (``fftools.run``: reads the video, writes the shots folder,
no network, whitelisted demuxers) that seeks to its time and decodes a single frame: seconds
even for a long film, and a cancel stops the current run within a second. A restart that
interrupted the stage runs it again from an empty folder (the stage contract); a finished one
is recorded and never run again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from telebot import fftools
from telebot.engine.task import Task, TaskSpec
from telebot.errors import TaskCancelled
from telebot.processing.media import extras
from telebot.processing.media.shotflags import parse_grid

log = logging.getLogger(__name__)

TILE_WIDTH = 320  # -tl: each picture of the grid at most this wide (never upscaled)
SHOT_MAX_SIDE = 1920  # screenshots: at most this wide or high (Telegram shrinks photos anyway)
FRAME_TIMEOUT = 120.0  # one seek and one decoded frame
GRID_NAME = "grid.jpg"


def shot_times(duration: float, count: int) -> list[float]:
    """The middle of each of ``count`` equal slices of ``duration`` seconds."""
    return [duration * (index + 0.5) / count for index in range(count)]


class ScreenshotStage:
    """Screenshots (or one grid of them) of every video of the result."""

    name = "screenshots"
    engine = "ffmpeg"

    def __init__(self, count: int, grid: tuple[int, int] | None = None) -> None:
        self.count = grid[0] * grid[1] if grid else count
        self.grid = grid

    def process(self, task: Task, path: Path, out: Path) -> Path:
        result = extras.carry(path, out)
        videos = extras.videos_of(result)
        steps = max(1, len(videos) * (self.count + (1 if self.grid else 0)))
        done = 0
        task.progress(0, steps)
        for video in videos:
            info = extras.probe(video.path, task.cancel_event)
            if info is None:
                done += self.count + (1 if self.grid else 0)
                continue
            folder = extras.shots_folder(result, video.key)
            folder.mkdir(parents=True, exist_ok=True)
            frames = []
            for index, at in enumerate(shot_times(info.duration, self.count), start=1):
                _stop_if_cancelled(task)
                target = folder / f"{index:02d}.jpg"
                self._frame(task, video.path, at, target)
                frames.append(target)
                done += 1
                task.progress(done, steps)
            if self.grid:
                self._tile(task, frames, folder / GRID_NAME)
                for frame in frames:
                    frame.unlink()
                done += 1
                task.progress(done, steps)
        return result

    def _frame(self, task: Task, video: Path, at: float, target: Path) -> None:
        side = TILE_WIDTH if self.grid else SHOT_MAX_SIDE
        # Fit in side x side keeping the aspect ratio, never upscaled; even sizes for JPEG.
        scale = (f"scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease,"
                 "scale=trunc(iw/2)*2:trunc(ih/2)*2")
        if self.grid:  # tiles share one width so the grid's columns line up
            scale = f"scale='min({TILE_WIDTH},iw)':-2"
        argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", f"{at:.3f}",
                *fftools.input_options(video), "-i", fftools.input_url(video),
                "-map", "0:v:0", "-frames:v", "1", "-vf", scale, "-q:v", "3",
                "-f", "image2", "-update", "1", fftools.output_url(target)]  # fmt: skip
        done = fftools.run(argv, reads=video, writes=target.parent, cancel=task.cancel_event,
                           timeout=FRAME_TIMEOUT)
        extras.check(done, target, f"a screenshot of {video.name} at {at:.1f} s")

    def _tile(self, task: Task, frames: list[Path], target: Path) -> None:
        assert self.grid is not None
        rows, cols = self.grid
        inputs: list[str] = []
        for frame in frames:  # each a single JPEG the stage just wrote
            inputs += [*fftools.input_options(frame), "-i", fftools.input_url(frame)]
        links = "".join(f"[{index}:v]" for index in range(len(frames)))
        graph = f"{links}concat=n={len(frames)}:v=1:a=0,tile={cols}x{rows}"
        argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", *inputs, "-filter_complex", graph,
                "-frames:v", "1", "-q:v", "3", "-f", "image2", "-update", "1",
                fftools.output_url(target)]  # fmt: skip
        done = fftools.run(argv, reads=target.parent, writes=target.parent,
                           cancel=task.cancel_event, timeout=FRAME_TIMEOUT)
        extras.check(done, target, f"a {rows}x{cols} grid")


def _stop_if_cancelled(task: Task) -> None:
    if task.cancel_event.is_set():
        raise TaskCancelled(task.cancel_reason or "cancelled")


def screenshots_factory(spec: TaskSpec) -> ScreenshotStage | None:
    """The stage for a leech asking for screenshots (-ss or -tl), else None."""
    # A -m member's result joins its group's folder: the group's delivery makes them.
    if spec.kind != "leech" or spec.group is not None or not spec.screenshots:
        return None
    grid = parse_grid(spec.screenshot_grid) if spec.screenshot_grid else None
    return ScreenshotStage(spec.screenshots, grid)
