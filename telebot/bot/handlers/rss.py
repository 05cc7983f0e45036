"""/rss: RSS and Atom subscriptions (telebot/feeds/rss/).

The handler only splits the words: everything else (the feed's first fetch, SQLite) runs in a
thread through :class:`~telebot.feeds.rss.service.RssService`, and a
:class:`~telebot.errors.BadInputError` becomes the ❌ reply (bot/application.py). The poller
thread starts in :meth:`RssFeature.started` and stops in :meth:`RssFeature.stopping`; items
become tasks through the same intake as a typed /mirror, as their subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from telegram import Update

from telebot.bot.commands import spec_of
from telebot.bot.feature import Feature, Handler
from telebot.config import Config
from telebot.errors import BadInputError
from telebot.feeds.rss.book import FeedBook
from telebot.feeds.rss.fetch import FeedFetcher
from telebot.feeds.rss.poller import Poller
from telebot.feeds.rss.service import USAGE, RssService
from telebot.intake.desk import Intake
from telebot.intake.specs import COMMANDS
from telebot.sources.http.netguard import check_url

if TYPE_CHECKING:
    from telebot.bot.application import BotContext


def task_command(name: str) -> str | None:
    """A task command's name from its name or alias (``m`` → ``mirror``), else None."""
    try:
        spec = spec_of(name)
    except KeyError:
        return None
    return spec.name if spec.name in COMMANDS else None


class RssFeature(Feature):
    """The /rss command and the poller thread behind it."""

    def __init__(self, config: Config, ctx: BotContext, intake: Intake) -> None:
        self._ctx = ctx
        self.service = RssService(
            FeedBook(ctx.store),
            FeedFetcher(allow_private=config.allow_private_links),
            intake.submit,
            self._notify,
            resolve=task_command,
            # Before a task is made for it: the source would refuse it too, later.
            check_link=lambda link: check_url(link, allow_private=config.allow_private_links)
            if link.lower().startswith(("http://", "https://")) else None,
        )
        self._poller = Poller(self.service, config.rss_interval)

    def commands(self) -> Mapping[str, Handler]:
        return {"rss": self.rss}

    def _notify(self, chat_id: int, text: str) -> None:
        self._ctx.bridge.send_text(chat_id, text)  # from the poller thread (never the loop)

    def started(self, ctx: BotContext) -> None:
        self._poller.start()

    def polling_started(self) -> None:
        self._poller.polling_started()

    def stopping(self) -> None:
        self._poller.stop()

    async def rss(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        words = (message.text or "").split(maxsplit=2)
        action = words[1].lower() if len(words) > 1 else ""
        rest = words[2] if len(words) > 2 else ""
        service, sudo = self.service, ctx.auth.is_sudo(user.id)
        if action == "add":
            text = await asyncio.to_thread(service.add, user.id, chat.id, rest)
        elif action == "list" and not rest:
            text = await asyncio.to_thread(service.list_text, user.id, sudo)
        elif action in ("pause", "resume", "remove", "check") and len(rest.split()) == 1:
            method = {"pause": service.pause, "resume": service.resume,
                      "remove": service.remove, "check": service.check_now}[action]
            text = await asyncio.to_thread(method, user.id, sudo, rest.strip())
        elif action == "get" and 1 <= len(rest.split()) <= 2:
            ref, *count = rest.split()
            text = await asyncio.to_thread(
                service.recent, user.id, sudo, ref, count[0] if count else None
            )
        else:
            raise BadInputError(USAGE)
        await ctx.reply(update, text)
