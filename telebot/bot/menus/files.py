"""``-s``: the torrent file menu. Implements the engine's
:class:`~telebot.sources.torrent.choose.FileChooser` with a message of toggle buttons.

The task's thread calls :meth:`FileMenu.choose`: it posts the menu and waits (cancel-aware) for
the requester's "Start", or for ``TORRENT_SELECT_TIMEOUT``, after which every file is taken.
Button presses arrive on the event loop (:meth:`FileMenu.on_callback`); the state change and the
edit run in a worker thread, never on the loop. Callback data: ``ts:<gid>:<action>[:<n>]``, at
most 30 bytes (Telegram allows 64).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from telebot.bot.context import BotContext
from telebot.bot.feature import Feature, Handler
from telebot.botapi.messenger import Messenger
from telebot.engine.task import Task
from telebot.shown import html_name
from telebot.sources.torrent.choose import FileEntry
from telebot.units import format_bytes, format_duration

log = logging.getLogger(__name__)

PREFIX = "ts"
PER_PAGE = 8  # file buttons per page: keeps the menu on one phone screen
LABEL = 40  # characters of a file name on a button
WAIT_SLICE = 0.25  # s: how soon the waiting task thread notices a cancel
NOT_YOURS = "Only the user who started this task can choose its files."


@dataclass
class Selection:
    """One open menu. Mutated only under ``lock``."""

    gid: str
    name: str
    chat_id: int
    user_id: int
    files: Sequence[FileEntry]
    timeout: float
    chosen: set[int] = field(default_factory=set)
    page: int = 0
    message_id: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.files) // PER_PAGE))

    def press(self, action: str, value: int | None) -> bool:
        """Apply one button; False when it names nothing (stale or forged data)."""
        with self.lock:
            indexes = {entry.index for entry in self.files}
            if action == "t" and value in indexes:
                self.chosen.symmetric_difference_update({value})
            elif action == "p" and value is not None and 0 <= value < self.pages:
                self.page = value
            elif action == "a":
                self.chosen = set(indexes)
            elif action == "n":
                self.chosen = set()
            elif action == "s" and self.chosen:
                self.started.set()
            else:
                return False
            return True

    def render(self) -> tuple[str, InlineKeyboardMarkup | None]:
        with self.lock:
            size = sum(e.size for e in self.files if e.index in self.chosen)
            head = (
                f"📂 <b>{html_name(self.name)}</b>\n"
                f"{len(self.chosen)} of {len(self.files)} files selected · {format_bytes(size)}"
            )
            if self.started.is_set():
                return head + "\nStarting.", None
            note = (
                f"\nPress the files to toggle them, then Start. Without an answer it starts "
                f"with every file in {format_duration(self.timeout)}."
            )
            return head + note, self._keyboard()

    def _keyboard(self) -> InlineKeyboardMarkup:
        base = f"{PREFIX}:{self.gid}"
        shown = self.files[self.page * PER_PAGE : (self.page + 1) * PER_PAGE]
        rows = [
            [
                InlineKeyboardButton(
                    f"{'✅' if e.index in self.chosen else '⬜'} {_label(e)}",
                    callback_data=f"{base}:t:{e.index}",
                )
            ]
            for e in shown
        ]
        if self.pages > 1:
            rows.append(
                [
                    InlineKeyboardButton(
                        "◀", callback_data=f"{base}:p:{(self.page - 1) % self.pages}"
                    ),
                    InlineKeyboardButton(
                        f"{self.page + 1}/{self.pages}", callback_data=f"{base}:p:{self.page}"
                    ),
                    InlineKeyboardButton(
                        "▶", callback_data=f"{base}:p:{(self.page + 1) % self.pages}"
                    ),
                ]
            )
        rows.append(
            [
                InlineKeyboardButton("All", callback_data=f"{base}:a"),
                InlineKeyboardButton("None", callback_data=f"{base}:n"),
                InlineKeyboardButton("▶ Start", callback_data=f"{base}:s"),
            ]
        )
        return InlineKeyboardMarkup(rows)


def _no_slot(task: Task) -> AbstractContextManager[None]:
    return nullcontext()


def _label(entry: FileEntry) -> str:
    name = entry.path.rsplit("/", 1)[-1]
    if len(name) > LABEL:
        name = name[: LABEL - 1] + "…"
    return f"{name} ({format_bytes(entry.size)})"


class FileMenu(Feature):
    """The ``-s`` menus of every running task (thread-safe)."""

    def __init__(self, messenger: Callable[[], Messenger]) -> None:
        self._messenger = messenger
        self._lock = threading.Lock()
        self._open: dict[str, Selection] = {}
        # Wraps the wait for the user (wiring: TaskManager.outside_queue): the task's download
        # slot serves other tasks meanwhile. May raise TaskCancelled as it takes one again.
        self.outside_queue: Callable[[Task], AbstractContextManager[None]] = _no_slot

    # -- the task thread's side ---------------------------------------------------------------

    def choose(
        self, task: Task, files: Sequence[FileEntry], timeout: float
    ) -> frozenset[int] | None:
        selection = Selection(
            gid=task.gid,
            name=task.name,
            chat_id=task.spec.chat_id,
            user_id=task.spec.user_id,
            files=list(files),
            timeout=timeout,
            chosen={e.index for e in files},
        )
        text, markup = selection.render()
        with self._lock:  # listed before it is shown: a quick press must find it
            self._open[task.gid] = selection
        try:
            try:
                sent = self._messenger().send_text(
                    selection.chat_id, text, reply_to=task.spec.message_id, markup=markup
                )
            except Exception:  # no menu, no choice: the task goes on with every file
                log.exception("could not post the file menu of task %s", task.gid)
                return None
            with selection.lock:
                selection.message_id = sent.message_id
            with self.outside_queue(task):
                waited = 0.0
                while waited < timeout and not task.cancel_event.is_set():
                    if selection.started.wait(min(WAIT_SLICE, timeout - waited)):
                        break
                    waited += WAIT_SLICE
        finally:
            with self._lock:
                self._open.pop(task.gid, None)
        if not selection.started.is_set():
            if task.cancel_event.is_set():
                return None
            selection.press("a", None)
            selection.started.set()
        self._show(selection)
        with selection.lock:
            return frozenset(selection.chosen)

    def _show(self, selection: Selection) -> None:
        if selection.message_id is None:
            return
        text, markup = selection.render()
        self._messenger().edit_text(selection.chat_id, selection.message_id, text, markup=markup)

    # -- the button side ----------------------------------------------------------------------

    def buttons(self) -> Mapping[str, Handler]:
        return {PREFIX: self.on_callback}

    async def on_callback(self, update: Update, ctx: BotContext) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and user is not None
        answer = await asyncio.to_thread(self.press, query.data or "", user.id)
        await query.answer(answer)

    def press(self, data: str, user_id: int) -> str | None:
        """Apply a button press from ``user_id``; returns the text to answer it with."""
        parts = data.split(":")
        if len(parts) not in (3, 4):
            return None
        with self._lock:
            selection = self._open.get(parts[1])
        if selection is None:
            return "This menu is closed."
        if user_id != selection.user_id:
            return NOT_YOURS
        value = int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None
        if parts[2] == "s" and not selection.chosen:
            return "Select at least one file."
        if selection.press(parts[2], value) and not selection.started.is_set():
            self._show(selection)
        return None
