"""The Messenger is the one boundary every chat text crosses: it redacts them all."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from telebot.botapi.messenger import Messenger
from telebot.redact import register_secret
from telebot.resilience import BreakerRegistry, ErrorTracker

TOKEN = "4440002:MESSENGERtestTOKENbbbbbbbbbbbbbbbbbbb"
LEAKY = f"❌ failed: GET https://bob:pw9@h/f?api_key=K3Y -ap hunter2 /file/bot{TOKEN}/x"


class RecordingBot:
    """Stands in for PTB's Bot (Telegram's cloud is the one thing tests mock)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
        self.sent.append(text)
        return SimpleNamespace(chat_id=chat_id, message_id=1)

    async def edit_message_text(self, text: str, **kwargs: Any) -> Any:
        self.sent.append(text)
        return True

    async def send_document(self, *, chat_id: int, caption: str, **kwargs: Any) -> Any:
        self.sent.append(caption)
        return SimpleNamespace(chat_id=chat_id, message_id=2)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(5)
    running.close()


def test_every_text_and_caption_is_redacted(loop: asyncio.AbstractEventLoop) -> None:
    register_secret(TOKEN)
    bot = RecordingBot()
    messenger = Messenger(bot, loop, breakers=BreakerRegistry(), errors=ErrorTracker())  # type: ignore[arg-type]
    messenger.send_text(7, LEAKY)
    messenger.edit_text(7, 1, LEAKY)
    messenger.send_file(7, "send_document", lambda: {"caption": LEAKY, "document": b"x"}, timeout=5)
    assert len(bot.sent) == 3
    for text in bot.sent:
        for secret in ("pw9", "K3Y", "hunter2", TOKEN, TOKEN.split(":")[1]):
            assert secret not in text, text
        assert text.startswith("❌ failed")
