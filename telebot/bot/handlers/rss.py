"""/rss: RSS and Atom subscriptions (telebot/feeds/rss/).

The handler only splits the words: everything else (the feed's first fetch, SQLite) runs in a
thread through :class:`~telebot.feeds.rss.service.RssService`, and a
:class:`~telebot.errors.BadInputError` becomes the ❌ reply (bot/application.py). The poller
thread starts in :meth:`RssFeature.started` and stops in :meth:`RssFeature.stopping`; items
become tasks through the same intake as a typed /mirror, as their subscriber.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from telegram import Update

from telebot.bot.commands import spec_of
from telebot.bot.feature import Feature, Handler
from telebot.config import Config
from telebot.errors import BadInputError
from telebot.intake.desk import Intake
from telebot.intake.specs import COMMANDS
from telebot.lazy import Lazy
from telebot.sources.http.addresses import check_url

if TYPE_CHECKING:
    from telebot.bot.context import BotContext
    from telebot.feeds.rss.poller import Poller
    from telebot.feeds.rss.service import RssService


def task_command(name: str) -> str | None:
    """A task command's name from its name or alias (``m`` → ``mirror``), else None."""
    try:
        spec = spec_of(name)
    except KeyError:
        return None
    return spec.name if spec.name in COMMANDS else None


class RssFeature(Feature):
    """The /rss command and the poller thread behind it.

    The RSS machinery (feedparser, the guarded HTTP client) is imported and built once polling
    has begun, in a thread of its own, or by the first /rss if that comes first: start-up need
    not load it.
    """

    def __init__(self, config: Config, ctx: BotContext, intake: Intake) -> None:
        self._config = config
        self._ctx = ctx
        self._intake = intake
        self._parts: Lazy[tuple[RssService, Poller]] = Lazy(self._make_parts)
        self._stopped = False
        self._lock = threading.Lock()

    def _make_parts(self) -> tuple[RssService, Poller]:
        from telebot.feeds.rss.book import FeedBook
        from telebot.feeds.rss.fetch import FeedFetcher
        from telebot.feeds.rss.poller import Poller
        from telebot.feeds.rss.service import RssService

        allow_private = self._config.allow_private_links
        service = RssService(
            FeedBook(self._ctx.store),
            FeedFetcher(allow_private=allow_private),
            self._intake.submit,
            self._notify,
            resolve=task_command,
            # Before a task is made for it: the source would refuse it too, later.
            check_link=lambda link: check_url(link, allow_private=allow_private)
            if link.lower().startswith(("http://", "https://")) else None,
        )
        return service, Poller(service, self._config.rss_interval)

    @property
    def service(self) -> RssService:
        return self._parts.get()[0]

    def commands(self) -> Mapping[str, Handler]:
        return {"rss": self.rss}

    def _notify(self, chat_id: int, text: str) -> None:
        self._ctx.bridge.send_text(chat_id, text)  # from the poller thread (never the loop)

    def polling_started(self) -> None:
        threading.Thread(target=self._start_poller, name="rss-start", daemon=True).start()

    def _start_poller(self) -> None:
        poller = self._parts.get()[1]
        with self._lock:
            if self._stopped:
                return
            poller.start()
        poller.polling_started()

    def stopping(self) -> None:
        with self._lock:
            self._stopped = True
            built = self._parts.made
        if built is not None:
            built[1].stop()

    async def rss(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        sudo = ctx.auth.is_sudo(user.id)
        text = await asyncio.to_thread(self._answer, user.id, chat.id, sudo, message.text or "")
        await ctx.reply(update, text)

    def _answer(self, user_id: int, chat_id: int, sudo: bool, text: str) -> str:
        from telebot.feeds.rss.service import USAGE

        words = text.split(maxsplit=2)
        action = words[1].lower() if len(words) > 1 else ""
        rest = words[2] if len(words) > 2 else ""
        service = self.service
        if action == "add":
            return service.add(user_id, chat_id, rest)
        if action == "list" and not rest:
            return service.list_text(user_id, sudo)
        if action in ("pause", "resume", "remove", "check") and len(rest.split()) == 1:
            method = {"pause": service.pause, "resume": service.resume,
                      "remove": service.remove, "check": service.check_now}[action]
            return method(user_id, sudo, rest.strip())
        if action == "get" and 1 <= len(rest.split()) <= 2:
            ref, *count = rest.split()
            return service.recent(user_id, sudo, ref, count[0] if count else None)
        raise BadInputError(USAGE)
