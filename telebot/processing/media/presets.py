"""``-ff <preset>[,<preset>]``: the owner's named ffmpeg recipes (FFMPEG_PRESETS) over each
media file of a result.

Presets are checked when the bot starts (:mod:`telebot.ffpresets`); here they only run. Users
choose them by name: :func:`parse_preset_names` checks the flag's syntax, and
:func:`check_known` (at command time, with the bot's presets) refuses a name the owner did not
define, listing the known ones. Several presets run one after the other on each file (each
reads the previous one's output). The output keeps the input's extension unless the preset
names one (``"ext"``); with ``-keep`` the original stays beside it (named ``<stem>.<preset>.<ext>``
when the names would clash).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from telebot import fftools
from telebot.engine.pipeline import Stage, StageFactory
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError, ProcessingError
from telebot.ffpresets import Preset
from telebot.processing.media.ffjob import MediaInfo
from telebot.processing.media.mediastage import MediaStage, Plan, Step

MAX_CHAIN = 5
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def parse_preset_names(text: str) -> tuple[str, ...]:
    """``-ff a,b`` → ("a", "b"): names only, at most :data:`MAX_CHAIN`."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names or not all(_NAME.match(name) for name in names):
        raise BadInputError("-ff takes preset names separated by commas, e.g. -ff x265,small.")
    if len(names) > MAX_CHAIN:
        raise BadInputError(f"-ff: at most {MAX_CHAIN} presets at once.")
    return names


def check_known(names: Sequence[str], presets: Mapping[str, Preset]) -> None:
    """BadInputError naming the first unknown preset and listing the known ones."""
    for name in names:
        if name not in presets:
            known = ", ".join(sorted(presets)) or "none (the owner sets FFMPEG_PRESETS)"
            raise BadInputError(f"-ff: there is no preset named {name}. Known presets: {known}.")


def preset_plan(presets: Sequence[Preset], src: Path, info: MediaInfo) -> Plan | None:
    """Each preset as one step, on any file with audio or video."""
    if not (info.is_video or info.is_audio):
        return None
    ext = src.suffix
    steps: list[Step] = []
    exts: list[str] = []
    for preset in presets:
        steps.append(_step(preset))
        ext = f".{preset.ext}" if preset.ext else ext
        exts.append(ext)
    return Plan(ext=ext, steps=tuple(steps), how="preset " + ",".join(p.name for p in presets),
                tag=presets[-1].name, exts=tuple(exts))


def _step(preset: Preset) -> Step:
    def step(src: Path, output: Path) -> list[str]:
        return preset.argv(fftools.input_options(src), fftools.input_url(src),
                           fftools.output_url(output))

    return step


def presets_factory(presets: Mapping[str, Preset]) -> StageFactory:
    """The ``-ff`` stage over the bot's checked presets."""

    def recipe(spec: TaskSpec, src: Path, info: MediaInfo) -> Plan | None:
        missing = [name for name in spec.ffmpeg_presets if name not in presets]
        if missing:  # removed from FFMPEG_PRESETS since the task was queued
            raise ProcessingError(f"-ff: the preset {missing[0]!r} is no longer defined")
        return preset_plan([presets[name] for name in spec.ffmpeg_presets], src, info)

    def factory(spec: TaskSpec) -> Stage | None:
        if not spec.ffmpeg_presets:
            return None
        return MediaStage("ffmpeg", "ffmpeg", recipe, keeps=lambda spec: spec.keep_original)

    return factory
