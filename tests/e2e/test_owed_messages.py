"""Issue 22: the message a finished task owes its user survives a kill or a stop.

The ✅ is journaled (the store's outbox) in the transaction that removes the task's journal row
and stays there until the Bot API accepted it. Here its first sendMessage is held by the fake
Bot API and never processed (``then_respond=False``: the request is recorded, the message is
not created); the bot is killed or stopped meanwhile, started again, and the ✅ must reach the
chat exactly once.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import OWNER, BotProcess
from tests.e2e.helpers import wait_chat_text, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until

DONE = r"✅ (<b>)?owed\.bin"


def _is_done(params: dict[str, Any]) -> bool:
    return str(params.get("text", "")).startswith("✅")


def _finish_with_a_stalled_done(bot_api: FakeBotAPI, origin: FakeOrigin, bot: BotProcess) -> None:
    origin.add("/owed.bin", size=256 * 1024, seed=22)
    # Held for longer than any test: only the kill or the stop ends this request.
    bot_api.stall_next("sendMessage", 600, then_respond=False, when=_is_done)
    bot_api.push_message(f"/mirror {origin.url}/owed.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, DONE, chat_id=OWNER, timeout=60)  # the stalled attempt, recorded
    assert not _delivered(bot_api)


def _delivered(bot_api: FakeBotAPI) -> list[str]:
    """The ✅ messages that exist in the chat (processed by the Bot API)."""
    return [
        str(m.get("text", "")) for m in bot_api.chat_messages(OWNER).values()
        if re.match(DONE, str(m.get("text", "")))
    ]


def _outbox_rows(home: Path) -> int:
    with sqlite3.connect(f"file:{home / 'telebot.db'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def _check_delivered_once(bot_api: FakeBotAPI, again: BotProcess, since: int) -> None:
    wait_text(bot_api, DONE, chat_id=OWNER, since=since, timeout=60)
    wait_chat_text(bot_api, OWNER, DONE, timeout=60)
    # Sent and cleared: nothing is left that a later start could send a second time.
    wait_until(lambda: _outbox_rows(again.home) == 0, 30, "the outbox to be cleared")
    [text] = _delivered(bot_api)
    assert "Saved to:" in text  # the whole message, with where the result is
    assert (again.mirror_dir / "owed.bin").is_file()


def test_done_message_is_sent_after_a_kill_before_it_went_out(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    _finish_with_a_stalled_done(bot_api, origin, bot)
    bot.kill9()
    since = bot_api.mark()
    again = make_bot(home=bot.home)
    _check_delivered_once(bot_api, again, since)
    again.terminate()
    third = make_bot(home=bot.home)  # and a later start does not send it again
    since = bot_api.mark()
    bot_api.push_message("/ping", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, "Pong", chat_id=OWNER, since=since)
    assert len(_delivered(bot_api)) == 1 and _outbox_rows(third.home) == 0


def test_done_message_is_sent_after_a_stop_while_telegram_did_not_answer(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    _finish_with_a_stalled_done(bot_api, origin, bot)
    assert bot.terminate(timeout=30) == 0
    assert _outbox_rows(bot.home) == 1
    since = bot_api.mark()
    again = make_bot(home=bot.home)
    _check_delivered_once(bot_api, again, since)
