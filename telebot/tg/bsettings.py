"""``/bsetting`` (owner): change runtime settings without a restart, persisted.

``/bsetting`` lists the settings (:data:`telebot.overrides.SETTINGS`) with their current
values; ``/bsetting NAME VALUE`` changes one (parsed like config.env, a bad value answered with
what is expected), ``/bsetting NAME default`` goes back to config.env. A change is written to
SQLite (``bot_settings``, with who made it) and logged, then handed to the setting's live
applier; the reply says whether it took effect now or applies fully after a restart.

The handler only parses on the loop; the store write and the appliers run in a worker thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from telebot import overrides
from telebot.config import Config
from telebot.errors import BadInputError
from telebot.store import Store

if TYPE_CHECKING:
    from telegram import Update

    from telebot.tg.bot import BotContext

log = logging.getLogger(__name__)

#: Takes the parsed value; True when it took full effect now, False when the rest of it needs
#: a restart (e.g. a larger thread pool).
Applier = Callable[[Any], bool]

RESET = "default"


class BotSettings:
    """The effective settings (config.env + overrides) and the /bsetting handler."""

    def __init__(
        self, base: Config, current: Config, store: Store, live: Mapping[str, Applier]
    ) -> None:
        self._base = base  # config.env alone: what "default" goes back to
        self._current = current
        self._store = store
        self._live = dict(live)
        self._lock = threading.Lock()  # one change at a time: store row, value and applier agree

    @property
    def current(self) -> Config:
        return self._current

    async def command(self, update: Update, ctx: BotContext) -> None:
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        words = (message.text or "").split(maxsplit=2)
        if len(words) == 1:
            await ctx.reply(update, self.listing())
            return
        if len(words) == 2:
            raise BadInputError(
                f"Write /bsetting {words[1].upper()} <value> (or {RESET}); "
                "/bsetting alone lists them."
            )
        name, text = words[1], words[2].strip()
        setting = overrides.SETTINGS.get(name.upper())
        if setting is not None and text.lower() == RESET:
            value, stored = getattr(self._base, setting.field), None
        else:
            setting, value = overrides.parse(self._current, name, text)
            stored = text
        reply = await asyncio.to_thread(self.change, setting, value, stored, user.id)
        await ctx.reply(update, reply)

    def change(
        self, setting: overrides.Setting, value: Any, stored: str | None, user_id: int
    ) -> str:
        """Persist, apply and log one change; the reply (HTML). Not on the event loop."""
        with self._lock:
            old = overrides.shown(self._current, setting)
            self._store.set_bot_setting(setting.name, stored, user_id)
            self._current = dataclasses.replace(self._current, **{setting.field: value})
            new = overrides.shown(self._current, setting)
            applier = self._live.get(setting.name)
            now = applier(value) if applier is not None else False
        origin = " (config.env)" if stored is None else ""
        log.info("bsetting %s: %s -> %s%s by user %s", setting.name, old, new, origin, user_id)
        when = "applied now" if now else "saved; it applies fully after /restart"
        return (
            f"✅ <code>{setting.name}</code> = <code>{html.escape(new)}</code>{origin} "
            f"(was {html.escape(old)}): {when}."
        )

    def listing(self) -> str:
        lines = ["<b>Bot settings</b> (change: <code>/bsetting NAME value</code>, "
                 f"back to config.env: <code>/bsetting NAME {RESET}</code>)"]
        for setting in overrides.SETTINGS.values():
            value = html.escape(overrides.shown(self._current, setting))
            lines.append(f"<code>{setting.name}</code> = {value}")
        return "\n".join(lines)
