"""Task commands (/mirror, /leech, /status, /cancel, /cancelall), the status buttons, and the
listener that turns engine events into chat messages."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from telegram import Update

from telebot.bot.announce import Announcer
from telebot.bot.application import (
    DELETED_LIST_NOTE,
    KEEP_LIST_NOTE,
    BotContext,
    remove_credentials,
)
from telebot.bot.chatperms import check_can_post
from telebot.bot.commands import NOT_YET
from telebot.bot.menus.quality import CALLBACK_PREFIX as QUALITY_PREFIX
from telebot.bot.menus.quality import QualityMenu
from telebot.bot.recent import (
    NotArrived,
    RecentMessages,
    Remembered,
    ReplyFile,
    file_of,
    remembered,
)
from telebot.bot.status import CALLBACK_PREFIX, StatusBoard
from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.engine.manager import SHUTDOWN_REASON, TaskManager
from telebot.engine.pipeline import Delivery
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import BadInputError
from telebot.intake.args import TaskArgs, parse_task_args
from telebot.intake.many import Item, bulk_items, is_text_file, multi_items, read_list_file
from telebot.redact import carries_credentials
from telebot.settings.user import UserSettings, apply_names, describe
from telebot.shown import html_name, short_name, short_words
from telebot.sinks.rclone.remotes import Remotes, looks_remote
from telebot.sources.http.source import is_http_link
from telebot.sources.names import sanitize_filename
from telebot.sources.tgfile import telegram_file_source
from telebot.sources.torrent.links import is_magnet, is_torrent_spec
from telebot.sources.ytdl.options import parse_options
from telebot.sources.ytdl.source import TOOL as YTDL_TOOL
from telebot.units import format_bytes, format_duration

log = logging.getLogger(__name__)


@dataclass
class TaskCommands:
    """Handlers bound to the running engine and status board."""

    config: Config
    manager: TaskManager
    board: StatusBoard
    leech_available: bool = False
    quality: QualityMenu | None = None  # the /ytdl quality menu (its buttons route here)
    recent: RecentMessages | None = None  # the messages -i looks up (bot/recent.py)
    announcer: Announcer | None = None  # acknowledgements of -b and -i

    # -- /mirror and /leech ---------------------------------------------------------------

    async def mirror(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "mirror")

    async def leech(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "leech")

    async def ytdl(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "mirror", tool=YTDL_TOOL)

    async def ytdl_leech(self, update: Update, ctx: BotContext) -> None:
        await self._start(update, ctx, "leech", tool=YTDL_TOOL)

    async def _start(
        self, update: Update, ctx: BotContext, kind: str, tool: str | None = None
    ) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        words = (message.text or "").split(maxsplit=1)
        args = parse_task_args(words[1] if len(words) > 1 else "", kind)
        settings = await asyncio.to_thread(UserSettings.load, ctx.store, user.id)  # SQLite
        if args.bulk or args.multi:
            await self._start_many(update, ctx, kind, tool, args, settings)
            return
        if args.folder is not None:
            raise BadInputError("-m puts the results of -i or -b into one folder: add one of them.")
        spec = self.spec_from(
            args,
            kind,
            chat.id,
            user.id,
            message.message_id,
            reply_text=_reply_text(update),
            reply_file=_reply_file(update) if tool is None else None,
            tool=tool,
            user=settings,
        )
        await self._check(spec, ctx, user.id)
        await asyncio.to_thread(self.manager.submit, spec)

    async def _check(self, spec: TaskSpec, ctx: BotContext, user_id: int) -> None:
        """What spec_from cannot check without I/O (never on the loop itself)."""
        if (spec.select or spec.seeding) and not is_torrent_spec(spec):
            flag = "-s" if spec.select else "-d"
            raise BadInputError(f"{flag} only applies to torrents (a magnet or a .torrent file).")
        if spec.overwrite and not (spec.kind == "mirror" and looks_remote(spec.upload)):
            raise BadInputError("-overwrite only applies to uploads to an rclone remote.")
        if spec.overwrite and not ctx.auth.is_sudo(user_id):
            raise BadInputError("-overwrite is only for sudo users: without it the upload "
                                "takes a free name, like name (1).")
        if spec.kind == "mirror" and looks_remote(spec.upload):
            path, roots = self.config.rclone_config, self.config.rclone_allowed_roots
            # Reads the file: never on the loop.
            await asyncio.to_thread(lambda: Remotes.load(path, roots).check(spec.upload or ""))
        if spec.kind == "leech" and spec.upload is not None:
            sudo = ctx.auth.is_sudo(user_id)
            await asyncio.to_thread(check_can_post, ctx.bridge, int(spec.upload), user_id, sudo)

    # -- -b and -i: many tasks from one command ----------------------------------------------

    async def _start_many(
        self,
        update: Update,
        ctx: BotContext,
        kind: str,
        tool: str | None,
        args: TaskArgs,
        settings: UserSettings,
    ) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        items = await self._items(update, ctx, kind, args)
        specs: list[TaskSpec] = []
        checked: set[tuple[str, str | None]] = set()  # one -up check per destination
        for item in items:
            try:
                spec = self.spec_from(
                    item.args,
                    kind,
                    chat.id,
                    user.id,
                    message.message_id,
                    reply_text=item.text,
                    reply_file=item.file if tool is None else None,
                    tool=tool,
                    user=settings,
                )
                first = (spec.kind, spec.upload) not in checked
                if first or spec.select or spec.seeding or spec.overwrite:
                    await self._check(spec, ctx, user.id)
                    checked.add((spec.kind, spec.upload))
            except BadInputError as exc:
                raise BadInputError(f"{item.label}: {exc}") from None
            specs.append(spec)
        if args.folder is not None and self.config.celery_broker_url:
            # A group's results meet in one folder on one disk; workers each have their own.
            raise BadInputError("-m is not available when tasks run on scale-out workers.")
        labels = [item.label for item in items]
        if args.folder is None:
            # All or none, checked together (engine: TaskManager.submit_many).
            await asyncio.to_thread(self.manager.submit_many, specs, labels)
            self._announce(chat.id, message.message_id, f"📋 Started {len(specs)} tasks.")
            return
        delivery = self._delivery_spec(args, kind, chat.id, user.id, message.message_id, settings)
        await asyncio.to_thread(self.manager.submit_group, specs, delivery, labels)
        self._announce(
            chat.id,
            message.message_id,
            f"📋 Started {len(specs)} tasks; their results go into one folder, "
            f"<b>{html_name(delivery.name or '')}</b>, delivered when all are done.",
        )

    def _delivery_spec(
        self,
        args: TaskArgs,
        kind: str,
        chat_id: int,
        user_id: int,
        message_id: int,
        user: UserSettings,
    ) -> TaskSpec:
        """-m: the task that delivers the group's folder (the engine sets its source). The
        user's delivery settings apply to it; their naming settings already shaped each
        member's result, so they are not applied to the folder a second time."""
        folder = sanitize_filename(args.folder or "", fallback="results")
        spec = TaskSpec(
            kind=kind,
            source="",
            chat_id=chat_id,
            user_id=user_id,
            message_id=message_id,
            name=folder,
            upload=self._upload_of(args, kind, user),
            split_size=args.split_size or (user.split_size if kind == "leech" else None),
            as_document=args.as_document,
            as_media=args.as_media,
        )
        if kind != "leech":
            return spec
        if not (args.as_document or args.as_media) and user.leech_type:
            media = user.leech_type == "media"
            spec = replace(spec, as_document=not media, as_media=media)
        return replace(spec, caption=user.caption, thumbnail=user.thumbnail)

    async def _items(
        self, update: Update, ctx: BotContext, kind: str, args: TaskArgs
    ) -> list[Item]:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        if args.bulk and args.multi:
            raise BadInputError("Use -b or -i, not both.")
        if args.link is not None:
            flag = "-b" if args.bulk else "-i"
            raise BadInputError(f"{flag} takes its links from the message you reply to.")
        replied = message.reply_to_message
        if args.bulk:
            if replied is None:
                raise BadInputError("-b: reply to a message or a .txt file with one link per line.")
            text = replied.text or replied.caption
            file = file_of(replied)
            if file is not None:
                mime = replied.document.mime_type if replied.document else None
                if not is_text_file(file, mime):
                    raise BadInputError("-b reads links from a message or a .txt file.")
                text = await asyncio.to_thread(
                    read_list_file, self.config, lambda: ctx.bridge, chat.id, file
                )
            if carries_credentials(text or ""):
                # Like a command with a password (bot/application.py), and before the lines are
                # read: a bad line must not keep the list in the chat. The values themselves go
                # into the task specs, which the journal seals.
                notes = (DELETED_LIST_NOTE, KEEP_LIST_NOTE)
                await remove_credentials(ctx, chat.id, replied.message_id, notes=notes)
            return bulk_items(args, text or "", kind, self.config.bulk_limit)
        count = args.multi or 1
        if replied is None:
            raise BadInputError(f"-i {count}: reply to the first of the {count} messages.")
        if self.recent is None:
            raise BadInputError("-i is not available in this version yet.")
        following = await _following(self.recent, chat.id, replied.message_id, count)
        return multi_items(args, [remembered(replied, 0.0), *following])

    def _announce(self, chat_id: int, reply_to: int, text: str) -> None:
        """An acknowledgement that never holds up the handler (bot/announce.py)."""
        if self.announcer is not None:
            self.announcer.post(chat_id, text, reply_to=reply_to)

    def spec_from(
        self,
        args: TaskArgs,
        kind: str,
        chat_id: int,
        user_id: int,
        message_id: int,
        *,
        reply_text: str | None,
        reply_file: ReplyFile | None = None,
        tool: str | None = None,
        user: UserSettings | None = None,
    ) -> TaskSpec:
        """Check what the user asked for and turn it into a spec (BadInputError otherwise).

        ``user`` (their /usetting) fills in what no flag gave: flags > user settings > config.
        """
        user = user or UserSettings()
        if kind == "leech" and not self.leech_available:
            raise BadInputError("/leech is not available in this version yet; use /mirror.")
        for attr, flag in NOT_YET.items():
            if getattr(args, attr):
                raise BadInputError(f"{flag} is not available in this version yet.")
        self._check_destination(args, kind)
        base = TaskSpec(
            kind=kind,
            source="",
            chat_id=chat_id,
            user_id=user_id,
            message_id=message_id,
            name=args.name,
            upload=self._upload_of(args, kind, user),
            split_size=args.split_size or (user.split_size if kind == "leech" else None),
            as_document=args.as_document,
            as_media=args.as_media,
            select=args.select,
            seed_ratio=args.seed[0] if args.seed else None,
            seed_minutes=args.seed[1] if args.seed else None,
            extract=args.extract,
            extract_password=args.extract_password,
            join=args.join,
            compress=args.compress,
            compress_password=args.compress_password,
            compress_format=args.compress_format,
            overwrite=args.overwrite,
        )
        base = replace(base, **apply_names(base, user, args.name_subst))
        if kind == "leech" and not (args.as_document or args.as_media) and user.leech_type:
            media = user.leech_type == "media"
            base = replace(base, as_document=not media, as_media=media)
        if args.link is None and reply_file is not None:
            return replace(
                base,
                source=telegram_file_source(reply_file.file_id),
                file_name=reply_file.file_name,
                file_size=reply_file.file_size,
            )
        link = args.link or (reply_text.split()[0] if reply_text and reply_text.split() else None)
        if not link:
            raise BadInputError(
                f"Send a link: /{kind} <link> [flags], or reply to a link or file with /{kind}."
            )
        if is_magnet(link) and tool is None:
            return _without_ytdl(replace(base, source=link), args)
        if not is_http_link(link):
            raise BadInputError(
                "Only http:// and https:// links and magnet links are supported in this version."
            )
        spec = replace(base, source=link, headers=args.headers, auth=args.auth)
        if tool == YTDL_TOOL:
            return _with_ytdl(spec, args, user.ytdl_options)
        return _without_ytdl(spec, args)

    def _upload_of(self, args: TaskArgs, kind: str, user: UserSettings) -> str | None:
        """-up, else the user's destination, else DEFAULT_UPLOAD for /mirror when it names an
        rclone remote."""
        if args.upload is not None:
            return args.upload
        if kind == "leech":
            return user.leech_dest
        if kind != "mirror":
            return None
        if user.mirror_dest is not None:
            return user.mirror_dest
        default = self.config.default_upload
        return default if looks_remote(default) else None

    def _check_destination(self, args: TaskArgs, kind: str) -> None:
        if kind == "mirror":
            if args.upload not in (None, "local") and not looks_remote(args.upload):
                raise BadInputError(
                    "-up for /mirror takes 'local' or remote:path with a remote from the "
                    "rclone config (local paths are refused)."
                )
            if args.split_size or args.as_document or args.as_media:
                raise BadInputError("-sp, -doc and -med only apply to /leech.")
            return
        if args.upload is not None and not _is_chat_id(args.upload):
            raise BadInputError("-up for /leech takes a chat id, e.g. -up -1001234567890.")
        limit = self.config.upload_limit
        if args.split_size is not None and args.split_size > limit:
            raise BadInputError(
                f"-sp is over this Bot API's upload limit of {limit // 1_000_000} MB."
            )

    # -- /status, /cancel, /cancelall -----------------------------------------------------

    # Every look-up below takes the engine lock, and cancelling a queued task finishes it in the
    # calling thread (folder removal, journal write, a message through the Messenger, which
    # refuses the loop thread): so all of it runs in asyncio.to_thread, never on the loop.

    async def status(self, update: Update, ctx: BotContext) -> None:
        chat = update.effective_chat
        assert chat is not None
        if not await asyncio.to_thread(self._repost, chat.id):
            await ctx.reply(update, "No tasks are running in this chat.")

    def _repost(self, chat_id: int) -> bool:
        if not self.manager.tasks(chat_id):
            return False
        self.board.repost(chat_id)
        return True

    async def cancel(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        words = (message.text or "").split()
        replied = message.reply_to_message
        if len(words) > 1:
            find = functools.partial(self.manager.get, words[1])
        elif replied is not None:
            find = functools.partial(self.manager.find_by_message, chat.id, replied.message_id)
        else:
            await ctx.reply(
                update, "Write /cancel &lt;gid&gt;, or reply /cancel to the task's command."
            )
            return
        text, gid = await asyncio.to_thread(self._may_cancel, find, user.id, ctx)
        await ctx.reply(update, text)  # first: the cancel itself may send "🚫 ... cancelled"
        if gid is not None:
            await asyncio.to_thread(self.manager.cancel, gid)

    def _may_cancel(
        self, find: Callable[[], Task | None], user_id: int, ctx: BotContext
    ) -> tuple[str, str | None]:
        """The reply, and the gid to cancel if ``user_id`` may cancel the task ``find`` names."""
        task = find()
        if task is None or task.state.finished:
            return "No such task (it may have finished already).", None
        if task.spec.user_id != user_id and not ctx.auth.is_sudo(user_id):
            return "Only the user who started this task (or a sudo user) can cancel it.", None
        return f"Cancelling <code>{task.gid}</code>.", task.gid

    async def cancel_all(self, update: Update, ctx: BotContext) -> None:
        user = update.effective_user
        assert user is not None
        sudo = ctx.auth.is_sudo(user.id)
        mine = await asyncio.to_thread(
            lambda: [
                t
                for t in self.manager.tasks()
                if not t.state.finished and (sudo or t.spec.user_id == user.id)
            ]
        )
        count = len(mine)
        await ctx.reply(update, f"Cancelling {count} task{'s' if count != 1 else ''}.")
        await asyncio.to_thread(self.manager.cancel_all, mine)

    # -- status buttons -------------------------------------------------------------------

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, chat, user = update.callback_query, update.effective_chat, update.effective_user
        assert query is not None and chat is not None and user is not None
        parts = (query.data or "").split(":")
        if parts[0] == QUALITY_PREFIX and self.quality is not None:
            await self.quality.on_callback(update)
            return
        if len(parts) != 3 or parts[0] != CALLBACK_PREFIX:
            await query.answer()
            return
        action, value = parts[1], parts[2]
        if action == "c":
            find = functools.partial(self.manager.get, value)
            text, gid = await asyncio.to_thread(self._may_cancel, find, user.id, ctx)
            await query.answer(
                html.unescape(text.replace("<code>", "").replace("</code>", ""))[:200]
            )
            if gid is not None:
                # The listener updates the status message when the task has ended.
                await asyncio.to_thread(self.manager.cancel, gid)
        elif action == "p" and value.isdigit():
            await query.answer()
            # Returns at once when the status thread is busy with this chat (it then shows
            # the page in its next round), so a stalled Telegram never holds the button.
            await asyncio.to_thread(self.board.show_page, chat.id, int(value))
        else:
            await query.answer()


# Messages sent together with the command arrive in the same getUpdates batch but are handled
# concurrently: give the later ones up to a second (10 x 0.1 s, on the loop, not blocking it)
# to be recorded before saying they have not arrived.
ARRIVAL_TRIES, ARRIVAL_PAUSE = 10, 0.1


async def _following(
    recent: RecentMessages, chat_id: int, first_id: int, count: int
) -> list[Remembered]:
    for _ in range(ARRIVAL_TRIES - 1):
        try:
            return recent.following(chat_id, first_id, count)
        except NotArrived:
            await asyncio.sleep(ARRIVAL_PAUSE)
    return recent.following(chat_id, first_id, count)


def _with_ytdl(spec: TaskSpec, args: TaskArgs, user_options: str | None = None) -> TaskSpec:
    """A /ytdl spec: -q and -opt (checked against the allow-list now, so the user hears at once);
    without -opt, the user's default options."""
    options = args.options if args.options is not None else user_options
    if options is not None:
        parse_options(options)
    # A leeched video goes as a video (with its metadata) unless -doc (or the user's setting)
    # asks for a document.
    media = spec.kind == "leech" and not spec.as_document
    return replace(
        spec,
        tool=YTDL_TOOL,
        ytdl_format=args.quality,
        ytdl_options=options,
        as_media=spec.as_media or media,
    )


def _without_ytdl(spec: TaskSpec, args: TaskArgs) -> TaskSpec:
    if args.quality is not None or args.options is not None:
        raise BadInputError("-q and -opt only apply to /ytdl and /ytdlleech.")
    return spec


def _reply_file(update: Update) -> ReplyFile | None:
    """The document/video/audio of the replied-to message, if any."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    return file_of(replied) if replied is not None else None


reply_file_of = _reply_file  # public name for other commands (/mediainfo)


def _is_chat_id(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _reply_text(update: Update) -> str | None:
    message = update.effective_message
    if message is None or message.reply_to_message is None:
        return None
    return message.reply_to_message.text or message.reply_to_message.caption


class ChatListener:
    """Engine events → messages in the task's chat (runs in worker threads)."""

    def __init__(
        self,
        config: Config,
        messenger: Callable[[], Messenger],
        board: StatusBoard,
        announcer: Announcer | None = None,
    ) -> None:
        self._config = config
        self._messenger = messenger
        self._board = board
        # Completions go out in the background, gathered per chat (bot/announce.py): a task
        # never waits for its chat's one-message-a-second slot. None: sent by the caller.
        self._announcer = announcer

    def _reply(self, task: Task, text: str, *, owed: bool = False) -> None:
        self._tell(task.spec.chat_id, text, task.spec.message_id, task.gid, owed=owed)

    def _tell(
        self, chat_id: int, text: str, reply_to: int | None, gid: str, *, owed: bool = False
    ) -> None:
        """Send, and never let a failed message break the engine that reports the event.
        ``owed``: the task's final word; journaled until sent, replacing the task's journal
        row (bot/announce.py), so neither a crash nor a restart loses it."""
        if self._announcer is not None:
            try:
                self._announcer.post(chat_id, text, reply_to=reply_to, owed=owed,
                                     finishes=gid if owed else None)
            except Exception:  # the store failed: still try to say it, just not durably
                log.exception("could not journal the message for task %s", gid)
                self._announcer.post(chat_id, text, reply_to=reply_to)
            return
        try:
            self._messenger().send_text(chat_id, text, reply_to=reply_to)
        except Exception:
            log.exception("could not tell chat %s about task %s", chat_id, gid)

    def on_submitted(self, task: Task) -> None:
        self._board.touch(task.spec.chat_id)

    def on_resumed(self, task: Task) -> None:
        self._reply(task, f"♻️ Resuming <b>{_name(task)}</b> after a restart.")

    def on_restore_failed(
        self, chat_id: int, message_id: int | None, gid: str, reason: str
    ) -> None:
        text = f"❌ Task <code>{gid}</code> could not be resumed: {html.escape(reason)}"
        self._tell(chat_id, text, message_id, gid)

    def on_finished(self, task: Task) -> None:
        self._board.touch(task.spec.chat_id)
        if task.spec.group is not None:
            return  # a -m member: its group's delivery reports for all (engine/groups.py)
        if task.state is State.DONE:
            self._reply(task, self.done_text(task), owed=True)
        elif task.state is State.FAILED:
            self._reply(
                task,
                f"❌ <b>{_name(task)}</b> failed: {_words(task, task.error or 'unknown')}",
                owed=True,
            )
        elif task.cancel_reason == SHUTDOWN_REASON:
            self._reply(
                task,
                f"⏸ <b>{_name(task)}</b> was interrupted by a restart; "
                "it resumes when the bot is back.",
            )
        else:
            self._reply(
                task,
                f"🚫 <b>{_name(task)}</b> cancelled ({html.escape(task.cancel_reason or '')}).",
                owed=True,
            )

    def done_text(self, task: Task) -> str:
        delivery = task.result
        assert isinstance(delivery, Delivery)
        elapsed = task.snapshot().elapsed
        speed = delivery.size / elapsed if elapsed > 0 else 0.0
        lines = [
            f"✅ <b>{html_name(delivery.name)}</b>",
            f"Size: {format_bytes(delivery.size)} · Took: {format_duration(elapsed)} · "
            f"Avg: {format_bytes(speed)}/s",
        ]
        if task.spec.kind in ("mirror", "clone") and looks_remote(task.spec.upload):
            lines.append(f"Uploaded to: <code>{html.escape(delivery.location)}</code>")
            lines.extend(html.escape(link) for link in delivery.links)
        elif task.spec.kind == "mirror":
            shown = self._config.mirror_dir / short_name(Path(delivery.location).name)
            lines.append(f"Saved to: <code>{html.escape(str(shown))}</code>")
        else:
            lines.append(
                f"Sent {delivery.files} file{'s' if delivery.files != 1 else ''} "
                f"to {html.escape(delivery.location)}"
            )
            lines.extend(html.escape(link) for link in delivery.links)
        shaped = describe(task.spec)  # the settings and flags that shaped the delivery
        if shaped:
            lines.append(f"Settings: {shaped}")
        lines.extend(f"⚠️ {_words(task, note)}" for note in (*delivery.notes, *task.warnings))
        return "\n".join(lines)


def _name(task: Task) -> str:
    return html_name(task.name)


def _words(task: Task, text: str) -> str:
    """An error or note for the chat: the task's names in it cut like the name itself."""
    names = (task.name, task.result.name) if isinstance(task.result, Delivery) else (task.name,)
    return html.escape(short_words(text, names))
