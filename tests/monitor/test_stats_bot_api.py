"""/stats output through PTB and the loopback fake Bot API: Telegram accepts it.

The fake validates HTML and the 4096-character limit like the real server
(400 "can't parse entities" / "MESSAGE_TOO_LONG"), so this proves the worst
case is sendable, and that the chart arrives as a decodable PNG photo.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram import Bot

from telebot.monitor.chart import render_chart
from telebot.monitor.perf import FunctionStats
from telebot.monitor.sampler import Sample
from telebot.monitor.stats import StatsInput, render_stats
from tests.fakes.bot_api import FakeBotAPI
from tests.monitor.test_chart import decode_png

os.environ.setdefault("PTB_TIMEDELTA", "1")  # docs/TELEGRAM.md, errors
CHAT = 42


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


def worst_case() -> StatsInput:
    nasty = "<b>&amp;" * 30 + "😀" * 20
    return StatsInput(
        uptime=10**9,
        sample=Sample(
            at=0.0, proc_rss=2**60, mem_total=2**60, disk_total=2**60, net_rx_total=2**62
        ),
        tasks_by_state={f"{nasty}{i}": i for i in range(3000)},
        slowest=[FunctionStats(f"{nasty}{i}", i, i, 1e9, 1e9, 1e9, 1e9, 1e9) for i in range(500)],
        error_counts={f"{nasty}E{i}": 10**12 for i in range(3000)},
        open_breakers=[(f"{nasty}.example", 1e12) for _ in range(3000)],
        native_io=False,
        versions={f"{nasty}{i}": nasty for i in range(50)},
        download_dir=Path("/" + nasty * 10),
    )


def send_stats(api: FakeBotAPI, text: str, png: bytes) -> None:
    async def main() -> None:
        bot = Bot(api.token, base_url=f"{api.url}/bot", base_file_url=f"{api.url}/file/bot")
        async with bot:
            await bot.send_message(CHAT, text, parse_mode="HTML")
            await bot.send_photo(CHAT, png, caption="CPU, RAM and network, last hour")

    asyncio.run(main())


def test_worst_case_stats_and_chart_are_accepted(api: FakeBotAPI):
    text = render_stats(worst_case())
    history = [Sample(at=5.0 * i, host_cpu=float(i % 100), mem_used=i, mem_total=720,
                      net_rx_rate=float(i)) for i in range(720)]  # fmt: skip
    png = render_chart(history)
    assert png is not None
    send_stats(api, text, png)  # raises BadRequest if the fake refuses either

    sent = api.wait_for("sendMessage", timeout=10)
    assert sent.status == 200 and sent.params["text"] == text
    photo = api.wait_for("sendPhoto", timeout=10)
    assert photo.status == 200
    width, height, _ = decode_png(photo.files["photo"].read())
    assert (width, height) == (640, 320)
