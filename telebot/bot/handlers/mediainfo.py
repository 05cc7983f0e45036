"""``/mediainfo`` (``/mi``): a short ffprobe summary of a link or a Telegram file.

Write ``/mediainfo <link>``, or reply with ``/mediainfo`` to a document, video or audio, or to
a message holding a link. Only the head and tail of the file are fetched
(:mod:`telebot.processing.media.mediainfo`); links through the :class:`LinkReader` a source
plug-in provides (which also says which words are its links: sources/http's ``LinkRanges`` reads
them through the same guarded downloader as ``/mirror``), Telegram files through ``getFile`` and
a ranged GET (with a local Bot API server ffprobe reads the file where
it lies). The handler only parses; the work runs in a thread, and errors come back as one line.
"""

from __future__ import annotations

import asyncio
import html
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from telegram import Update

from telebot.bot.context import BotContext
from telebot.bot.recent import file_of
from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.errors import BadInputError, TelebotError
from telebot.intake.request import ReplyFile
from telebot.lazy import Lazy
from telebot.shown import short_name
from telebot.sources.names import filename_from_url, sanitize_filename

if TYPE_CHECKING:
    from telebot.processing.media import mediainfo as media
    from telebot.sources.tgfile import TelegramFileSource

log = logging.getLogger(__name__)

USAGE = "Write /mediainfo <link>, or reply with /mediainfo to a file or a link."


class LinkReader(Protocol):
    """Reads byte ranges of the links it takes, without a task (a source plug-in provides it)."""

    def takes(self, link: str) -> bool: ...

    def read_range(
        self, link: str, start: int, length: int, cancel: threading.Event
    ) -> tuple[bytes, int | None]: ...


class MediaInfo:
    """The /mediainfo handler and the work behind it (one instance serves every chat)."""

    def __init__(
        self, config: Config, messenger: Callable[[], Messenger], links: Callable[[], LinkReader]
    ) -> None:
        """``links`` makes the link reader on the first /mediainfo (in a worker thread): it
        and the Telegram file source bring the HTTP libraries, which start-up need not load."""
        self._config = config
        self._messenger = messenger
        self._make_links = links
        self._readers = Lazy(self._make_readers)

    async def command(self, update: Update, ctx: BotContext) -> None:
        chat = update.effective_chat
        assert chat is not None
        text = await asyncio.to_thread(self._answer, chat.id, update)
        await ctx.reply(update, text)

    def _answer(self, chat_id: int, update: Update) -> str:
        return self.describe(chat_id, _target(update, self._readers.get()[0]))

    def _make_readers(self) -> tuple[LinkReader, TelegramFileSource]:
        from telebot.sources import tgfile

        telegram = tgfile.TelegramFileSource(
            tgfile.TelegramFileSettings.from_config(self._config), self._messenger
        )
        return self._make_links(), telegram

    def describe(self, chat_id: int, target: str | ReplyFile) -> str:
        """The summary message for a link or a Telegram file; one ❌ line on failure."""
        from telebot.processing.media import mediainfo as media  # ffprobe's side: on first use

        name = short_name(_name_of(target))  # shown in the summary and in a refusal
        cancel = threading.Event()  # a command has no /cancel; timeouts bound it instead
        try:
            with tempfile.TemporaryDirectory(prefix="telebot-mediainfo-") as folder:
                sample = self._sample(chat_id, target, Path(folder) / "sample", cancel)
                data = media.probe(sample.path, cancel)
                return media.summary(data, name, sample if sample.size else None)
        except TelebotError as exc:
            log.info("/mediainfo of %s: %s", name, exc)
            return f"❌ {html.escape(name)}: {html.escape(str(exc))}"

    def _sample(
        self, chat_id: int, target: str | ReplyFile, path: Path, cancel: threading.Event
    ) -> media.Sample:
        from telebot.processing.media import mediainfo as media

        links, telegram = self._readers.get()
        if isinstance(target, str):
            return media.fetch_sample(
                lambda start, length: links.read_range(target, start, length, cancel),
                path,
            )
        where = telegram.locate(chat_id, target.file_id, target.file_size)
        if Path(where).is_absolute():  # local Bot API server: the whole file is on our disk
            return media.Sample(Path(where), target.file_size or 0, None)
        return media.fetch_sample(
            lambda start, length: telegram.read_range(where, start, length, cancel),
            path,
            target.file_size,
        )


def _target(update: Update, links: LinkReader) -> str | ReplyFile:
    """The link after the command, else the replied-to file, else a link in the reply."""
    message = update.effective_message
    assert message is not None
    words = (message.text or "").split()
    if len(words) > 1:
        if not links.takes(words[1]):
            raise BadInputError(f"Only http:// and https:// links are supported. {USAGE}")
        return words[1]
    reply = message.reply_to_message
    replied = file_of(reply) if reply is not None else None
    if replied is not None:
        return replied
    text = (reply.text or reply.caption or "") if reply is not None else ""
    link = next((w for w in text.split() if links.takes(w)), None)
    if link is None:
        raise BadInputError(USAGE)
    return link


def _name_of(target: str | ReplyFile) -> str:
    if isinstance(target, str):
        return sanitize_filename(filename_from_url(target) or "", fallback="link")
    return sanitize_filename(target.file_name or "", fallback="telegram_file")
