"""The live status message: one per chat, edited in place, always within Telegram's limits.

Rendering is a pure function of task snapshots (:func:`render_page`), so it is tested without a
bot. :class:`StatusBoard` owns the messages: it edits each chat's message every
``STATUS_UPDATE_INTERVAL`` seconds *only when its text changed* (so Telegram never answers "message
is not modified"), deletes it when the chat has no tasks left, and reposts it at the bottom on
/status. All its Telegram calls go through the rate-limited Messenger.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from telebot.botapi.messenger import Messenger
from telebot.engine.task import Snapshot, State
from telebot.shown import NAME_SHOWN, html_name, short_name, short_words
from telebot.units import format_bytes, format_duration

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096  # sendMessage/editMessageText text limit (docs/TELEGRAM.md, limits)
NAME_LIMIT = NAME_SHOWN  # characters of a task name shown (shown.py)
BAR_CELLS = 12
CALLBACK_PREFIX = "st"

ICONS = {
    State.QUEUED: "⏳",
    State.DOWNLOADING: "📥",
    State.PROCESSING: "⚙️",
    State.UPLOADING: "📤",
    State.DONE: "✅",
    State.FAILED: "❌",
    State.CANCELLED: "🚫",
    State.SEEDING: "🌱",
}


def progress_bar(percent: float | None) -> str:
    if percent is None:
        return "[" + "·" * BAR_CELLS + "]"
    filled = min(BAR_CELLS, int(percent / 100 * BAR_CELLS))
    return "[" + "■" * filled + "□" * (BAR_CELLS - filled) + "]"


def render_task(s: Snapshot) -> str:
    lines = [f"{ICONS.get(s.state, '')} <b>{html_name(s.name)}</b>"]
    engine = f" · {html.escape(s.engine)}" if s.engine else ""
    if s.state is State.QUEUED:
        place = f" · #{s.queue_position} in line" if s.queue_position else ""
        lines.append(f"Queued{place} · {s.kind}")
    else:
        percent = s.percent
        shown = f"{percent:.1f}%" if percent is not None else "?%"
        total = format_bytes(s.total) if s.total else "?"
        eta = format_duration(s.eta) if s.eta is not None else "-"
        lines.append(f"{s.state.value.capitalize()}{engine} · {s.kind}")
        lines.append(f"{progress_bar(percent)} {shown}")
        lines.append(
            f"{format_bytes(s.done)} of {total} · {format_bytes(s.speed)}/s · ETA {eta}"
            f" · {format_duration(s.elapsed)}"
        )
    if s.note:
        mark = "" if s.note.startswith("⏸") else "⚠️ "  # a pause brings its own sign
        lines.append(f"{mark}{html.escape(short_words(s.note, (s.name,)), quote=False)}")
    if s.detail:
        lines.append(html.escape(short_name(s.detail), quote=False))
    lines.append(f"/cancel <code>{s.gid}</code>")
    return "\n".join(lines)


@dataclass(frozen=True)
class Footer:
    cpu: float
    disk_free: int
    ram: float
    uptime: float

    def render(self) -> str:
        return (
            f"CPU {self.cpu:.0f}% · Free {format_bytes(self.disk_free)} · "
            f"RAM {self.ram:.0f}% · Up {format_duration(self.uptime)}"
        )


def render_page(
    snapshots: Sequence[Snapshot], page: int, per_page: int, footer: Footer
) -> tuple[str, InlineKeyboardMarkup | None, int]:
    """Text, keyboard and the page actually shown (clamped) for one chat's tasks."""
    pages = max(1, -(-len(snapshots) // per_page))
    page = min(max(page, 0), pages - 1)
    shown = snapshots[page * per_page : (page + 1) * per_page]
    blocks = [render_task(s) for s in shown]
    head = f"<b>Tasks</b>: {len(snapshots)}" + (f" · page {page + 1}/{pages}" if pages > 1 else "")
    text = "\n\n".join([head, *blocks, footer.render()])
    if len(text) > MESSAGE_LIMIT:  # cannot happen with NAME_LIMIT, but never send a 400
        text = text[: MESSAGE_LIMIT - 1] + "…"
    return text, _keyboard(shown, page, pages), page


def _keyboard(shown: Sequence[Snapshot], page: int, pages: int) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(f"✖ {s.name[:20]}", callback_data=f"{CALLBACK_PREFIX}:c:{s.gid}")]
        for s in shown
    ]
    nav = [InlineKeyboardButton("🔄", callback_data=f"{CALLBACK_PREFIX}:p:{page}")]
    if pages > 1:
        nav.insert(
            0, InlineKeyboardButton("◀", callback_data=f"{CALLBACK_PREFIX}:p:{(page - 1) % pages}")
        )
        nav.append(
            InlineKeyboardButton("▶", callback_data=f"{CALLBACK_PREFIX}:p:{(page + 1) % pages}")
        )
    rows.append(nav)
    return InlineKeyboardMarkup(rows)


@dataclass
class _ChatStatus:
    """One chat's message and the requests waiting for it. Guarded by ``StatusBoard._lock``."""

    message_id: int | None = None
    text: str = ""
    page: int = 0
    busy: bool = False  # one thread is updating this chat (and may be waiting on Telegram)
    again: bool = False  # asked for while busy: the busy thread runs one more round
    due: bool = True  # touched since the last round: update at the next wake, not the next tick
    repost: bool = False  # /status: delete the message and send a new one at the bottom


@dataclass
class StatusBoard:
    """Keeps one status message per chat up to date. Call :meth:`start` once the bot runs.

    Lock discipline (the event loop must never wait on it): ``_lock`` only guards the
    bookkeeping in ``_chats`` and is never held during a Telegram call, because a Telegram call
    waits for the event loop. At most one thread updates a chat at a time (``busy``); another
    thread that wants an update of that chat leaves a note (``again``, ``page``, ``repost``) and
    returns at once, and the busy thread runs one more round for it. So two refreshes of one chat
    never both send a new message, and no caller waits for another caller's round trip.
    """

    snapshots: Callable[[int | None], list[Snapshot]]
    messenger: Callable[[], Messenger]
    footer: Callable[[], Footer]
    interval: float = 10.0
    per_page: int = 4
    _chats: dict[int, _ChatStatus] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="status", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def touch(self, chat_id: int) -> None:
        """A task appeared or changed state in ``chat_id``: update soon. Never blocks on I/O,
        so it is safe on the event loop."""
        with self._lock:
            self._chats.setdefault(chat_id, _ChatStatus()).due = True
        self._wake.set()

    def _loop(self) -> None:
        next_full = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(timeout=max(0.0, next_full - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + self.interval
            self.refresh(only_new=not full)

    def refresh(self, *, only_new: bool = False) -> None:
        """Update every chat (or, with ``only_new``, chats with no message yet or touched)."""
        by_chat: dict[int, list[Snapshot]] = {}
        for snap in self.snapshots(None):
            by_chat.setdefault(snap.chat_id, []).append(snap)
        with self._lock:
            chats = [
                chat_id
                for chat_id in set(self._chats) | set(by_chat)
                if not only_new or _wants_update(self._chats.get(chat_id))
            ]
        for chat_id in chats:
            try:
                self._update(chat_id, by_chat.get(chat_id, []))
            except Exception:  # one broken chat must not stop the others' updates
                log.exception("status update for chat %s failed", chat_id)

    def repost(self, chat_id: int) -> None:
        """/status: delete the old message and send a fresh one at the bottom of the chat.

        Does the Telegram calls in the calling thread, or leaves them to the thread already
        updating this chat; call it off the event loop."""
        with self._lock:
            self._chats.setdefault(chat_id, _ChatStatus()).repost = True
        self._update(chat_id)

    def show_page(self, chat_id: int, page: int) -> None:
        """A page button: show ``page`` (clamped). Call it off the event loop, like repost."""
        with self._lock:
            self._chats.setdefault(chat_id, _ChatStatus()).page = page
        self._update(chat_id)

    def has_message(self, chat_id: int) -> bool:
        with self._lock:
            status = self._chats.get(chat_id)
            return status is not None and status.message_id is not None

    # -- one chat ---------------------------------------------------------------------------

    def _update(self, chat_id: int, snaps: list[Snapshot] | None = None) -> None:
        """Bring one chat's message up to date, unless another thread is already at it: then
        leave it a note and return at once (see the class docstring)."""
        with self._lock:
            status = self._chats.setdefault(chat_id, _ChatStatus())
            if status.busy:
                status.again = True
                return
            status.busy = True
        done = False
        try:
            while not done:
                has_tasks = self._round(chat_id, status, snaps)
                snaps = None  # a further round reads fresh snapshots
                with self._lock:
                    done = not status.again
                    status.again = False
                    if done:
                        status.busy = False  # in the same critical section as the check above
                        if not has_tasks and status.message_id is None and not status.due:
                            self._chats.pop(chat_id, None)
        finally:
            if not done:  # a Telegram call failed: the next refresh tries again
                with self._lock:
                    status.busy = False

    def _round(self, chat_id: int, status: _ChatStatus, snaps: list[Snapshot] | None) -> bool:
        """One update of one chat by its busy thread; True if the chat has tasks.

        Decides under the lock, calls Telegram without it, records the result under it."""
        with self._lock:
            status.due = False
            repost, status.repost = status.repost, False
            page, message_id, old_text = status.page, status.message_id, status.text
        if snaps is None:
            snaps = self.snapshots(chat_id)
        if message_id is not None and (repost or not snaps):
            self.messenger().delete(chat_id, message_id)
            message_id, old_text = None, ""
            self._record(status, None, "")
        if not snaps:
            return False
        ordered = sorted(
            snaps, key=lambda s: (s.state is State.QUEUED, s.queue_position or 0, s.gid)
        )
        text, markup, shown = render_page(ordered, page, self.per_page, self.footer())
        with self._lock:
            if status.page == page:  # keep the clamped page unless a button changed it meanwhile
                status.page = shown
        if message_id is None:
            sent = self.messenger().send_text(chat_id, text, markup=markup)
            self._record(status, sent.message_id, text)
        elif text != old_text:
            if not self.messenger().edit_text(chat_id, message_id, text, markup=markup):
                log.debug("status message in %s vanished or unchanged", chat_id)
            self._record(status, message_id, text)
        return True

    def _record(self, status: _ChatStatus, message_id: int | None, text: str) -> None:
        with self._lock:
            status.message_id, status.text = message_id, text


def _wants_update(status: _ChatStatus | None) -> bool:
    """Between full rounds, only chats without a message yet or touched since are updated."""
    return status is None or status.message_id is None or status.due
