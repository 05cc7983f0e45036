"""/restart end to end: the bot re-executes itself (same pid) and its running tasks resume."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.conftest import OWNER, USER, BotProcess
from tests.e2e.helpers import (
    files_in,
    restart_by_command,
    sha256_file,
    text_of,
    wait_chat_text,
    wait_text,
)
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until

MiB = 1024 * 1024


def test_restart_resumes_running_tasks_and_says_so(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(AUTHORIZED_CHATS=str(USER))
    assert bot.proc is not None
    pid = bot.proc.pid
    size = 4 * MiB
    files = [origin.add(f"/r{n}.bin", size=size, seed=10 + n) for n in range(2)]
    for n in range(2):
        origin.fault(f"/r{n}.bin", throttle=512 * 1024)  # ~8 s each: running at the restart
        bot_api.push_message(f"/mirror {origin.url}/r{n}.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Downloading · HTTP.*\d+\.\d%", method="editMessageText", timeout=60)
    # Both far enough in that starting either again from zero would show (below).
    wait_until(
        lambda: all(origin.bytes_sent(f"/r{n}.bin") >= MiB for n in range(2)), 30,
        "1 MiB of r0 and of r1 before /restart",
    )

    # Users are not allowed to restart the bot.
    since = bot_api.mark()
    bot_api.push_message("/restart", chat_id=USER, user_id=USER)
    wait_text(bot_api, r"only for sudo users", chat_id=USER, since=since)

    since = bot_api.mark()
    bot_api.push_message("/restart", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Restarting", chat_id=OWNER, since=since)
    # Every request from here on is the re-executed bot's: the old one logs this line after its
    # downloads have stopped, and the new one needs seconds to start before it fetches anything.
    wait_until(lambda: "stopped cleanly; restarting" in bot.log_text(), 60, "the old run to stop")
    first_new = len(origin.requests)
    wait_chat_text(bot_api, OWNER, r"✅ Restarted", timeout=60)
    assert bot.proc.poll() is None and bot.proc.pid == pid  # re-executed, not exited
    for n in range(2):
        wait_text(bot_api, rf"✅ <b>r{n}\.bin", chat_id=OWNER, since=since, timeout=90)
    saved = {p.name: p for p in files_in(bot.mirror_dir)}
    assert sorted(saved) == ["r0.bin", "r1.bin"]
    for n, res in enumerate(files):
        assert sha256_file(saved[f"r{n}.bin"]) == res.sha256()
    # Each task is delivered once, and resumed rather than downloaded again from zero: the
    # re-executed bot fetched only the rest of each file, where from zero it fetches it whole.
    done = [c for c in bot_api.calls[since:] if re.match(r"✅ <b>r\d\.bin", text_of(c))]
    assert len(done) == 2
    resumed = [c for c in bot_api.calls[since:] if "Resuming" in text_of(c)]
    assert len(resumed) == 2, [text_of(c) for c in resumed]
    origin.wait_idle()
    for n in range(2):
        fetched = [r for r in origin.requests[first_new:] if r.path == f"/r{n}.bin"]
        again = sum(r.bytes_sent for r in fetched)
        assert fetched and again < size, f"r{n}: {again} bytes fetched after the restart"
    log = bot.log_text()
    assert "restart requested by user 1000" in log


def _starts(bot: BotProcess) -> int:
    return bot.log_text().count(" starting (Bot API ")


def _pong(bot_api: FakeBotAPI, timeout: float = 30) -> None:
    since = bot_api.mark()
    bot_api.push_message("/ping", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Pong", chat_id=OWNER, since=since, timeout=timeout)


def test_two_restarts_in_a_burst_restart_once_and_come_back(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    """Issue 22: a second /restart while the first stopped the bot made it exit 0 for good."""
    bot = make_bot()
    assert bot.proc is not None
    pid = bot.proc.pid
    since = bot_api.mark()
    bot_api.push_message("/restart", chat_id=OWNER, user_id=OWNER)
    bot_api.push_message("/restart", chat_id=OWNER, user_id=OWNER)
    wait_chat_text(bot_api, OWNER, r"✅ Restarted", timeout=30)
    _pong(bot_api)
    wait_text(bot_api, r"Already restarting", chat_id=OWNER, since=since)
    # exec keeps the pid (Docker sees no exit); the log shows the second, fresh start.
    assert bot.proc.poll() is None and bot.proc.pid == pid
    assert _starts(bot) == 2, bot.log_text()[-3000:]
    restarting = [c for c in bot_api.calls[since:] if "♻️ Restarting" in text_of(c)]
    assert len(restarting) == 1


def test_restart_does_not_wait_for_a_handler_stuck_in_retries(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    """A /mediainfo to a host that never resolves retries for ~20 s inside its handler; the
    restart cancels it after a short grace instead of waiting."""
    bot = make_bot()
    assert bot.proc is not None
    bot_api.push_message("/mediainfo http://nosuchhost.invalid/clip.mp4", chat_id=OWNER,
                         user_id=OWNER)
    wait_until(lambda: "retry 1/" in bot.log_text(), 30, "the /mediainfo handler to retry")
    asked = time.monotonic()
    restart_by_command(bot_api, OWNER)
    took = time.monotonic() - asked
    assert took < 10, f"the restart took {took:.1f} s"  # 16 s before: it waited for the retries
    assert bot.proc.poll() is None and _starts(bot) == 2
    assert "cancelled 1 command handler" in bot.log_text()
    _pong(bot_api)
