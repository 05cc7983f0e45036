"""``-meta "title=…|artist=…|lang=eng"``: container metadata of each media file, by stream copy.

Keys come from :data:`KEYS` (``lang`` sets the language of the first audio and the first
subtitle stream, an ISO 639-2 code of three letters such as ``eng``, ``deu``, ``fra``); values are
plain text, at most :data:`MAX_VALUE` characters, with no line break or control character. A
value reaches ffmpeg as one ``key=value`` argument after ``-metadata``, never as an option or a
file name. The user's /usetting default applies when the command has no ``-meta``.

ffmpeg copies every stream (``-map 0 -c copy``, data streams left out: mp4 cannot write most of
them back) and the container's other tags (``-map_metadata 0``), so only the named tags change.
The file keeps its name and extension; the original is not kept (it is the same media).
"""

from __future__ import annotations

import re
from pathlib import Path

from telebot import fftools
from telebot.engine.pipeline import Stage, StageFactory
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError
from telebot.processing.media.ffjob import MediaInfo
from telebot.processing.media.mediastage import MediaStage, Plan, input_args

KEYS = frozenset({
    "title", "artist", "album", "album_artist", "comment", "date", "genre", "track", "composer",
    "description", "copyright", "language", "lang",
})  # fmt: skip
MAX_VALUE = 200
MAX_PAIRS = 12
_LANG = re.compile(r"^[a-z]{3}$")
META_USAGE = 'write -meta "title=My film|artist=Me|lang=eng" (keys: ' + ", ".join(
    sorted(KEYS - {"language"})
) + ")"


def parse_metadata(text: str) -> tuple[tuple[str, str], ...]:
    """``"title=x|artist=y"`` → (("title", "x"), ("artist", "y")); BadInputError otherwise."""
    pairs: list[tuple[str, str]] = []
    for part in text.split("|"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in KEYS:
            raise BadInputError(f"-meta {part[:30]!r}: {META_USAGE}.")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise BadInputError(f"-meta {key}: the value may not have line breaks.")
        if len(value) > MAX_VALUE:
            raise BadInputError(f"-meta {key}: at most {MAX_VALUE} characters.")
        if key in ("lang", "language"):
            key, value = "lang", value.lower()
            if not _LANG.match(value):
                raise BadInputError(
                    f"-meta lang={value[:10]}: a three-letter ISO 639-2 code, like eng or deu."
                )
        if any(k == key for k, _ in pairs):
            raise BadInputError(f"-meta: {key} is given twice.")
        pairs.append((key, value))
    if not pairs:
        raise BadInputError(f"-meta needs at least one key=value: {META_USAGE}.")
    if len(pairs) > MAX_PAIRS:
        raise BadInputError(f"-meta: at most {MAX_PAIRS} keys.")
    return tuple(pairs)


def metadata_plan(text: str, src: Path, info: MediaInfo) -> Plan | None:
    """Tag one media file with ``text``'s pairs (checked again: it comes from the journal)."""
    if not (info.is_video or info.is_audio):
        return None
    tags: list[str] = []
    for key, value in parse_metadata(text):
        if key != "lang":
            tags += ["-metadata", f"{key}={value}"]
            continue
        for kind, flag in (("audio", "a"), ("subtitle", "s")):
            if info.of(kind):
                tags += [f"-metadata:s:{flag}:0", f"language={value}"]

    def step(src: Path, output: Path) -> list[str]:
        return [*input_args(src), "-map", "0", "-dn", "-c", "copy", "-map_metadata", "0", *tags,
                fftools.output_url(output)]

    return Plan(ext=src.suffix, steps=(step,), how="metadata (stream copy)", tag="meta")


def metadata_recipe(spec: TaskSpec, src: Path, info: MediaInfo) -> Plan | None:
    return metadata_plan(spec.metadata, src, info)


def metadata_factory() -> StageFactory:
    """The metadata stage for specs with ``-meta`` (or the user's default)."""

    def factory(spec: TaskSpec) -> Stage | None:
        return MediaStage("metadata", "ffmpeg", metadata_recipe) if spec.metadata else None

    return factory
