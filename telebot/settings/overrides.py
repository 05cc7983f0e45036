"""The runtime settings the owner may change with ``/bsetting`` (issue 16), and how the stored
overrides are laid over config.env at start.

Only settings that are safe to change while tasks run are listed: none names a folder, a
secret, a port or the Bot API. Values are parsed with the same parsers as config.env
(:mod:`telebot.config`): ``/bsetting MAX_DOWNLOAD_SIZE 20gb`` means what
``MAX_DOWNLOAD_SIZE=20gb`` means. The overrides live in SQLite (``bot_settings``: name, the
value as typed, who, when); :func:`apply` builds the effective
:class:`~telebot.config.Config` at start.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from telebot.config import (
    Config,
    parse_bool,
    parse_size,
    parse_size_or_zero,
)
from telebot.errors import BadInputError
from telebot.units import format_size

log = logging.getLogger(__name__)

#: Typed instead of a value to drop an optional limit.
NO_LIMIT = frozenset({"none", "off", "no", "-"})


@dataclass(frozen=True)
class Setting:
    name: str  # as in config.env
    field: str  # the Config attribute
    parse: Callable[[str], Any]
    what: str  # the expected form, for the error reply


def _whole(value: str) -> int:
    number = int(value, 10)
    if number < 0:
        raise ValueError(value)
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= 86400:
        raise ValueError(value)
    return number


def _optional_size(value: str) -> int | None:
    return None if value.strip().lower() in NO_LIMIT else parse_size(value)


def _setting(name: str, parse: Callable[[str], Any], what: str) -> Setting:
    return Setting(name, name.lower(), parse, what)


_SIZE_OR_NONE = "a size like 10gb, or none"
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        _setting("STATUS_UPDATE_INTERVAL", _seconds, "seconds, e.g. 10"),
        _setting("STATUS_LIMIT", _whole, "a whole number of tasks per page"),
        _setting("QUEUE_ALL", _whole, "a whole number (0 = unlimited)"),
        _setting("QUEUE_DOWNLOAD", _whole, "a whole number (0 = unlimited)"),
        _setting("QUEUE_UPLOAD", _whole, "a whole number (0 = unlimited)"),
        _setting("LEECH_SPLIT_SIZE", parse_size, "a size like 50mb"),
        Setting("MAX_DOWNLOAD_SIZE", "max_download_size", _optional_size, _SIZE_OR_NONE),
        _setting("STORAGE_THRESHOLD", parse_size_or_zero, "a size like 2gb, or 0 (off)"),
        _setting("USER_TASKS_LIMIT", _whole, "a whole number (0 = no limit)"),
        _setting("DIRECT_LIMIT", _optional_size, _SIZE_OR_NONE),
        _setting("TORRENT_LIMIT", _optional_size, _SIZE_OR_NONE),
        _setting("YTDL_LIMIT", _optional_size, _SIZE_OR_NONE),
        _setting("LEECH_LIMIT", _optional_size, _SIZE_OR_NONE),
        _setting("STOP_DUPLICATE", parse_bool, "true or false"),
    )
}


def parse(config: Config, name: str, text: str) -> tuple[Setting, Any]:
    """The setting called ``name`` and ``text`` parsed for it; :class:`BadInputError` with a
    reply that says what is wrong otherwise."""
    setting = SETTINGS.get(name.upper())
    if setting is None:
        raise BadInputError(f"{name} cannot be changed here. Send /bsetting for the list.")
    try:
        value = setting.parse(text.strip())
    except ValueError:
        raise BadInputError(f"{setting.name} must be {setting.what}, got “{text}”.") from None
    if setting.name == "LEECH_SPLIT_SIZE" and value > config.upload_limit:
        raise BadInputError(
            f"LEECH_SPLIT_SIZE must be at most {format_size(config.upload_limit)} "
            "for this Bot API."
        )
    return setting, value


def apply(config: Config, stored: Mapping[str, str]) -> Config:
    """``config`` with the stored overrides laid over it; one that no longer parses (or names
    a setting this version dropped) is logged and skipped, never fatal."""
    changes: dict[str, Any] = {}
    for name, text in sorted(stored.items()):
        try:
            setting, value = parse(config, name, text)
        except BadInputError as exc:
            log.warning("bsetting %s ignored: %s", name, exc)
            continue
        changes[setting.field] = value
        log.info("bsetting %s = %s (from the database, over config.env)", name, text)
    return dataclasses.replace(config, **changes) if changes else config


def shown(config: Config, setting: Setting) -> str:
    """The current value as the owner would type it."""
    value = getattr(config, setting.field)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if setting.parse in (parse_size, parse_size_or_zero, _optional_size):
        return format_size(value) if value else "0"
    return f"{value:g}" if isinstance(value, float) else str(value)
