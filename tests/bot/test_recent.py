"""The -i message memory: bounded, honest about what it forgot, waiting for messages in flight."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from telebot.bot.recent import NotArrived, RecentMessages, Remembered, remembered
from telebot.errors import BadInputError


def item(message_id: int, at: float, text: str = "https://h/x") -> Remembered:
    return Remembered(message_id, text, None, at, text.startswith("/"))


def test_memory_is_bounded_and_says_what_it_forgot() -> None:
    now = [0.0]
    recent = RecentMessages(per_chat=3, max_age=100.0, clock=lambda: now[0])
    for n in range(1, 6):
        recent.add(7, item(n, now[0]))
    assert [m.message_id for m in recent.following(7, 3, 3)] == [4, 5]
    with pytest.raises(BadInputError, match=r"message 2 of 2 .*older than my memory"):
        recent.following(7, 2, 2)  # 1 and 2 were dropped: only 3 are kept
    recent.add(7, item(6, now[0], "/mirror -i 2"))  # commands are never one of the messages
    with pytest.raises(NotArrived, match="message 3 of 3 has not arrived"):
        recent.following(7, 4, 3)  # only 5 follows 4 (6 is a command)
    now[0] = 500.0  # everything is older than max_age now
    with pytest.raises(BadInputError, match="older than my memory"):
        recent.following(7, 4, 2)
    with pytest.raises(BadInputError, match="before I started"):
        recent.following(8, 1, 2)  # a chat it never heard from



def test_remembered_keeps_only_the_first_word() -> None:
    message = SimpleNamespace(
        message_id=3, text="https://h/a.bin and some words", caption=None,
        document=None, video=None, audio=None,
    )  # fmt: skip
    assert remembered(message, 0.0).text == "https://h/a.bin"  # type: ignore[arg-type]


def test_following_waits_for_a_message_still_in_flight() -> None:
    recent = RecentMessages()
    recent.add(7, item(1, 0.0))
    waiting = threading.Event()
    found: list[list[Remembered]] = []

    def look_up() -> None:
        waiting.set()
        found.append(recent.following(7, 1, 2, wait=30.0))

    thread = threading.Thread(target=look_up)
    thread.start()
    assert waiting.wait(10)
    recent.add(7, item(2, 0.0))  # arrives while the look-up waits (or before: both must pass)
    thread.join(30)
    assert not thread.is_alive()
    assert [[m.message_id for m in got] for got in found] == [[2]]
    with pytest.raises(NotArrived, match="message 3 of 3 has not arrived"):
        recent.following(7, 1, 3, wait=0.05)  # nothing more comes: refused once the wait ends
