"""What the leech media stages (``-ss``/``-tl`` screenshots, ``-sv`` sample) hand the Telegram
sink beside the result: files in a hidden folder next to it, keyed by each video's place in
the result.

A stage's output is ``out/<result>`` (the sink delivers that name) plus ``out/.telebot-extras/``::

    .telebot-extras/shots/<key>/01.jpg ... (or grid.jpg)   screenshots of the video <key>
    .telebot-extras/sample/<key>/<name>.sample.mp4          its sample clip

``<key>`` is the video's path inside the result (its name when the result is one file). Sources
never give a result a name starting with a dot (``names.sanitize_filename``), so the folder
cannot clash with a result. Each stage links the result and any extras an earlier stage made
into its own folder (:func:`carry`): hard links, no byte copied, and a stage never writes
outside its folder. These stages come last in ``plugins.STAGES``: a later stage would not carry
the extras over.

Also here: the one boxed ffprobe of a video's length and size both stages use (cancel lands
within a second: ``childproc.run_tool``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from telebot import fftools
from telebot.childproc import ToolResult, ToolTimeout
from telebot.errors import ProcessingError
from telebot.fftools import RefusedInput
from telebot.fileio.walk import regular_files
from telebot.processing.rename import NO_HARD_LINKS

log = logging.getLogger(__name__)

EXTRAS = ".telebot-extras"
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".webm", ".m4v", ".avi"})
PROBE_TIMEOUT = 120.0  # ffprobe reads headers only


@dataclass(frozen=True)
class Video:
    """A video of the result: its key (path inside the result), file, length and size."""

    key: str
    path: Path


@dataclass(frozen=True)
class VideoInfo:
    duration: float  # seconds
    width: int
    height: int


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        shutil.copy2(src, dst)


def _link_tree(src: Path, dst: Path) -> None:
    if not src.is_dir():
        _link(src, dst)
        return
    dst.mkdir(parents=True, exist_ok=True)
    for entry in regular_files(src):
        file = Path(entry.path)
        _link(file, dst / file.relative_to(src))


def carry(path: Path, out: Path) -> Path:
    """Link the result ``path`` and the extras beside it into ``out``; returns the new
    result (``out/<name>``)."""
    result = out / path.name
    _link_tree(path, result)
    earlier = path.parent / EXTRAS
    if earlier.is_dir():
        _link_tree(earlier, out / EXTRAS)
    return result


def videos_of(result: Path) -> list[Video]:
    """The videos of ``result`` (by extension), in a stable order."""
    if not result.is_dir():
        return [Video(result.name, result)] if _is_video(result) else []
    files = sorted(Path(entry.path) for entry in regular_files(result))
    return [Video(f.relative_to(result).as_posix(), f) for f in files if _is_video(f)]


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def key_of(result: Path, file: Path) -> str:
    """The key of ``file`` delivered as part of ``result`` (what :func:`videos_of` gave)."""
    return file.name if file == result else file.relative_to(result).as_posix()


def shots_folder(result: Path, key: str) -> Path:
    return result.parent / EXTRAS / "shots" / key


def sample_folder(result: Path, key: str) -> Path:
    return result.parent / EXTRAS / "sample" / key


def shots_of(result: Path, file: Path) -> list[Path]:
    """The screenshots a stage made of ``file`` (a grid is one picture), in order."""
    folder = shots_folder(result, key_of(result, file))
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".jpg" and p.is_file())


def sample_of(result: Path, file: Path) -> Path | None:
    folder = sample_folder(result, key_of(result, file))
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return found[0] if found else None


def probe(video: Path, cancel: threading.Event | None) -> VideoInfo | None:
    """Length and size of the first video stream, boxed; None (logged) when ffprobe cannot
    tell (not a video, refused as a playlist, ...). Raises TaskCancelled on cancel."""
    argv = ["ffprobe", "-v", "error", "-print_format", "json", "-show_entries",
            "format=duration:stream=codec_type,width,height",
            *fftools.input_options(video), fftools.input_url(video)]  # fmt: skip
    try:
        done = fftools.run(argv, reads=video, cancel=cancel, timeout=PROBE_TIMEOUT)
    except (RefusedInput, OSError, ToolTimeout) as exc:
        log.warning("%s: no screenshots or sample (%s)", video.name, exc)
        return None
    try:
        data = json.loads(done.stdout or b"{}")
        stream = next(s for s in data.get("streams", ()) if s.get("codec_type") == "video")
        duration = float(data.get("format", {}).get("duration") or 0)
        info = VideoInfo(duration, int(stream["width"]), int(stream["height"]))
    except (ValueError, KeyError, StopIteration, TypeError):
        log.info("%s: ffprobe found no video (%s)", video.name, done.error_line()[:200])
        return None
    return info if info.duration > 0 else None


def check(done: ToolResult, target: Path, what: str) -> None:
    """Raise ProcessingError when ffmpeg did not write ``target``."""
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        raise ProcessingError(f"ffmpeg could not make {what}: {done.error_line()[:200]}")
