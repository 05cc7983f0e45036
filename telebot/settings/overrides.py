"""The runtime settings the owner may change with ``/bsetting`` (issue 16), and how the stored
overrides are laid over config.env at start.

Only settings that are safe to change while tasks run are listed: none names a folder, a
secret, a port or the Bot API. Each is declared once, in :mod:`telebot.config`
(:data:`~telebot.config.RUNTIME_SETTINGS`), and parsed and checked by that one declaration on
both paths: ``/bsetting MAX_DOWNLOAD_SIZE 20gb`` means what ``MAX_DOWNLOAD_SIZE=20gb`` means, and
a value one path refuses the other refuses too. The overrides live in SQLite (``bot_settings``:
name, the value as typed, who, when); :func:`apply` builds the effective
:class:`~telebot.config.Config` at start.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from telebot.config import (
    LEECH_SPLIT_SIZE,
    RUNTIME_SETTINGS,
    Config,
    Setting,
    split_size_problem,
)
from telebot.errors import BadInputError

__all__ = ["SETTINGS", "Setting", "apply", "parse", "shown"]

log = logging.getLogger(__name__)

SETTINGS: dict[str, Setting[Any]] = {s.name: s for s in RUNTIME_SETTINGS}


def parse(config: Config, name: str, text: str) -> tuple[Setting[Any], Any]:
    """The setting called ``name`` and ``text`` parsed for it; :class:`BadInputError` with a
    reply that says what is wrong otherwise."""
    setting = SETTINGS.get(name.upper())
    if setting is None:
        raise BadInputError(f"{name} cannot be changed here. Send /bsetting for the list.")
    try:
        value = setting.parse(text.strip())
    except ValueError:
        raise BadInputError(f"{setting.name} must be {setting.what}, got “{text}”.") from None
    if setting is LEECH_SPLIT_SIZE:
        problem = split_size_problem(value, config.upload_limit)
        if problem is not None:
            raise BadInputError(f"{setting.name} {problem}.")
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


def shown(config: Config, setting: Setting[Any]) -> str:
    """The current value as the owner would type it."""
    return setting.shown(getattr(config, setting.field))
