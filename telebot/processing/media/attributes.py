"""Media metadata for uploads: ffprobe for duration, size and tags, ffmpeg for a thumbnail.

Used by the Telegram sink (:func:`media_fields`):

* a video sent as a video (``sendVideo``, every part of a keyframe split included): without
  ``duration``, ``width`` and ``height`` Telegram shows a 0:00 square, and without
  ``supports_streaming`` it cannot play before the whole file is there; plus a thumbnail;
* a video sent as a document: the thumbnail (``sendDocument`` takes no duration or size);
* audio sent as audio (``sendAudio``): ``duration``, ``title`` and ``performer`` from the
  file's tags, and its cover picture as the thumbnail when it has one.

Metadata is a nicety: every failure here is logged and yields no metadata, never a failed upload.

Commands are argument lists (no shell); the only input is a path inside the task folder, read
through :mod:`telebot.fftools` (boxed, with protocol and format whitelists): a file
that is really a playlist or another format that opens further files is refused, and
:func:`media_fields` then says to send it as a plain document (None).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebot import fftools
from telebot.childproc import ToolTimeout
from telebot.fftools import RefusedInput

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
    """Duration and size of the first video stream, or None when ffprobe finds none.
    Raises :class:`RefusedInput` when the file is a format ffprobe may not open."""
    out = _probe(path, "format=duration:stream=codec_type,width,height")
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
    """A JPEG frame from a tenth into the video, at most 320 px a side and under 200 kB.
    Raises :class:`RefusedInput` like :func:`probe_video`."""
    return _frame(path, out, f"{duration / 10:.2f}")


def _frame(path: Path, out: Path, at: str | None) -> Path | None:
    """The first video frame from ``at`` seconds (None: the start, e.g. an audio file's cover
    picture) as a JPEG that fits Telegram's thumbnail limits, or None."""
    # Fit inside 320x320 keeping the aspect ratio; never upscale.
    scale = (
        f"scale='min({THUMB_MAX_SIDE},iw)':'min({THUMB_MAX_SIDE},ih)'"
        ":force_original_aspect_ratio=decrease"
    )
    seek = ["-ss", at] if at is not None else []
    out.parent.mkdir(parents=True, exist_ok=True)
    for quality in _QUALITIES:
        # -update 1: one picture under exactly this name (a video called "a%d.mp4" gives
        # "a%d.jpg", which image2 would otherwise take for a numbered sequence).
        done = _run(
            ["ffmpeg", "-v", "error", "-nostdin", "-y", *seek, *fftools.input_options(path),
             "-i", fftools.input_url(path), "-map", "0:v:0", "-frames:v", "1", "-vf", scale,
             "-q:v", str(quality), "-f", "image2", "-update", "1", fftools.output_url(out)],
            path, out.parent,
        )  # fmt: skip
        if done is None or not out.is_file():
            return None
        if out.stat().st_size < THUMB_MAX_BYTES:
            return out
    out.unlink(missing_ok=True)
    return None


def video_fields(path: Path, thumb_dir: Path) -> dict[str, Any]:
    """The extra ``sendVideo`` fields for ``path``; empty when it is no readable video.
    Raises :class:`RefusedInput` when it is a format ffmpeg may not open."""
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


@dataclass(frozen=True)
class AudioInfo:
    duration: int
    title: str | None
    performer: str | None
    has_cover: bool


# Bot API sendAudio: title and performer are free text; Telegram shows about a line of each.
TAG_LIMIT = 256


def probe_audio(path: Path) -> AudioInfo | None:
    """Duration, title and performer (from the container's or the audio stream's tags: MP3
    keeps them in the container, Ogg/Opus in the stream), or None when ffprobe finds no audio.
    Raises :class:`RefusedInput` when the file is a format ffprobe may not open."""
    out = _probe(
        path,
        "format=duration:format_tags:stream=codec_type:stream_tags:stream_disposition=attached_pic",
    )
    try:
        data = json.loads(out or "")
        streams = data.get("streams", ())
        audio = next(s for s in streams if s.get("codec_type") == "audio")
        tags = {k.lower(): str(v) for k, v in (audio.get("tags") or {}).items()}
        tags.update({k.lower(): str(v) for k, v in (data["format"].get("tags") or {}).items()})
        cover = any((s.get("disposition") or {}).get("attached_pic") for s in streams)
        return AudioInfo(
            duration=round(float(data["format"].get("duration") or 0)),
            title=_tag(tags, "title"),
            performer=_tag(tags, "artist", "album_artist", "performer"),
            has_cover=bool(cover),
        )
    except (ValueError, KeyError, StopIteration, TypeError, AttributeError):
        return None


def _tag(tags: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = tags.get(name, "").strip()
        if value:
            return value[:TAG_LIMIT]
    return None


def audio_fields(path: Path, thumb_dir: Path) -> dict[str, Any]:
    """The extra ``sendAudio`` fields for ``path``; empty when it is no readable audio.
    Raises :class:`RefusedInput` when it is a format ffmpeg may not open."""
    info = probe_audio(path)
    if info is None:
        return {}
    fields: dict[str, Any] = {"duration": info.duration}
    if info.title:
        fields["title"] = info.title
    if info.performer:
        fields["performer"] = info.performer
    if info.has_cover:
        thumb = _frame(path, thumb_dir / f"{path.stem[:100]}.jpg", None)
        if thumb is not None:
            fields["thumbnail"] = thumb
    return fields


def media_fields(
    path: Path, field: str, thumb_dir: Path, *, video: bool
) -> dict[str, Any] | None:
    """The extra fields for sending ``path`` as ``field`` (the Bot API's file parameter:
    video, audio, document, ...); ``video`` says the file looks like a video.

    None when ffmpeg refused the file (a playlist or another format that opens further files,
    whatever its name says): send it as a plain document, without fields. Never raises for
    what the tools say about the file: metadata is a nicety.
    """
    try:
        if field == "video":
            return video_fields(path, thumb_dir)
        if field == "audio":
            return audio_fields(path, thumb_dir)
        if field == "document" and video:
            thumb = video_fields(path, thumb_dir).get("thumbnail")
            return {"thumbnail": thumb} if thumb is not None else {}
    except RefusedInput as exc:
        log.warning("%s: %s", path.name, exc)
        return None
    return {}


def _probe(path: Path, entries: str) -> str | None:
    return _run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_entries", entries,
         *fftools.input_options(path), fftools.input_url(path)],
        path, None,
    )  # fmt: skip


def _run(argv: list[str], reads: Path, writes: Path | None) -> str | None:
    """The tool's stdout, or None (logged) when it failed; raises :class:`RefusedInput`."""
    try:
        done = fftools.run(argv, reads=reads, writes=writes, timeout=TOOL_TIMEOUT)
    except (OSError, ToolTimeout) as exc:
        log.info("%s failed: %s", argv[0], exc)
        return None
    if done.returncode != 0:
        log.info("%s exited %d: %s", argv[0], done.returncode, done.error_line()[:200])
        return None
    return done.stdout.decode("utf-8", "replace")
