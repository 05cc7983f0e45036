"""What every handler reaches: the bot's context, stored in ``application.bot_data``.

Its own module so that ``bot/feature.py`` (the contract features implement) and
``bot/application.py`` (which registers them) both depend on it without depending on each other.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telebot.intake.auth import Authorizer, RefusalThrottle

if TYPE_CHECKING:
    from telegram import Update

    from telebot.bot.feature import Feature
    from telebot.botapi.messenger import Messenger
    from telebot.config import Config
    from telebot.store import Store


@dataclass
class BotContext:
    """Everything handlers need; created by app.py, stored in ``application.bot_data``."""

    config: Config
    store: Store
    auth: Authorizer
    started_at: float = field(default_factory=time.monotonic)
    process_started_at: float = field(default_factory=time.time)
    refusals: RefusalThrottle = field(default_factory=RefusalThrottle)
    messenger: Messenger | None = None
    # What this build can do (bot/feature.py), the foundation first: set by build_application,
    # which registers their handlers; their hooks run from here (start, polls, stop).
    features: tuple[Feature, ...] = ()
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Set on the loop once the first getUpdates is written (PollingRequest).
    polling: asyncio.Event = field(default_factory=asyncio.Event)
    loop: asyncio.AbstractEventLoop | None = None  # the polling loop, set in post_init
    restart_requested: bool = False  # /restart: re-execute once stopped (bot/handlers/restart.py)
    # The asyncio tasks of the command handlers running now (loop thread only): PTB's stop
    # waits for every one of them, so a restart cancels those that outlive a short grace.
    handler_tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def track_handler(self) -> asyncio.Task[Any] | None:
        """List the calling handler's task for :meth:`cancel_handlers`; the caller discards it
        from ``handler_tasks`` when done. Loop thread only."""
        me = asyncio.current_task()
        if me is not None:
            self.handler_tasks.add(me)
        return me

    def cancel_handlers(self) -> int:
        """Cancel every running command handler but the caller's; how many. Loop thread only.

        A handler's work already handed to a thread keeps running there, unobserved; what
        matters is durable elsewhere (the journal resumes tasks, a command can be sent again).
        """
        current = asyncio.current_task()
        victims = [t for t in self.handler_tasks if t is not current and not t.done()]
        for task in victims:
            task.cancel()
        return len(victims)

    @property
    def bridge(self) -> Messenger:
        if self.messenger is None:
            raise RuntimeError("the bot has not started yet")
        return self.messenger

    async def reply(self, update: Update, text: str, **kwargs: Any) -> None:
        """Reply (HTML) to the update's message through the rate-limited Messenger."""
        message = update.effective_message
        chat = update.effective_chat
        if chat is None:
            return
        reply_to = message.message_id if message is not None else None
        await asyncio.to_thread(self.bridge.send_text, chat.id, text, reply_to=reply_to, **kwargs)
