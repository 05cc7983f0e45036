"""yt-dlp's own ffmpeg runs (merge, audio extraction, fixups, embedding) read only their inputs,
boxed.

yt-dlp's postprocessors run ffmpeg on what the site sent: the formats to merge, the file to
fix up or tag, subtitles, thumbnails. Left to probe, a "video" that is an HLS playlist naming
``/srv/downloads/<another task>/film.mp4`` makes the merger or the metadata step copy that
file into the result, which is then uploaded (the attack of #21, through /ytdl). So, for the
guarded ``YoutubeDL`` instances only (those that carry ``telebot_guard``),
:func:`fence_postprocessor_inputs` wraps ``FFmpegPostProcessor.real_run_ffmpeg``, where every
postprocessor's ffmpeg command is built, and puts before each input:

* ``-protocol_whitelist file,pipe`` (yt-dlp already names inputs ``file:<path>``);
* unless yt-dlp chose the demuxer itself (``-f`` among the input's options: its own concat
  list, thumbnails as ``image2 -pattern_type none``), the ``-format_whitelist`` of
  :data:`telebot.fftools.INPUT_FORMATS` plus what yt-dlp feeds ffmpeg besides
  media: subtitles (webvtt, srt, ass) and its ``;FFMETADATA1`` chapter file (and, as for
  every input, ``image2`` with ``-pattern_type none`` for a picture's name).

And the run itself is boxed (:func:`run_boxed`): read the inputs, write the outputs' folder,
no network, none of the bot's environment.

A refused input makes the postprocessor fail; ffmpeg's last line then only says "Invalid
argument", so :func:`refusal_of` asks ffprobe (boxed, same whitelists) which input was refused
and the error names it: "clip.mp4: not a media file ffprobe may read: it is hls (...)". The
task fails with that one line; nothing of another file is read.

yt-dlp's own ffprobe calls (``get_audio_codec``, ``get_metadata_object``: codec names, stream
numbers, durations it uses to choose options) go the same way (:func:`probe_boxed`): their
answers stay inside yt-dlp, but through hls an unfenced ffprobe would still open, and parse,
other files on the bot's disk. (ffmpeg 5.1 lets a playlist read from a file name only file,
crypto and data URLs, so no network fetch was seen here; the box forbids it anyway.)

Checked against yt-dlp 2026.11 (``postprocessor/ffmpeg.py``: ``real_run_ffmpeg`` takes
``[(path, opts), ...]`` for inputs and outputs).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telebot import fftools
from telebot.childproc import ToolTimeout, run_tool
from telebot.sandbox import Box

# What yt-dlp's postprocessors read besides media: subtitle files and the chapter metadata it
# writes itself. Each of these demuxers reads only its own input.
YTDLP_EXTRA_FORMATS = ("webvtt", "srt", "ass", "ffmetadata")


def input_options(path: str, opts: Sequence[str]) -> list[str]:
    """The options for one input of a postprocessor's ffmpeg run: ours, then yt-dlp's."""
    if "-f" in opts:  # the demuxer is fixed by yt-dlp, not picked by the file's content
        return ["-protocol_whitelist", fftools.PROTOCOLS, *opts]
    return [*fftools.input_options(path, YTDLP_EXTRA_FORMATS), *opts]


def refusal_of(path: str) -> str | None:
    """Why the whitelists refuse ``path`` as a postprocessor input (the :class:`RefusedInput`
    message), or None when they do not (or ffprobe cannot tell)."""
    argv = ["ffprobe", "-v", "error", *input_options(path, []), fftools.input_url(Path(path))]
    try:
        fftools.run(argv, reads=Path(path), timeout=60.0)
    except fftools.RefusedInput as exc:
        return str(exc)
    except (OSError, ToolTimeout):
        return None
    return None


def run_boxed(
    pp: Any,
    input_path_opts: Sequence[tuple[str | None, Sequence[str]]],
    output_path_opts: Sequence[tuple[str | None, Sequence[str]]],
    *,
    expected_retcodes: int | Sequence[int] = (0,),
) -> str:
    """yt-dlp's ``real_run_ffmpeg`` (2026.11) with the child started by
    :func:`telebot.childproc.run_tool` in a box: read the inputs, read and write the outputs'
    folders (the task's media folder; inputs lie there too), no network, the bot's environment
    left out. Same command line, same return value (ffmpeg's stderr) and same error
    (``FFmpegPostProcessorError`` with its last line); the output files get the oldest input's
    times, as yt-dlp does."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessorError
    from yt_dlp.utils import encodeArgument, variadic

    pp.check_version()
    inputs = [(str(path), list(opts)) for path, opts in input_path_opts if path]
    outputs = [(str(path), list(opts)) for path, opts in output_path_opts if path]
    oldest = min(os.stat(path).st_mtime for path, _ in inputs)
    cmd = [pp.executable, "-y"]
    if pp.basename == "ffmpeg":
        cmd += ["-loglevel", "repeat+info"]

    def make_args(file: str, args: list[str], name: str, number: int) -> list[str]:
        # As yt-dlp does: faststart for outputs, then the user's postprocessor_args (none
        # here: refused by ytdl_options), then -i for inputs.
        keys = [f"_{name}{number}", f"_{name}"]
        if name == "o":
            args += ["-movflags", "+faststart"]
            if number == 1:
                keys.append("")
        args += pp._configuration_args(pp.basename, keys)
        if name == "i":
            args.append("-i")
        return [encodeArgument(a) for a in args] + [pp._ffmpeg_filename_argument(file)]

    for kind, items in (("i", inputs), ("o", outputs)):
        for number, (path, opts) in enumerate(items, start=1):
            cmd += make_args(path, opts, kind, number)
    box = Box(
        readable=tuple(Path(path) for path, _ in inputs),
        writable=tuple(dict.fromkeys(Path(path).parent for path, _ in outputs)),
    )
    try:
        done = run_tool(cmd, box=box)
    except OSError as exc:
        raise FFmpegPostProcessorError(f"ffmpeg could not start: {exc}") from None
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode not in variadic(expected_retcodes):
        pp.write_debug(stderr)
        raise FFmpegPostProcessorError(done.error_line())
    for path, _ in outputs:
        pp.try_utime(path, oldest, oldest)
    return stderr


def probe_boxed(path: str, opts: Sequence[str] = ()) -> str:
    """ffprobe's ``-show_format -show_streams`` JSON for a postprocessor input, boxed and with
    the whitelists; raises ``FFmpegPostProcessorError`` (a ``PostProcessingError``, which
    yt-dlp's callers expect) when it cannot be read."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessorError

    argv = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-print_format", "json",
            *opts, *input_options(path, []), fftools.input_url(Path(path))]  # fmt: skip
    try:
        done = fftools.run(argv, reads=Path(path), timeout=60.0)
    except fftools.RefusedInput as exc:
        raise FFmpegPostProcessorError(f"{os.path.basename(path)}: {exc}") from None
    except (OSError, ToolTimeout) as exc:
        raise FFmpegPostProcessorError(f"ffprobe failed: {exc}") from None
    if done.returncode != 0:
        raise FFmpegPostProcessorError(f"ffprobe failed: {done.error_line()}")
    return done.stdout.decode("utf-8", "replace")


def audio_codec(path: str) -> str | None:
    """The first audio stream's codec name, or None: yt-dlp's ``get_audio_codec``, boxed."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessorError

    try:
        streams = json.loads(probe_boxed(path)).get("streams") or []
    except (FFmpegPostProcessorError, ValueError, AttributeError):
        return None
    return next((str(s.get("codec_name")) for s in streams
                 if s.get("codec_type") == "audio" and s.get("codec_name")), None)  # fmt: skip


@functools.cache
def fence_postprocessor_inputs() -> None:
    """Wrap ``FFmpegPostProcessor.real_run_ffmpeg``, ``get_audio_codec`` and
    ``get_metadata_object`` once; only guarded instances change."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor, FFmpegPostProcessorError

    original = FFmpegPostProcessor.real_run_ffmpeg

    def real_run_ffmpeg(
        self: Any, input_path_opts: Any, output_path_opts: Any, **kwargs: Any
    ) -> Any:
        if getattr(self._downloader, "telebot_guard", None) is None:
            return original(self, input_path_opts, output_path_opts, **kwargs)
        fenced = [
            (path, input_options(str(path), list(opts)) if path else opts)
            for path, opts in input_path_opts
        ]
        try:
            return run_boxed(self, fenced, output_path_opts, **kwargs)
        except FFmpegPostProcessorError:
            for path, opts in input_path_opts:
                why = refusal_of(str(path)) if path and "-f" not in opts else None
                if why is not None:
                    raise FFmpegPostProcessorError(f"{os.path.basename(path)}: {why}") from None
            raise

    FFmpegPostProcessor.real_run_ffmpeg = real_run_ffmpeg

    original_codec = FFmpegPostProcessor.get_audio_codec
    original_metadata = FFmpegPostProcessor.get_metadata_object

    def get_audio_codec(self: Any, path: str) -> Any:
        if getattr(self._downloader, "telebot_guard", None) is None:
            return original_codec(self, path)
        return audio_codec(path)

    def get_metadata_object(self: Any, path: str, opts: Sequence[str] = ()) -> Any:
        if getattr(self._downloader, "telebot_guard", None) is None:
            return original_metadata(self, path, list(opts))
        return json.loads(probe_boxed(path, opts))

    FFmpegPostProcessor.get_audio_codec = get_audio_codec
    FFmpegPostProcessor.get_metadata_object = get_metadata_object
