"""The quality menu of /ytdl: the Telegram side of
:class:`~telebot.sources.ytdl.source.QualityChooser`.

The worker thread of a task calls :meth:`QualityMenu.choose`: it posts one message with a button
per option and waits (up to ``YTDL_SELECT_TIMEOUT``, or until the task is cancelled) for the
task's requester to press one. Button presses arrive on the loop in :meth:`on_callback`, which
only hands the press to a thread (the registry lock is never taken on the loop).

Callback data is ``yq:<gid>:<index>``: at most 3 + 1 + 10 + 1 + 2 = 17 bytes, well under the
Bot API's 64-byte limit, and it carries no user text.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from telebot.bot.feature import Feature, Handler
from telebot.botapi.messenger import Messenger
from telebot.engine.task import Task
from telebot.shown import html_name

if TYPE_CHECKING:
    from telebot.bot.context import BotContext
    from telebot.sources.ytdl.source import QualityOption

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "yq"
# How often a waiting worker looks at the task's cancel flag (the Source's "within a second").
CANCEL_POLL = 0.5


@dataclass
class _Pending:
    user_id: int
    options: Sequence[QualityOption]
    pressed: threading.Event = field(default_factory=threading.Event)
    key: str | None = None


class QualityMenu(Feature):
    """Posts the menu, waits for the requester, and routes button presses (thread-safe)."""

    def __init__(self, messenger: Callable[[], Messenger]) -> None:
        self._messenger = messenger
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        # Wraps the wait for the user (wiring: TaskManager.outside_queue): the task's download
        # slot serves other tasks meanwhile. May raise TaskCancelled as it takes one again.
        self.outside_queue: Callable[[Task], AbstractContextManager[None]] = (
            lambda task: nullcontext()
        )

    def choose(
        self, task: Task, title: str, options: Sequence[QualityOption], timeout: float
    ) -> str | None:
        pending = _Pending(task.spec.user_id, options)
        with self._lock:
            self._pending[task.gid] = pending
        try:
            try:
                sent = self._messenger().send_text(
                    task.spec.chat_id,
                    f"🎬 <b>{html_name(title)}</b>\nChoose a quality "
                    f"(best in {round(timeout)} s if nobody chooses):",
                    reply_to=task.spec.message_id,
                    markup=keyboard(task.gid, options),
                )
            except Exception:  # no menu is no reason to fail the task: take best
                log.warning("could not post the quality menu of %s; taking best", task.gid)
                return None
            task.detail = "waiting for a quality choice"
            with self.outside_queue(task):
                key = self._wait(task, pending, timeout)
            task.detail = None
        finally:
            with self._lock:
                self._pending.pop(task.gid, None)
        label = next((o.label for o in options if o.key == key), "Best (no choice in time)")
        try:
            self._messenger().edit_text(
                sent.chat_id, sent.message_id, f"🎬 <b>{html_name(title)}</b>: {label}"
            )
        except Exception:  # the choice stands even if the menu cannot be updated
            log.warning("could not update the quality menu of %s", task.gid)
        return key

    @staticmethod
    def _wait(task: Task, pending: _Pending, timeout: float) -> str | None:
        waited = 0.0
        while waited < timeout and not task.cancel_event.is_set():
            step = min(CANCEL_POLL, timeout - waited)
            if pending.pressed.wait(step):
                return pending.key
            waited += step
        return None

    def press(self, gid: str, index: int, user_id: int) -> str:
        """Record a press; returns the text for answerCallbackQuery."""
        with self._lock:
            pending = self._pending.get(gid)
            if pending is None or pending.pressed.is_set():
                return "This menu has expired."
            if user_id != pending.user_id:
                return "Only the user who started this task can choose."
            if not 0 <= index < len(pending.options):
                return "Unknown choice."
            pending.key = pending.options[index].key
            pending.pressed.set()
            return f"Downloading {pending.options[index].label}."

    def buttons(self) -> Mapping[str, Handler]:
        return {CALLBACK_PREFIX: self._on_press}

    async def _on_press(self, update: Update, ctx: BotContext) -> None:
        await self.on_callback(update)

    async def on_callback(self, update: Update) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and user is not None
        parts = (query.data or "").split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            await query.answer()
            return
        text = await asyncio.to_thread(self.press, parts[1], int(parts[2]), user.id)
        await query.answer(text)


def keyboard(gid: str, options: Sequence[QualityOption]) -> InlineKeyboardMarkup:
    """Two buttons a row; each carries ``yq:<gid>:<index>``."""
    buttons = [
        InlineKeyboardButton(o.label[:60], callback_data=f"{CALLBACK_PREFIX}:{gid}:{i}")
        for i, o in enumerate(options)
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
