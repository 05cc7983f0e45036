"""-up <chat> and the /usetting leech chat follow Telegram's permission model, through the real
bot and the fake Bot API's getChat/getChatMember: in a channel only the creator and admins who
may post; in a group members who may send (not muted, not gone). Sudo users are exempt."""

from __future__ import annotations

from typing import Any

from tests.conftest import OWNER, USER
from tests.e2e.helpers import text_of, wait_text
from tests.e2e.test_usettings import enter, open_menu
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

CHANNEL = -1001111111111
GROUP = -1002222222222

# (chat, status, rights, allowed?)
CASES: list[tuple[int, str, dict[str, bool], bool]] = [
    (CHANNEL, "member", {}, False),  # a subscriber
    (CHANNEL, "administrator", {"can_post_messages": False}, False),
    (CHANNEL, "restricted", {"can_send_messages": True}, False),  # not a channel poster
    (CHANNEL, "administrator", {}, True),  # may post (the fake's default for channel admins)
    (CHANNEL, "creator", {}, True),
    (GROUP, "restricted", {}, False),  # muted: no can_send_messages
    (GROUP, "restricted-left", {"can_send_messages": True}, False),
    (GROUP, "kicked", {}, False),
    (GROUP, "restricted", {"can_send_messages": True}, True),  # restricted otherwise
    (GROUP, "member", {}, True),
]


def leech_up(api: FakeBotAPI, url: str, chat: int, user: int = USER) -> str:
    since = api.mark()
    api.push_message(f"/leech {url} -up {chat}", chat_id=user, user_id=user)
    said = wait_text(api, r"✅|❌", chat_id=user, since=since, timeout=60)
    sent = [c for c in api.calls_of("sendDocument") if c.index >= since]
    assert ("✅" in text_of(said)) == bool(sent), text_of(said)
    assert all(c.params["chat_id"] == chat for c in sent)
    return text_of(said)


def test_up_follows_telegram_permissions(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot(AUTHORIZED_CHATS=str(USER))  # USER is no sudo
    bot_api.set_chat(CHANNEL, "channel")
    bot_api.set_chat(GROUP, "supergroup")
    origin.add("/p.bin", size=2000, seed=21)
    for chat, status, rights, allowed in CASES:
        bot_api.set_member(chat, USER, status, **rights)
        said = leech_up(bot_api, f"{origin.url}/p.bin", chat)
        assert ("✅" in said) == allowed, (chat, status, rights, said)
    bot_api.set_member(CHANNEL, OWNER, "member")  # the owner is sudo: a subscriber may send
    assert "✅" in leech_up(bot_api, f"{origin.url}/p.bin", CHANNEL, OWNER)


LEECH_CHAT_CASES: list[tuple[int, str, dict[str, bool], bool]] = [
    (CHANNEL, "member", {}, False),
    (CHANNEL, "administrator", {"can_post_messages": False}, False),
    (GROUP, "restricted", {}, False),
    (CHANNEL, "administrator", {"can_post_messages": True}, True),
    (GROUP, "member", {}, True),
]


def test_the_leech_chat_follows_telegram_permissions(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot(AUTHORIZED_CHATS=str(USER))
    bot_api.set_chat(CHANNEL, "channel")
    bot_api.set_chat(GROUP, "supergroup")
    for chat, status, rights, allowed in LEECH_CHAT_CASES:
        bot_api.set_member(chat, USER, status, **rights)
        menu = open_menu(bot_api, USER)
        reply = "✅ Leech chat set" if allowed else "❌ You (are not a member|may not)"
        enter(bot_api, menu, "Leech chat", str(chat), user=USER, reply=reply)


def test_a_leech_chat_whose_rights_were_taken_is_refused_at_use(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot(AUTHORIZED_CHATS=str(USER))
    bot_api.set_chat(CHANNEL, "channel")
    bot_api.set_member(CHANNEL, USER, "administrator")
    origin.add("/q.bin", size=1000, seed=22)
    menu = open_menu(bot_api, USER)
    enter(bot_api, menu, "Leech chat", str(CHANNEL), user=USER)
    bot_api.set_member(CHANNEL, USER, "administrator", can_post_messages=False)
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/q.bin", chat_id=USER, user_id=USER)
    said = wait_text(bot_api, r"✅|❌", chat_id=USER, since=since, timeout=60)
    assert "may not post in channel" in text_of(said)
    assert not [c for c in bot_api.calls_of("sendDocument") if c.index >= since]
