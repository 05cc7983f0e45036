"""refusal(): Telegram's ChatMember types (parsed by PTB, as the bot gets them) → may post?"""

from __future__ import annotations

from typing import Any

import pytest
from telegram import ChatMember

from telebot.bot.chatperms import refusal
from tests.fakes._methods import _chat_member

USER = {"id": 7, "is_bot": False, "first_name": "T"}


def member(status: str, **fields: Any) -> ChatMember:
    data = {**_chat_member(status, USER), **fields}
    parsed = ChatMember.de_json(data, None)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("chat_type", "status", "fields", "allowed"),
    [
        ("channel", "creator", {}, True),
        ("channel", "administrator", {"can_post_messages": True}, True),
        ("channel", "administrator", {"can_post_messages": False}, False),
        ("channel", "administrator", {}, False),  # no can_post_messages field: not a poster
        ("channel", "member", {}, False),  # a subscriber
        ("channel", "left", {}, False),
        ("supergroup", "creator", {}, True),
        ("supergroup", "administrator", {}, True),
        ("group", "member", {}, True),
        ("supergroup", "restricted", {}, False),  # muted
        ("supergroup", "restricted", {"can_send_messages": True}, True),
        ("supergroup", "restricted-left", {"can_send_messages": True}, False),
        ("supergroup", "left", {}, False),
        ("supergroup", "kicked", {}, False),
    ],
)
def test_refusal(chat_type: str, status: str, fields: dict[str, bool], allowed: bool) -> None:
    assert (refusal(chat_type, -100, 7, member(status, **fields)) is None) == allowed


def test_private_chats_only_ones_own() -> None:
    assert refusal("private", 7, 7, member("member")) is None
    assert refusal("private", 8, 7, member("left")) is not None
