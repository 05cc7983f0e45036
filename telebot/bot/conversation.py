"""The chat's answers to the intake (:class:`telebot.intake.request.Conversation`): a ``-b`` list
file, ``-i``'s following messages, and withdrawing a list that carries a password.

Called from the intake's thread, never on the event loop: each answer may block (the Bot API,
waiting for messages still in flight, the loop's own removal of a message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Message, PhotoSize

from telebot.bot.application import DELETED_LIST_NOTE, KEEP_LIST_NOTE, remove_credentials
from telebot.bot.context import BotContext
from telebot.bot.recent import ARRIVAL_WAIT, RecentMessages, file_of
from telebot.errors import BadInputError
from telebot.intake.many import read_list_file
from telebot.intake.request import Message as IntakeMessage
from telebot.intake.request import Replied, ReplyFile

# The removal runs on the loop, through the rate-limited Messenger: ample for two calls.
WITHDRAW_TIMEOUT = 60.0


def replied_of(message: Message) -> Replied | None:
    """What the intake needs of the message ``message`` replies to, if any."""
    replied = message.reply_to_message
    if replied is None:
        return None
    return Replied(
        message_id=replied.message_id,
        text=replied.text or replied.caption,
        file=file_of(replied),
        mime_type=replied.document.mime_type if replied.document else None,
        photo=thumbnail_size(replied.photo),
    )


# Bot API: a thumbnail's "width and height should not exceed 320".
THUMB_SIDE = 320


def thumbnail_size(sizes: Sequence[PhotoSize] | None) -> str | None:
    """The file_id of the size of a photo to use as a thumbnail (-t): the largest within 320 px
    a side, else the smallest (the sink scales it down: processing/media/thumbnail.py)."""
    if not sizes:
        return None
    fitting = [s for s in sizes if max(s.width, s.height) <= THUMB_SIDE]
    if fitting:
        return max(fitting, key=lambda s: s.width * s.height).file_id
    return min(sizes, key=lambda s: s.width * s.height).file_id


@dataclass
class ChatConversation:
    """One chat's :class:`~telebot.intake.request.Conversation`."""

    ctx: BotContext
    chat_id: int
    recent: RecentMessages | None  # None: this build keeps no messages, so no -i

    def read_list(self, file: ReplyFile) -> str:
        return read_list_file(self.ctx.config, lambda: self.ctx.bridge, self.chat_id, file)

    def following(self, first_id: int, count: int) -> Sequence[IntakeMessage]:
        if self.recent is None:
            raise BadInputError("-i is not available in this version yet.")
        return self.recent.following(self.chat_id, first_id, count, wait=ARRIVAL_WAIT)

    def withdraw(self, message_id: int) -> None:
        loop = self.ctx.loop
        assert loop is not None, "the bot answers commands only once polling has started"
        removal = remove_credentials(
            self.ctx, self.chat_id, message_id, notes=(DELETED_LIST_NOTE, KEEP_LIST_NOTE)
        )
        # Before the intake reads the lines: a bad line must not keep the list in the chat.
        asyncio.run_coroutine_threadsafe(removal, loop).result(WITHDRAW_TIMEOUT)
