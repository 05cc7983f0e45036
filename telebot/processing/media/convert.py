"""``-cv <mp4|mkv>`` and ``-ca <mp3|m4a|opus|flac>[:bitrate]``: convert the media of a result.

* ``-cv`` acts on videos (a file with a real video stream). Each stream is **copied** when the
  target container takes its codec, and re-encoded otherwise: for mp4, video other than
  H.264/HEVC/AV1/VP9/MPEG-4 becomes H.264 (libx264, CRF 23), audio other than
  AAC/MP3/AC-3/E-AC-3/Opus/FLAC/ALAC becomes AAC, text subtitles become mov_text and picture
  subtitles (PGS, DVD) are dropped; for mkv everything is copied (mov_text subtitles become
  SubRip). So mkv→mp4 of H.264/AAC is a remux at disk speed. A video already in the target
  container is left as it is.
* ``-ca`` acts on audio files only (audio and at most a cover picture): the audio of a video is
  not extracted, so ``/leech`` of a film with ``-ca mp3`` still sends the film. The first audio
  stream is encoded (libmp3lame, AAC, libopus, FLAC) at the bitrate given (``-ca mp3:192k``) or
  the format's default; a file already in that codec and container with no bitrate asked is
  left as it is, with a bitrate it is encoded again. Cover pictures are not carried over.
* The original is dropped unless ``-keep``.

The stage is a :class:`~telebot.processing.media.mediastage.MediaStage` (walk, progress,
cancel, restart); this module holds the flags' parsing and the per-file decisions
(:func:`video_plan`, :func:`audio_plan`), which tests read without running ffmpeg.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from telebot import fftools
from telebot.engine.pipeline import Stage, StageFactory
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError
from telebot.processing.media.ffjob import MediaInfo, Stream
from telebot.processing.media.mediastage import MediaStage, Plan, input_args

VIDEO_TARGETS = ("mp4", "mkv")


@dataclass(frozen=True)
class AudioFormat:
    encoder: str
    ext: str
    codecs: frozenset[str]  # codecs this container holds as they are
    default_bitrate: str | None  # None: lossless, no bitrate


AUDIO_TARGETS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("libmp3lame", ".mp3", frozenset({"mp3"}), "192k"),
    "m4a": AudioFormat("aac", ".m4a", frozenset({"aac", "alac"}), "192k"),
    "opus": AudioFormat("libopus", ".opus", frozenset({"opus"}), "128k"),
    "flac": AudioFormat("flac", ".flac", frozenset({"flac"}), None),
}
_BITRATE = re.compile(r"^(\d{1,3})k$")
MIN_KBPS, MAX_KBPS = 8, 512

# What mp4 takes as it is (ffmpeg's mov muxer); everything else is re-encoded or dropped.
MP4_VIDEO = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})
TEXT_SUBTITLES = frozenset({"subrip", "ass", "ssa", "webvtt", "mov_text", "text"})
CA_USAGE = "write -ca mp3, -ca m4a, -ca opus or -ca flac, with a bitrate: -ca mp3:192k"


def parse_video_target(text: str) -> str:
    """``-cv`` checked: mp4 or mkv."""
    target = text.strip().lower().lstrip(".")
    if target not in VIDEO_TARGETS:
        raise BadInputError("-cv takes mp4 or mkv, e.g. -cv mp4.")
    return target


def parse_audio_target(text: str) -> tuple[str, str | None]:
    """``-ca fmt[:bitrate]`` checked → (format, bitrate like "192k" or None)."""
    fmt, _, rate = text.strip().lower().partition(":")
    if fmt not in AUDIO_TARGETS:
        raise BadInputError(f"-ca {text[:20]!r}: {CA_USAGE}.")
    if not rate:
        return fmt, None
    found = _BITRATE.match(rate)
    if not found or not MIN_KBPS <= int(found.group(1)) <= MAX_KBPS:
        raise BadInputError(f"-ca bitrate {rate[:10]!r}: write {MIN_KBPS}k to {MAX_KBPS}k.")
    if AUDIO_TARGETS[fmt].default_bitrate is None:
        raise BadInputError("-ca flac is lossless: it takes no bitrate.")
    return fmt, rate


def _output(path: Path) -> str:
    return fftools.output_url(path)


def video_plan(target: str, src: Path, info: MediaInfo) -> Plan | None:
    """The plan for a video (None: not a video, or already in ``target``)."""
    if not info.is_video or src.suffix.lower() == f".{target}":
        return None
    maps: list[str] = []
    codecs: list[str] = []
    encoded: list[str] = []
    out_index = 0
    for stream in info.streams:
        choice = _stream_choice(target, stream)
        if choice is None:
            continue
        maps += ["-map", f"0:{stream.index}"]
        codecs += [f"-c:{out_index}", choice[0], *[a.replace("#", str(out_index))
                                                   for a in choice[1:]]]
        if choice[0] not in ("copy", "mov_text", "srt"):
            encoded.append(f"{stream.kind} ({choice[0]})")
        out_index += 1
    how = "re-encoding " + ", ".join(encoded) if encoded else "stream copy"
    extra = ["-movflags", "+faststart"] if target == "mp4" else []

    def step(src: Path, output: Path) -> list[str]:
        return [*input_args(src), *maps, *codecs, "-map_metadata", "0", "-map_chapters", "0",
                *extra, _output(output)]

    return Plan(ext=f".{target}", steps=(step,), how=how)


def _stream_choice(target: str, stream: Stream) -> list[str] | None:
    """The codec (and its options, ``#`` for the output stream's index) for one stream in
    ``target``, or None to leave the stream out."""
    if stream.cover or stream.kind in ("data", ""):
        return None
    if target == "mkv":
        if stream.kind == "subtitle" and stream.codec == "mov_text":
            return ["srt"]
        return ["copy"]
    if stream.kind == "video":
        if stream.codec in MP4_VIDEO:
            return ["copy"]
        return ["libx264", "-preset:#", "veryfast", "-crf:#", "23", "-pix_fmt:#", "yuv420p"]
    if stream.kind == "audio":
        return ["copy"] if stream.codec in MP4_AUDIO else ["aac", "-b:#", "192k"]
    if stream.kind == "subtitle" and stream.codec in TEXT_SUBTITLES:
        return ["copy"] if stream.codec == "mov_text" else ["mov_text"]
    return None  # picture subtitles, attachments: mp4 has no place for them


def audio_plan(target: str, bitrate: str | None, src: Path, info: MediaInfo) -> Plan | None:
    """The plan for an audio file (None: not one, or already what was asked)."""
    if not info.is_audio:
        return None
    fmt = AUDIO_TARGETS[target]
    first = info.of("audio")[0]
    if src.suffix.lower() == fmt.ext and first.codec in fmt.codecs and bitrate is None:
        return None
    copy = first.codec in fmt.codecs and bitrate is None
    codec = ["-c:a", "copy"] if copy else ["-c:a", fmt.encoder]
    rate = bitrate or fmt.default_bitrate
    if not copy and rate is not None:
        codec += ["-b:a", rate]
    how = "stream copy" if copy else f"encoding audio ({fmt.encoder}{' ' + rate if rate else ''})"

    def step(src: Path, output: Path) -> list[str]:
        return [*input_args(src), "-map", f"0:{first.index}", "-vn", "-sn", "-dn", *codec,
                "-map_metadata", "0", _output(output)]

    return Plan(ext=fmt.ext, steps=(step,), how=how)


def convert_recipe(spec: TaskSpec, src: Path, info: MediaInfo) -> Plan | None:
    if spec.convert_video and info.is_video:
        return video_plan(spec.convert_video, src, info)
    if spec.convert_audio and info.is_audio:
        fmt, bitrate = parse_audio_target(spec.convert_audio)
        return audio_plan(fmt, bitrate, src, info)
    return None


def convert_factory() -> StageFactory:
    """The convert stage for specs with ``-cv`` or ``-ca``."""

    def factory(spec: TaskSpec) -> Stage | None:
        if not (spec.convert_video or spec.convert_audio):
            return None
        return MediaStage("convert", "ffmpeg", convert_recipe,
                          keeps=lambda spec: spec.keep_original)

    return factory
