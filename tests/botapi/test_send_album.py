"""Messenger.send_album: an album of N spends N of the chat's sending budget, and every
caption in it is redacted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from telebot.botapi.messenger import Messenger
from telebot.redact import register_secret
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.resilience.ratelimit import TelegramLimiter
from tests.botapi.test_messenger import TOKEN, loop  # noqa: F401  (the fixture)
from tests.resilience.conftest import FakeClock


class AlbumBot:
    def __init__(self) -> None:
        self.albums: list[list[Any]] = []

    async def send_media_group(self, *, chat_id: int, media: list[Any], **kwargs: Any) -> Any:
        self.albums.append(media)
        return tuple(SimpleNamespace(chat_id=chat_id, message_id=10 + i)
                     for i in range(len(media)))

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
        return SimpleNamespace(chat_id=chat_id, message_id=1)


def test_an_album_of_four_costs_the_chat_four_messages(
    loop: asyncio.AbstractEventLoop,  # noqa: F811
) -> None:
    clock = FakeClock()
    limiter = TelegramLimiter(clock=clock, sleep=clock.sleep)
    bot = AlbumBot()
    messenger = Messenger(bot, loop, limiter=limiter, breakers=BreakerRegistry(),  # type: ignore[arg-type]
                          errors=ErrorTracker())
    items = [("photo", {"media": b"\xff\xd8jpeg", "caption": f"shot {n}"}) for n in range(4)]
    sent = messenger.send_album(7, 4, lambda: items, timeout=5)
    assert [m.message_id for m in sent] == [10, 11, 12, 13]
    # A private chat's burst is 3 then 1/s: the fourth item waited for a token.
    assert 0.5 < sum(clock.sleeps) <= 1.0
    clock.sleeps.clear()
    messenger.send_text(7, "✅")
    assert 0.5 < sum(clock.sleeps) <= 1.0  # the next message waits as after 4 messages


def test_every_caption_of_an_album_is_redacted(
    loop: asyncio.AbstractEventLoop,  # noqa: F811
) -> None:
    register_secret(TOKEN)
    bot = AlbumBot()
    messenger = Messenger(bot, loop, breakers=BreakerRegistry(), errors=ErrorTracker())  # type: ignore[arg-type]
    leaky = f"see /file/bot{TOKEN}/x -ap hunter2"
    messenger.send_album(7, 2, lambda: [("photo", {"media": b"a", "caption": leaky}),
                                        ("video", {"media": b"b", "caption": leaky})], timeout=5)
    [album] = bot.albums
    assert [item.type for item in album] == ["photo", "video"]
    for item in album:
        assert TOKEN not in item.caption and "hunter2" not in item.caption
