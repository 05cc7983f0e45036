"""/bsetting end to end: an owner's change takes effect live, is logged with who made it, and
survives a restart; bad values and other users are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import polling
from tests.conftest import OWNER, USER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

MiB = 1024 * 1024
SUDO = 77


def say(api: FakeBotAPI, text: str, user: int = OWNER) -> None:
    api.push_message(text, chat_id=user, user_id=user)


def test_bsetting_changes_live_and_survives_a_restart(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(QUEUE_DOWNLOAD="1", AUTHORIZED_CHATS=str(USER), SUDO_USERS=str(SUDO))
    for n in range(2):
        origin.add(f"/q{n}.bin", size=2 * MiB, seed=20 + n)
        origin.fault(f"/q{n}.bin", throttle=256 * 1024)  # ~8 s each
    say(bot_api, f"/mirror {origin.url}/q0.bin")
    polling.wait_until(lambda: origin.requests_for("/q0.bin", "GET"), 30, "q0 downloading")
    say(bot_api, f"/mirror {origin.url}/q1.bin")
    polling.wait_until(lambda: bot.log_text().count(" queued: mirror") == 2, 30, "q1 queued")
    assert origin.requests_for("/q1.bin") == []  # waits for the one download slot

    # Not the owner: refused, nothing changes.
    since = bot_api.mark()
    say(bot_api, "/bsetting QUEUE_DOWNLOAD 2", user=SUDO)
    wait_text(bot_api, r"only for the owner", chat_id=SUDO, since=since)
    # A bad value is answered with what is expected.
    say(bot_api, "/bsetting QUEUE_DOWNLOAD many")
    bad = wait_text(bot_api, r"QUEUE_DOWNLOAD must be", chat_id=OWNER, since=since)
    assert "a whole number" in text_of(bad) and "got “many”" in text_of(bad)
    say(bot_api, "/bsetting BOT_TOKEN 1:x")
    wait_text(bot_api, r"BOT_TOKEN cannot be changed here", chat_id=OWNER, since=since)
    assert origin.requests_for("/q1.bin") == []

    # The owner raises the limit: the queued download starts at once, long before q0 ends.
    say(bot_api, "/bsetting QUEUE_DOWNLOAD 2")
    done = wait_text(bot_api, r"QUEUE_DOWNLOAD</code> = <code>2", chat_id=OWNER, since=since)
    assert "was 1" in text_of(done) and "applied now" in text_of(done)
    polling.wait_until(lambda: origin.requests_for("/q1.bin", "GET"), 30, "q1 started live")
    assert not [c for c in bot_api.calls[since:] if "✅ <b>q0.bin" in text_of(c)]
    say(bot_api, "/bsetting USER_TASKS_LIMIT 1")
    wait_text(bot_api, r"USER_TASKS_LIMIT</code> = <code>1", chat_id=OWNER, since=since)
    assert "bsetting QUEUE_DOWNLOAD: 1 -> 2 by user 1000" in bot.log_text()

    # After a restart both changes still hold (stored in SQLite, over config.env).
    say(bot_api, "/cancelall")
    wait_text(bot_api, r"Cancelling 2 tasks", chat_id=OWNER, since=since)
    assert bot.terminate() == 0
    bot.start()
    since = bot_api.mark()
    say(bot_api, "/bsetting")
    listing = text_of(wait_text(bot_api, r"Bot settings", chat_id=OWNER, since=since))
    assert "QUEUE_DOWNLOAD</code> = 2" in listing and "USER_TASKS_LIMIT</code> = 1" in listing
    say(bot_api, f"/mirror {origin.url}/q0.bin", user=USER)
    polling.wait_until(lambda: bot.log_text().count(" queued: mirror") == 3, 30, "user's task")
    say(bot_api, f"/mirror {origin.url}/q1.bin", user=USER)
    wait_text(bot_api, r"USER_TASKS_LIMIT", chat_id=USER, since=since)
    # "default" goes back to config.env.
    say(bot_api, "/bsetting QUEUE_DOWNLOAD default")
    back = wait_text(bot_api, r"QUEUE_DOWNLOAD</code> = <code>1", chat_id=OWNER, since=since)
    assert "(config.env)" in text_of(back)


def test_bsetting_buttons_only_for_the_owner(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(SUDO_USERS=str(SUDO))
    since = bot_api.mark()
    say(bot_api, "/bsetting")
    listing = wait_text(bot_api, r"Bot settings", chat_id=OWNER, since=since)
    assert "bs:s:STOP_DUPLICATE" in str(listing.params.get("reply_markup"))
    menu = listing.result
    bot_api.push_callback("bs:s:STOP_DUPLICATE", message=menu, user_id=SUDO)
    bot_api.wait_for(
        "answerCallbackQuery",
        lambda c: "Only the owner" in str(c.params.get("text")),
        since=since,
        timeout=30,
    )
    bot_api.push_callback("bs:s:STOP_DUPLICATE", message=menu, user_id=OWNER)
    page = wait_text(bot_api, r"Expects true or false", since=since, method="editMessageText")
    assert "bs:v:STOP_DUPLICATE:true" in str(page.params.get("reply_markup"))
    bot_api.push_callback("bs:v:STOP_DUPLICATE:true", message=menu, user_id=OWNER)
    done = wait_text(bot_api, r"STOP_DUPLICATE</code> = <code>true", since=since,
                     method="editMessageText")
    assert "applied now" in text_of(done)
    # Live: the next mirror of something already there is reported, not downloaded.
    res = origin.add("/same.bin", size=1000, seed=30)
    bot.mirror_dir.mkdir(exist_ok=True)
    (bot.mirror_dir / "same.bin").write_bytes(res.bytes())
    say(bot_api, f"/mirror {origin.url}/same.bin")
    wait_text(bot_api, r"STOP_DUPLICATE", chat_id=OWNER, since=since, timeout=60)
    assert "bsetting STOP_DUPLICATE: false -> true by user 1000" in bot.log_text()


def test_config_env_and_bsetting_take_and_refuse_the_same_values(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    """Issue 24: ``MAX_DOWNLOAD_SIZE=none`` stopped the bot at start while /bsetting took it;
    a day-long STATUS_UPDATE_INTERVAL was the other way round."""
    home = tmp_path / "bot"
    home.mkdir()
    (home / "config.env").write_text("MAX_DOWNLOAD_SIZE=none\n")
    make_bot(home=home)
    since = bot_api.mark()
    say(bot_api, "/bsetting MAX_DOWNLOAD_SIZE none")
    wait_text(bot_api, r"✅ <code>MAX_DOWNLOAD_SIZE</code> = <code>none", chat_id=OWNER,
              since=since)
    say(bot_api, "/bsetting STATUS_UPDATE_INTERVAL 90000")
    refused = text_of(wait_text(bot_api, r"STATUS_UPDATE_INTERVAL must be", chat_id=OWNER,
                                since=since))
    form = "a positive number of seconds, at most 86400"
    assert form in refused

    other = make_bot(start=False, home=tmp_path / "other", STATUS_UPDATE_INTERVAL="90000")
    other.start(wait_ready=False)
    assert other.proc is not None and other.proc.wait(timeout=60) == 2
    assert f"STATUS_UPDATE_INTERVAL must be {form}, got '90000'" in other.stderr()
