"""What a chat feature declares; :func:`telebot.bot.application.build_application` registers it.

A feature is one capability of the chat side (/bsetting, the cloud commands, the task commands,
...). It says which commands it answers, which buttons it answers, whether it reads plain
messages, and what it does when the bot starts and stops; it never reaches into the
:class:`~telebot.bot.context.BotContext` to install itself. ``wiring.py`` lists the
features of this build; ``build_application`` adds the foundation's commands (/start, /help,
/auth, ...) and hands every declaration to python-telegram-bot.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from telegram import Update

    from telebot.bot.context import BotContext

Handler = Callable[["Update", "BotContext"], Awaitable[None]]


class Feature(Protocol):
    """The contract between a feature and the bot. Subclass it: every member has a default that
    declares nothing, so a feature writes only what it has.

    Declarations (read once, while the Application is built):

    - :meth:`commands`: command name → handler. Every name must be in ``bot/commands.py``'s
      table, which stays the one source of /help, aliases and the level each command needs;
      no two features may claim one name (the build raises). A handler runs only for users at
      the command's level; a :class:`~telebot.errors.BadInputError` it raises becomes a ❌
      reply, any other error is logged and answered.
    - :meth:`buttons`: callback-data prefix → handler. A press whose data is ``<prefix>:…``
      reaches that handler alone (PTB ``CallbackQueryHandler(pattern="^<prefix>:")``), once the
      bot has checked the presser may use the bot at all; the handler checks the rest (only
      the owner of a menu may press it) and answers the query. Prefixes are unique across
      features; a press no prefix claims is answered empty.
    - :meth:`messages`: the handler of plain messages (text that is no command, photos) from
      authorized users, or None. Every feature's handler sees every such message and ignores
      what it does not wait for.

    Hooks, called in the order of the feature list (``stopping`` in reverse order):

    - :meth:`started`: the Messenger exists, polling has not begun; in a thread, may block.
    - :meth:`polling_started`: on the loop once the first getUpdates is written; must not block.
    - :meth:`polled`: on the loop after each successful getUpdates; must not block.
    - :meth:`remember`: on the loop, every new message of an authorized chat, commands too;
      must only record in memory.
    - :meth:`stopping`: polling has stopped and the Bot API client still works; in a thread,
      may block (join workers, send what is owed).
    """

    def commands(self) -> Mapping[str, Handler]:
        return {}

    def buttons(self) -> Mapping[str, Handler]:
        return {}

    def messages(self) -> Handler | None:
        return None

    def started(self, ctx: BotContext) -> None:
        return None

    def polling_started(self) -> None:
        return None

    def polled(self) -> None:
        return None

    def remember(self, chat_id: int, message: Any) -> None:
        return None

    def stopping(self) -> None:
        return None


class CommandSet(Feature):
    """A feature that is only commands (handlers written as plain functions or methods)."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = dict(handlers)

    def commands(self) -> Mapping[str, Handler]:
        return self._handlers


def button_pattern(prefix: str) -> re.Pattern[str]:
    """The callback data a prefix claims: ``<prefix>:`` and anything after it."""
    return re.compile(f"^{re.escape(prefix)}:")


def claimed(features: tuple[Feature, ...], what: str,
            declared: Callable[[Feature], Mapping[str, Handler]]) -> dict[str, Handler]:
    """Every feature's declarations of one kind in one map; a name claimed twice raises."""
    merged: dict[str, Handler] = {}
    for feature in features:
        for name, handler in declared(feature).items():
            if name in merged:
                raise ValueError(f"two features claim the {what} {name!r}")
            merged[name] = handler
    return merged
