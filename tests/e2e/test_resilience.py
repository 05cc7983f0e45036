"""Resilience as users meet it: a dead host trips its breaker, other hosts keep working."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.fakes.ports import reserved_port


def test_dead_host_opens_its_breaker_while_others_work(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(HOST_DOWN_TIMEOUT="4")
    dead = f"http://127.0.0.2:{reserved_port('127.0.0.2')}"
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {dead}/a.bin", chat_id=OWNER, user_id=OWNER)
    first = wait_text(bot_api, r"❌", since=since, timeout=120)
    assert "127.0.0.2" in text_of(first)
    # The breaker is open now: the next task to that host waits for it, saying so in the
    # status, and fails only once the host has not answered for HOST_DOWN_TIMEOUT.
    mark = bot_api.mark()
    bot_api.push_message(f"/mirror {dead}/b.bin", chat_id=OWNER, user_id=OWNER)
    late = wait_text(bot_api, r"❌", since=mark, timeout=30)
    assert "127.0.0.2 did not answer for 4 s" in text_of(late), text_of(late)
    shown = [text_of(c) for c in bot_api.calls[mark:]]
    assert any(re.search(r"waiting for 127\.0\.0\.2, retry in \d+ s", t) for t in shown)
    # Another host is unaffected.
    res = origin.add("/ok.bin", size=500_000, seed=1)
    bot_api.push_message(f"/mirror {origin.url}/ok.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", since=mark, timeout=30)
    [saved] = files_in(bot.mirror_dir)
    assert sha256_file(saved) == res.sha256()
    # /stats lists the open breaker.
    bot_api.push_message("/stats", chat_id=OWNER, user_id=OWNER)
    stats = wait_text(bot_api, r"Bot stats", since=mark, timeout=15)
    assert "127.0.0.2" in text_of(stats)
