"""The one way the bot runs ffmpeg and ffprobe on a file it was given: boxed, and told to read
that file and nothing else.

A file from a link, a torrent or an archive is untrusted bytes, whatever its name says. Left to
probe, ffmpeg picks the demuxer by content, and some demuxers open *further* inputs named
inside the file: ``hls`` and ``dash`` (playlists: each segment line is a URL or a local path),
``concat``/``ffconcat`` (a list of files), ``imf`` (an asset map), ``image2`` (with ``%d`` in
the name, a sequence of other files; allowed only for picture names, as one file) ... A
200-byte "clip.mp4" that is really ``#EXTM3U`` naming ``/srv/downloads/<another
task>/film.mp4`` made ffprobe describe, and ffmpeg cut and thumbnail, that private file. So
every input gets (:func:`input_options`):

* ``-protocol_whitelist file,pipe``: no network protocol and no nested one (``concat:``,
  ``subfile``, ``crypto``, ``data``, ``http`` ...), also for whatever a demuxer opens;
* ``-format_whitelist`` of :data:`INPUT_FORMATS`: container and raw-stream demuxers that read
  only the one input they are given. Probing still picks the demuxer by content; when it picks
  one outside the list ffmpeg stops with "Format not on whitelist" before reading anything
  else, and :func:`run` raises :class:`RefusedInput` naming the format;
* the input as ``file:<absolute path>``: a file name can never be taken for a protocol.

And every run goes through :func:`telebot.childproc.run_tool` with a :class:`~telebot.sandbox.Box`
that may read the input and write only the output folder: the whitelist is the in-code layer,
the box the wall behind it when a demuxer on the list turns out to open something after all.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from telebot.childproc import ToolResult, run_tool, spawn
from telebot.errors import ProcessingError
from telebot.sandbox import Box

# Demuxers that read only their own input. Names as ffmpeg lists them (``ffmpeg -demuxers``);
# ffmpeg matches a demuxer whose name is a list ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
# when any one of its names is here. Not here on purpose: hls, dash, concat, imf,
# webm_dash_manifest, vobsub (opens the .sub beside an .idx), image2 (see the module
# docstring), and devices such as lavfi. Each one added is more parser for untrusted bytes:
# add what users really leech, not everything ffmpeg knows.
INPUT_FORMATS: tuple[str, ...] = (
    # containers
    "mov", "matroska", "avi", "flv", "mpegts", "mpeg", "asf", "ogg", "nut", "rm", "mxf", "dv",
    "ivf",
    # audio
    "mp3", "aac", "loas", "flac", "wav", "w64", "aiff", "au", "caf", "ac3", "eac3", "dts",
    "truehd", "mlp", "amr", "ape", "wv", "tta", "tak", "mpc", "mpc8", "dsf",
    # raw video streams
    "h264", "hevc", "m4v", "mpegvideo", "mjpeg",
    # single pictures (covers, /mediainfo of an image): the piped demuxers read one stream
    "jpeg_pipe", "png_pipe", "webp_pipe", "bmp_pipe", "gif", "gif_pipe",
)  # fmt: skip
PROTOCOLS = "file,pipe"
# Names image2 is allowed for (see input_options).
PICTURES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

# ffmpeg's words when a whitelist stops it, e.g. "[hls @ 0x55c0...] Format not on whitelist
# 'mov,...'" and "[concat @ 0x...] Protocol 'concat' not on whitelist 'file,pipe'!".
_FORMAT_REFUSED = re.compile(r"\[([\w,]+) @ 0x[0-9a-fA-F]+\] Format not on whitelist")
_PROTOCOL_REFUSED = re.compile(r"Protocol '([\w+.-]*)' not on whitelist")


class RefusedInput(ProcessingError):
    """ffmpeg/ffprobe found the input to be a format the bot never lets it open (a playlist or
    another format that reads further files); :attr:`what` names the format or protocol."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"not a media file ffprobe may read: it is {what} "
            "(playlists and other formats that open further files are refused)"
        )
        self.what = what


def input_url(path: Path) -> str:
    """``file:<absolute path>``: read as a plain file even when its name has a colon."""
    return "file:" + os.path.abspath(path)


def input_options(path: Path | str, extra_formats: Sequence[str] = ()) -> list[str]:
    """The options that must come before the ``-i`` (ffmpeg) or the input (ffprobe) of
    ``path``: the protocol and format whitelists (:data:`INPUT_FORMATS` plus
    ``extra_formats``).

    A file named like a picture may also be opened with ``image2`` (a photo as
    ``photos/file_1.jpg`` from a local Bot API server probes as image2, not jpeg_pipe), with
    ``-pattern_type none`` so that it reads exactly that file and never a ``%d`` sequence.
    image2 probes by name alone, so it can only be picked for such a name; ffmpeg (not
    ffprobe) refuses the option for another demuxer, so a "picture" that is a video fails.
    """
    formats = [*INPUT_FORMATS, *extra_formats]
    picture = []
    if os.path.splitext(str(path))[1].lower() in PICTURES:
        formats.append("image2")
        picture = ["-pattern_type", "none"]
    return ["-protocol_whitelist", PROTOCOLS, *picture, "-format_whitelist", ",".join(formats)]


def output_url(path: Path) -> str:
    """``file:<absolute path>`` for an output, for the same reason as :func:`input_url`."""
    return "file:" + os.path.abspath(path)


def refusal(stderr: str) -> str | None:
    """What a whitelist refused, from the tool's stderr ("hls", "protocol concat"), or None."""
    found = _FORMAT_REFUSED.search(stderr)
    if found:
        return found.group(1)
    found = _PROTOCOL_REFUSED.search(stderr)
    if found:
        return f"protocol {found.group(1)}"
    return None


def run(
    argv: Sequence[str],
    *,
    reads: Path,
    writes: Path | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> ToolResult:
    """Run ffmpeg/ffprobe ``argv`` in a box that may read ``reads`` (the input file) and read
    and write beneath ``writes`` (the output folder; None: nothing).

    ``argv`` must already carry :func:`input_options` and :func:`input_url` for its input.
    Returns the result whatever the exit status, except that a whitelist refusal raises
    :class:`RefusedInput`. Raises like :func:`~telebot.childproc.run_tool` (``OSError``,
    :class:`~telebot.childproc.ToolTimeout`, :class:`~telebot.errors.TaskCancelled`).
    """
    box = Box(readable=(reads,), writable=(writes,) if writes is not None else ())
    done = run_tool(argv, cancel=cancel, timeout=timeout, box=box)
    if done.returncode != 0:
        what = refusal(done.stderr.decode("utf-8", "replace"))
        if what is not None:
            raise RefusedInput(what)
    return done


def box_for(reads: Path, writes: Path | None) -> Box:
    """The box of one ffmpeg/ffprobe run: read ``reads``, read and write beneath ``writes``."""
    return Box(readable=(reads,), writable=(writes,) if writes is not None else ())


def start(argv: Sequence[str], *, reads: Path, writes: Path) -> subprocess.Popen[bytes]:
    """Start a long ffmpeg run boxed like :func:`run` (stdout and stderr piped): for a caller
    that reads its ``-progress pipe:1`` output while it runs, and waits with
    :func:`telebot.childproc.wait` (which stops it on cancel). ``argv`` must carry
    :func:`input_options` and :func:`input_url` for its input."""
    return spawn(argv, box=box_for(reads, writes))
