"""Shared fixtures: the loopback fakes and a real ``python -m telebot`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWNER = 1000
USER = 42

# pytest rewrites the asserts of each test module as it imports it and caches the result as
# bytecode, which PYTHONDONTWRITEBYTECODE turns off: then every xdist worker rewrote all ~260
# test modules again on every run (20 s of CPU each, more than the collection itself). With
# the variable set, the cache goes under .pytest_cache/ (never next to the sources, which is
# what the variable is usually for). The bot and worker processes the tests start share that
# cache (bot_env): with the variable alone each of the ~400 of them compiled every telebot
# module again (0.3 s of CPU a start, about 2 of the suite's 15 CPU-minutes).
if sys.dont_write_bytecode and not sys.pycache_prefix:
    sys.pycache_prefix = str(ROOT / ".pytest_cache" / "pycache")
    sys.dont_write_bytecode = False

# Set before this module imports anything more: Hypothesis (74 modules that pytest rewrites as a
# plugin's), the fakes and the telebot modules they use were otherwise rewritten or compiled
# again in every pytest process of every run (about 1 CPU-s each: the controller, six workers).
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from tests.fakes import made  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.origin import FakeOrigin  # noqa: E402
from tests.processes import ChildProcess  # noqa: E402

# Hypothesis fails an example that takes over 200 ms of wall time (its default deadline): a
# health check against slow examples, not an assertion of any test here (those that care set
# their own). With six workers sharing two cores, a 7.7 ms example of test_task took 464 ms and
# failed the run. The examples, how many, and every assertion stay as they were.
settings.register_profile("telebot", deadline=None)
settings.load_profile("telebot")


@pytest.fixture(autouse=True, scope="session")
def _made_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Media that several modules make the same way (tests/fakes/made.py) is made once a run:
    kept beside the xdist workers' own temporary folders, in the run's, so every worker shares
    it and pytest removes it with the run's other temporary files."""
    base = tmp_path_factory.getbasetemp()
    made.use((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "made-once")


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
    if sys.pycache_prefix:  # the tests' bytecode cache (above), read and filled by the bots too
        env["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix
        env.pop("PYTHONDONTWRITEBYTECODE", None)
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
