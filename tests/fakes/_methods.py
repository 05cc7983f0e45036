"""The Bot API methods of :class:`tests.fakes.bot_api.FakeBotAPI`: one ``_m_<name>`` handler per
method (the dispatcher lowercases the method name), plus the chat/message/file state helpers they
share with the test-side API.

A mixin so the server (request handling, faults, test-side API) and the methods each fit one
screenful of reading; it works on the state that ``FakeBotAPI.__init__`` creates, guarded by
``self._cond``, and returns the ``result`` of a successful reply or raises :class:`ApiError`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.fakes._multipart import UploadedFile, _sha256_file
from tests.fakes._telegram import (
    CALLBACK_TEXT_LIMIT,
    CAPTION_LIMIT,
    CLOUD_DOWNLOAD_LIMIT,
    CLOUD_UPLOAD_LIMIT,
    CONFLICT,
    LOCAL_UPLOAD_LIMIT,
    MEDIA_GROUP_RANGE,
    NOT_MODIFIED,
    TEXT_LIMIT,
    ApiError,
    _bad,
    _chat_id,
    _check_markup,
    _guess_mime,
    _int,
    _kind,
    _media_dict,
    _require,
    _StoredFile,
    visible_text,
)

_MEDIA_METHODS = {
    "senddocument": "document", "sendvideo": "video", "sendaudio": "audio",
    "sendphoto": "photo", "sendanimation": "animation", "sendvoice": "voice",
}


class BotMethods:
    """Method handlers and state helpers; see the module docstring."""

    # State owned by FakeBotAPI.__init__ (declared here for readers and type checkers); the
    # handlers also call its pending_updates() and _stopping().
    local_mode: bool
    bot_id: int
    bot_user: dict[str, Any]
    workdir: Path
    _cond: threading.Condition
    _updates: list[dict[str, Any]]
    _poll_generation: int
    _polling: int
    _ids: Iterator[int]
    _file_seq: Iterator[int]
    _messages: dict[int, dict[int, dict[str, Any]]]
    _sources: dict[tuple[int, int], tuple[str, Any]]
    _chats: dict[int, dict[str, Any]]
    _files: dict[str, _StoredFile]
    _paths: dict[str, _StoredFile]
    _callbacks: dict[str, bool]
    _commands: list[Any]
    _members: dict[tuple[int, int], str]
    _member_rights: dict[tuple[int, int], dict[str, bool]]
    _admin_chats: set[int]
    # ------------------------------------------------------------------ test-side settings

    def set_member(self, chat_id: int, user_id: int, status: str, **rights: bool) -> None:
        """What getChatMember answers for ``user_id`` in ``chat_id``: "creator",
        "administrator", "member", "restricted" (still a member), "restricted-left" (restricted,
        is_member false), "left" or "kicked". Unset: "member" for a user in their own private
        chat, else "left" (like Telegram for someone who never joined).

        ``rights`` override the ChatMember's boolean fields, like Telegram's
        ChatMemberAdministrator (``can_post_messages=False``: an admin of a channel who may not
        post) and ChatMemberRestricted (``can_send_messages=True``: restricted, yet may send).
        By default an administrator has every right (in a channel: post, edit, delete) and a
        restricted member none."""
        unknown = set(rights) - {*_ADMIN_RIGHTS, *_CHANNEL_ADMIN_RIGHTS, *_MEMBER_PERMISSIONS}
        if unknown:
            raise ValueError(f"not a ChatMember right: {sorted(unknown)}")
        with self._cond:
            self._members[(chat_id, user_id)] = status
            self._member_rights[(chat_id, user_id)] = dict(rights)

    def set_chat(self, chat_id: int, chat_type: str, title: str = "Test Chat") -> None:
        """Make ``chat_id`` a chat of ``chat_type`` ("channel", "group", "supergroup",
        "private") for getChat, getChatMember and the messages sent there."""
        chat = self._remember_chat(chat_id, chat_type)
        with self._cond:
            if chat_type != "private":
                chat["title"] = title

    def make_admin(self, chat_id: int, admin: bool = True) -> None:
        """Give the bot (or take) admin rights in a group: deleting others' messages."""
        with self._cond:
            (self._admin_chats.add if admin else self._admin_chats.discard)(chat_id)

    # ------------------------------------------------------------------ state helpers

    def _remember_chat(
        self, chat_id: int, chat_type: str | None = None, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._cond:
            if chat_id in self._chats and chat_type is None:
                return self._chats[chat_id]
            if chat_type is None:
                chat_type = "private" if chat_id > 0 else (
                    "supergroup" if chat_id < -(10**12) else "group")
            chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                chat["first_name"] = (user or {}).get("first_name", "Tester")
                chat["username"] = (user or {}).get("username", "tester")
            else:
                chat["title"] = "Test Group"
            self._chats[chat_id] = chat
            return chat

    def _store_file(
        self, name: str, mime: str, size: int, source: bytes | Path
    ) -> _StoredFile:
        n = next(self._file_seq)
        stored = _StoredFile(f"BQACAgFAKE{n:06d}", f"AgAD{n:06d}", name, mime, size, source)
        with self._cond:
            self._files[stored.file_id] = stored
        return stored

    def _new_message(self, chat_id: Any, **content: Any) -> dict[str, Any]:
        chat = self._remember_chat(_chat_id(chat_id))
        msg = {
            "message_id": next(self._ids), "date": int(time.time()), "chat": chat,
            "from": self.bot_user, **{k: v for k, v in content.items() if v is not None},
        }
        with self._cond:
            self._messages.setdefault(chat["id"], {})[msg["message_id"]] = msg
        return msg

    def _find_message(self, chat_id: Any, message_id: Any) -> dict[str, Any] | None:
        with self._cond:
            return self._messages.get(_chat_id(chat_id), {}).get(_int(message_id))

    def _reply_to(self, params: dict[str, Any]) -> dict[str, Any] | None:
        ref = params.get("reply_parameters") or {}
        if "reply_to_message_id" in params:
            ref = {"message_id": params["reply_to_message_id"],
                   "allow_sending_without_reply": params.get("allow_sending_without_reply")}
        if not ref:
            return None
        target = self._find_message(ref.get("chat_id", params.get("chat_id")), ref["message_id"])
        if target is None and not ref.get("allow_sending_without_reply"):
            raise _bad("message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"} if target else None

    def _text(self, params: dict[str, Any], key: str, limit: int) -> str | None:
        text = params.get(key)
        if text is None:
            return None
        if len(visible_text(str(text), params.get("parse_mode"))) > limit:
            raise _bad(f"message {'caption' if key == 'caption' else 'text'} is too long")
        return str(text)

    # ------------------------------------------------------------------ methods
    # Each _m_<lowercase method> takes (params, files) and returns the JSON "result"
    # or raises ApiError. Method names are case-insensitive, as on the real server.

    def _m_getme(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return {**self.bot_user, "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _m_deletewebhook(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        if params.get("drop_pending_updates"):
            with self._cond:
                self._updates.clear()
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return {"url": "", "has_custom_certificate": False,
                "pending_update_count": self.pending_updates}

    def _m_logout(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return True

    _m_close = _m_logout

    def _m_getupdates(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        offset = _int(params.get("offset", 0))
        limit = max(1, min(100, _int(params.get("limit", 100))))
        deadline = time.monotonic() + max(0.0, float(params.get("timeout") or 0))
        allowed = params.get("allowed_updates") or None
        with self._cond:
            # Like Telegram, a new poll terminates one still waiting (409 for the old one).
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            self._confirm(offset)
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, CONFLICT)
                ready = [u for u in self._updates if allowed is None or _kind(u) in allowed]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping:
                    return ready[:limit]
                self._polling += 1
                self._cond.notify_all()
                try:
                    self._cond.wait(left)
                finally:
                    self._polling -= 1

    def _confirm(self, offset: int) -> None:
        """Forget updates below ``offset`` (negative: keep only the last -offset)."""
        if offset < 0:
            del self._updates[: max(0, len(self._updates) + offset)]
        elif offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def _m_setmycommands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        commands = params.get("commands") or []
        for cmd in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise _bad("command description is empty or too long")
        with self._cond:
            self._commands = list(commands)
        return True

    def _m_getmycommands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        with self._cond:
            return list(self._commands)

    def _m_deletemycommands(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        with self._cond:
            self._commands = []
        return True

    def _m_sendchataction(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        _require(params, "chat_id", "action")
        return True

    def _m_getchat(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat = self._remember_chat(_chat_id(_require(params, "chat_id")))
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                               "premium_subscription", "gifts_from_channels"), False)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    def _m_getchatmember(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat_id = _chat_id(_require(params, "chat_id"))
        user_id = _int(_require(params, "user_id"))
        chat = self._remember_chat(chat_id)
        with self._cond:
            status = self._members.get((chat_id, user_id))
            rights = dict(self._member_rights.get((chat_id, user_id), {}))
            if user_id == self.bot_id:
                status = "administrator" if chat_id in self._admin_chats else "member"
                rights = {}
        if status is None:
            status = "member" if chat["type"] == "private" and chat_id == user_id else "left"
        user = {"id": user_id, "is_bot": user_id == self.bot_id, "first_name": "Tester"}
        member = _chat_member(status, user)
        if status == "administrator" and chat["type"] == "channel":
            # Channel admins carry the channel-only rights (Bot API ChatMemberAdministrator).
            member.update(dict.fromkeys(_CHANNEL_ADMIN_RIGHTS, True))
        for key, value in rights.items():
            if key in member or key in _CHANNEL_ADMIN_RIGHTS:
                member[key] = bool(value)
        return member

    def _m_sendmessage(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat_id = _require(params, "chat_id")
        text = self._text(params, "text", TEXT_LIMIT)
        if not text or not text.strip():
            raise _bad("message text is empty")
        markup = params.get("reply_markup")
        _check_markup(markup)
        msg = self._new_message(chat_id, text=text, reply_markup=markup,
                                reply_to_message=self._reply_to(params))
        with self._cond:
            self._sources[(msg["chat"]["id"], msg["message_id"])] = (text, markup)
        return msg

    def _m_editmessagetext(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        text = self._text(params, "text", TEXT_LIMIT)
        if not text or not text.strip():
            raise _bad("message text is empty")
        markup = params.get("reply_markup")
        _check_markup(markup)
        if params.get("inline_message_id"):
            return True
        with self._cond:
            msg = self._editable(params)
            key = (msg["chat"]["id"], msg["message_id"])
            if self._sources.get(key) == (text, markup):
                raise _bad(NOT_MODIFIED[len("Bad Request: "):])
            self._sources[key] = (text, markup)
            msg["text"] = text
            return _edited(msg, markup)

    def _m_editmessagereplymarkup(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        markup = params.get("reply_markup")
        _check_markup(markup)
        if params.get("inline_message_id"):
            return True
        with self._cond:
            msg = self._editable(params)
            key = (msg["chat"]["id"], msg["message_id"])
            text, old = self._sources.get(key, (msg.get("text", ""), None))
            if old == markup:
                raise _bad(NOT_MODIFIED[len("Bad Request: "):])
            self._sources[key] = (text, markup)
            return _edited(msg, markup)

    def _m_editmessagecaption(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        caption = self._text(params, "caption", CAPTION_LIMIT) or ""
        markup = params.get("reply_markup")
        _check_markup(markup)
        if params.get("inline_message_id"):
            return True
        with self._cond:
            msg = self._editable(params)
            if msg.get("caption", "") == caption and msg.get("reply_markup") == markup:
                raise _bad(NOT_MODIFIED[len("Bad Request: "):])
            msg["caption"] = caption
            return _edited(msg, markup)

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._find_message(_require(params, "chat_id"), _require(params, "message_id"))
        if msg is None:
            raise _bad("message to edit not found")
        if msg.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return msg

    def _m_deletemessage(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat_id = _chat_id(_require(params, "chat_id"))
        message_id = _int(_require(params, "message_id"))
        with self._cond:
            msg = self._messages.get(chat_id, {}).get(message_id)
            if msg is None:
                raise _bad("message to delete not found")
            # Telegram: in groups a bot deletes other people's messages only as an admin.
            others = msg.get("from", {}).get("id") != self.bot_id
            private = msg.get("chat", {}).get("type") == "private"
            if others and not private and chat_id not in self._admin_chats:
                raise _bad("message can't be deleted")
            del self._messages[chat_id][message_id]
            self._sources.pop((chat_id, message_id), None)
        return True

    def _m_answercallbackquery(
        self, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        query_id = str(_require(params, "callback_query_id"))
        if len(str(params.get("text") or "")) > CALLBACK_TEXT_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        with self._cond:
            if self._callbacks.get(query_id, True):
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            self._callbacks[query_id] = True
        return True

    def _m_copymessage(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        source = self._source_message(params)
        msg = self._copy(params["chat_id"], source)
        return {"message_id": msg["message_id"]}

    def _m_forwardmessage(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        source = self._source_message(params)
        origin = {"type": "user", "date": source["date"], "sender_user": source["from"]}
        return self._copy(params["chat_id"], source, forward_origin=origin)

    def _source_message(self, params: dict[str, Any]) -> dict[str, Any]:
        _require(params, "chat_id")
        msg = self._find_message(_require(params, "from_chat_id"), _require(params, "message_id"))
        if msg is None:
            raise _bad("message to copy not found")
        return msg

    def _copy(self, chat_id: Any, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
        skip = {"message_id", "date", "chat", "from", "reply_to_message", "edit_date"}
        content = {k: v for k, v in source.items() if k not in skip}
        return self._new_message(chat_id, **content, **extra)

    def _m_getfile(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        with self._cond:
            stored = self._files.get(str(_require(params, "file_id")))
        if stored is None:
            raise _bad("invalid file_id")
        if not self.local_mode and stored.size > CLOUD_DOWNLOAD_LIMIT:
            raise _bad("file is too big")
        with self._cond:
            if not stored.file_path:
                stored.file_path = self._file_path(stored)
                self._paths[stored.file_path] = stored
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.size, "file_path": stored.file_path}

    def _file_path(self, stored: _StoredFile) -> str:
        """Cloud: a relative path that cannot exist under the CWD; local: absolute path."""
        suffix = Path(stored.file_name).suffix
        if not self.local_mode:
            return f"documents/fake-{stored.file_unique_id}{suffix}"
        if isinstance(stored.source, Path):
            return str(stored.source)
        target = self.workdir / "files" / f"{stored.file_unique_id}{suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(stored.source)
        return str(target)

    # ---- media

    def _m_senddocument(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return self._send_media("senddocument", params, files)

    def _m_sendvideo(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return self._send_media("sendvideo", params, files)

    def _m_sendaudio(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return self._send_media("sendaudio", params, files)

    def _m_sendphoto(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return self._send_media("sendphoto", params, files)

    def _m_sendanimation(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return self._send_media("sendanimation", params, files)

    def _send_media(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        kind = _MEDIA_METHODS[method]
        chat_id = _require(params, "chat_id")
        caption = self._text(params, "caption", CAPTION_LIMIT)
        markup = params.get("reply_markup")
        _check_markup(markup)
        stored = self._resolve_media(kind, params.get(kind), files, params)
        reply = self._reply_to(params)
        return self._new_message(chat_id, caption=caption, reply_markup=markup,
                                 reply_to_message=reply, **{kind: _media_dict(kind, stored)})

    def _resolve_media(
        self, field_name: str, value: Any, files: dict[str, UploadedFile], params: dict[str, Any]
    ) -> _StoredFile:
        """Turn a media parameter (multipart part, attach://, file://, file_id) into a file."""
        upload = files.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://"):])
            if upload is None:
                raise _bad(f"file {value} not found in the request")
        if upload is not None:
            return self._accept_upload(upload, params)
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {field_name} in the request")
        if value.startswith("file://"):
            return self._accept_local(field_name, value, files)
        with self._cond:
            stored = self._files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return stored

    def _accept_upload(self, upload: UploadedFile, params: dict[str, Any]) -> _StoredFile:
        limit = LOCAL_UPLOAD_LIMIT if self.local_mode else CLOUD_UPLOAD_LIMIT
        if upload.size > limit:
            raise ApiError(413, "Request Entity Too Large")
        if upload.size == 0:
            raise _bad("file must be non-empty")
        assert upload.path is not None  # kept: size is within the limit
        name = str(params.get("filename") or upload.filename)
        return self._store_file(name, _guess_mime(name), upload.size, upload.path)

    def _accept_local(
        self, field_name: str, uri: str, files: dict[str, UploadedFile]
    ) -> _StoredFile:
        if not self.local_mode:
            raise _bad("wrong file identifier/HTTP URL specified")
        path = Path(unquote(urlsplit(uri).path))
        if not path.is_file():
            raise _bad("file not found")  # what telegram-bot-api --local says, roughly
        size = path.stat().st_size
        if size > LOCAL_UPLOAD_LIMIT:
            raise _bad("file is too big")
        if size == 0:
            raise _bad("file must be non-empty")
        files[field_name] = UploadedFile(field_name, path.name, size, _sha256_file(path), path)
        return self._store_file(path.name, _guess_mime(path.name), size, path)

    def _m_sendmediagroup(self, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        chat_id = _require(params, "chat_id")
        media = params.get("media")
        if not isinstance(media, list) or not (
            MEDIA_GROUP_RANGE[0] <= len(media) <= MEDIA_GROUP_RANGE[1]
        ):
            raise _bad("wrong number of media in the group (must be 2-10)")
        kinds = {item.get("type") for item in media}
        if len(kinds) > 1 and kinds & {"document", "audio"}:
            raise _bad("documents and audio can be grouped only with their own type")
        for item in media:
            self._check_album_thumbnail(item.get("thumbnail"), files)
        # Resolve every item before storing any, so a bad item leaves no half group.
        items = [
            (str(item.get("type")), self._text(item, "caption", CAPTION_LIMIT),
             self._resolve_media(f"media{i}", item.get("media"), files, {}))
            for i, item in enumerate(media)
        ]
        group_id = str(next(self._file_seq) + 10**12)
        return [
            self._new_message(chat_id, caption=caption, media_group_id=group_id,
                              **{kind: _media_dict(kind, stored)})
            for kind, caption, stored in items
        ]


    def _check_album_thumbnail(self, value: Any, files: dict[str, UploadedFile]) -> None:
        """Telegram takes an album item's thumbnail only as a new upload (``attach://``), or
        a path on a local server; never a ``file://`` URI through the cloud."""
        if value is None:
            return
        name = str(value)
        if name.startswith("attach://") and name[len("attach://"):] in files:
            return
        if name.startswith("file://") and self.local_mode:
            return
        raise _bad("wrong thumbnail: upload it as a new file with attach://")


_ADMIN_RIGHTS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
    "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
    "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
)
_CHANNEL_ADMIN_RIGHTS = ("can_post_messages", "can_edit_messages")
_MEMBER_PERMISSIONS = (
    "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
    "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_change_info",
    "can_invite_users", "can_pin_messages", "can_manage_topics", "can_edit_tag",
    "can_react_to_messages",
)


def _chat_member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember object of the given status, with the fields the Bot API always sends."""
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        return {"status": "administrator", "user": user, **dict.fromkeys(_ADMIN_RIGHTS, True)}
    if status in ("restricted", "restricted-left"):
        return {"status": "restricted", "user": user, "is_member": status == "restricted",
                "until_date": 0, **dict.fromkeys(_MEMBER_PERMISSIONS, False)}
    if status == "kicked":
        return {"status": "kicked", "user": user, "until_date": 0}
    return {"status": status, "user": user}


def _edited(msg: dict[str, Any], markup: Any) -> dict[str, Any]:
    """Stamp an edit and set its keyboard; like Telegram, an edit without reply_markup removes
    the inline keyboard.  Returns a copy of the message for the reply."""
    msg["edit_date"] = int(time.time())
    if markup is None:
        msg.pop("reply_markup", None)
    else:
        msg["reply_markup"] = markup
    return dict(msg)
