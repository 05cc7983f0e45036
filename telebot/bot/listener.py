"""Engine events → messages in the task's chat: started, resumed, done (with where the result
went and what shaped it), failed, cancelled. Runs in the engine's worker threads; completions go
out through the :class:`~telebot.bot.announce.Announcer`, journaled until sent."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path

from telebot.bot.announce import Announcer
from telebot.bot.status import StatusBoard
from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.engine.manager import SHUTDOWN_REASON
from telebot.engine.pipeline import Delivery
from telebot.engine.task import State, Task
from telebot.settings.user import describe
from telebot.shown import html_name, short_name, short_words
from telebot.sinks.rclone.remotes import looks_remote
from telebot.units import format_bytes, format_duration

log = logging.getLogger(__name__)


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
