"""``/bsetting`` (owner): change runtime settings without a restart, persisted.

``/bsetting`` lists the settings (:data:`telebot.settings.overrides.SETTINGS`) with their current
values and a button for each (only the owner may press them): a setting's page shows what it
expects, with buttons for true/false, "none" (no limit) and its config.env value, and "◀ Back".
Other values are typed: ``/bsetting NAME VALUE`` changes one (parsed like config.env, a bad
value answered with what is expected), ``/bsetting NAME default`` goes back to config.env. A
change is written to SQLite (``bot_settings``, with who made it) and logged, then handed to the
setting's live applier; the reply says whether it took effect now or applies fully after a restart.

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

from telebot.bot.feature import Feature, Handler
from telebot.config import Config
from telebot.errors import BadInputError
from telebot.settings import overrides
from telebot.store import Store

if TYPE_CHECKING:
    from telegram import InlineKeyboardMarkup, Update

    from telebot.bot.context import BotContext

log = logging.getLogger(__name__)

#: Takes the parsed value; True when it took full effect now, False when the rest of it needs
#: a restart (e.g. a larger thread pool).
Applier = Callable[[Any], bool]

RESET = "default"
PREFIX = "bs"  # callback data: bs:l (list), bs:s:NAME (page), bs:v:NAME:VALUE, bs:d:NAME
OWNER_ONLY = "Only the owner may change the bot's settings."


class BotSettings(Feature):
    """The effective settings (config.env + overrides) and the /bsetting handler."""

    def __init__(
        self, base: Config, current: Config, store: Store, live: Mapping[str, Applier]
    ) -> None:
        self._base = base  # config.env alone: what "default" goes back to
        self._current = current
        self._store = store
        self._live = dict(live)
        self._lock = threading.Lock()  # one change at a time: store row, value and applier agree

    def commands(self) -> Mapping[str, Handler]:
        return {"bsetting": self.command}

    def buttons(self) -> Mapping[str, Handler]:
        return {PREFIX: self.on_callback}

    @property
    def current(self) -> Config:
        return self._current

    async def command(self, update: Update, ctx: BotContext) -> None:
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        words = (message.text or "").split(maxsplit=2)
        if len(words) == 1:
            await ctx.reply(update, self.listing(), markup=self.listing_buttons())
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

    # -- buttons ----------------------------------------------------------------------------

    def listing_buttons(self) -> InlineKeyboardMarkup:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        buttons = [
            InlineKeyboardButton(name, callback_data=f"{PREFIX}:s:{name}")
            for name in overrides.SETTINGS
        ]
        return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])

    def page(self, setting: overrides.Setting, note: str = "") -> tuple[str, InlineKeyboardMarkup]:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        value = html.escape(overrides.shown(self._current, setting))
        base = html.escape(overrides.shown(self._base, setting))
        text = (
            f"{note}<code>{setting.name}</code> = {value}\nExpects {html.escape(setting.what)}; "
            f"config.env: {base}.\nOther values: <code>/bsetting {setting.name} value</code>"
        )
        choices = [c for c in ("true", "false", "none") if c in setting.what.split()]
        row = [InlineKeyboardButton(c, callback_data=f"{PREFIX}:v:{setting.name}:{c}")
               for c in choices]
        rows = [row] if row else []
        reset = f"{PREFIX}:d:{setting.name}"
        rows.append([
            InlineKeyboardButton(f"config.env ({base})", callback_data=reset),
            InlineKeyboardButton("◀ Back", callback_data=f"{PREFIX}:l"),
        ])
        return text, InlineKeyboardMarkup(rows)

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and user is not None
        if user.id != ctx.config.owner_id:
            await query.answer(OWNER_ONLY)
            return
        await query.answer()
        message = query.message
        if message is None:
            return
        text, markup = await asyncio.to_thread(self._press, (query.data or "").split(":"), user.id)
        await asyncio.to_thread(
            ctx.bridge.edit_text, message.chat.id, message.message_id, text, markup=markup
        )

    def _press(self, parts: list[str], user_id: int) -> tuple[str, InlineKeyboardMarkup]:
        """The new text and buttons for a press (``bs:…`` split at ``:``). Not on the loop."""
        setting = overrides.SETTINGS.get(parts[2]) if len(parts) >= 3 else None
        if setting is None:
            return self.listing(), self.listing_buttons()
        note = ""
        try:
            if parts[1] == "v" and len(parts) == 4:
                _, value = overrides.parse(self._current, setting.name, parts[3])
                note = self.change(setting, value, parts[3], user_id) + "\n\n"
            elif parts[1] == "d":
                value = getattr(self._base, setting.field)
                note = self.change(setting, value, None, user_id) + "\n\n"
        except BadInputError as exc:
            note = f"❌ {html.escape(str(exc))}\n\n"
        return self.page(setting, note)
