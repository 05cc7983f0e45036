"""``/restart`` (sudo): a graceful restart that resumes every task.

1. The handler answers "♻️ Restarting…", writes a small marker next to the database (the chat,
   the answer's id and the command's id, JSON, written atomically) and sets
   ``BotContext.restart_requested``;
2. it then sends itself SIGTERM: the bot shuts down exactly as on ``docker stop`` (polling
   stops, workers are interrupted and keep their journal rows and folders, the store closes).
   PTB's stop waits for every command handler still running; those that outlive
   :data:`HANDLER_GRACE` (a /mediainfo retrying an unreachable host took ~20 s) are cancelled:
   nothing they hold is lost (the journal resumes tasks; a command can be sent again);
3. ``python -m telebot`` sees the request once :meth:`App.run` has returned and re-executes
   itself (:func:`reexec`: ``os.execv`` of the same interpreter and arguments; same pid, so
   Docker's ``restart: unless-stopped`` policy and the health check's pid see no exit);
4. the new process restores the journal as after any restart, and :meth:`RestartCommand.announce`
   (a start hook) edits the answer into "✅ Restarted" and removes the marker.

A ``/restart`` that Telegram delivers again after the restart (its update was not yet marked
read) is recognised by the command's id in the marker and ignored, so it cannot loop. A second
``/restart`` while the first is stopping the bot is answered "already restarting" and does
nothing else: a second SIGTERM during PTB's shutdown would cut that shutdown short (PTB raises
SystemExit from inside it) and the process would exit instead of re-executing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telebot.bot.feature import Feature, Handler
from telebot.monitor.sampler import write_atomic

if TYPE_CHECKING:
    from telegram import Update

    from telebot.bot.context import BotContext

log = logging.getLogger(__name__)

RESTARTING = "♻️ Restarting… running tasks resume when I am back."
RESTARTED = "✅ Restarted; every unfinished task resumes."
ALREADY = "♻️ Already restarting; I will say when I am back."
# Seconds PTB's stop may wait for running command handlers before they are cancelled: enough
# for a reply on its way to be sent, far less than a handler's retries (~20 s).
HANDLER_GRACE = 2.0


def marker_path(database_path: Path) -> Path:
    return Path(f"{database_path}.restart")


class RestartCommand(Feature):
    """The handler and the start hook; one per bot."""

    def __init__(self, database_path: Path) -> None:
        self._marker = marker_path(database_path)
        self._previous: tuple[int, int] | None = None  # (chat, command id) that restarted us
        self._restarting = False  # set on the loop by the first /restart; never cleared

    def commands(self) -> Mapping[str, Handler]:
        return {"restart": self.restart}

    def started(self, ctx: BotContext) -> None:
        self.announce(ctx)

    async def restart(self, update: Update, ctx: BotContext) -> None:
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        if (chat.id, message.message_id) == self._previous:
            log.info("ignoring the /restart that caused the last restart (delivered again)")
            return
        if self._restarting:  # checked and set on the loop thread: no race between two
            log.info("/restart while already restarting: answered, nothing else")
            await ctx.reply(update, ALREADY)
            return
        self._restarting = True
        sent = await asyncio.to_thread(
            ctx.bridge.send_text, chat.id, RESTARTING, reply_to=message.message_id
        )
        record = {"chat": chat.id, "message": sent.message_id, "command": message.message_id}
        await asyncio.to_thread(write_atomic, self._marker, json.dumps(record).encode())
        user = update.effective_user
        log.info("restart requested by user %s", user.id if user else "?")
        ctx.restart_requested = True
        # The loop keeps running while PTB stops, so this fires during its wait for handlers.
        asyncio.get_running_loop().call_later(HANDLER_GRACE, _cancel_handlers, ctx)
        # The same path as `docker stop`: PTB's run_polling handles SIGTERM and stops cleanly.
        os.kill(os.getpid(), signal.SIGTERM)

    def announce(self, ctx: BotContext) -> None:
        """Start hook (a worker thread): finish the message of the /restart that led here."""
        record = self._read()
        if record is None:
            return
        self._previous = (int(record["chat"]), int(record["command"]))
        try:
            edited = ctx.bridge.edit_text(int(record["chat"]), int(record["message"]), RESTARTED)
            if not edited:
                ctx.bridge.send_text(int(record["chat"]), RESTARTED)
        except Exception as exc:  # the restart itself worked: a lost notice is no failure
            log.warning("could not announce the restart: %s", exc)
        self._marker.unlink(missing_ok=True)

    def _read(self) -> dict[str, Any] | None:
        try:
            record = json.loads(self._marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring an unreadable restart marker: %s", exc)
            self._marker.unlink(missing_ok=True)
            return None
        if not isinstance(record, dict) or not {"chat", "message", "command"} <= record.keys():
            self._marker.unlink(missing_ok=True)
            return None
        return record


def _cancel_handlers(ctx: BotContext) -> None:
    cancelled = ctx.cancel_handlers()
    if cancelled:
        log.info("restart: cancelled %d command handler(s) still running", cancelled)


def reexec() -> None:
    """Replace this process with a fresh ``python -m telebot`` (same interpreter, arguments,
    environment and working folder). Only after the application and the store are closed."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    os.execv(sys.executable, [sys.executable, *argv[1:]])
