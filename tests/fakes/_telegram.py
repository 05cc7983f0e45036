"""Telegram's rules as :mod:`tests.fakes.bot_api` enforces them (docs/TELEGRAM.md).

Limits, the ``{"ok": false, ...}`` error shape (:class:`ApiError`), how form values are
decoded, the HTML and inline-keyboard validation that gives the real server's 400s, small
parameter checks, and the JSON shapes of files in messages. Everything here is pure: no
server state, so :class:`~tests.fakes.bot_api.FakeBotAPI` stays about request handling.
"""

from __future__ import annotations

import html.parser
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CALLBACK_DATA_LIMIT",
    "CALLBACK_TEXT_LIMIT",
    "CAPTION_LIMIT",
    "CLOUD_DOWNLOAD_LIMIT",
    "CLOUD_UPLOAD_LIMIT",
    "CONFLICT",
    "HTML_TAGS",
    "LOCAL_UPLOAD_LIMIT",
    "MEDIA_GROUP_RANGE",
    "NOT_MODIFIED",
    "STRING_PARAMS",
    "TEXT_LIMIT",
    "ApiError",
    "visible_text",
]

# Limits: core.telegram.org/bots/api and PTB constants.py (docs/TELEGRAM.md, limits).
CLOUD_UPLOAD_LIMIT = 50_000_000  # FileSizeLimit.FILESIZE_UPLOAD
LOCAL_UPLOAD_LIMIT = 2_000_000_000  # FileSizeLimit.FILESIZE_UPLOAD_LOCAL_MODE
CLOUD_DOWNLOAD_LIMIT = 20_000_000  # FileSizeLimit.FILESIZE_DOWNLOAD
TEXT_LIMIT = 4096  # MessageLimit.MAX_TEXT_LENGTH
CAPTION_LIMIT = 1024  # MessageLimit.CAPTION_LENGTH
CALLBACK_DATA_LIMIT = 64  # InlineKeyboardButtonLimit.MAX_CALLBACK_DATA (bytes)
CALLBACK_TEXT_LIMIT = 200  # CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH
MEDIA_GROUP_RANGE = (2, 10)  # MediaGroupLimit
# Parameters that are free text or file references: never JSON-decode them, or the text
# "42" would become an int.
STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "filename", "title", "performer", "action", "data",
    "callback_query_id", "file_id", "document", "video", "audio", "photo", "thumbnail",
    "url", "inline_message_id", "emoji", "description", "short_description", "name",
    "language_code", "cover", "animation", "voice", "sticker",
})
HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
})
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance"
    " is running"
)


class ApiError(Exception):
    """Raised by method handlers; becomes ``{"ok":false,...}`` with HTTP ``status``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False, "error_code": self.status, "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _decode_value(key: str, value: str) -> Any:
    """JSON-decode a form value unless it is free text (PTB JSON-encodes non-strings)."""
    if key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


# --------------------------------------------------------------------------- validation


class _HTMLChecker(html.parser.HTMLParser):
    """Checks Telegram's HTML subset: known tags, properly nested."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise _bad(f'can\'t parse entities: Unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text as the user sees it; raises the 400 Telegram gives for bad HTML."""
    if (parse_mode or "").lower() != "html":
        return text
    checker = _HTMLChecker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        raise _bad(
            f'can\'t parse entities: Can\'t find end tag corresponding to start tag '
            f'"{checker.stack[-1]}"'
        )
    return "".join(checker.text)


def _check_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise _bad("BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise _bad("text buttons are unallowed in the inline keyboard")


# --------------------------------------------------------------------------- parameters


def _require(params: dict[str, Any], key: str, *more: str) -> Any:
    for name in (key, *more):
        if params.get(name) in (None, ""):
            raise _bad(f"{name} is empty")
    return params[key]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _bad(f"invalid integer {value!r}") from exc


def _chat_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _bad("chat not found") from exc


def _kind(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


def _command_entities(text: str) -> list[dict[str, Any]]:
    match = re.match(r"/[A-Za-z0-9_]+(@\w+)?", text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": len(match.group(0))}]


# --------------------------------------------------------------------------- files


@dataclass
class _StoredFile:
    """A file known to the fake: added by a test or uploaded by the bot."""

    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    size: int
    source: bytes | Path
    file_path: str = ""  # set by the first getFile


def _guess_mime(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _document(stored: _StoredFile) -> dict[str, Any]:
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name, "mime_type": stored.mime_type,
            "file_size": stored.size}


def _media_dict(kind: str, stored: _StoredFile) -> Any:
    """The Message field for a sent file, with the fields PTB's de_json requires."""
    base = _document(stored)
    if kind == "photo":
        return [{"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                 "width": 320, "height": 240, "file_size": stored.size}]
    if kind in ("video", "animation"):
        return {**base, "width": 0, "height": 0, "duration": 0}
    if kind in ("audio", "voice"):
        return {**base, "duration": 0}
    return base
