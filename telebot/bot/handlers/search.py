"""/search: torrent search on the owner's Torznab indexers (telebot/feeds/torznab), and the
buttons of its result pages.

``/search <words> [-cat movies|tv|...]`` asks every indexer in a worker thread and answers with
one message: a page of :data:`~telebot.feeds.torznab.results.PER_PAGE` results (name, size,
seeders, indexer; most seeded first), a Mirror and a Leech button per result, ◀ ▶ and Close,
and a footer naming each indexer that failed. Callback data: ``sr:<search id>:<action>[:<n>]``
(``p`` page, ``m``/``l`` mirror/leech result n, ``x`` close), at most 24 bytes.

Only the user who searched may press (others are answered and nothing happens). A Mirror or
Leech press becomes the same :class:`~telebot.intake.request.Request` a typed ``/mirror
<magnet>`` makes, with the result's link as the only argument (never parsed for flags: the link
comes from an indexer), and goes through :meth:`TaskCommands.submit`, the typed commands' own
reply path.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from telebot.bot.context import BotContext
from telebot.bot.feature import Feature, Handler
from telebot.bot.handlers.tasks import TaskCommands
from telebot.errors import BadInputError
from telebot.feeds.torznab.categories import CATEGORIES, category_ids
from telebot.feeds.torznab.results import Search, Searches
from telebot.intake.args import TaskArgs
from telebot.intake.request import Request, Requester
from telebot.lazy import Lazy
from telebot.redact import redact
from telebot.shown import html_name
from telebot.units import format_bytes

if TYPE_CHECKING:
    from telebot.feeds.torznab.client import Answer, TorznabClient

log = logging.getLogger(__name__)

PREFIX = "sr"
USAGE = f"/search <words> [-cat {'|'.join(CATEGORIES)}]"
NOT_CONFIGURED = (
    "🔎 Search is not configured: the owner sets TORZNAB_URL and TORZNAB_API_KEY "
    "(the Torznab feed of Jackett or Prowlarr)."
)
NOT_YOURS = "These results are not yours: only the user who searched can use them."
EXPIRED = "This search has expired: search again."
NAME_SHOWN = 90  # characters of a result's name on the page
MAX_QUERY = 200  # characters of the words sent to the indexers


def parse_query(text: str) -> tuple[str, str | None]:
    """The words and the ``-cat`` word of ``/search``'s arguments; BadInputError for no words,
    a ``-cat`` without its word or given twice, or an unknown category."""
    words = text.split()
    category: str | None = None
    if "-cat" in words:
        at = words.index("-cat")
        if at + 1 >= len(words):
            raise BadInputError(f"-cat needs a category. Write: {USAGE}")
        category = words[at + 1].lower()
        category_ids(category)  # refuses an unknown word, listing the known ones
        del words[at:at + 2]
        if "-cat" in words:
            raise BadInputError("-cat is given twice: give one category.")
    query = " ".join(words)[:MAX_QUERY]
    if not query:
        raise BadInputError(f"Write: {USAGE}")
    return query, category


def render(search: Search, sid: str, page: int) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one page of ``search``."""
    page, shown = search.page(page)
    what = f"<code>{html.escape(search.query)}</code>"
    if search.category:
        what += f" ({search.category})"
    count = len(search.results)
    lines = [f"🔎 <b>{count} result{'s' if count != 1 else ''}</b> for {what}"]
    for index, result in shown:
        size = format_bytes(result.size) if result.size is not None else "size ?"
        seeders = result.seeders if result.seeders is not None else "?"
        lines.append(
            f"\n<b>{index + 1}.</b> {html_name(result.title, NAME_SHOWN)}\n"
            f"    {size} · 🌱 {seeders} · {html.escape(result.indexer)}"
        )
    if search.pages > 1:
        lines.append(f"\nPage {page + 1}/{search.pages}")
    for failure in search.failures:
        lines.append(f"⚠️ {html.escape(failure.indexer)}: {html.escape(failure.reason)}")
    # The parser (and xml.etree under it) is the client's: imported by the first /search, not
    # by the bot's start-up.
    from telebot.feeds.torznab.parse import MAX_ITEMS

    for label in search.capped:
        lines.append(f"📎 {html.escape(label)}: only its first {MAX_ITEMS} results are here; "
                     "add words to narrow the search.")
    base = f"{PREFIX}:{sid}"
    rows = [
        [
            InlineKeyboardButton(f"{index + 1}. Mirror", callback_data=f"{base}:m:{index}"),
            InlineKeyboardButton(f"{index + 1}. Leech", callback_data=f"{base}:l:{index}"),
        ]
        for index, _ in shown
    ]
    if search.pages > 1:
        rows.append([
            InlineKeyboardButton("◀", callback_data=f"{base}:p:{(page - 1) % search.pages}"),
            InlineKeyboardButton(f"{page + 1}/{search.pages}", callback_data=f"{base}:p:{page}"),
            InlineKeyboardButton("▶", callback_data=f"{base}:p:{(page + 1) % search.pages}"),
        ])
    rows.append([InlineKeyboardButton("✖ Close", callback_data=f"{base}:x")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


class SearchCommand(Feature):
    """/search and its ``sr:`` buttons. ``client`` makes the Torznab client (on the first
    /search, in a worker thread: it brings the HTTP libraries, which start-up need not load);
    None when TORZNAB_URL is not set."""

    def __init__(self, client: Callable[[], TorznabClient] | None, tasks: TaskCommands,
                 searches: Searches | None = None) -> None:
        self.client = client
        self.tasks = tasks
        self.searches = searches or Searches()
        self._client = Lazy(client) if client is not None else None

    def _search(self, query: str, ids: Sequence[int]) -> Answer:
        assert self._client is not None
        return self._client.get().search(query, ids)

    def commands(self) -> Mapping[str, Handler]:
        return {"search": self.search}

    def buttons(self) -> Mapping[str, Handler]:
        return {PREFIX: self.on_callback}

    async def search(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        if self.client is None:
            await ctx.reply(update, NOT_CONFIGURED)
            return
        text = (message.text or "").split(maxsplit=1)
        query, category = parse_query(text[1] if len(text) > 1 else "")
        ids = category_ids(category) if category else ()
        answer = await asyncio.to_thread(self._search, query, ids)  # blocking: HTTP
        if not answer.results:
            lines = [f"🔎 No results for <code>{html.escape(query)}</code>."]
            lines += [f"⚠️ {html.escape(f.indexer)}: {html.escape(f.reason)}"
                      for f in answer.failures]
            await ctx.reply(update, "\n".join(lines))
            return
        found = Search(user.id, chat.id, query, category, tuple(answer.results),
                       tuple(answer.failures), created=self.searches.now(),
                       capped=tuple(answer.truncated))
        sid = self.searches.add(found)
        page_text, markup = render(found, sid, 0)
        await ctx.reply(update, page_text, markup=markup)

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, user, chat = update.callback_query, update.effective_user, update.effective_chat
        assert query is not None and user is not None
        parts = (query.data or "").split(":")
        found = self.searches.get(parts[1]) if len(parts) >= 3 else None
        if found is None:
            await query.answer(EXPIRED)
            return
        if user.id != found.user_id:
            await query.answer(NOT_YOURS)
            return
        message = query.message
        assert message is not None and chat is not None
        sid, action = parts[1], parts[2]
        number = int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None
        if action == "p" and number is not None:
            await query.answer()
            page_text, markup = render(found, sid, number)
            await asyncio.to_thread(ctx.bridge.edit_text, message.chat.id, message.message_id,
                                    page_text, markup=markup)
        elif action == "x":
            self.searches.forget(sid)
            await query.answer()
            await asyncio.to_thread(ctx.bridge.edit_text, message.chat.id, message.message_id,
                                    f"🔎 Search for <code>{html.escape(found.query)}</code> "
                                    "closed.")
        elif action in ("m", "l") and number is not None and number < len(found.results):
            await self._start(update, ctx, found, number, "mirror" if action == "m" else "leech")
        else:
            await query.answer()

    async def _start(self, update: Update, ctx: BotContext, found: Search, number: int,
                     command: str) -> None:
        query, user, chat = update.callback_query, update.effective_user, update.effective_chat
        assert query is not None and user is not None and chat is not None
        result = found.results[number]
        message_id = query.message.message_id if query.message is not None else None
        # A result's link is a magnet or the indexer's .torrent download, whose path rarely
        # ends in .torrent (Jackett: /dl/<tracker>/?jackett_apikey=...): say which it is.
        torrent_file = not result.link.lower().startswith("magnet:")
        request = Request(Requester(user.id, chat.id, message_id), command,
                          TaskArgs(link=result.link, torrent_link=torrent_file))
        outcome = await self.tasks.submit(request)
        if outcome.refusal is not None:
            # As the guard answers a typed command's refusal (bot/application.py).
            log.info("/%s of search result from %s refused: %s", command, user.id,
                     redact(outcome.refusal))
            await query.answer(outcome.refusal[:200])
            await ctx.reply(update, f"❌ {html.escape(outcome.refusal)}")
            return
        await query.answer(f"/{command}: {result.title}"[:200])
