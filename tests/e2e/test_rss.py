"""/rss end to end: the real bot, the fake Bot API, a loopback feed whose items the test
publishes, and a loopback origin serving the items' files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telebot.bot.application import REFUSAL
from tests import polling
from tests.conftest import OWNER, USER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.feed import FakeFeeds, FeedItem
from tests.fakes.origin import FakeOrigin

STRANGER = 99  # neither owner nor authorized


@pytest.fixture
def feeds() -> Iterator[FakeFeeds]:
    with FakeFeeds() as server:
        yield server


def say(api: FakeBotAPI, text: str, user: int = OWNER) -> int:
    """Send ``text`` from ``user`` in their private chat; the mark before it."""
    since = api.mark()
    api.push_message(text, chat_id=user, user_id=user)
    return since


def texts(api: FakeBotAPI, chat_id: int, pattern: str, since: int = 0) -> list[str]:
    regex = re.compile(pattern, re.S)
    return [
        text_of(call) for call in api.calls_of("sendMessage")
        if call.index >= since and call.params.get("chat_id") == chat_id
        and regex.search(text_of(call))
    ]


def test_a_new_item_becomes_one_task_and_a_restart_does_not_repeat_it(
    bot_api: FakeBotAPI, origin: FakeOrigin, feeds: FakeFeeds, make_bot: Any, tmp_path: Path
) -> None:
    ep1 = origin.add("/files/ep1.bin", size=300_000, seed=11)
    ep2 = origin.add("/files/ep2.bin", size=200_000, seed=12)
    url = feeds.feed("/tv", "My Shows", [FeedItem("Show E00", f"{origin.url}/files/old.bin", "e0")])
    home = tmp_path / "bot"
    bot = make_bot(home=home)

    since = say(bot_api, f'/rss add {url} tv -exf "cam"')
    wait_text(bot_api, r"Subscribed to <b>My Shows</b> as <code>tv</code>: 1 item there now, "
              r"skipped", chat_id=OWNER, since=since)

    feeds.publish("/tv", FeedItem("Show E01", f"{origin.url}/files/ep1.bin", "e1"))
    since = say(bot_api, "/rss check tv")
    wait_text(bot_api, r"<code>tv</code>: 1 new item started\.", chat_id=OWNER, since=since)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert "ep1.bin" in text_of(done)
    assert texts(bot_api, OWNER, r"📰 RSS <code>tv</code>: started 1 new item:\n• Show E01")

    # Unchanged since: the check is a conditional GET answered 304, and starts nothing.
    since = say(bot_api, "/rss check tv")
    wait_text(bot_api, r"nothing new \(the feed has not changed\)", chat_id=OWNER, since=since)
    last = feeds.requests_for("/tv")[-1]
    assert last.status == 304 and last.headers.get("if-none-match") == '"v2"'

    # /rss get shows the feed's items and what became of them.
    since = say(bot_api, "/rss get tv 1")
    shown = wait_text(bot_api, r"the last 1 items", chat_id=OWNER, since=since)
    assert "• Show E01" in text_of(shown) and "E00" not in text_of(shown)

    # kill -9, and back: the startup check (what was published meanwhile starts now) ...
    before = len(feeds.requests_for("/tv"))
    fetched_ep1 = len(origin.requests_for("/files/ep1.bin"))
    bot.kill9()
    make_bot(home=home)
    polling.wait_until(lambda: len(feeds.requests_for("/tv")) > before, 30, "the startup check")
    # ... then the feed changes (a new ETag) with E01 still in it: only E02 starts.
    feeds.publish("/tv", FeedItem("Show E02", f"{origin.url}/files/ep2.bin", "e2"))
    feeds.publish("/tv", FeedItem("Show E02 CAM", f"{origin.url}/files/cam.bin", "e2c"))
    feeds.publish("/tv", FeedItem("Show E03 mirror", "ftp://files.example/e3.bin", "e3"))
    since = say(bot_api, "/rss check tv")
    wait_text(bot_api, r"1 new item started, 1 left out by the filters, 1 refused\.",
              chat_id=OWNER, since=since, timeout=60)
    # The intake's refusal, as a typed /mirror of that link would get it, told in the chat.
    wait_text(bot_api, r"❌ RSS <code>tv</code>: Show E03 mirror was not started: Only http:// "
              r"and https:// links", chat_id=OWNER, since=since)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert "ep2.bin" in text_of(done)

    saved = {p.name: sha256_file(p) for p in files_in(home / "mirror")}
    assert saved == {"ep1.bin": ep1.sha256(), "ep2.bin": ep2.sha256()}
    assert len(texts(bot_api, OWNER, r"📰 RSS.*• Show E01")) == 1  # started once, ever
    assert len(origin.requests_for("/files/ep1.bin")) == fetched_ep1  # not fetched again
    assert origin.requests_for("/files/cam.bin") == []  # left out by -exf
    assert origin.requests_for("/files/old.bin") == []  # there before the subscription


def test_a_failing_feed_pauses_with_one_message_and_only_users_may_subscribe(
    bot_api: FakeBotAPI, feeds: FakeFeeds, make_bot: Any
) -> None:
    url = feeds.feed("/news", "News", [FeedItem("a", "https://news.example/a", "a")])
    make_bot(AUTHORIZED_CHATS=str(USER))

    # Someone the bot does not know cannot subscribe: the feed is not even read.
    since = say(bot_api, f"/rss add {url} x", STRANGER)
    assert REFUSAL in text_of(wait_text(bot_api, r"not authorized", chat_id=STRANGER, since=since))
    # A bad flag of -c is refused at once, before the feed is read.
    since = say(bot_api, f'/rss add {url} y -c "/mirror -zz"', USER)
    wait_text(bot_api, r"❌ -c: Unknown flag -zz", chat_id=USER, since=since)
    assert feeds.requests_for("/news") == []

    since = say(bot_api, f"/rss add {url} news", USER)
    wait_text(bot_api, r"Subscribed to <b>News</b> as <code>news</code>", chat_id=USER, since=since)
    since = say(bot_api, "/rss list", OWNER)  # the owner sees everyone's
    wait_text(bot_api, r"<code>news</code> \(user <code>42</code>\)", chat_id=OWNER, since=since)

    feeds.fail("/news", 500)
    first = bot_api.mark()
    for count in range(1, 6):
        since = say(bot_api, "/rss check news", USER)
        wait_text(bot_api, rf"the check failed \({count} in a row\)", chat_id=USER, since=since)
    paused = wait_text(bot_api, r"is paused: 5 checks in a row failed", chat_id=USER, since=first)
    assert "/rss resume news" in text_of(paused)
    since = say(bot_api, "/rss check news", USER)
    wait_text(bot_api, r"❌ news is paused", chat_id=USER, since=since)
    assert len(texts(bot_api, USER, r"⏸ RSS", first)) == 1  # one message, not one a check
    since = say(bot_api, "/rss list", USER)
    wait_text(bot_api, r"⏸ paused <code>news</code>", chat_id=USER, since=since)

    since = say(bot_api, "/rss resume news", USER)
    wait_text(bot_api, r"▶️ Resumed <code>news</code>", chat_id=USER, since=since)
    since = say(bot_api, "/rss remove news", USER)
    wait_text(bot_api, r"🗑 Removed <code>news</code>", chat_id=USER, since=since)
    since = say(bot_api, "/rss list", USER)
    wait_text(bot_api, r"No RSS subscriptions", chat_id=USER, since=since)


def test_a_feed_on_a_private_address_is_refused_without_allow_private_links(
    bot_api: FakeBotAPI, feeds: FakeFeeds, make_bot: Any
) -> None:
    url = feeds.feed("/inside", "Inside", [])
    make_bot(ALLOW_PRIVATE_LINKS="false")
    since = say(bot_api, f"/rss add {url} inside")
    wait_text(bot_api, r"❌ Could not read the feed: refused: 127\.0\.0\.1 points to a private",
              chat_id=OWNER, since=since)
    assert feeds.requests_for("/inside") == []
