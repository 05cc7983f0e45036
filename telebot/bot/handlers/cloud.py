"""Commands on rclone remotes: /clone (a task), /count, /list (paged search), /del (sudo, with a
confirm button).

Every remote a user names is checked against ``RCLONE_CONFIG`` (:class:`Remotes`) exactly like a
mirror destination, so these commands cannot read or delete on the bot's own disk either. Each
rclone call runs in a worker thread (``asyncio.to_thread``) with a timeout; handlers never block
the loop. Pending confirmations and search pages live in memory only (a restart forgets them:
the buttons then answer "expired"), keyed by a random token and bound to the requesting user.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from telebot.bot.context import BotContext
from telebot.bot.feature import Feature, Handler
from telebot.config import Config
from telebot.engine.manager import TaskManager
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError
from telebot.sinks.rclone.remotes import Destination, Remotes, looks_remote
from telebot.units import format_bytes

PREFIX = "rc"
COMMAND_TIMEOUT = 120.0  # seconds for one rclone size/lsjson/delete call
PER_PAGE = 10
MAX_RESULTS = 200  # a search stops collecting here; the reply says so
# Entries a search reads at most over all remotes (each one line of a streamed lsjson): a
# remote of millions of files answers "first N" in seconds instead of a timeout.
MAX_SCANNED = 200_000
SEARCH_DEPTH = 6  # lsjson -R --max-depth: bounds the walk of a huge remote
PENDING_TTL = 600.0  # seconds a confirm button or a result page stays usable
MAX_PENDING = 500


@dataclass(frozen=True)
class Pending:
    user_id: int
    created: float
    target: Destination | None = None  # /del
    results: tuple[str, ...] = ()  # /list
    title: str = ""


class CloudCommands(Feature):
    """Handlers for /clone, /count, /list and /del, and their buttons (``rc:`` callbacks)."""

    def __init__(
        self,
        config: Config,
        manager: TaskManager,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_results: int = MAX_RESULTS,
        max_scanned: int = MAX_SCANNED,
    ) -> None:
        self.config = config
        self.manager = manager
        self._clock = clock
        self.max_results = max_results  # /list's bounds (tests lower them)
        self.max_scanned = max_scanned
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}

    def commands(self) -> Mapping[str, Handler]:
        return {"clone": self.clone, "count": self.count, "list": self.search, "del": self.delete}

    def buttons(self) -> Mapping[str, Handler]:
        return {PREFIX: self.on_callback}

    def _remotes(self) -> Remotes:
        return Remotes.load(self.config.rclone_config, self.config.rclone_allowed_roots)

    # The rclone runner (sinks/rclone/sink.py, clone.py) is imported by the first command that
    # runs rclone, in its worker thread: the bot's start-up does not need it.

    def _rclone(self, *args: str) -> str:
        from telebot.sinks.rclone.sink import run_rclone

        return run_rclone(list(args), config=self._remotes().config_path, timeout=COMMAND_TIMEOUT)

    # -- /count -------------------------------------------------------------------------

    async def count(self, update: Update, ctx: BotContext) -> None:
        text = await asyncio.to_thread(self._count, _argument(update, "/count <remote:path>"))
        await ctx.reply(update, text)

    def _count(self, where: str) -> str:
        dest = self._remotes().check(where)
        totals = json.loads(self._rclone("size", "--json", "--", str(dest)))
        files = int(totals.get("count") or 0)
        return (f"📊 <code>{html.escape(str(dest))}</code>: {files} file{'s' if files != 1 else ''}"
                f", {format_bytes(int(totals.get('bytes') or 0))}")

    # -- /clone -------------------------------------------------------------------------

    async def clone(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        words = _argument(update, "/clone <remote:path> [-up remote:path]").split()
        source, dest = words[0], self.config.default_upload
        if len(words) == 3 and words[1] == "-up":
            dest = words[2]
        elif len(words) != 1:
            raise BadInputError("Write: /clone <remote:path> [-up remote:path]")
        if not looks_remote(dest):
            raise BadInputError("/clone needs a destination: -up remote:path (or DEFAULT_UPLOAD).")
        await asyncio.to_thread(self._check_clone, source, dest)
        spec = TaskSpec(kind="clone", source=source, chat_id=chat.id, user_id=user.id,
                        message_id=message.message_id, upload=dest)
        await asyncio.to_thread(self.manager.submit, spec)

    # -- /del ---------------------------------------------------------------------------

    async def delete(self, update: Update, ctx: BotContext) -> None:
        user = update.effective_user
        assert user is not None
        where = _argument(update, "/del <remote:path>")
        dest = await asyncio.to_thread(self._deletable, where)
        token = self._remember(Pending(user.id, self._clock(), target=dest))
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton("🗑 Delete", callback_data=f"{PREFIX}:del:{token}"),
            InlineKeyboardButton("Keep", callback_data=f"{PREFIX}:keep:{token}"),
        ]])
        await ctx.reply(update, f"Delete <code>{html.escape(str(dest))}</code>?", markup=markup)

    def _deletable(self, where: str) -> Destination:
        """``where`` normalised, or :class:`BadInputError` when deleting it would remove a
        remote's root: ``wd:``, ``wd:./``, ``wd://`` or an alias of ``wd:`` all name the whole
        remote, and ``rclone purge`` would empty it. Reads the config (worker thread)."""
        remotes = self._remotes()
        dest = remotes.check(where).normalized()
        holder = remotes.root_holder(dest)
        if holder is not None:
            raise BadInputError(
                f"/del does not delete a remote's root: {dest} is or holds the whole of "
                f"remote {holder!r}; name a file or folder inside it."
            )
        return dest

    def _delete(self, dest: Destination) -> str:
        # Checked again at the press: the config may have gained an alias since the question.
        dest = self._deletable(str(dest))
        found = json.loads(self._rclone("lsjson", "--stat", "--", str(dest)))
        verb = "purge" if found.get("IsDir") else "deletefile"
        self._rclone(verb, "--", str(dest))
        return f"🗑 Deleted <code>{html.escape(str(dest))}</code>."

    # -- /list --------------------------------------------------------------------------

    async def search(self, update: Update, ctx: BotContext) -> None:
        user = update.effective_user
        assert user is not None
        words = _argument(update, "/list <words>").lower().split()
        results, scanned, capped = await asyncio.to_thread(self._search, words)
        title = f"🔎 {len(results)} result(s) for <code>{html.escape(' '.join(words))}</code>"
        if capped:
            title += (f" (first {len(results)} shown, after {scanned} entries; there may be "
                      "more: add words to narrow it)")
        token = self._remember(Pending(user.id, self._clock(), results=tuple(results), title=title))
        text, markup = _page(self._pending[token], token, 0)
        await ctx.reply(update, text, markup=markup)

    def _check_clone(self, source: str, dest: str) -> None:
        from telebot.sinks.rclone.clone import check_clone

        check_clone(self.config.rclone_config, source, dest, self.config.rclone_allowed_roots)

    def _search(self, words: list[str]) -> tuple[list[str], int, bool]:
        """Paths of every usable remote whose text holds all ``words``; the entries read; and
        whether a bound (:attr:`max_results`, :attr:`max_scanned`) stopped the search early.

        rclone's ``lsjson`` prints one entry per line (``[``, then ``{...},`` lines, then
        ``]``); each line is read as it comes and the child is stopped at a bound, so a remote
        of any size is searched in bounded memory (reading it whole failed past 16 MiB)."""
        from telebot.sinks.rclone.sink import stream_rclone

        remotes = self._remotes()
        found: list[str] = []
        scanned = 0

        for name in remotes.names():
            def on_line(line: str, name: str = name) -> bool:
                nonlocal scanned
                item = lsjson_entry(line)
                if item is None:
                    return True
                scanned += 1
                path = str(item.get("Path", ""))
                if all(word in path.lower() for word in words):
                    found.append(f"{name}:{path}{'/' if item.get('IsDir') else ''}")
                return len(found) < self.max_results and scanned < self.max_scanned

            finished = stream_rclone(
                ["lsjson", "-R", "--max-depth", str(SEARCH_DEPTH), "--no-mimetype",
                 "--no-modtime", "--", f"{name}:"],
                config=remotes.config_path, on_line=on_line, timeout=COMMAND_TIMEOUT,
            )
            if not finished:
                return found, scanned, True
        return found, scanned, False

    # -- buttons ------------------------------------------------------------------------

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and user is not None
        parts = (query.data or "").split(":")
        pending = self._pending.get(parts[2]) if len(parts) >= 3 else None
        if pending is None or self._clock() - pending.created > PENDING_TTL:
            await query.answer("This button has expired.")
            return
        if pending.user_id != user.id:
            await query.answer("Only the user who asked can use these buttons.")
            return
        await query.answer()
        message = query.message
        assert message is not None
        if parts[1] == "p" and len(parts) == 4 and parts[3].isdigit():
            text, markup = _page(pending, parts[2], int(parts[3]))
        else:
            self._forget(parts[2])
            text, markup = "Kept.", None
            if parts[1] == "del" and pending.target is not None:
                text = await asyncio.to_thread(self._delete_reported, pending.target)
        await asyncio.to_thread(ctx.bridge.edit_text, message.chat.id, message.message_id, text,
                                markup=markup)

    def _delete_reported(self, dest: Destination) -> str:
        try:
            return self._delete(dest)
        except Exception as exc:  # shown in the chat; texts are redacted by run_rclone
            return f"❌ Could not delete <code>{html.escape(str(dest))}</code>: " \
                   f"{html.escape(str(exc))}"

    def _remember(self, pending: Pending) -> str:
        token = secrets.token_hex(6)
        with self._lock:
            now = self._clock()
            for key in [k for k, p in self._pending.items() if now - p.created > PENDING_TTL]:
                del self._pending[key]
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[token] = pending
        return token

    def _forget(self, token: str) -> None:
        with self._lock:
            self._pending.pop(token, None)


def lsjson_entry(line: str) -> dict[str, Any] | None:
    """One entry of ``rclone lsjson`` output from its line (``{...}`` with a trailing comma
    except on the last), or None for the ``[`` and ``]`` lines and anything unreadable."""
    text = line.strip().rstrip(",")
    if not text.startswith("{"):
        return None
    try:
        item = json.loads(text)
    except ValueError:
        return None
    return item if isinstance(item, dict) else None


def _argument(update: Update, usage: str) -> str:
    message = update.effective_message
    words = (message.text or "").split(maxsplit=1) if message is not None else []
    if len(words) < 2 or not words[1].strip():
        raise BadInputError(f"Write: {usage}")
    return words[1].strip()


def _page(pending: Pending, token: str, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    pages = max(1, -(-len(pending.results) // PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = pending.results[page * PER_PAGE:(page + 1) * PER_PAGE]
    lines = [pending.title, *(f"<code>{html.escape(r)}</code>" for r in shown)]
    if pages == 1:
        return "\n".join(lines), None
    lines.append(f"Page {page + 1}/{pages}")
    nav = [
        InlineKeyboardButton(label, callback_data=f"{PREFIX}:p:{token}:{to}")
        for label, to in (("◀", page - 1), ("▶", page + 1))
        if 0 <= to < pages
    ]
    return "\n".join(lines), InlineKeyboardMarkup([nav])
