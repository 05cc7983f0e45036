"""What a requester hands the intake, and what the intake hands back.

A :class:`Request` is one command, from whoever sends it: the chat front builds it from a
Telegram update, a feed or a search would build it from an entry. Nothing here knows Telegram's
API: the replied-to message is plain data (:class:`Replied`), and what only a chat can answer
(``-b`` list files, ``-i``'s following messages) is asked through :class:`Conversation`, which a
caller without a chat leaves out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from telebot.intake.args import TaskArgs


@dataclass(frozen=True)
class ReplyFile:
    """A Telegram document, video or audio a command refers to."""

    file_id: str
    file_name: str | None
    file_size: int | None


@dataclass(frozen=True)
class Requester:
    """Who asks, and where the answers go: the engine carries these ids back to its listener.
    ``message_id`` is the asking message (replies, /cancel by reply); None when there is none."""

    user_id: int
    chat_id: int
    message_id: int | None = None


class Message(Protocol):
    """What the intake uses of a message: its text (the link is its first word) and its file."""

    @property
    def text(self) -> str | None: ...

    @property
    def file(self) -> ReplyFile | None: ...


@dataclass(frozen=True)
class Replied:
    """The message a command replies to: where a link or file comes from when the command has
    none, and the list of ``-b`` or the first message of ``-i``."""

    message_id: int
    text: str | None = None  # its text or caption
    file: ReplyFile | None = None
    mime_type: str | None = None  # of a document (-b accepts text/plain lists)
    photo: str | None = None  # a photo's file_id (the size to use as a thumbnail, for -t)


class Conversation(Protocol):
    """What only a chat can answer, for ``-b`` and ``-i``. Called from the intake's thread
    (blocking is fine; the event loop is never this thread)."""

    def read_list(self, file: ReplyFile) -> str:
        """The text of a ``-b`` list file, capped (BadInputError when too large)."""
        ...

    def following(self, first_id: int, count: int) -> Sequence[Message]:
        """The ``count - 1`` messages after message ``first_id``, oldest first, waiting a
        moment for ones still in flight; BadInputError saying which one is missing."""
        ...

    def withdraw(self, message_id: int) -> None:
        """A ``-b`` list carries a password: delete the message, or ask its sender to."""
        ...


@dataclass(frozen=True)
class Request:
    """One command: ``command`` is ``mirror``, ``leech``, ``ytdl`` or ``ytdlleech`` (see
    :data:`telebot.intake.specs.COMMANDS`); ``args`` the words after it, or already parsed."""

    requester: Requester
    command: str
    args: str | TaskArgs = ""
    replied: Replied | None = None
    conversation: Conversation | None = None  # None: -b and -i are refused


@dataclass(frozen=True)
class Outcome:
    """What became of a request: the gids of the tasks queued (all of the request's, or none)
    and a line for the requester, or ``refusal`` (then ``gids`` is empty) saying why nothing
    was queued."""

    gids: tuple[str, ...] = ()
    notice: str | None = None  # e.g. "📋 Started 3 tasks." (many tasks; a single one is silent)
    refusal: str | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None
