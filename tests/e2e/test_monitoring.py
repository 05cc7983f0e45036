"""Monitoring in the running bot: /stats with its chart, the periodic report, the health check."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI


def health(bot: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telebot.health"], cwd=bot.home, env=bot.env,
                          capture_output=True, text=True, timeout=30)


def test_stats_sends_text_and_chart(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot(SAMPLER_INTERVAL="0.2")
    since = bot_api.mark()
    bot_api.push_message("/stats", chat_id=OWNER, user_id=OWNER)
    stats = wait_text(bot_api, r"Bot stats", since=since)
    text = text_of(stats)
    assert len(text) <= 4096
    for needle in ("CPU", "RSS", "Disk", "Versions", "python-telegram-bot", "native"):
        assert needle in text, needle
    photo = bot_api.wait_for("sendPhoto", since=since, timeout=15)
    assert photo.files["photo"].read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_periodic_report_reaches_the_log(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot = make_bot(PERF_REPORT_INTERVAL="0.5", SAMPLER_INTERVAL="0.2")
    seen = threading.Event()
    # The log is written by the bot's queue listener; poll the file until the report shows.
    for _ in range(200):
        if bot.log_text().count("performance report") >= 2:
            seen.set()
            break
        seen.wait(0.1)
    assert seen.is_set(), bot.log_text()[-2000:]


def test_health_follows_the_bot(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot = make_bot(SAMPLER_INTERVAL="0.2")
    waiter = threading.Event()
    result = health(bot)
    for _ in range(100):  # the first sample and the first finished poll take a moment
        if result.returncode == 0:
            break
        waiter.wait(0.1)
        result = health(bot)
    assert result.returncode == 0, result.stdout + result.stderr
    bot.kill9()
    dead = health(bot)
    assert dead.returncode == 1
    assert "not running" in (dead.stdout + dead.stderr) or "dead" in (dead.stdout + dead.stderr)
