"""May this user post into that chat? Telegram's own answer, for ``-up <chat>`` and the
/usetting leech chat.

The bot posts there on the user's behalf, so it must not post where the user could not:

- a **channel**: only its creator, or an administrator with ``can_post_messages`` (subscribers
  are ``member`` there, and read only);
- a **group or supergroup**: the creator, administrators and members; a ``restricted`` member
  only while still in the chat (``is_member``) and allowed to send messages
  (``can_send_messages``); never ``left`` or ``kicked``;
- a **private chat**: only the user's own chat with the bot (the bot cannot post to anyone
  else's).

Sudo users are exempt (they may send anywhere the bot can). Facts: docs/TELEGRAM.md, "Chat
members", and the Bot API's ``ChatMember`` types (Owner/Administrator/Member/Restricted/Left/
Banned).
"""

from __future__ import annotations

from typing import Any

from telebot.botapi.messenger import Messenger
from telebot.errors import BadInputError

# Statuses of someone who is in a group and may send (restricted is decided by its fields).
GROUP_SENDERS = frozenset({"creator", "administrator", "member"})


def refusal(chat_type: str, chat_id: int, user_id: int, member: Any) -> str | None:
    """Why ``member`` (a PTB ``ChatMember`` of ``user_id`` in a ``chat_type`` chat) may not
    post in chat ``chat_id``, or None when they may. Pure: no I/O."""
    status = str(getattr(member, "status", ""))
    if status in ("left", "kicked") or (
        status == "restricted" and not getattr(member, "is_member", False)
    ):
        return f"You are not a member of chat {chat_id}: -up only sends to chats you are in."
    if chat_type == "channel":
        if status == "creator":
            return None
        if status == "administrator" and getattr(member, "can_post_messages", False) is True:
            return None
        return (f"You may not post in channel {chat_id}: only its creator and administrators "
                "who may post messages can send there with -up.")
    if chat_type == "private":
        if chat_id == user_id and status in GROUP_SENDERS:
            return None
        return f"Chat {chat_id} is someone else's private chat: -up only sends to your own."
    if status in GROUP_SENDERS:
        return None
    if status == "restricted" and getattr(member, "can_send_messages", False) is True:
        return None
    return (f"You may not send messages in chat {chat_id} (restricted there): "
            "-up only sends where you could.")


def check_can_post(bridge: Messenger, chat_id: int, user_id: int, sudo: bool) -> None:
    """Raise :class:`BadInputError` (the user's reply) before anything is downloaded when the
    bot cannot reach chat ``chat_id``, or when ``user_id`` may not post there (see the module
    docstring; ``sudo`` skips the second check). Two Bot API calls: run it off the loop."""
    from telegram.error import TelegramError

    try:
        chat = bridge.call(chat_id, "getChat", lambda: bridge.bot.get_chat(chat_id))
    except TelegramError as exc:
        raise BadInputError(f"The bot cannot post in chat {chat_id}: {exc}") from None
    if sudo:
        return
    try:
        member = bridge.call(
            chat_id, "getChatMember", lambda: bridge.bot.get_chat_member(chat_id, user_id)
        )
    except TelegramError as exc:
        raise BadInputError(
            f"Could not check that you may post in chat {chat_id} ({exc}); "
            "-up only sends to chats you are in."
        ) from None
    why = refusal(str(getattr(chat, "type", "")), chat_id, user_id, member)
    if why is not None:
        raise BadInputError(why)
