"""The chat side of torrents beyond the file menu: seeding tasks (``-d``) in /status, their
cancel button and /cancel, and the message when seeding ends.

Seeding tasks are not the manager's (they are delivered); :class:`SeedingControls` puts them
next to the manager's tasks and answers for them where a gid names one.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable

from telegram import Update

from telebot.bot.context import BotContext
from telebot.bot.feature import Handler
from telebot.bot.status import StatusBoard
from telebot.botapi.messenger import Messenger
from telebot.engine.task import Task
from telebot.shown import html_name
from telebot.sources.torrent.seeding import Seeding

log = logging.getLogger(__name__)


class SeedingControls:
    def __init__(
        self, seeding: Seeding, board: StatusBoard, messenger: Callable[[], Messenger]
    ) -> None:
        self.seeding = seeding
        self._board = board
        self._messenger = messenger

    def notify(self, task: Task, reason: str) -> None:
        """Seeding reached its limit (runs in the seeding thread)."""
        self._board.touch(task.spec.chat_id)
        name = html_name(task.name)
        text = f"🌱 Stopped seeding <b>{name}</b>: {html.escape(reason)}. Its data is freed."
        try:
            self._messenger().send_text(
                task.spec.chat_id, text, reply_to=task.spec.message_id
            )
        except Exception:
            log.exception("could not report the end of seeding %s", task.gid)

    def stop(self, gid: str, user_id: int, ctx: BotContext) -> str | None:
        """Cancel a seeding task for ``user_id``; None when ``gid`` is not seeding."""
        task = self.seeding.get(gid)
        if task is None:
            return None
        if task.spec.user_id != user_id and not ctx.auth.is_sudo(user_id):
            return "Only the user who started this task (or a sudo user) can cancel it."
        if not self.seeding.cancel(gid):
            return "No such task (it may have finished already)."
        self._board.touch(task.spec.chat_id)
        return f"Stopped seeding {gid}; its data is freed."

    def status_buttons(self, status: Handler) -> Handler:
        """The status board's buttons (``st:``): ✖ of a seeding task, every other press to the
        task commands' ``status``. Seeding tasks share the board with the manager's."""

        async def handler(update: Update, ctx: BotContext) -> None:
            query, user = update.callback_query, update.effective_user
            parts = (query.data or "").split(":") if query is not None else []
            if query is not None and user is not None and parts[1:2] == ["c"]:
                answer = await asyncio.to_thread(self.stop, parts[-1], user.id, ctx)
                if answer is not None:
                    await query.answer(answer[:200])
                    return
            await status(update, ctx)

        return handler

    def cancel_command(self, cancel: Handler) -> Handler:
        """/cancel <gid> for a seeding task; every other form goes to the task commands."""

        async def handler(update: Update, ctx: BotContext) -> None:
            message, user = update.effective_message, update.effective_user
            words = (message.text or "").split() if message is not None else []
            if len(words) == 2 and user is not None:
                answer = await asyncio.to_thread(self.stop, words[1], user.id, ctx)
                if answer is not None:
                    await ctx.reply(update, html.escape(answer))
                    return
            await cancel(update, ctx)

        return handler

    def status_command(self, status: Handler) -> Handler:
        """/status also when the chat's only tasks are seeding ones."""

        async def handler(update: Update, ctx: BotContext) -> None:
            chat = update.effective_chat
            # snapshots() asks libtorrent for each torrent's status: never on the loop.
            seeding = await asyncio.to_thread(self.seeding.snapshots, chat.id) if chat else []
            if chat is not None and seeding:
                await asyncio.to_thread(self._board.repost, chat.id)
                return
            await status(update, ctx)

        return handler
