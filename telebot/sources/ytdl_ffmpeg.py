"""yt-dlp's own ffmpeg runs (merge, audio extraction, fixups, embedding) read only their inputs.

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
  media: subtitles (webvtt, srt, ass) and its ``;FFMETADATA1`` chapter file; for an input
  named like a picture also ``image2`` with ``-pattern_type none`` (one file, never a
  ``%d`` sequence).

A refused input makes the postprocessor fail; ffmpeg's last line then only says "Invalid
argument", so :func:`refusal_of` asks ffprobe (boxed, same whitelists) which input was refused
and the error names it: "clip.mp4: not a media file ffprobe may read: it is hls (...)". The
task fails with that one line; nothing of another file is read. Not covered: yt-dlp's ffprobe calls
(``get_audio_codec``, ``get_metadata_object``), whose answers stay inside yt-dlp (a codec name,
stream numbers) and never reach a file or the chat; and these runs are not boxed (yt-dlp
starts ffmpeg itself), so the whitelist is the only layer here.

Checked against yt-dlp 2026.11 (``postprocessor/ffmpeg.py``: ``real_run_ffmpeg`` takes
``[(path, opts), ...]`` for inputs and outputs).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telebot import fftools
from telebot.childproc import ToolTimeout

# What yt-dlp's postprocessors read besides media: subtitle files and the chapter metadata it
# writes itself. Each of these demuxers reads only its own input.
YTDLP_EXTRA_FORMATS = ("webvtt", "srt", "ass", "ffmetadata")
_PICTURES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


def input_options(path: str, opts: Sequence[str]) -> list[str]:
    """The options for one input of a postprocessor's ffmpeg run: ours, then yt-dlp's."""
    fenced = ["-protocol_whitelist", fftools.PROTOCOLS]
    if "-f" in opts:  # the demuxer is fixed by yt-dlp, not picked by the file's content
        return [*fenced, *opts]
    formats = [*fftools.INPUT_FORMATS, *YTDLP_EXTRA_FORMATS]
    if os.path.splitext(path)[1].lower() in _PICTURES:
        # image2 probes by name only, so it can be picked for this input alone; without a
        # pattern it reads exactly this file.
        formats.append("image2")
        fenced += ["-pattern_type", "none"]
    return [*fenced, "-format_whitelist", ",".join(formats), *opts]


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


@functools.cache
def fence_postprocessor_inputs() -> None:
    """Wrap ``FFmpegPostProcessor.real_run_ffmpeg`` once; only guarded instances change."""
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
            return original(self, fenced, output_path_opts, **kwargs)
        except FFmpegPostProcessorError:
            for path, opts in input_path_opts:
                why = refusal_of(str(path)) if path and "-f" not in opts else None
                if why is not None:
                    raise FFmpegPostProcessorError(f"{os.path.basename(path)}: {why}") from None
            raise

    FFmpegPostProcessor.real_run_ffmpeg = real_run_ffmpeg
