"""Shared fixtures: the loopback fakes and a real ``python -m telebot`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.processes import ChildProcess

ROOT = Path(__file__).resolve().parents[1]
OWNER = 1000
USER = 42


@pytest.fixture
def bot_api(tmp_path: Path) -> Iterator[FakeBotAPI]:
    with FakeBotAPI(workdir=tmp_path / "botapi") as api:
        yield api


@pytest.fixture
def origin() -> Iterator[FakeOrigin]:
    with FakeOrigin() as server:
        yield server


@dataclass
class BotProcess(ChildProcess):
    """A real bot process with its own working folder (config, db, downloads, mirror, log)."""

    api: FakeBotAPI
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_ready: bool = True) -> BotProcess:
        with self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "telebot"],
                cwd=self.home,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        if wait_ready:
            self.api.wait_polling(timeout=30)
        return self


def bot_env(api: FakeBotAPI, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEBOT_"))}
    env.update(
        BOT_TOKEN=api.token,
        OWNER_ID=str(OWNER),
        BOT_API_URL=api.url,
        PTB_TIMEDELTA="1",
        PYTHONPATH=str(ROOT),
        STATUS_UPDATE_INTERVAL="0.3",
        SAMPLER_INTERVAL="1",
        ALLOW_PRIVATE_LINKS="true",
    )
    env.update(extra)
    return env


@pytest.fixture
def make_bot(bot_api: FakeBotAPI, tmp_path: Path) -> Iterator[object]:
    """``make_bot(**env)`` → a started :class:`BotProcess`; killed at the end of the test."""
    started: list[BotProcess] = []

    def make(*, start: bool = True, home: Path | None = None, **extra: str) -> BotProcess:
        folder = home or tmp_path / "bot"
        folder.mkdir(exist_ok=True)
        bot = BotProcess(bot_api, folder, bot_env(bot_api, **extra))
        started.append(bot)
        return bot.start() if start else bot

    yield make
    for bot in started:
        bot.stop_quietly()
