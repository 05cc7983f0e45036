"""/restart end to end: the bot re-executes itself (same pid) and its running tasks resume."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import OWNER, USER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_chat_text, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

MiB = 1024 * 1024


def test_restart_resumes_running_tasks_and_says_so(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(AUTHORIZED_CHATS=str(USER))
    assert bot.proc is not None
    pid = bot.proc.pid
    files = [origin.add(f"/r{n}.bin", size=3 * MiB, seed=10 + n) for n in range(2)]
    for n in range(2):
        origin.fault(f"/r{n}.bin", throttle=512 * 1024)  # ~6 s each: running at the restart
        bot_api.push_message(f"/mirror {origin.url}/r{n}.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Downloading · HTTP.*\d+\.\d%", method="editMessageText", timeout=60)

    # Users are not allowed to restart the bot.
    since = bot_api.mark()
    bot_api.push_message("/restart", chat_id=USER, user_id=USER)
    wait_text(bot_api, r"only for sudo users", chat_id=USER, since=since)

    since = bot_api.mark()
    bot_api.push_message("/restart", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Restarting", chat_id=OWNER, since=since)
    wait_chat_text(bot_api, OWNER, r"✅ Restarted", timeout=60)
    assert bot.proc.poll() is None and bot.proc.pid == pid  # re-executed, not exited
    for n in range(2):
        wait_text(bot_api, rf"✅ <b>r{n}\.bin", chat_id=OWNER, since=since, timeout=90)
    saved = {p.name: p for p in files_in(bot.mirror_dir)}
    assert sorted(saved) == ["r0.bin", "r1.bin"]
    for n, res in enumerate(files):
        assert sha256_file(saved[f"r{n}.bin"]) == res.sha256()
    # Each task is delivered once, and resumed rather than downloaded again from zero.
    done = [c for c in bot_api.calls[since:] if re.match(r"✅ <b>r\d\.bin", text_of(c))]
    assert len(done) == 2
    resumed = [c for c in bot_api.calls[since:] if "Resuming" in text_of(c)]
    assert len(resumed) == 2, [text_of(c) for c in resumed]
    assert origin.bytes_sent("/r0.bin") < 2 * 3 * MiB
    log = bot.log_text()
    assert "restart requested by user 1000" in log and "stopped cleanly; restarting" in log
