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
from telebot.resilience.ratelimit import TelegramLimiter
from tests.resilience.conftest import FakeClock

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

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        self.sent.append(f"deleted {message_id}")
        return True


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


def test_deleting_spends_nothing_of_the_chats_sending_budget(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A task's end deletes its status message and sends its ✅ into the same chat: the delete
    must not make the ✅ wait for the chat's next token (1/s after a burst of 3)."""
    clock = FakeClock()  # the limiter "sleeps" by moving this clock, and records each wait
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    bot = RecordingBot()
    messenger = Messenger(bot, loop, limiter=limiter, breakers=BreakerRegistry(),  # type: ignore[arg-type]
                          errors=ErrorTracker())
    for n in range(3):
        messenger.send_text(7, f"status {n}")  # the chat's burst, spent
    clock.sleeps.clear()
    for n in range(3):
        assert messenger.delete(7, n)
    assert sum(clock.sleeps) < 0.5  # only the global 30/s paced them, never the chat's 1/s
    messenger.send_text(7, "✅ done")
    assert 0.5 < sum(clock.sleeps) <= 1.0  # the ✅ waits one chat token, as after the burst
    assert bot.sent[-4:] == ["deleted 0", "deleted 1", "deleted 2", "✅ done"]
