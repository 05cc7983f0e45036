"""Installs the optional parts (engine, monitoring, task commands) into a BotContext.

Kept apart from app.py so each capability registers its own handlers and start/stop hooks in
one place, and app.py keeps only the start/stop order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telebot.tg.bot import BotContext


def install(ctx: BotContext) -> None:
    """Attach every capability this build has to ``ctx``."""
    del ctx  # capabilities register here as they land (monitoring, engine, sinks)
