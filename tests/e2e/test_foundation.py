"""The real bot process against the fake Bot API: start-up, commands, auth, shutdown."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import OWNER, USER, BotProcess, bot_env
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.ports import held_port


def reply_to(api: FakeBotAPI, message: dict[str, Any], since: int, timeout: float = 15) -> Call:
    return api.wait_for(
        "sendMessage",
        lambda c: (
            c.params.get("chat_id") == message["chat"]["id"]
            and _replied(c) == message["message_id"]
        ),
        since=since,
        timeout=timeout,
    )


def _replied(call: Call) -> Any:
    params = call.params.get("reply_parameters")
    if isinstance(params, dict):
        return params.get("message_id")
    return call.params.get("reply_to_message_id")


def test_start_help_ping_for_the_owner(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot()
    since = bot_api.mark()
    start = bot_api.push_message("/start", chat_id=OWNER, user_id=OWNER)
    assert "running" in reply_to(bot_api, start, since).params["text"]
    help_msg = bot_api.push_message("/help", chat_id=OWNER, user_id=OWNER)
    # The owner's help is longer than one message may be (4096 characters, which the fake
    # enforces): its sections come as separate replies, commands first, then the flags.
    commands = reply_to(bot_api, help_msg, since).params["text"]
    flags = bot_api.wait_for(
        "sendMessage",
        lambda c: _replied(c) == help_msg["message_id"] and "Task flags" in str(c.params["text"]),
        since=since,
    ).params["text"]
    for needle in ("/mirror", "/leech", "/cancel", "/stats", "/addsudo"):
        assert needle in commands
    for needle in ("-n name", "-up dest"):
        assert needle in flags
    ping = bot_api.push_message("/ping", chat_id=OWNER, user_id=OWNER)
    pong = bot_api.wait_for(
        "sendMessage", lambda c: "Pong" in str(c.params.get("text")), since=since
    )
    edit = bot_api.wait_for(
        "editMessageText", lambda c: " ms" in str(c.params.get("text")), since=since
    )
    assert edit.params["chat_id"] == ping["chat"]["id"] and pong.params["chat_id"] == OWNER


def test_commands_registered_with_set_my_commands(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot()
    call = bot_api.wait_for("setMyCommands", timeout=15)
    names = {c["command"] for c in call.params["commands"]}
    assert {"start", "help", "mirror", "leech", "ping", "status", "cancel"} <= names
    assert "addsudo" not in names  # admin commands stay out of everyone's menu
    # Off the start path: sent once the first getUpdates is out, so after deleteWebhook (PTB's
    # last call before polling), not between getMe and the first poll.
    (hook,) = bot_api.calls_of("deleteWebhook")
    assert call.at > hook.at


def test_stranger_refused_once_then_authorized(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot()
    since = bot_api.mark()
    first = bot_api.push_message("/start", chat_id=USER, user_id=USER)
    assert "not authorized" in reply_to(bot_api, first, since).params["text"]
    # A burst of further messages gets no more refusals (at most one a minute).
    for _ in range(5):
        bot_api.push_message("/start", chat_id=USER, user_id=USER)
    group = bot_api.push_message("/start", chat_id=-100123, user_id=USER, chat_type="group")
    # Updates are handled concurrently: let the burst be handled (an owner's round trip after
    # it) before the stranger is authorized, or a late /start would rightly get an answer.
    mark = bot_api.mark()
    ping = bot_api.push_message("/ping", chat_id=OWNER, user_id=OWNER)
    bot_api.wait_for("editMessageText", lambda c: c.params.get("chat_id") == ping["chat"]["id"],
                     since=mark, timeout=15)
    replies_to_stranger = [
        c
        for c in bot_api.calls_of("sendMessage")
        if c.index >= since and c.params.get("chat_id") in (USER, group["chat"]["id"])
    ]
    assert len(replies_to_stranger) == 1
    mark = bot_api.mark()
    grant = bot_api.push_message(f"/auth {USER}", chat_id=OWNER, user_id=OWNER)
    assert "is authorized" in reply_to(bot_api, grant, mark).params["text"]
    mark = bot_api.mark()
    again = bot_api.push_message("/start", chat_id=USER, user_id=USER)
    assert "running" in reply_to(bot_api, again, mark).params["text"]


def test_sudo_commands_need_sudo(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot(AUTHORIZED_CHATS=str(USER))
    since = bot_api.mark()
    attempt = bot_api.push_message("/addsudo 5", chat_id=USER, user_id=USER)
    assert "only for the owner" in reply_to(bot_api, attempt, since).params["text"]
    grant = bot_api.push_message(f"/addsudo {USER}", chat_id=OWNER, user_id=OWNER)
    assert "is now sudo" in reply_to(bot_api, grant, since).params["text"]
    users = bot_api.push_message("/users", chat_id=USER, user_id=USER)
    text = reply_to(bot_api, users, since).params["text"]
    assert str(OWNER) in text and str(USER) in text


def test_log_is_sent_to_sudo_without_the_token(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot = make_bot()
    since = bot_api.mark()
    bot_api.push_message("/log", chat_id=OWNER, user_id=OWNER)
    call = bot_api.wait_for("sendDocument", since=since, timeout=15)
    data = call.files["document"].read().decode()
    assert "starting" in data
    assert bot_api.token not in data
    assert bot_api.token not in bot.stderr()


def test_sigterm_exits_zero_and_keeps_the_store(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot = make_bot()
    assert bot.terminate(timeout=10) == 0
    assert "stopped cleanly" in bot.log_text()
    assert (bot.home / "telebot.db").exists()


def test_startup_time_is_logged(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot = make_bot()
    assert bot.terminate() == 0  # flushes the log queue
    assert re.search(r"first getUpdates \d+ ms after process start", bot.log_text())


def run_bad_config(
    tmp_path: Path, api: FakeBotAPI, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = bot_env(api, **extra)
    return subprocess.run(
        [sys.executable, "-m", "telebot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_bad_config_exits_2_with_one_line(tmp_path: Path, bot_api: FakeBotAPI) -> None:
    result = run_bad_config(tmp_path, bot_api, OWNER_ID="abc")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["telebot: config error: OWNER_ID must be an integer user id, got 'abc'"]


def test_missing_token_exits_2(tmp_path: Path, bot_api: FakeBotAPI) -> None:
    result = run_bad_config(tmp_path, bot_api, BOT_TOKEN="")
    assert result.returncode == 2
    assert "BOT_TOKEN is required" in result.stderr


# -- the first run: an unreachable Bot API is waited for, a rejected token is one line -------


def wait_stderr(bot: Any, pattern: str, count: int, timeout: float = 30.0) -> list[str]:
    """The bot's stderr lines matching ``pattern``, once there are at least ``count``."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        lines = [line for line in bot.stderr().splitlines() if regex.search(line)]
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline or bot.proc.poll() is not None:
            raise AssertionError(f"{len(lines)} of {count} lines {pattern!r}:\n{bot.stderr()}")
        pause.wait(0.05)


def non_log_lines(text: str) -> list[str]:
    """stderr lines that are not INFO log records (start-up notes), nor the one WARNING a
    Python with the known tarfile flaws gets at start (telebot/pythoncheck.py)."""
    return [
        line for line in text.splitlines()
        if not re.match(r"^\S+ \S+ (INFO |WARNING telebot: Python \S+ has tarfile flaws)", line)
    ]


def test_unreachable_bot_api_is_retried_one_line_each(bot_api: FakeBotAPI, make_bot: Any) -> None:
    with held_port() as port:
        url = f"http://127.0.0.1:{port}"
        bot = make_bot(start=False, BOT_API_URL=url)
        bot.start(wait_ready=False)
        retries = wait_stderr(bot, "not reachable", 3)
        assert all(url in line and "retrying in" in line for line in retries), retries
        assert [line.split("retrying in ")[1] for line in retries[:3]] == ["1 s", "2 s", "4 s"]
        begun = time.monotonic()
        assert bot.terminate(timeout=10) == 0
        assert time.monotonic() - begun < 5  # the wait for the next attempt is abandoned
    text = bot.stderr()
    assert "Traceback" not in text and bot_api.token not in text
    assert all("not reachable" in line for line in non_log_lines(text)), text


def test_bot_api_that_comes_up_later_is_polled(tmp_path: Path) -> None:
    with held_port() as port:  # refused until our server listens on it
        api = FakeBotAPI(workdir=tmp_path / "late", port=port)
        bot = BotProcess(api, tmp_path, bot_env(api, BOT_API_URL=f"http://127.0.0.1:{port}"))
        try:
            bot.start(wait_ready=False)
            wait_stderr(bot, "not reachable", 2)
            with api:
                api.wait_polling(timeout=60)
                assert bot.terminate() == 0
            assert "Traceback" not in bot.stderr()
        finally:
            bot.stop_quietly()


def test_bot_api_5xx_at_start_is_retried(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot_api.fail_next("getMe", status=502, description="Bad Gateway", times=2)
    bot = make_bot(start=False)
    bot.start()  # waits for the first long poll
    assert len(wait_stderr(bot, "not reachable .*Bad Gateway", 2)) == 2
    assert [c.status for c in bot_api.calls_of("getMe")][:3] == [502, 502, 200]


def test_rejected_token_exits_2_with_one_line(tmp_path: Path, bot_api: FakeBotAPI) -> None:
    bot_api.fail_next("getMe", status=401, description="Unauthorized")
    result = run_bad_config(tmp_path, bot_api)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert non_log_lines(result.stderr) == [
        f"telebot: config error: BOT_TOKEN was rejected by the Bot API at {bot_api.url} "
        "(Unauthorized); check the token"
    ]
    assert bot_api.token not in result.stderr
