"""The python-telegram-bot Application: building it, the handler plumbing, and the admin commands.

Handlers run on the event loop and stay thin: they parse, authorize and hand work to the engine.
:func:`build_application` registers what each feature declares (``bot/feature.py``): a
``CommandHandler`` per command of the table (``bot/commands.py``), a ``CallbackQueryHandler``
with the pattern ``^<prefix>:`` per button prefix, and the plain-message readers.
Their replies also go through the :class:`~telebot.botapi.messenger.Messenger` (via
``to_thread``) so that one rate limiter sees every message the bot sends to a chat.
"""

from __future__ import annotations

import asyncio
import functools
import html
import io
import logging
import ssl
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from telebot import startgc
from telebot.bot.announce import split_messages
from telebot.bot.commands import COMMANDS, CommandSpec, command_names, help_text
from telebot.bot.context import BotContext
from telebot.bot.feature import Feature, Handler, button_pattern, claimed
from telebot.botapi.messenger import Messenger, describe_error
from telebot.errors import BadInputError
from telebot.intake.auth import Authorizer, Level
from telebot.redact import carries_credentials, redact

log = logging.getLogger(__name__)

# Threads behind asyncio.to_thread. A handler's thread mostly waits on Telegram (a Messenger
# call waits for the loop, up to its 60 s timeout), so the pool is sized for waiting, not for
# CPU: asyncio's default (CPU count + 4, six on two cores) let six stalled replies hold every
# command back (tests/e2e/test_loop.py).
HANDLER_THREADS = 64
MESSAGE_GROUP = 1  # PTB handler group of plain messages (see build_application)
RECORD_GROUP = 2  # PTB handler group that remembers every message for -i (bot/recent.py)

REFUSAL = "⛔ You are not authorized to use this bot. Ask its owner to /auth you."


class PollingRequest(HTTPXRequest):
    """The getUpdates request object: notes each successful poll (for the health heartbeat),
    logs how long the process took to reach its first poll, and starts what waits for it.

    The features' ``polling_started`` hooks start threads (the plug-ins' import, the sampler,
    the restore) that would compete with this loop for the GIL while it connects and writes
    the first getUpdates: they run once its request has been written (httpcore's trace
    event), or when the request ended without that event (it failed before being sent).
    """

    def __init__(self, ctx: BotContext, tls: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        hooks = {"event_hooks": {"request": [self._on_request]}}
        super().__init__(httpx_kwargs=hooks | _verify(tls), **kwargs)
        self._ctx = ctx
        self._first = True
        self._announced = False  # the polling_started hooks have run

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if self._first and url.endswith("/getUpdates"):
            self._first = False
            elapsed = (time.time() - self._ctx.process_started_at) * 1000
            log.info("startup: first getUpdates %.0f ms after process start", elapsed)
        try:
            result = await super().do_request(url, method, *args, **kwargs)
        finally:
            self._polling_started()  # a no-op once the trace event ran them
        if result[0] == 200 and url.endswith("/getUpdates"):
            for feature in self._ctx.features:
                feature.polled()
        return result

    async def _on_request(self, request: httpx.Request) -> None:
        if not self._announced and request.url.path.endswith("/getUpdates"):
            request.extensions["trace"] = self._trace

    async def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event.endswith(".send_request_body.complete"):  # http11. or http2.
            self._polling_started()

    def _polling_started(self) -> None:
        if self._announced:
            return
        self._announced = True
        self._ctx.polling.set()
        for feature in self._ctx.features:
            feature.polling_started()
        startgc.resume()  # paused by python -m telebot for the start


# -- handler plumbing ---------------------------------------------------------------------


def guarded(
    spec: CommandSpec, handler: Handler
) -> Callable[[Update, Any], Coroutine[Any, Any, None]]:
    """Wrap a handler: authorize, refuse politely (rarely), and never let an error escape."""

    @functools.wraps(handler)
    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ctx: BotContext = context.bot_data["ctx"]
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        level = ctx.auth.level_of(user.id, chat.id)
        if level is None:
            await _refuse(ctx, update)
            return
        if level < spec.level:
            who = "the owner" if spec.level is Level.OWNER else "sudo users"
            await ctx.reply(update, f"/{spec.name} is only for {who}.")
            return
        me = ctx.track_handler()
        try:
            await handler(update, ctx)
        except BadInputError as exc:
            # The user's mistake, not ours: one INFO line (no traceback buries real errors).
            log.info("/%s from %s refused: %s", spec.name, user.id, redact(str(exc)))
            await ctx.reply(update, f"❌ {html.escape(str(exc))}")
        except Exception as exc:
            log.exception("handler /%s failed", spec.name)
            await ctx.reply(update, f"❌ {html.escape(describe_error(exc))}")
        finally:
            ctx.handler_tasks.discard(me)
            await _delete_if_credentials(update, ctx)

    return run


DELETED_NOTE = "🔒 I deleted your message because it contained a password."
KEEP_NOTE = (
    "🔒 Your message contains a password, and I may not delete it here "
    "(I need admin rights in groups): please delete it yourself."
)
DELETED_LIST_NOTE = "🔒 I deleted the list you replied to because it contained a password."
KEEP_LIST_NOTE = (
    "🔒 The list you replied to contains a password, and I may not delete it here "
    "(I need admin rights in groups): please delete it yourself."
)


async def _delete_if_credentials(update: Update, ctx: BotContext) -> None:
    """A command carrying ``-ap`` or an ``Authorization`` header must not stay in the chat."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not carries_credentials(message.text or ""):
        return
    await remove_credentials(ctx, chat.id, message.message_id)


async def remove_credentials(
    ctx: BotContext, chat_id: int, message_id: int, *, notes: tuple[str, str] | None = None
) -> None:
    """Delete a message that carries credentials when the bot may (private chats; groups where
    it is admin), else ask the user to; ``notes`` are what to say in either case (default: the
    command's own). Off the loop, through the Messenger like every other call; never raises."""
    deleted_note, keep_note = notes or (DELETED_NOTE, KEEP_NOTE)
    try:
        deleted = await asyncio.to_thread(ctx.bridge.delete, chat_id, message_id)
        note = deleted_note if deleted else keep_note
        await asyncio.to_thread(ctx.bridge.send_text, chat_id, note)
    except Exception as exc:  # a failed notice must not hide the command's own answer
        log.warning("could not remove a message with credentials: %s", exc)


async def _refuse(ctx: BotContext, update: Update) -> None:
    """One short refusal in private chats, at most once a minute per user; silence in groups."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != "private":
        return
    if ctx.refusals.should_reply(user.id):
        log.info("refused unauthorized user %s", user.id)
        await ctx.reply(update, REFUSAL)


# -- the foundation's commands ------------------------------------------------------------


async def cmd_start(update: Update, ctx: BotContext) -> None:
    await ctx.reply(
        update,
        "👋 telebot is running and you may use it.\n"
        "Send /mirror &lt;link&gt; or /leech &lt;link&gt;; /help lists everything.",
    )


async def cmd_help(update: Update, ctx: BotContext) -> None:
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    text = help_text(ctx.auth.level_of(user.id, chat.id) or Level.USER)
    # An owner's list passes Telegram's 4096 characters: its sections go as several messages.
    for part in split_messages(text.split("\n\n")):
        await ctx.reply(update, part)


async def cmd_ping(update: Update, ctx: BotContext) -> None:
    chat = update.effective_chat
    assert chat is not None
    start = time.perf_counter()
    sent = await asyncio.to_thread(ctx.bridge.send_text, chat.id, "🏓 Pong…")
    elapsed_ms = (time.perf_counter() - start) * 1000
    await asyncio.to_thread(
        ctx.bridge.edit_text, sent.chat_id, sent.message_id, f"🏓 Pong: {elapsed_ms:.0f} ms"
    )


def target_id(update: Update, *, default_chat: bool) -> int | None:
    """The id a command acts on: an argument, else the replied-to user, else (maybe) this chat."""
    message = update.effective_message
    if message is None:
        return None
    parts = (message.text or "").split()
    if len(parts) > 1:
        try:
            return int(parts[1])
        except ValueError:
            return None
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None:
        return reply.from_user.id
    if default_chat and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _membership_command(
    action: str,
    change: Callable[[Authorizer, int], bool],
    *,
    default_chat: bool,
    removes: str | None = None,
) -> Handler:
    """/auth, /unauth, /addsudo, /rmsudo. ``removes`` ("authorized" or "sudo") marks a removal:
    an id the config grants that right cannot be removed by a command, and the reply says where
    to remove it instead of a puzzling "(no change)"."""

    async def handler(update: Update, ctx: BotContext) -> None:
        target = target_id(update, default_chat=default_chat)
        if target is None:
            await ctx.reply(
                update, f"Give a numeric id or reply to the user's message to {action}."
            )
            return
        changed = await asyncio.to_thread(change, ctx.auth, target)
        setting = ctx.auth.config_setting_for(target, sudo=removes == "sudo") if removes else None
        if setting is not None:
            await ctx.reply(
                update,
                f"⚠️ <code>{target}</code> is {removes} by {setting} in the config; "
                "remove it there.",
            )
            return
        note = "" if changed else " (no change)"
        await ctx.reply(update, f"✅ <code>{target}</code> {action}{note}.")

    return handler


async def cmd_users(update: Update, ctx: BotContext) -> None:
    people = ctx.auth.describe()

    def ids(values: list[int]) -> str:
        return ", ".join(f"<code>{v}</code>" for v in values) or "none"

    await ctx.reply(
        update,
        f"<b>Owner</b>: {ids(people['owner'])}\n<b>Sudo</b>: {ids(people['sudo'])}\n"
        f"<b>Authorized chats/users</b>: {ids(people['chats'])}",
    )


# The log is still being written while it is sent, so /log sends a snapshot: its last 10 MB
# (the recent part is what an owner looks for, and it stays far below the 50 MB upload limit).
LOG_SNAPSHOT_BYTES = 10_000_000


def log_snapshot(path: Path, limit: int = LOG_SNAPSHOT_BYTES) -> bytes:
    """The last ``limit`` bytes of the log, starting at a line boundary when cut."""
    with path.open("rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        handle.seek(max(0, size - limit))
        data = handle.read(limit)
    if size > limit and b"\n" in data:
        data = data[data.index(b"\n") + 1 :]
    return data


async def cmd_log(update: Update, ctx: BotContext) -> None:
    from telegram import InputFile

    chat = update.effective_chat
    assert chat is not None
    path = ctx.config.log_file
    if not await asyncio.to_thread(path.is_file):  # a stat() is disk I/O: not on the loop
        await ctx.reply(update, "No log file yet.")
        return
    data = await asyncio.to_thread(log_snapshot, path)
    await asyncio.to_thread(
        ctx.bridge.send_file,
        chat.id,
        "send_document",
        lambda: {"document": InputFile(data, filename=path.name)},
        timeout=120,
    )


class Foundation(Feature):
    """The commands every build has: /start, /help, /ping, /log and who may use the bot."""

    def commands(self) -> Mapping[str, Handler]:
        return BASE_HANDLERS


BASE_HANDLERS: dict[str, Handler] = {
    "start": cmd_start,
    "help": cmd_help,
    "ping": cmd_ping,
    "users": cmd_users,
    "log": cmd_log,
    "auth": _membership_command("is authorized", Authorizer.authorize, default_chat=True),
    "unauth": _membership_command(
        "is no longer authorized", Authorizer.unauthorize, default_chat=True, removes="authorized"
    ),
    "addsudo": _membership_command("is now sudo", Authorizer.add_sudo, default_chat=False),
    "rmsudo": _membership_command(
        "is no longer sudo", Authorizer.remove_sudo, default_chat=False, removes="sudo"
    ),
}


async def _not_yet(update: Update, ctx: BotContext) -> None:
    await ctx.reply(update, "This command is not available in this version yet.")


def button(handler: Handler | None) -> Callable[[Update, Any], Coroutine[Any, Any, None]]:
    """Wrap a feature's button handler (None: a press no feature claims, answered empty):
    only presses of authorized users reach it, and no error escapes."""

    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ctx: BotContext = context.bot_data["ctx"]
        query = update.callback_query
        if query is None:
            return
        user = update.effective_user
        chat = update.effective_chat
        if user is None or ctx.auth.level_of(user.id, chat.id if chat else 0) is None:
            await query.answer("Not authorized.")
            return
        if handler is None:
            await query.answer()  # stops the button's spinner
            return
        me = ctx.track_handler()  # a restart does not wait long for it either
        try:
            await handler(update, ctx)
        except Exception:
            log.exception("callback %r failed", query.data)
            await query.answer("Something went wrong.")
        finally:
            ctx.handler_tasks.discard(me)

    return run


def plain_messages(
    handlers: Sequence[Handler],
) -> Callable[[Update, Any], Coroutine[Any, Any, None]]:
    """Hand each plain message of an authorized user to every feature's message handler, in
    turn; one failing does not keep the message from the others."""

    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ctx: BotContext = context.bot_data["ctx"]
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        if ctx.auth.level_of(user.id, chat.id) is None:
            return  # silence: a plain message is no request to the bot
        me = ctx.track_handler()
        try:
            for handler in handlers:
                try:
                    await handler(update, ctx)
                except Exception:
                    log.exception("handling a message failed")
        finally:
            ctx.handler_tasks.discard(me)

    return run


async def _record_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Low priority (its own handler group, after the commands): hands each new message of an
    authorized chat to every feature's ``remember``. Never replies, never blocks."""
    ctx: BotContext = context.bot_data["ctx"]
    message, chat, user = update.message, update.effective_chat, update.effective_user
    if message is None or chat is None or user is None:
        return
    if ctx.auth.level_of(user.id, chat.id) is None:
        return
    for feature in ctx.features:
        try:
            feature.remember(chat.id, message)
        except Exception:
            log.exception("recording message %s failed", message.message_id)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("unhandled error in PTB: %s", context.error, exc_info=context.error)


# -- building the Application --------------------------------------------------------------


def _verify(tls: ssl.SSLContext | None) -> dict[str, Any]:
    """httpx's arguments for ``tls`` (None: httpx makes its own context)."""
    return {} if tls is None else {"verify": tls}


def build_application(
    ctx: BotContext, features: Sequence[Feature], *, tls: ssl.SSLContext | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The Application, with the foundation's and every feature's handlers registered.
    ``tls``: the one TLS context both its HTTP clients use (telebot/tlscontext.py)."""
    cfg = ctx.config
    base = cfg.bot_api_url
    # Both request objects are made here, not by the builder, to share ``tls``; the pool size
    # is the builder's default (256).
    requests = HTTPXRequest(
        connection_pool_size=256, connect_timeout=10, read_timeout=30, write_timeout=60,
        media_write_timeout=600, httpx_kwargs=_verify(tls),
    )
    app = (
        ApplicationBuilder()
        .token(cfg.bot_token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .local_mode(cfg.bot_api_local)
        .concurrent_updates(True)
        .request(requests)
        .get_updates_request(PollingRequest(ctx, tls, connect_timeout=10, read_timeout=30))
        .post_init(_post_init)
        .post_stop(_post_stop)
        .build()
    )
    app.bot_data["ctx"] = ctx
    ctx.features = (Foundation(), *features)
    handlers = claimed(ctx.features, "command", lambda f: f.commands())
    unlisted = set(handlers) - {spec.name for spec in COMMANDS}
    if unlisted:
        raise ValueError(f"commands missing from bot/commands.py: {sorted(unlisted)}")
    for spec in COMMANDS:
        handler = handlers.get(spec.name, _not_yet)
        app.add_handler(CommandHandler(list(command_names(spec)), guarded(spec, handler)))
    # Each prefix its own handler: PTB gives a press to the first whose pattern matches.
    for prefix, on_press in claimed(ctx.features, "button prefix", lambda f: f.buttons()).items():
        app.add_handler(CallbackQueryHandler(button(on_press), pattern=button_pattern(prefix)))
    app.add_handler(CallbackQueryHandler(button(None)))  # last: the presses no prefix claims
    # A group of its own: a handler for every message in group 0 (a message cache) must not
    # keep plain messages from reaching the prompts (PTB runs one handler per group).
    readers = [h for h in (f.messages() for f in ctx.features) if h is not None]
    if readers:
        # Documents too: /usetting's cookies.txt arrives as one.
        plain = (filters.TEXT & ~filters.COMMAND) | filters.PHOTO | filters.Document.ALL
        app.add_handler(MessageHandler(plain, plain_messages(readers)), group=MESSAGE_GROUP)
    # Last, in a group of its own: every message of an authorized chat is remembered for -i
    # (bot/recent.py), after (and never instead of) the commands and the prompts.
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, _record_message), group=RECORD_GROUP)
    app.add_error_handler(_on_error)
    return app


async def _post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    ctx: BotContext = app.bot_data["ctx"]
    ctx.loop = asyncio.get_running_loop()
    ctx.loop.set_default_executor(
        ThreadPoolExecutor(max_workers=HANDLER_THREADS, thread_name_prefix="handler")
    )
    ctx.messenger = Messenger(app.bot, ctx.loop)
    for feature in ctx.features:
        await asyncio.to_thread(feature.started, ctx)
    # Registering the command menu is not needed to answer updates: do it off the start path.
    # (app.create_task would warn: the application is not "running" yet inside post_init.)
    ctx.background.add(asyncio.get_running_loop().create_task(_set_commands(app, ctx.polling)))


async def _set_commands(
    app: Application[Any, Any, Any, Any, Any, Any], polling: asyncio.Event
) -> None:
    # After the first getUpdates is out: its request and answer shared the loop (and the
    # Bot API) with deleteWebhook and the first poll, on the start's critical path.
    await polling.wait()
    commands = [
        BotCommand(spec.name, spec.summary[:256]) for spec in COMMANDS if spec.level is Level.USER
    ]
    try:
        await app.bot.set_my_commands(commands)
    except Exception as exc:  # a menu is a nicety: never fail start-up for it
        log.warning("setMyCommands failed: %s", exc)


async def _post_stop(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop workers while the bot's HTTP client is still open (docs/TELEGRAM.md, worker threads).

    Blocking work runs in a thread: joining workers on the loop thread would deadlock them,
    since their own Bot calls need this loop.
    """
    ctx: BotContext = app.bot_data["ctx"]
    for task in ctx.background:  # the menu, still waiting if polling never began
        task.cancel()
    for feature in reversed(ctx.features):
        await asyncio.to_thread(feature.stopping)
    if ctx.messenger is not None:
        ctx.messenger.closed.set()
