"""A short memory of the messages the bot has received, for ``-i N`` (multi).

The Bot API cannot fetch an old message by its id (docs/TELEGRAM.md, limits): a bot sees a message
once, in its update, or never. ``-i 3`` replies to the first of three messages, so the bot keeps
what it needs of the messages it receives (their link or file, nothing else) and looks the next
ones up here. The memory is bounded (:data:`PER_CHAT` messages per chat for :data:`MAX_AGE`
seconds, :data:`MAX_CHATS` chats) and lives in this process only: a message sent before the bot
started, or forgotten since, is reported as such, never guessed.

Messages are recorded on the event loop; -i looks them up from the intake's thread, where it may
wait a moment for messages still in flight (:meth:`RecentMessages.following`). Both only touch
small dicts under a lock that is never held across I/O (waiting releases it).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telebot.errors import BadInputError
from telebot.intake.many import first_word
from telebot.intake.request import ReplyFile

if TYPE_CHECKING:
    from telegram import Message

# -i takes at most 50 messages (intake/args.py); 200 per chat leaves room for the chatter in
# between, and a day is longer than anyone waits between sending links and the command. Only a
# message's first word is kept (the link -i takes), at most MAX_LINK_LENGTH + 1 characters: at
# worst 200 chats x 200 messages x 4 KiB = 160 MiB, a few MiB for real links.
PER_CHAT = 200
MAX_AGE = 24 * 3600.0
MAX_CHATS = 200
# Messages sent together with the command arrive in the same getUpdates batch but are handled
# concurrently: -i waits up to a second for the later ones before saying they have not arrived.
ARRIVAL_WAIT = 1.0


class NotArrived(BadInputError):
    """Fewer messages than asked for follow the first one (yet: they may be in flight)."""


@dataclass(frozen=True)
class Remembered:
    """What -i needs of one message: the first word of its text (or caption: the link) and its
    file, if any."""

    message_id: int
    text: str | None
    file: ReplyFile | None
    at: float  # monotonic time it was received
    command: bool  # starts with "/": a command, never one of the -i messages


def file_of(message: Message) -> ReplyFile | None:
    """The document/video/audio of ``message``, if any."""
    media = message.document or message.video or message.audio
    if media is None:
        return None
    return ReplyFile(media.file_id, getattr(media, "file_name", None), media.file_size)


def remembered(message: Message, at: float) -> Remembered:
    text = message.text or message.caption or ""
    return Remembered(
        message.message_id, first_word(text), file_of(message), at, text.startswith("/")
    )


@dataclass
class _Chat:
    messages: OrderedDict[int, Remembered]
    forgotten_upto: int = 0  # the newest message id dropped from this chat's memory


class RecentMessages:
    """The last messages of each chat, bounded in count and age."""

    def __init__(
        self,
        *,
        per_chat: int = PER_CHAT,
        max_age: float = MAX_AGE,
        max_chats: int = MAX_CHATS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_chat = per_chat
        self._max_age = max_age
        self._max_chats = max_chats
        self._clock = clock
        # Notified on every message added: -i waits on it for messages still in flight.
        self._added = threading.Condition()
        self._chats: OrderedDict[int, _Chat] = OrderedDict()

    def remember(self, chat_id: int, message: Message) -> None:
        self.add(chat_id, remembered(message, self._clock()))

    def add(self, chat_id: int, item: Remembered) -> None:
        with self._added:
            chat = self._chats.get(chat_id)
            if chat is None:
                chat = self._chats[chat_id] = _Chat(OrderedDict())
                if len(self._chats) > self._max_chats:
                    self._chats.popitem(last=False)  # the chat quiet for longest
            self._chats.move_to_end(chat_id)
            chat.messages[item.message_id] = item
            self._expire(chat)
            self._added.notify_all()

    def _expire(self, chat: _Chat) -> None:
        oldest = self._clock() - self._max_age
        while chat.messages:
            message_id, item = next(iter(chat.messages.items()))
            if len(chat.messages) <= self._per_chat and item.at >= oldest:
                return
            del chat.messages[message_id]
            chat.forgotten_upto = max(chat.forgotten_upto, message_id)

    def following(
        self, chat_id: int, first_id: int, count: int, *, wait: float = 0.0
    ) -> list[Remembered]:
        """The ``count - 1`` messages that came after message ``first_id`` in the chat (commands
        skipped), oldest first. BadInputError naming the message that is not known;
        :class:`NotArrived` only after waiting up to ``wait`` seconds for the missing ones
        (blocks: with a ``wait``, never on the event loop, which records the messages)."""
        deadline = time.monotonic() + wait
        with self._added:
            while True:
                try:
                    return self._following(chat_id, first_id, count)
                except NotArrived:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise
                    self._added.wait(left)

    def _following(self, chat_id: int, first_id: int, count: int) -> list[Remembered]:
        """:meth:`following` without waiting; under ``_added``."""
        chat = self._chats.get(chat_id)
        if chat is not None:
            self._expire(chat)
        known = chat is not None and first_id in chat.messages
        forgotten = chat is not None and first_id <= chat.forgotten_upto
        items = sorted(chat.messages.items()) if chat is not None else []
        later = [item for message_id, item in items if message_id > first_id and not item.command]
        if count > 1 and not known:
            why = (
                f"is older than my memory (the last {self._per_chat} messages of a chat, "
                f"{self._max_age / 3600:g} h)"
                if forgotten
                else "was sent before I started"
            )
            raise BadInputError(
                f"-i {count}: message 2 of {count} (the one after the message you replied to) "
                f"{why}, so I do not have it. Send the messages again and reply to the first."
            )
        if len(later) < count - 1:
            raise NotArrived(
                f"-i {count}: message {len(later) + 2} of {count} has not arrived: I know only "
                f"{len(later) + 1} message(s) from the one you replied to on. Send the rest "
                "first, then the command."
            )
        return later[: count - 1]
