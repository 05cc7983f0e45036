"""The quality menu's rules that need no Telegram: who may press, and a menu that cannot be sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telebot.bot.menus.quality import QualityMenu, keyboard
from telebot.engine.task import Task, TaskSpec
from telebot.sources.ytdl.source import QualityOption

OPTIONS = [QualityOption("best", "Best"), QualityOption("h:720", "720p")]


class Unreachable:
    """A Messenger whose every call fails, as when Telegram is down."""

    def send_text(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Telegram is down")


def task(tmp_path: Path) -> Task:
    spec = TaskSpec(kind="mirror", source="https://x/v", chat_id=1, user_id=7, tool="ytdl")
    return Task("abcdef0123", spec, tmp_path)


def test_a_menu_that_cannot_be_posted_takes_best_at_once(tmp_path: Path) -> None:
    menu = QualityMenu(lambda: Unreachable())  # type: ignore[arg-type, return-value]
    assert menu.choose(task(tmp_path), "title", OPTIONS, timeout=3600) is None


def test_callback_data_fits_telegram_limit() -> None:
    many = [QualityOption(f"h:{h}", f"{h}p") for h in range(40)]
    for row in keyboard("abcdef0123", many).inline_keyboard:
        for button in row:
            assert len(str(button.callback_data).encode()) <= 64
