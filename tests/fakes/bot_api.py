"""A loopback fake of the Telegram Bot API for one bot (DESIGN.md §5, TELEGRAM-NOTES.md §2-3).

:class:`FakeBotAPI` is a real ``ThreadingHTTPServer`` on 127.0.0.1. Point PTB (or the real
bot process, via ``BOT_API_URL``) at :attr:`FakeBotAPI.url`; push updates with
:meth:`~FakeBotAPI.push_message` / :meth:`~FakeBotAPI.push_callback`; assert on recorded
:class:`Call` objects with :meth:`~FakeBotAPI.wait_for`; inject errors and stalls with
:meth:`~FakeBotAPI.fail_next` / :meth:`~FakeBotAPI.stall_next`.

Status codes and JSON follow the real server because PTB picks its exception from the HTTP
status (TELEGRAM-NOTES §1.4). Uploads are parsed by a streaming multipart parser and
written to temporary files, so a 120 MB upload costs bounded memory.

Contract details tests rely on:

* A call is recorded (and ``wait_for`` wakes) once its effects are applied - the message
  stored, the edit made - and before the reply is written.
* ``Call.params`` holds JSON-decoded values, except that free-text parameters (text,
  caption, file references, ...) always stay strings.
* Message ``text``/``caption`` are stored as sent (HTML not stripped); HTML is still
  validated like Telegram does, so an unescaped ``<name>`` in a file name gives the same
  400 "can't parse entities" a real server gives.

Telegram's rules (limits, errors, HTML checks) are in :mod:`tests.fakes._telegram`, the body
reader and multipart parser in :mod:`tests.fakes._multipart`, the server base in
:mod:`tests.fakes._server`; the public names are re-exported here.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes._multipart import (
    _CHUNK,
    UploadedFile,
    _BodyReader,
    _MultipartParser,
    _sha256_file,
)
from tests.fakes._server import LoopbackServer, QuietHandler, parse_range
from tests.fakes._telegram import CALLBACK_DATA_LIMIT as CALLBACK_DATA_LIMIT
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
    _command_entities,
    _decode_value,
    _document,
    _guess_mime,
    _int,
    _kind,
    _media_dict,
    _require,
    _StoredFile,
    visible_text,
)
from tests.fakes._telegram import HTML_TAGS as HTML_TAGS
from tests.fakes._telegram import STRING_PARAMS as STRING_PARAMS

__all__ = ["ApiError", "Call", "FakeBotAPI", "UploadedFile"]

_SMALL_BODY_LIMIT = 20_000_000  # non-multipart bodies are read into memory


@dataclass
class Call:
    """One Bot API request as recorded. ``at`` is ``time.monotonic()`` at recording."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    at: float
    index: int
    status: int = 200
    result: Any = None  # the "result" the server answered (None on errors)
    description: str | None = None  # error description when status != 200


@dataclass
class _Fault:
    kind: str  # "fail" | "stall"
    times: int
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    seconds: float = 0.0
    then_respond: bool = True



# --------------------------------------------------------------------------- HTTP handler


class _BotHandler(QuietHandler):
    server: LoopbackServer

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def do_HEAD(self) -> None:
        self.server.owner._handle(self)

    def send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_plain(status, body, {"Content-Type": "application/json"})


_MEDIA_METHODS = {
    "senddocument": "document", "sendvideo": "video", "sendaudio": "audio",
    "sendphoto": "photo", "sendanimation": "animation", "sendvoice": "voice",
}


class FakeBotAPI:
    """Loopback Bot API for one bot token. Thread-safe: one Condition guards all state."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        local_mode: bool = False,
        workdir: Path | None = None,
        bot_id: int = 777000,
    ) -> None:
        self.token = token
        self.local_mode = local_mode
        self.bot_id = bot_id
        self.bot_user = {
            "id": bot_id, "is_bot": True, "first_name": "Fake", "username": "fake_bot",
        }
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="fakebot-"))
        self._uploads = self.workdir / "uploads"
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._ids = itertools.count(1001)  # message ids, one sequence for all chats
        self._file_seq = itertools.count(1)
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._sources: dict[tuple[int, int], tuple[str, Any]] = {}  # raw text + markup
        self._chats: dict[int, dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._paths: dict[str, _StoredFile] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._callbacks: dict[str, bool] = {}  # query id -> answered
        self._commands: list[Any] = []
        self._poll_generation = 0
        self._polling = 0  # getUpdates requests waiting right now
        self._server: LoopbackServer | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotAPI:
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._server = LoopbackServer(_BotHandler, self)
        self.url = self._server.url
        self._server.start("fake-bot-api")
        return self

    def stop(self) -> None:
        """Stop the server, release long polls and stalls; remove its own temp dir."""
        if self._server is not None:
            self._server.stopping.set()
            with self._cond:
                self._cond.notify_all()
            self._server.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _stopping(self) -> bool:
        return self._server is not None and self._server.stopping.is_set()

    # ------------------------------------------------------------------ test-side API

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (``update_id`` is assigned); returns it."""
        with self._cond:
            update = {"update_id": self._next_update, **update}
            self._next_update += 1
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def push_message(
        self,
        text: str,
        *,
        chat_id: int = 42,
        user_id: int = 42,
        chat_type: str = "private",
        username: str = "tester",
        reply_to: dict[str, Any] | None = None,
        document: dict[str, Any] | None = None,
        video: dict[str, Any] | None = None,
        audio: dict[str, Any] | None = None,
        entities: bool = True,
    ) -> dict[str, Any]:
        """Queue a message from a user; returns the Message dict.

        A leading ``/command`` gets a ``bot_command`` entity. ``chat_id < 0`` makes a group
        ("supergroup" for ids below -10**12, like real ones). With media, ``text`` becomes
        the caption.
        """
        if chat_id < 0 and chat_type == "private":
            chat_type = "supergroup" if chat_id < -(10**12) else "group"
        user = {"id": user_id, "is_bot": False, "first_name": "Tester", "username": username}
        chat = self._remember_chat(chat_id, chat_type, user)
        msg: dict[str, Any] = {
            "message_id": next(self._ids), "date": int(time.time()), "chat": chat, "from": user,
        }
        media = {"document": document, "video": video, "audio": audio}
        has_media = any(v is not None for v in media.values())
        msg.update({k: v for k, v in media.items() if v is not None})
        key = "caption" if has_media else "text"
        if text or not has_media:
            msg[key] = text
        ents = _command_entities(text) if entities else []
        if ents:
            msg["caption_entities" if has_media else "entities"] = ents
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        with self._cond:
            self._messages.setdefault(chat_id, {})[msg["message_id"]] = msg
        self.push_update({"message": msg})
        return msg

    def push_callback(
        self, data: str, *, message: dict[str, Any], user_id: int = 42
    ) -> dict[str, Any]:
        """Queue a button press on ``message`` (a bot message); returns the CallbackQuery."""
        chat_id = message["chat"]["id"]
        with self._cond:
            current = self._messages.get(chat_id, {}).get(message["message_id"], message)
            query_id = str(4242 + len(self._callbacks))
            self._callbacks[query_id] = False
        user = {"id": user_id, "is_bot": False, "first_name": "Tester", "username": "tester"}
        query = {
            "id": query_id, "from": user, "chat_instance": str(chat_id),
            "message": dict(current), "data": data,
        }
        self.push_update({"callback_query": query})
        return query

    def add_file(
        self,
        content: bytes | Path,
        *,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """Register a downloadable file; returns its Document dict."""
        size = len(content) if isinstance(content, bytes) else Path(content).stat().st_size
        source = content if isinstance(content, bytes) else Path(content).resolve()
        stored = self._store_file(file_name, mime_type, size, source)
        return _document(stored)

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every recorded call, oldest first (``calls[i].index == i``)."""
        with self._cond:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted]

    def mark(self) -> int:
        """The current call count; pass it as ``since`` to ignore earlier calls."""
        with self._cond:
            return len(self._calls)

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        timeout: float = 10.0,
        since: int = 0,
    ) -> Call:
        """First call of ``method`` with ``index >= since`` matching ``predicate``.

        Raises AssertionError listing the recent calls when none arrives in ``timeout``.
        """
        wanted = method.lower()
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for call in self._calls[since:]:
                    if call.method.lower() == wanted and (predicate is None or predicate(call)):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {method} call matched within {timeout}s; recent calls:\n"
                        + self._describe_recent(since)
                    )
                self._cond.wait(left)

    def _describe_recent(self, since: int, limit: int = 20) -> str:
        lines = []
        for c in self._calls[max(since, len(self._calls) - limit):]:
            shown = {k: v for k, v in c.params.items() if k != "allowed_updates"}
            text = json.dumps(shown, ensure_ascii=False)[:300]
            lines.append(f"  #{c.index} {c.method} -> {c.status} {text}")
        return "\n".join(lines) or "  (none)"

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error (not processed)."""
        self._add_fault(method, _Fault(
            "fail", times, status=status, description=description, retry_after=retry_after,
        ))

    def stall_next(
        self, method: str, seconds: float, *, then_respond: bool = True, times: int = 1
    ) -> None:
        """Hold the reply to the next ``times`` calls of ``method`` for ``seconds``.

        ``then_respond=True``: the call is processed (document stored, ...) at once and the
        reply is written late - a client timeout then yields "TimedOut but done".
        ``then_respond=False``: the call is recorded but not processed, and the connection
        is closed without a reply after the stall. ``stop()`` ends every stall at once.
        """
        self._add_fault(method, _Fault(
            "stall", times, seconds=seconds, then_respond=then_respond,
        ))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._cond:
            self._faults.setdefault(method.lower(), []).append(fault)

    def chat_messages(self, chat_id: int) -> dict[int, dict[str, Any]]:
        """The bot's live messages in ``chat_id`` (after edits and deletes), by id."""
        with self._cond:
            return {
                mid: copy.deepcopy(msg) for mid, msg in self._messages.get(chat_id, {}).items()
                if msg.get("from", {}).get("id") == self.bot_id
            }

    def unanswered_callbacks(self) -> list[str]:
        """Ids of pushed callback queries the bot has not answered yet."""
        with self._cond:
            return [qid for qid, done in self._callbacks.items() if not done]

    def wait_polling(self, timeout: float = 10.0) -> None:
        """Block until a getUpdates long poll is waiting in the server (the bot is up).

        Raises AssertionError listing the recent calls on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._polling:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no getUpdates long poll within {timeout}s; recent calls:\n"
                        + self._describe_recent(0)
                    )
                self._cond.wait(left)

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a later getUpdates offset."""
        with self._cond:
            return len(self._updates)

    # ------------------------------------------------------------------ request handling

    def _handle(self, h: _BotHandler) -> None:
        url = urlsplit(h.path)
        # httpx percent-encodes the token's colon in file URLs.
        parts = unquote(url.path).split("/", 3)
        if len(parts) >= 4 and parts[1] == "file" and parts[2] == f"bot{self.token}":
            self._serve_file(h, parts[3])
            return
        reader = _body_reader(h)
        if len(parts) != 3 or parts[1] != f"bot{self.token}" or not self._known(parts[2]):
            reader.drain()
            h.send_json(404, ApiError(404, "Not Found").payload())
            return
        method = parts[2]
        try:
            params, files = self._read_params(h, reader, url.query)
        except ApiError as err:
            reader.drain()
            self._finish(h, self._record(method, {}, {}, err), err.payload())
            return
        self._dispatch(h, method, params, files)

    def _known(self, method: str) -> bool:
        return hasattr(self, f"_m_{method.lower()}")

    def _read_params(
        self, h: _BotHandler, reader: _BodyReader, query: str
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {k: _decode_value(k, v) for k, v in parse_qsl(query)}
        ctype = h.headers.get("Content-Type", "")
        files: dict[str, UploadedFile] = {}
        if ctype.startswith("multipart/form-data"):
            match = re.search(r'boundary="?([^";]+)"?', ctype)
            if match is None:
                raise _bad("multipart boundary missing")
            keep = LOCAL_UPLOAD_LIMIT if self.local_mode else CLOUD_UPLOAD_LIMIT
            parser = _MultipartParser(reader, match.group(1).encode(), self._uploads, keep)
            fields, files = parser.parse()
            params.update({k: _decode_value(k, v) for k, v in fields.items()})
        elif ctype.startswith("application/json"):
            body = reader.read_all(_SMALL_BODY_LIMIT)
            try:
                decoded = json.loads(body) if body.strip() else {}
            except ValueError as exc:
                raise _bad("can't parse JSON object") from exc
            if not isinstance(decoded, dict):
                raise _bad("JSON body must be an object")
            params.update(decoded)
        else:
            form = reader.read_all(_SMALL_BODY_LIMIT).decode("utf-8", "replace")
            params.update({k: _decode_value(k, v) for k, v in parse_qsl(form, True)})
        return params, files

    def _dispatch(
        self, h: _BotHandler, method: str, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> None:
        fault = self._take_fault(method)
        if fault is not None and fault.kind == "fail":
            err = ApiError(fault.status, fault.description, fault.retry_after)
            self._finish(h, self._record(method, params, files, err), err.payload())
            return
        if fault is not None and not fault.then_respond:
            self._record(method, params, files, None)
            self._wait(fault.seconds)
            h.close_connection = True
            return
        try:
            result = getattr(self, f"_m_{method.lower()}")(params, files)
            call = self._record(method, params, files, None, result)
            payload: dict[str, Any] = {"ok": True, "result": result}
        except ApiError as err:
            call = self._record(method, params, files, err)
            payload = err.payload()
        if fault is not None:
            self._wait(fault.seconds)
        self._finish(h, call, payload)

    def _finish(self, h: _BotHandler, call: Call, payload: dict[str, Any]) -> None:
        if self._stopping:
            h.close_connection = True
            return
        h.send_json(call.status, payload)

    def _wait(self, seconds: float) -> None:
        if self._server is not None:
            self._server.stopping.wait(seconds)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._cond:
            queue = self._faults.get(method.lower())
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _record(
        self, method: str, params: dict[str, Any], files: dict[str, UploadedFile],
        err: ApiError | None, result: Any = None,
    ) -> Call:
        with self._cond:
            call = Call(
                method=method, params=params, files=files, at=time.monotonic(),
                index=len(self._calls), status=err.status if err else 200,
                # A snapshot: the stored message keeps changing with later edits.
                result=None if err else copy.deepcopy(result),
                description=err.description if err else None,
            )
            self._calls.append(call)
            self._cond.notify_all()
            return call

    def _serve_file(self, h: _BotHandler, file_path: str) -> None:
        with self._cond:
            stored = self._paths.get(file_path)
        if stored is None or h.command == "POST":
            h.send_json(404, ApiError(404, "Not Found").payload())
            return
        chosen = parse_range(h.headers.get("Range", ""), stored.size)
        if chosen == "unsatisfiable":
            h.send_plain(416, headers={"Content-Range": f"bytes */{stored.size}"})
            return
        start, end = chosen if isinstance(chosen, tuple) else (0, stored.size)
        h.send_response(206 if isinstance(chosen, tuple) else 200)
        h.send_header("Content-Type", stored.mime_type)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(end - start))
        if isinstance(chosen, tuple):
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{stored.size}")
        h.end_headers()
        if h.command != "HEAD":
            _write_range(h, stored.source, start, end)

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
            msg["edit_date"] = int(time.time())
            # Like Telegram: an edit without reply_markup removes the inline keyboard.
            if markup is None:
                msg.pop("reply_markup", None)
            else:
                msg["reply_markup"] = markup
            return dict(msg)

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
            if markup is None:
                msg.pop("reply_markup", None)
            else:
                msg["reply_markup"] = markup
            msg["edit_date"] = int(time.time())
            return dict(msg)

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
            msg["edit_date"] = int(time.time())
            if markup is None:
                msg.pop("reply_markup", None)
            else:
                msg["reply_markup"] = markup
            return dict(msg)

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
            if self._messages.get(chat_id, {}).pop(message_id, None) is None:
                raise _bad("message to delete not found")
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


# --------------------------------------------------------------------------- helpers


def _body_reader(h: _BotHandler) -> _BodyReader:
    chunked = "chunked" in h.headers.get("Transfer-Encoding", "").lower()
    length = h.headers.get("Content-Length")
    return _BodyReader(h.rfile, int(length) if length else None, chunked)


def _write_range(h: _BotHandler, source: bytes | Path, start: int, end: int) -> None:
    if isinstance(source, bytes):
        h.wfile.write(source[start:end])
        return
    with source.open("rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0 and (chunk := fh.read(min(_CHUNK, left))):
            h.wfile.write(chunk)
            left -= len(chunk)
