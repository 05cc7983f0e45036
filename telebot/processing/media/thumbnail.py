"""A custom thumbnail (the /usetting one, or ``-t``'s photo for one task) made safe to send.

The bytes come from Telegram (a photo a user sent), so they are checked like any other
untrusted media: :func:`prepare_thumbnail` asks the boxed ffprobe (:mod:`telebot.fftools`)
whether they are one picture (JPEG, PNG, WebP, BMP), and keeps them as they are when they
already fit the Bot API's thumbnail rules (JPEG, at most 320 px a side, under 200 kB); any
other picture is scaled down and re-encoded to JPEG by the boxed ffmpeg. Anything that is no
picture gives None: the upload then goes without a custom thumbnail.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from telebot import fftools
from telebot.childproc import ToolTimeout
from telebot.fftools import RefusedInput

log = logging.getLogger(__name__)

MAX_SIDE = 320
MAX_BYTES = 200_000
MAX_INPUT_BYTES = 10_000_000  # a Telegram photo is a few MB at most
PICTURE_CODECS = frozenset({"mjpeg", "png", "webp", "bmp"})
TIMEOUT = 60.0
_QUALITIES = (3, 8, 16, 31)


def prepare_thumbnail(raw: Path, dest: Path) -> Path | None:
    """``raw`` checked and made into ``dest``; None when it is no picture. ``raw`` is consumed
    (moved or removed). Name it without a picture extension (``raw.bin``): the demuxer is then
    chosen by content among the single-picture ones (``jpeg_pipe``, ``png_pipe``, ...), never
    ``image2``, whose ``-pattern_type`` option ffmpeg refuses for a PNG named ``.jpg``."""
    try:
        size = raw.stat().st_size
        picture = _probe(raw) if 0 < size <= MAX_INPUT_BYTES else None
        if picture is None:
            log.warning("the custom thumbnail is not a picture; uploading without it")
            return None
        codec, width, height = picture
        if codec == "mjpeg" and max(width, height) <= MAX_SIDE and size < MAX_BYTES:
            os.replace(raw, dest)
            return dest
        return _scaled(raw, dest)
    finally:
        raw.unlink(missing_ok=True)


def _probe(raw: Path) -> tuple[str, int, int] | None:
    argv = ["ffprobe", "-v", "error", "-print_format", "json", "-show_entries",
            "stream=codec_type,codec_name,width,height:format=nb_streams",
            *fftools.input_options(raw), fftools.input_url(raw)]  # fmt: skip
    try:
        done = fftools.run(argv, reads=raw, timeout=TIMEOUT)
        data = json.loads(done.stdout or b"{}") if done.returncode == 0 else {}
        streams = data.get("streams") or []
        if len(streams) != 1:
            return None
        stream = streams[0]
        if stream.get("codec_type") != "video" or stream.get("codec_name") not in PICTURE_CODECS:
            return None
        width, height = int(stream["width"]), int(stream["height"])
        if width <= 0 or height <= 0:  # a JPEG marker and junk: no picture to decode
            return None
        return str(stream["codec_name"]), width, height
    except (RefusedInput, OSError, ToolTimeout, ValueError, KeyError, TypeError) as exc:
        log.info("thumbnail probe failed: %s", exc)
        return None


def _scaled(raw: Path, dest: Path) -> Path | None:
    """``raw`` fitted into 320x320 (aspect kept, never enlarged) as a JPEG under 200 kB."""
    scale = (f"scale='min({MAX_SIDE},iw)':'min({MAX_SIDE},ih)'"
             ":force_original_aspect_ratio=decrease")
    for quality in _QUALITIES:
        argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", *fftools.input_options(raw),
                "-i", fftools.input_url(raw), "-map", "0:v:0", "-frames:v", "1", "-vf", scale,
                "-q:v", str(quality), "-f", "image2", "-update", "1",
                fftools.output_url(dest)]  # fmt: skip
        try:
            done = fftools.run(argv, reads=raw, writes=dest.parent, timeout=TIMEOUT)
        except (RefusedInput, OSError, ToolTimeout) as exc:
            log.info("thumbnail scaling failed: %s", exc)
            return None
        if done.returncode != 0 or not dest.is_file():
            log.info("thumbnail scaling failed: %s", done.error_line())
            return None
        if dest.stat().st_size < MAX_BYTES:
            return dest
    dest.unlink(missing_ok=True)
    return None
