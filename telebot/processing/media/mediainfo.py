"""``/mediainfo``: what ffprobe says about a file, as one short chat message.

A link or a Telegram file is never downloaded whole: :func:`fetch_sample` reads its first
:data:`HEAD_BYTES` and, when the size is known, its last :data:`TAIL_BYTES` (an MP4 written
without ``faststart`` keeps its index, the ``moov`` atom, at the end), and lays them into a
*sparse* file of the real size: ffprobe then sees the right size, duration and bit rate while
the disk holds only the bytes fetched. What the reads cannot reach shows up as a clear
"could not read" line, never a traceback.

ffprobe runs through :mod:`telebot.fftools`: boxed to read the sample alone, with
protocol and format whitelists. A "clip.mp4" that is an HLS playlist (or a concat list...)
naming a file on the bot's disk gets one line, "not a media file ffprobe may read: it is hls
...", never a description of the file it names.
"""

from __future__ import annotations

import html
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebot import fftools
from telebot.childproc import ToolTimeout
from telebot.errors import ProcessingError
from telebot.units import format_bytes

log = logging.getLogger(__name__)

HEAD_BYTES = 5_000_000  # the "first few megabytes": headers, and the index of faststart MP4s
TAIL_BYTES = 1_000_000  # where a non-faststart MP4 keeps its index
PROBE_TIMEOUT = 60.0
MESSAGE_LIMIT = 4096  # Bot API sendMessage limit (docs/TELEGRAM.md, limits)
MAX_STREAMS = 30  # a file with more streams gets "… and N more"

# (start, length) -> (bytes, total size if the server said)
RangeReader = Callable[[int, int], "tuple[bytes, int | None]"]


@dataclass(frozen=True)
class Sample:
    path: Path
    fetched: int  # bytes really read
    size: int | None  # the whole file's size, when known


def fetch_sample(read: RangeReader, target: Path, size: int | None = None) -> Sample:
    """Write the head (and tail) of a remote file into ``target`` as a sparse file."""
    head, total = read(0, HEAD_BYTES)
    size = total or size
    tail = b""
    if size is not None and size > HEAD_BYTES + TAIL_BYTES and len(head) == HEAD_BYTES:
        tail, _ = read(size - TAIL_BYTES, TAIL_BYTES)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(fd, head, 0)
        if len(tail) == TAIL_BYTES and size is not None:
            os.pwrite(fd, tail, size - TAIL_BYTES)
        if size is not None and size > len(head):
            os.ftruncate(fd, size)  # the hole between costs no disk
    finally:
        os.close(fd)
    return Sample(target, len(head) + len(tail), size)


def probe(path: Path, cancel: threading.Event | None = None) -> dict[str, Any]:
    """ffprobe's JSON for ``path`` (format and streams); ProcessingError when it cannot read,
    :class:`~telebot.fftools.RefusedInput` (one) when the file is a format ffprobe
    may not open (a playlist or another format that opens further files)."""
    argv = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            *fftools.input_options(path), fftools.input_url(path)]  # fmt: skip
    try:
        done = fftools.run(argv, reads=path, cancel=cancel, timeout=PROBE_TIMEOUT)
    except (OSError, ToolTimeout) as exc:
        raise ProcessingError(f"ffprobe failed: {exc}") from None
    data: dict[str, Any] = {}
    if done.returncode == 0:
        try:
            data = json.loads(done.stdout)
        except ValueError:
            data = {}
    if not data.get("streams"):
        log.info("ffprobe found no streams in %s: %s", path.name, done.error_line())
        raise ProcessingError("ffprobe found no audio or video in it")
    return data


def summary(data: dict[str, Any], name: str, sample: Sample | None = None) -> str:
    """The message (HTML): container, duration, size and bit rate, then one line per stream."""
    fmt = data.get("format") or {}
    facts = [_container(fmt)]
    seconds = _float(fmt.get("duration"))
    if seconds:
        facts.append(_clock(seconds))
    size = _int(fmt.get("size")) or (sample.size if sample else None)
    if size:
        facts.append(format_bytes(size))
    rate = _int(fmt.get("bit_rate"))
    if rate:
        facts.append(_rate(rate))
    lines = [f"🎬 <b>{html.escape(name)}</b>", html.escape(" · ".join(facts))]
    streams = list(data.get("streams") or [])
    lines += [html.escape(_stream(s)) for s in streams[:MAX_STREAMS]]
    if len(streams) > MAX_STREAMS:
        lines.append(f"… and {len(streams) - MAX_STREAMS} more streams")
    if sample is not None and sample.size and sample.fetched < sample.size:
        lines.append(f"<i>read {format_bytes(sample.fetched)} of {format_bytes(sample.size)}</i>")
    text = "\n".join(lines)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


_ICONS = {"video": "🎞 Video", "audio": "🔊 Audio", "subtitle": "💬 Subtitle"}


def _stream(stream: dict[str, Any]) -> str:
    kind = str(stream.get("codec_type") or "data")
    if kind == "video" and (stream.get("disposition") or {}).get("attached_pic"):
        kind_label = "🖼 Cover"
    else:
        kind_label = _ICONS.get(kind, f"📎 {kind.capitalize()}")
    codec = str(stream.get("codec_name") or "unknown")
    if stream.get("profile") and kind == "video":
        codec += f" ({stream['profile']})"
    parts = [codec]
    if kind == "video":
        if stream.get("width") and stream.get("height"):
            parts.append(f"{stream['width']}x{stream['height']}")
        fps = _fps(stream.get("avg_frame_rate")) or _fps(stream.get("r_frame_rate"))
        if fps and not (stream.get("disposition") or {}).get("attached_pic"):
            parts.append(f"{fps:g} fps")
    elif kind == "audio":
        if stream.get("sample_rate"):
            parts.append(f"{stream['sample_rate']} Hz")
        layout = stream.get("channel_layout") or (
            f"{stream['channels']} ch" if stream.get("channels") else None)
        if layout:
            parts.append(str(layout))
    rate = _int(stream.get("bit_rate"))
    if rate:
        parts.append(_rate(rate))
    tags = stream.get("tags") or {}
    language = tags.get("language")
    if language and language != "und":
        parts.append(str(language))
    return f"{kind_label} #{stream.get('index', '?')}: " + ", ".join(parts)


def _container(fmt: dict[str, Any]) -> str:
    short = str(fmt.get("format_name") or "unknown")
    long = fmt.get("format_long_name")
    return f"{short} ({long})" if long else short


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return f"{text} ({seconds:.1f} s)"


def _rate(bits: int) -> str:
    if bits >= 1_000_000:
        return f"{bits / 1e6:.1f} Mb/s"
    return f"{bits / 1e3:.0f} kb/s"


def _fps(value: Any) -> float | None:
    try:
        num, _, den = str(value).partition("/")
        fps = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return round(fps, 3) if fps > 0 else None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number else None
