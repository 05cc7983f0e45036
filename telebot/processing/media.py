"""Video metadata for uploads: ffprobe for duration and size, ffmpeg for a thumbnail.

Used by the Telegram sink when a file goes as a video (``sendVideo``): without ``duration``,
``width`` and ``height`` Telegram shows a 0:00 square, and without ``supports_streaming`` it
cannot play before the whole file is there. Metadata is a nicety: every failure here is logged
and yields no metadata, never a failed upload.

Commands are argument lists (no shell); the only input is a path inside the task folder.
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Bot API sendVideo: "The thumbnail should be in JPEG format and less than 200 kB in size.
# A thumbnail's width and height should not exceed 320."
THUMB_MAX_SIDE = 320
THUMB_MAX_BYTES = 200_000
# ffprobe reads headers only, ffmpeg decodes one frame: seconds even for huge files.
TOOL_TIMEOUT = 60.0
# JPEG qualities to try (ffmpeg -q:v, 2 best .. 31 worst) until the thumbnail fits.
_QUALITIES = (4, 10, 20, 31)


@dataclass(frozen=True)
class VideoInfo:
    duration: int  # whole seconds, as sendVideo wants
    width: int
    height: int


def probe_video(path: Path) -> VideoInfo | None:
    """Duration and size of the first video stream, or None when ffprobe finds none."""
    out = _run(
        "ffprobe", "-v", "error", "-print_format", "json",
        "-show_entries", "format=duration:stream=codec_type,width,height", str(path),
    )  # fmt: skip
    if out is None:
        return None
    try:
        data = json.loads(out)
        video = next(s for s in data.get("streams", ()) if s.get("codec_type") == "video")
        return VideoInfo(
            duration=round(float(data.get("format", {}).get("duration") or 0)),
            width=int(video["width"]),
            height=int(video["height"]),
        )
    except (ValueError, KeyError, StopIteration, TypeError):
        return None


def make_thumbnail(path: Path, out: Path, duration: int) -> Path | None:
    """A JPEG frame from a tenth into the video, at most 320 px a side and under 200 kB."""
    at = f"{duration / 10:.2f}"
    # Fit inside 320x320 keeping the aspect ratio; never upscale.
    scale = (
        f"scale='min({THUMB_MAX_SIDE},iw)':'min({THUMB_MAX_SIDE},ih)'"
        ":force_original_aspect_ratio=decrease"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    for quality in _QUALITIES:
        done = _run(
            "ffmpeg", "-v", "error", "-y", "-ss", at, "-i", str(path), "-frames:v", "1",
            "-vf", scale, "-q:v", str(quality), "-f", "image2", str(out),
        )  # fmt: skip
        if done is None or not out.is_file():
            return None
        if out.stat().st_size < THUMB_MAX_BYTES:
            return out
    out.unlink(missing_ok=True)
    return None


def video_fields(path: Path, thumb_dir: Path) -> dict[str, Any]:
    """The extra ``sendVideo`` fields for ``path``; empty when it is no readable video."""
    info = probe_video(path)
    if info is None:
        return {}
    fields: dict[str, Any] = {
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "supports_streaming": True,
    }
    thumb = make_thumbnail(path, thumb_dir / f"{path.stem[:100]}.jpg", info.duration)
    if thumb is not None:
        fields["thumbnail"] = thumb
    return fields


def _run(*argv: str) -> str | None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("%s failed: %s", argv[0], exc)
        return None
    if done.returncode != 0:
        log.info("%s exited %d: %s", argv[0], done.returncode, done.stderr.strip()[:200])
        return None
    return done.stdout
