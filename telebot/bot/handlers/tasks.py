"""Task commands (/mirror, /leech, /ytdl, /ytdlleech, /status, /cancel, /cancelall) and the
status buttons.

The task commands are thin: the update becomes a :class:`~telebot.intake.request.Request`, the
intake (telebot/intake/desk.py) checks and queues it, and the outcome becomes the reply. Engine
events become chat text in bot/listener.py.
"""

from __future__ import annotations

import asyncio
import functools
import html
from collections.abc import Callable
from dataclasses import dataclass

from telegram import Update

from telebot.bot.announce import Announcer
from telebot.bot.context import BotContext
from telebot.bot.conversation import ChatConversation, replied_of
from telebot.bot.recent import RecentMessages
from telebot.bot.status import CALLBACK_PREFIX, StatusBoard
from telebot.config import Config
from telebot.engine.manager import TaskManager
from telebot.engine.task import Task
from telebot.errors import BadInputError
from telebot.intake.desk import Intake
from telebot.intake.request import Outcome, Request, Requester


@dataclass
class TaskCommands:
    """Handlers bound to the intake, the running engine and the status board."""

    config: Config
    manager: TaskManager
    board: StatusBoard
    intake: Intake
    recent: RecentMessages | None = None  # the messages -i looks up (bot/recent.py)
    announcer: Announcer | None = None  # acknowledgements of -b and -i

    # -- /mirror, /leech, /ytdl, /ytdlleech: parse → intake → reply ---------------------------

    async def mirror(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "mirror")

    async def leech(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "leech")

    async def ytdl(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "ytdl")

    async def ytdl_leech(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "ytdlleech")

    async def _start(self, update: Update, ctx: BotContext, command: str) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        words = (message.text or "").split(maxsplit=1)
        request = Request(
            Requester(user.id, chat.id, message.message_id),
            command,
            words[1] if len(words) > 1 else "",
            replied=replied_of(message),
            conversation=ChatConversation(ctx, chat.id, self.recent),
        )
        outcome = await self.submit(request)
        if outcome.refusal is not None:
            raise BadInputError(outcome.refusal)  # answered by the guard (bot/application.py)

    async def submit(self, request: Request) -> Outcome:
        """Hand ``request`` to the intake off the loop and post its notice ("📋 Started 3
        tasks."); the caller answers a refusal. The one reply path of typed commands and of
        requests made for a user by a button (/search results, bot/handlers/search.py)."""
        outcome = await asyncio.to_thread(self.intake.submit, request)  # blocking: I/O
        if outcome.refusal is None and outcome.notice is not None and self.announcer is not None:
            # Never holds up the handler (bot/announce.py).
            who = request.requester
            self.announcer.post(who.chat_id, outcome.notice, reply_to=who.message_id)
        return outcome

    # -- /status, /cancel, /cancelall -----------------------------------------------------

    # Every look-up below takes the engine lock, and cancelling a queued task finishes it in the
    # calling thread (folder removal, journal write, a message through the Messenger, which
    # refuses the loop thread): so all of it runs in asyncio.to_thread, never on the loop.

    async def status(self, update: Update, ctx: BotContext) -> None:
        chat = update.effective_chat
        assert chat is not None
        if not await asyncio.to_thread(self._repost, chat.id):
            await ctx.reply(update, "No tasks are running in this chat.")

    def _repost(self, chat_id: int) -> bool:
        if not self.manager.tasks(chat_id):
            return False
        self.board.repost(chat_id)
        return True

    async def cancel(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        words = (message.text or "").split()
        replied = message.reply_to_message
        if len(words) > 1:
            find = functools.partial(self.manager.get, words[1])
        elif replied is not None:
            find = functools.partial(self.manager.find_by_message, chat.id, replied.message_id)
        else:
            await ctx.reply(
                update, "Write /cancel &lt;gid&gt;, or reply /cancel to the task's command."
            )
            return
        text, gid = await asyncio.to_thread(self._may_cancel, find, user.id, ctx)
        await ctx.reply(update, text)  # first: the cancel itself may send "🚫 ... cancelled"
        if gid is not None:
            await asyncio.to_thread(self.manager.cancel, gid)

    def _may_cancel(
        self, find: Callable[[], Task | None], user_id: int, ctx: BotContext
    ) -> tuple[str, str | None]:
        """The reply, and the gid to cancel if ``user_id`` may cancel the task ``find`` names."""
        task = find()
        if task is None or task.state.finished:
            return "No such task (it may have finished already).", None
        if task.spec.user_id != user_id and not ctx.auth.is_sudo(user_id):
            return "Only the user who started this task (or a sudo user) can cancel it.", None
        return f"Cancelling <code>{task.gid}</code>.", task.gid

    async def cancel_all(self, update: Update, ctx: BotContext) -> None:
        user = update.effective_user
        assert user is not None
        sudo = ctx.auth.is_sudo(user.id)
        mine = await asyncio.to_thread(
            lambda: [
                t
                for t in self.manager.tasks()
                if not t.state.finished and (sudo or t.spec.user_id == user.id)
            ]
        )
        count = len(mine)
        await ctx.reply(update, f"Cancelling {count} task{'s' if count != 1 else ''}.")
        await asyncio.to_thread(self.manager.cancel_all, mine)

    # -- status buttons -------------------------------------------------------------------

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, chat, user = update.callback_query, update.effective_chat, update.effective_user
        assert query is not None and chat is not None and user is not None
        parts = (query.data or "").split(":")
        if len(parts) != 3 or parts[0] != CALLBACK_PREFIX:
            await query.answer()
            return
        action, value = parts[1], parts[2]
        if action == "c":
            find = functools.partial(self.manager.get, value)
            text, gid = await asyncio.to_thread(self._may_cancel, find, user.id, ctx)
            await query.answer(
                html.unescape(text.replace("<code>", "").replace("</code>", ""))[:200]
            )
            if gid is not None:
                # The listener updates the status message when the task has ended.
                await asyncio.to_thread(self.manager.cancel, gid)
        elif action == "p" and value.isdigit():
            await query.answer()
            # Returns at once when the status thread is busy with this chat (it then shows
            # the page in its next round), so a stalled Telegram never holds the button.
            await asyncio.to_thread(self.board.show_page, chat.id, int(value))
        else:
            await query.answer()
