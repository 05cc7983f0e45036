"""The downloader's notes reach the task's status line, and HOST_DOWN_TIMEOUT reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.bot.status import render_task
from telebot.config import load_config
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import ConfigError, DownloadError
from telebot.resilience import BreakerConfig, BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import NOTE_NO_RESUME, HttpSource
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import DirectLinkSource
from tests.fakes.origin import FakeOrigin
from tests.resilience.conftest import FakeClock

ENV = {"BOT_TOKEN": "123456:ABC-def_ghi", "OWNER_ID": "42", "ALLOW_PRIVATE_LINKS": "true"}


def test_host_down_timeout_is_configured(tmp_path: Path) -> None:
    assert load_config(ENV, cwd=tmp_path).host_down_timeout == 600.0
    assert load_config({**ENV, "HOST_DOWN_TIMEOUT": "90"}, cwd=tmp_path).host_down_timeout == 90
    with pytest.raises(ConfigError, match="HOST_DOWN_TIMEOUT must be a positive number"):
        load_config({**ENV, "HOST_DOWN_TIMEOUT": "soon"}, cwd=tmp_path)


def _task(url: str, tmp_path: Path) -> Task:
    task = Task("abcdef0123", TaskSpec(kind="mirror", source=url, chat_id=1, user_id=1),
                tmp_path / "task")
    task.begin(State.DOWNLOADING, "HTTP")
    return task


def test_a_restart_from_zero_shows_in_the_status(origin: FakeOrigin, tmp_path: Path) -> None:
    origin.add("/p.bin", size=1_000_000, seed=1)
    origin.fault("/p.bin", ignore_range=True, drop_after=400_000, times=3)
    task = _task(f"{origin.url}/p.bin", tmp_path)
    source = DirectLinkSource(HttpSettings.from_config(load_config(ENV, cwd=tmp_path)),
                              HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker(),
                                         sleep=lambda s: None))
    source.fetch(task)
    text = render_task(task.snapshot())
    assert f"⚠️ {NOTE_NO_RESUME}" in text.splitlines()
    task.begin(State.UPLOADING, "local")  # the next stage starts without the note
    assert task.snapshot().note is None and "⚠️" not in render_task(task.snapshot())


def test_waiting_for_a_host_shows_in_the_status_then_fails_saying_why(
        origin: FakeOrigin, tmp_path: Path) -> None:
    origin.add("/d.bin", size=1_000_000, seed=2)
    origin.fault("/d.bin", statuses=[503] * 1000)
    clock = FakeClock()
    task = _task(f"{origin.url}/d.bin", tmp_path)
    seen: list[str] = []

    def sleep(seconds: float) -> None:  # the status as a user would see it while waiting
        seen.append(render_task(task.snapshot()))
        clock.sleep(seconds)

    http = HttpSource(breakers=BreakerRegistry(BreakerConfig(cool_down=30), clock=clock),
                      errors=ErrorTracker(), clock=clock, sleep=sleep)
    config = load_config({**ENV, "HOST_DOWN_TIMEOUT": "120"}, cwd=tmp_path)
    with pytest.raises(DownloadError, match=r"^127\.0\.0\.1 did not answer for 2 min$"):
        DirectLinkSource(HttpSettings.from_config(config), http).fetch(task)
    assert any("⚠️ waiting for 127.0.0.1, retry in 30 s" in text for text in seen)
