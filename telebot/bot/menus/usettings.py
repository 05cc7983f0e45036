"""``/usetting`` (``/us``): a menu of buttons to change one's own settings
(:mod:`telebot.settings.user`).

Only the menu's owner may press it: the owner's id is in every button's data
(``us:<owner>:<action>[:<key>]``, at most 3 + 1 + 20 + 1 + 3 + 1 + 12 = 41 bytes, under the Bot
API's 64), so a press by someone else is refused with an alert even after a restart. A text
setting is entered by pressing its button, then sending the value as the next message in that chat
(within :data:`INPUT_TIMEOUT`; the prompt has Clear and Cancel buttons); the thumbnail is a photo
sent the same way, and the cookies a ``cookies.txt`` document (private chats only: they sign in
as the user), which the bot deletes from the chat once read, or asks the user to delete.

Handlers stay thin: they read the update on the loop and hand the rest (SQLite, checks that read
files or ask Telegram, every message through the Messenger) to a thread.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from telebot.bot.chatperms import check_can_post  # the same check as -up
from telebot.bot.feature import Feature, Handler
from telebot.botapi.messenger import Messenger
from telebot.config import Config, parse_size
from telebot.cookiefile import MAX_COOKIES_BYTES, check_cookies, count_cookies
from telebot.errors import BadInputError, TelebotError
from telebot.intake.request import ReplyFile
from telebot.processing.rename import check_name_part, parse_extensions, parse_rules
from telebot.settings.user import UserSettings
from telebot.sinks.rclone.remotes import Remotes, looks_remote
from telebot.store import Store
from telebot.units import format_bytes
from telebot.ytdl_options import parse_options

if TYPE_CHECKING:
    from telebot.bot.context import BotContext

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "us"
# How long the bot waits for the value after a button asks for one: long enough to look up a
# chat id or pick a photo, short enough that a forgotten prompt does not eat a later message.
INPUT_TIMEOUT = 120.0
# Bot API sendDocument/sendVideo: "The thumbnail should be in JPEG format and less than 200 kB
# in size. A thumbnail's width and height should not exceed 320."
THUMB_MAX_SIDE = 320
THUMB_MAX_BYTES = 200_000
CAPTION_TEMPLATE_LIMIT = 1024  # Bot API caption limit
SHOWN_TYPES = {"document": "documents", "media": "media"}

# key → (button label, prompt). The thumbnail takes a photo; every other one takes text.
INPUTS: dict[str, tuple[str, str]] = {
    "split_size": ("Part size", "Send the leech part size, e.g. 20mb or 1gb."),
    "leech_dest": ("Leech chat", "Send the id of the chat to leech into (you must be in it)."),
    "thumbnail": ("Set thumbnail", "Send a photo to use as the thumbnail of your uploads."),
    "prefix": ("Prefix", "Send the text to put before every delivered name."),
    "suffix": ("Suffix", "Send the text to put after every delivered name (before .ext)."),
    "caption": (
        "Caption",
        "Send the caption template; {name}, {size}, {index} and {total} are filled in.",
    ),
    "mirror_dest": ("Mirror to", "Send where /mirror stores results: local or remote:path."),
    "ytdl_options": (
        "yt-dlp options",
        'Send yt-dlp options as JSON, e.g. {"playlist_items": "1-3"}',
    ),
    "name_subst": ("Rename (-ns)", "Send rename rules: old/new|a/b or /regex/new/r."),
    "exclude_ext": ("Skip extensions", "Send extensions to skip in folders, e.g. nfo txt jpg."),
    "cookies": (
        "Cookies",
        "Send your cookies.txt (Netscape format, exported from a browser signed in to the video "
        "site) as a file. It is stored encrypted, and your message is deleted once read.",
    ),
    "metadata": ("Metadata (-meta)", "Send media tags, e.g. title=My film|artist=Me|lang=eng."),
}
# Said when the cookies message stays in the chat (the bot may not delete it).
KEEP_COOKIES_NOTE = (
    "⚠️ I could not delete the message with your cookies.txt: please delete it yourself, "
    "anyone who can read it can sign in as you."
)


@dataclass
class _Pending:
    key: str
    deadline: float
    menu: tuple[int, int]  # the menu message to refresh once the value is in
    prompt: tuple[int, int] | None = None


@dataclass(frozen=True)
class Input:
    """One message that may answer a prompt: its text, or the sizes of its photo."""

    chat_id: int
    user_id: int
    message_id: int
    text: str | None
    photo: Sequence[Any] = ()  # PTB PhotoSize objects (file_id, width, height, file_size)
    document: ReplyFile | None = None  # a file sent as a document (the cookies.txt)


class SettingsMenu(Feature):
    """The menu, the pending text inputs, and the checks of each value (thread-safe)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        messenger: Callable[[], Messenger],
        is_sudo: Callable[[int], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._store = store
        self._messenger = messenger
        self._is_sudo = is_sudo
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, int], _Pending] = {}

    # -- handlers (on the loop: read the update, hand the rest to a thread) -----------------

    def commands(self) -> Mapping[str, Handler]:
        return {"usetting": self.command}

    def buttons(self) -> Mapping[str, Handler]:
        return {CALLBACK_PREFIX: self.on_callback}

    def messages(self) -> Handler:
        return self.on_message  # the values the prompts ask for

    async def command(self, update: Update, ctx: BotContext) -> None:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        assert chat is not None and user is not None
        reply_to = message.message_id if message is not None else None
        await asyncio.to_thread(self.open, chat.id, user.id, reply_to)

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and user is not None
        parts = (query.data or "").split(":")
        if len(parts) < 3 or not parts[1].isdigit() or query.message is None:
            await query.answer()
            return
        if int(parts[1]) != user.id:
            await query.answer("Only the user who opened this menu can change it.", show_alert=True)
            return
        where = (query.message.chat.id, query.message.message_id)
        key = parts[3] if len(parts) > 3 else ""
        text = await asyncio.to_thread(self.press, user.id, parts[2], key, where)
        await query.answer(text[:200])

    async def on_message(self, update: Update, ctx: BotContext) -> None:
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None or user is None:
            return
        # A lock-free look (one dict read under the GIL): most messages answer no prompt, and
        # they must not each cost a thread hop.
        if (chat.id, user.id) not in self._pending:
            return
        doc = message.document
        document = ReplyFile(doc.file_id, doc.file_name, doc.file_size) if doc else None
        given = Input(
            chat.id, user.id, message.message_id, message.text, tuple(message.photo), document
        )
        await asyncio.to_thread(self.take, given)

    # -- the menu ---------------------------------------------------------------------------

    def open(self, chat_id: int, user_id: int, reply_to: int | None) -> None:
        settings = UserSettings.load(self._store, user_id)
        self._messenger().send_text(
            chat_id, menu_text(settings, self._config), reply_to=reply_to,
            markup=menu_keyboard(user_id, settings),
        )  # fmt: skip

    def _refresh(self, user_id: int, where: tuple[int, int]) -> None:
        settings = UserSettings.load(self._store, user_id)
        self._messenger().edit_text(
            *where, menu_text(settings, self._config), markup=menu_keyboard(user_id, settings)
        )

    def press(self, user_id: int, action: str, key: str, where: tuple[int, int]) -> str:
        """Act on the owner's press; returns the text for answerCallbackQuery."""
        if action == "t":
            now = UserSettings.load(self._store, user_id).leech_type
            wanted = "document" if now == "media" else "media"
            self._store.set_setting(user_id, "leech_type", wanted)
            answer = f"Leech as {SHOWN_TYPES[wanted]}."
        elif action == "i" and key in INPUTS:
            return self._ask(user_id, key, where)
        elif action in ("d", "clr") and key in INPUTS:
            self._store.delete_setting(user_id, key)
            answer = f"{INPUTS[key][0]} cleared."
            if action == "clr":
                self._end(user_id, where[0], answer)
                return answer
        elif action == "x":
            self._end(user_id, where[0], "Cancelled.")
            return "Cancelled."
        elif action == "r":
            self._store.delete_setting(user_id)
            answer = "All your settings are reset."
        elif action == "c":
            self._messenger().edit_text(*where, "⚙️ Settings closed.")
            return "Closed."
        else:
            return "Unknown button."
        self._refresh(user_id, where)
        return answer

    # -- text and photo inputs ----------------------------------------------------------------

    def _ask(self, user_id: int, key: str, menu: tuple[int, int]) -> str:
        chat_id = menu[0]
        if key == "cookies" and chat_id != user_id:
            # Not in a group: others would see the file before it is deleted.
            return "Send your cookies in a private chat with the bot: they sign in as you."
        pending = _Pending(key, self._clock() + INPUT_TIMEOUT, menu)
        with self._lock:
            self._pending[(chat_id, user_id)] = pending
        buttons = [
            InlineKeyboardButton("Clear", callback_data=f"{CALLBACK_PREFIX}:{user_id}:clr:{key}"),
            InlineKeyboardButton("Cancel", callback_data=f"{CALLBACK_PREFIX}:{user_id}:x"),
        ]
        label, prompt = INPUTS[key]
        sent = self._messenger().send_text(
            chat_id,
            f"✏️ <b>{html.escape(label)}</b>: {html.escape(prompt)}\n"
            # In groups a bot in privacy mode only sees replies to its messages: ask for one.
            f"(reply to this message within {round(INPUT_TIMEOUT)} s)",
            markup=InlineKeyboardMarkup([buttons]),
        )
        pending.prompt = (sent.chat_id, sent.message_id)
        return "Send the value as your next message."

    def _end(self, user_id: int, chat_id: int, note: str) -> _Pending | None:
        with self._lock:
            pending = self._pending.pop((chat_id, user_id), None)
        if pending is None:
            return None
        self._refresh(user_id, pending.menu)  # first: once the note shows, the menu is current
        if pending.prompt is not None:
            self._messenger().edit_text(*pending.prompt, note)
        return pending

    def take(self, given: Input) -> bool:
        """Use ``given`` as the value a prompt waits for; False when none waits (or it expired)."""
        where = (given.chat_id, given.user_id)
        with self._lock:
            pending = self._pending.get(where)
            if pending is not None and self._clock() > pending.deadline:
                del self._pending[where]
                pending = None
        if pending is None:
            return False
        try:
            value = self.check(pending.key, given)
        except BadInputError as exc:  # ask again: the prompt stays open until its deadline
            self._messenger().send_text(
                given.chat_id, f"❌ {html.escape(str(exc), quote=False)}", reply_to=given.message_id
            )
            if pending.key == "cookies":
                self._withdraw(given)  # after the reply to it: a refused file may hold cookies
            return True
        self._store.set_setting(given.user_id, pending.key, value)
        if pending.key == "cookies":
            self._withdraw(given)
        self._end(given.user_id, given.chat_id, f"✅ {html.escape(INPUTS[pending.key][0])} set.")
        return True

    def _withdraw(self, given: Input) -> None:
        """Delete the message that carried cookies; ask the user to when the bot may not."""
        if given.document is None and not given.text:
            return
        if not self._messenger().delete(given.chat_id, given.message_id):
            self._messenger().send_text(given.chat_id, KEEP_COOKIES_NOTE)

    def check(self, key: str, given: Input) -> Any:
        """The value to store for ``key``, or :class:`BadInputError` saying what is wrong."""
        if key == "thumbnail":
            return _thumbnail(given.photo)
        if key == "cookies":
            return self._cookies(given)
        text = (given.text or "").strip()
        if not text:
            raise BadInputError("Send the value as text.")
        checker = getattr(self, f"_check_{key}", None)
        return checker(text, given.user_id) if checker is not None else text

    def _cookies(self, given: Input) -> str:
        """The normalized cookies of the document ``given`` carries (read into memory only:
        they must not rest anywhere in clear)."""
        file = given.document
        if file is None:
            raise BadInputError("Send the cookies.txt as a file (a document).")
        if file.file_size is not None and file.file_size > MAX_COOKIES_BYTES:
            raise BadInputError(f"A cookies.txt may have at most {MAX_COOKIES_BYTES // 1024} KiB.")
        # Imported here: the Telegram file source brings requests, which start-up need not load.
        from telebot.sources.tgfile import TelegramFileSettings, TelegramFileSource

        source = TelegramFileSource(TelegramFileSettings.from_config(self._config), self._messenger)
        try:
            where = source.locate(given.chat_id, file.file_id, file.file_size)
            if Path(where).is_absolute():  # a local Bot API server: the file is on a shared disk
                with open(where, "rb") as handle:
                    data = handle.read(MAX_COOKIES_BYTES + 1)
            else:
                data, _ = source.read_range(where, 0, MAX_COOKIES_BYTES + 1, threading.Event())
        except (TelebotError, OSError) as exc:
            log.warning("could not read a cookies.txt from Telegram: %s", exc)
            raise BadInputError("Could not read that file from Telegram; send it again.") from None
        text, _count = check_cookies(data)
        return text

    def _check_split_size(self, text: str, user_id: int) -> int:
        try:
            size = parse_size(text)
        except ValueError:
            raise BadInputError(f"{text[:30]!r} is not a size: write e.g. 20mb or 1gb.") from None
        limit = self._config.upload_limit
        if size > limit:
            raise BadInputError(
                f"That is over this Bot API's upload limit of {limit // 1_000_000} MB."
            )
        return size

    def _check_leech_dest(self, text: str, user_id: int) -> str:
        if not text.lstrip("-").isdigit():
            raise BadInputError("Send a chat id, e.g. -1001234567890.")
        check_can_post(self._messenger(), int(text), user_id, self._is_sudo(user_id))
        return text

    def _check_prefix(self, text: str, user_id: int) -> str:
        return check_name_part(text, "prefix")

    def _check_suffix(self, text: str, user_id: int) -> str:
        return check_name_part(text, "suffix")

    def _check_caption(self, text: str, user_id: int) -> str:
        if len(text) > CAPTION_TEMPLATE_LIMIT:
            raise BadInputError(f"A caption has at most {CAPTION_TEMPLATE_LIMIT} characters.")
        return text

    def _check_mirror_dest(self, text: str, user_id: int) -> str:
        if text == "local":
            return text
        if not looks_remote(text):
            raise BadInputError("Send local or remote:path with a remote from the rclone config.")
        config = self._config  # reading the file: in this thread, never on the loop
        Remotes.load(config.rclone_config, config.rclone_allowed_roots).check(text)
        return text

    def _check_ytdl_options(self, text: str, user_id: int) -> str:
        parse_options(text, origin="yt-dlp options")
        return text

    def _check_name_subst(self, text: str, user_id: int) -> str:
        parse_rules(text)
        return text

    def _check_metadata(self, text: str, user_id: int) -> str:
        # The media stage's parser (and ffmpeg's job code under it): imported by the first
        # -meta setting, in this worker thread, not by the bot's start-up.
        from telebot.processing.media.metadata import parse_metadata

        parse_metadata(text)
        return text

    def _check_exclude_ext(self, text: str, user_id: int) -> list[str]:
        found = parse_extensions(text)
        if not found:
            raise BadInputError("Send at least one extension, e.g. nfo txt.")
        return list(found)


def _thumbnail(photo: Sequence[Any]) -> str:
    """The file_id of the largest size of ``photo`` that the Bot API takes as a thumbnail."""
    if not photo:
        raise BadInputError("Send a photo (not a file) for the thumbnail.")
    fitting = [
        p for p in photo
        if max(p.width, p.height) <= THUMB_MAX_SIDE and (p.file_size or 0) < THUMB_MAX_BYTES
    ]  # fmt: skip
    if not fitting:
        raise BadInputError("That photo has no size of at most 320 px; send another one.")
    return str(max(fitting, key=lambda p: p.width * p.height).file_id)


def _shown(value: Any) -> str:
    return f"<code>{html.escape(str(value)[:100])}</code>"


def menu_text(settings: UserSettings, config: Config) -> str:
    s = settings
    split = format_bytes(s.split_size or config.leech_split_size)
    lines = [
        "⚙️ <b>Your settings</b> (flags on a command still win)",
        f"Leech as: {SHOWN_TYPES[s.leech_type] if s.leech_type else 'documents (default)'}",
        f"Part size: {split}{'' if s.split_size else ' (default)'}",
        f"Leech chat: {_shown(s.leech_dest) if s.leech_dest else 'the chat of the command'}",
        f"Thumbnail: {'custom' if s.thumbnail else 'none (videos get a frame)'}",
        f"Prefix: {_shown(s.prefix) if s.prefix else 'none'}",
        f"Suffix: {_shown(s.suffix) if s.suffix else 'none'}",
        f"Caption: {_shown(s.caption) if s.caption else 'the file name'}",
        f"Mirror to: {_shown(s.mirror_dest) if s.mirror_dest else 'the default'}",
        f"yt-dlp options: {_shown(s.ytdl_options) if s.ytdl_options else 'none'}",
        f"Rename (-ns): {_shown(s.name_subst) if s.name_subst else 'none'}",
        f"Skip extensions: {_shown(' '.join(s.exclude_ext)) if s.exclude_ext else 'none'}",
        f"Cookies: {_cookies_shown(s.cookies)}",
        f"Metadata (-meta): {_shown(s.metadata) if s.metadata else 'none'}",
    ]
    return "\n".join(lines)


def _cookies_shown(cookies: str | None) -> str:
    """Whether cookies are set and how many: never their content."""
    if not cookies:
        return "not set"
    count = count_cookies(cookies)
    return f"set ({count} {'entry' if count == 1 else 'entries'})"


def menu_keyboard(user_id: int, settings: UserSettings) -> InlineKeyboardMarkup:
    def button(label: str, action: str, key: str = "") -> InlineKeyboardButton:
        tail = f":{key}" if key else ""
        return InlineKeyboardButton(
            label, callback_data=f"{CALLBACK_PREFIX}:{user_id}:{action}{tail}"
        )

    wanted = "documents" if settings.leech_type == "media" else "media"
    buttons = [button(f"Leech as {wanted}", "t")]
    buttons += [button(label, "i", key) for key, (label, _) in INPUTS.items()]
    if settings.thumbnail:
        buttons.append(button("Delete thumbnail", "d", "thumbnail"))
    if settings.cookies:
        buttons.append(button("Remove cookies", "d", "cookies"))
    buttons += [button("Reset all", "r"), button("Close", "c")]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
