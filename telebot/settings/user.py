"""Per-user settings (``/usetting``): what they are, how they are stored, and how they shape a
task.

Stored in the store's ``user_settings`` table, one row per (user, key), the value as JSON; a missing
row means "not set" (the config's default applies). They are resolved into the
:class:`~telebot.engine.task.TaskSpec` when a task is submitted (``intake/specs.py``), so a
task keeps the settings it started with across a restart and on a remote worker that has no
database. Override order: a flag on the command, then the user's setting, then the config.

Values are checked when they are set (``bot/menus/usettings.py``); :meth:`UserSettings.from_rows`
still drops a row of the wrong type, so one damaged row cannot break every task of its user.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from telebot.units import format_bytes

if TYPE_CHECKING:
    from telebot.engine.task import TaskSpec
    from telebot.store import Store

LEECH_TYPES = ("document", "media")


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


# What a stored value must look like to be used; the other fields are text.
_VALID: dict[str, Any] = {
    "split_size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
    "leech_type": lambda v: v in LEECH_TYPES,
}


@dataclass(frozen=True)
class UserSettings:
    """One user's settings; None / empty means "not set"."""

    leech_type: str | None = None  # "document" | "media"
    split_size: int | None = None
    leech_dest: str | None = None  # a chat id, as -up takes it
    thumbnail: str | None = None  # a Telegram file_id (a photo size of at most 320 px)
    prefix: str = ""
    suffix: str = ""
    caption: str = ""
    mirror_dest: str | None = None  # "local" or "remote:path"
    ytdl_options: str | None = None  # JSON, allow-listed like -opt
    name_subst: str = ""  # -ns rules
    exclude_ext: tuple[str, ...] = ()
    # A normalized Netscape cookies.txt for /ytdl (telebot/cookiefile.py); the store keeps it
    # sealed (store.SEALED_SETTINGS) and it is never shown.
    cookies: str | None = field(default=None, repr=False)
    metadata: str = ""  # the default of -meta: "title=...|lang=eng" (processing/media/metadata)

    @classmethod
    def from_rows(cls, rows: dict[str, Any]) -> UserSettings:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = rows.get(f.name)
            if f.name == "exclude_ext":
                if isinstance(value, list):
                    values[f.name] = tuple(str(v) for v in value)
            elif _VALID.get(f.name, _is_text)(value):
                values[f.name] = value
        return cls(**values)

    @classmethod
    def load(cls, store: Store, user_id: int) -> UserSettings:
        """Reads SQLite: call it off the event loop."""
        return cls.from_rows(store.settings(user_id))


def apply_names(spec: TaskSpec, user: UserSettings, name_subst: str | None) -> dict[str, Any]:
    """The TaskSpec fields the user's naming settings give (``-ns`` wins over the setting)."""
    fields_: dict[str, Any] = {
        "name_prefix": user.prefix,
        "name_suffix": user.suffix,
        "name_subst": name_subst if name_subst is not None else user.name_subst,
        "exclude_ext": user.exclude_ext,
    }
    if spec.kind == "leech":
        fields_.update(caption=user.caption, thumbnail=user.thumbnail)
    return fields_


def describe(spec: TaskSpec) -> str:
    """One line for the done message: the settings that shaped the delivery (empty if none)."""
    parts: list[str] = []
    if spec.kind == "leech":
        if spec.as_media:
            parts.append("as media")
        elif spec.as_document:
            parts.append("as documents")
        if spec.split_size:
            parts.append(f"parts {format_bytes(spec.split_size)}")
        if spec.thumbnail:
            parts.append("custom thumbnail")
        if spec.caption:
            parts.append("caption")
    if spec.name_prefix:
        parts.append(f"prefix “{spec.name_prefix}”")
    if spec.name_suffix:
        parts.append(f"suffix “{spec.name_suffix}”")
    if spec.name_subst:
        parts.append("renamed (-ns)")
    if spec.exclude_ext:
        parts.append("skipped " + " ".join(spec.exclude_ext))
    return html.escape(" · ".join(parts), quote=False)


def caption_for(template: str, *, name: str, size: int, index: int, total: int) -> str:
    """The caption template filled in. Plain replacement, not ``str.format``: the template is
    the user's text, and format fields could reach attributes (``{name.__class__}``)."""
    text = template
    for key, value in (
        ("{name}", name),
        ("{size}", format_bytes(size)),
        ("{index}", str(index)),
        ("{total}", str(total)),
    ):
        text = text.replace(key, value)
    return text
