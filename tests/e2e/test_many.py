"""Many links at once, end to end: a burst from one chat, -b (bulk), -i (multi) and -m (one
folder), with the real bot, the fake Bot API and the fake origin."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until

KiB = 1024


def completions(api: FakeBotAPI, since: int) -> list[Call]:
    return [
        c
        for c in api.calls[since:]
        if c.method in ("sendMessage", "editMessageText") and "✅" in text_of(c)
    ]


def named(calls: list[Call], names: list[str]) -> set[str]:
    return {name for name in names for c in calls if name in text_of(c)}


def test_a_burst_of_tiny_mirrors_lands_and_is_announced_in_a_few_lists(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    names = [f"tiny{n:02d}.bin" for n in range(60)]
    for n, name in enumerate(names):
        origin.add(f"/{name}", size=64 * KiB, seed=n)
    since = bot_api.mark()
    for name in names:
        bot_api.push_message(f"/mirror {origin.url}/{name}", chat_id=OWNER, user_id=OWNER)
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 60, 120, "all 60 results")
    assert sorted(p.name for p in files_in(bot.mirror_dir)) == names
    wait_until(lambda: named(completions(bot_api, since), names) == set(names), 60)
    done = completions(bot_api, since)
    # One message per task before: now a few lists, each naming its tasks.
    assert len(done) <= 10, [text_of(c)[:80] for c in done]
    assert any(len(re.findall(r"tiny\d\d\.bin", text_of(c))) > 1 for c in done)
    assert all(len(text_of(c)) <= 4096 for c in done)
