"""A loopback fake of the Telegram Bot API for one bot (docs/ARCHITECTURE.md §6, docs/TELEGRAM.md).

:class:`FakeBotAPI` is a real ``ThreadingHTTPServer`` on 127.0.0.1. Point PTB (or the real
bot process, via ``BOT_API_URL``) at :attr:`FakeBotAPI.url`; push updates with
:meth:`~FakeBotAPI.push_message` / :meth:`~FakeBotAPI.push_callback`; assert on recorded
:class:`Call` objects with :meth:`~FakeBotAPI.wait_for`; inject errors and stalls with
:meth:`~FakeBotAPI.fail_next` / :meth:`~FakeBotAPI.stall_next`.

Status codes and JSON follow the real server because PTB picks its exception from the HTTP
status (docs/TELEGRAM.md, errors). Uploads are parsed by a streaming multipart parser and
written to temporary files, so a 120 MB upload costs bounded memory.

Contract details tests rely on:

* A call is recorded (and ``wait_for`` wakes) once its effects are applied - the message
  stored, the edit made - and before the reply is written.
* ``Call.params`` holds JSON-decoded values, except that free-text parameters (text,
  caption, file references, ...) always stay strings.
* Message ``text``/``caption`` are stored as sent (HTML not stripped); HTML is still
  validated like Telegram does, so an unescaped ``<name>`` in a file name gives the same
  400 "can't parse entities" a real server gives.

Telegram's rules (limits, errors, HTML checks) are in :mod:`tests.fakes._telegram`, the method
handlers in :mod:`tests.fakes._methods`, the body reader and multipart parser in
:mod:`tests.fakes._multipart`, the server base in :mod:`tests.fakes._server`; the public names
are re-exported here.
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

from tests.fakes._methods import BotMethods
from tests.fakes._multipart import (
    _CHUNK,
    UploadedFile,
    _BodyReader,
    _MultipartParser,
)
from tests.fakes._server import LoopbackServer, QuietHandler, parse_range
from tests.fakes._telegram import CALLBACK_DATA_LIMIT as CALLBACK_DATA_LIMIT
from tests.fakes._telegram import (
    CLOUD_UPLOAD_LIMIT,
    LOCAL_UPLOAD_LIMIT,
    ApiError,
    _bad,
    _command_entities,
    _decode_value,
    _document,
    _StoredFile,
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
    skip: int = 0  # calls of the method to let through before this fault applies
    after_bytes: int = 0  # "stall-body": body bytes read before reading stops
    when: Callable[[dict[str, Any]], bool] | None = None  # only calls whose params match



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


class FakeBotAPI(BotMethods):
    """Loopback Bot API for one bot token. Thread-safe: one Condition guards all state."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        local_mode: bool = False,
        workdir: Path | None = None,
        bot_id: int = 777000,
        port: int = 0,
        recv_buffer: int = 0,
    ) -> None:
        """``port=0``: the OS picks one; a fixed port lets a test start the server only after
        the bot has found nothing listening there."""
        self.token = token
        self._port = port
        self._recv_buffer = recv_buffer  # see LoopbackServer
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
        self._body_faults: dict[str, list[_Fault]] = {}
        self.body_stalls: list[tuple[str, int]] = []  # (method, body bytes read) per stall
        self._callbacks: dict[str, bool] = {}  # query id -> answered
        self._commands: list[Any] = []
        self._members: dict[tuple[int, int], str] = {}  # (chat, user) -> getChatMember status
        self._member_rights: dict[tuple[int, int], dict[str, bool]] = {}  # set_member(**rights)
        self._admin_chats: set[int] = set()  # groups where the bot may delete others' messages
        self.file_throttle: int | None = None  # bytes/s for /file/ downloads (None: full speed)
        self.file_reads: list[tuple[str, int, int]] = []  # /file/ GETs: (path, start, end)
        self._poll_generation = 0
        self._polling = 0  # getUpdates requests waiting right now
        self._server: LoopbackServer | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotAPI:
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._server = LoopbackServer(
            _BotHandler, self, self._port, recv_buffer=self._recv_buffer
        )
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
        photo: list[dict[str, Any]] | None = None,
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
        media = {"document": document, "video": video, "audio": audio, "photo": photo}
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

    def add_photo(
        self, content: bytes, sizes: tuple[tuple[int, int], ...] = ((90, 51), (320, 180))
    ) -> list[dict[str, Any]]:
        """Register a photo; returns its PhotoSize list (one stored file per size, as Telegram
        keeps each size as a file of its own)."""
        photo = []
        for width, height in sizes:
            stored = self._store_file(f"photo_{width}.jpg", "image/jpeg", len(content), content)
            photo.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "width": width, "height": height, "file_size": len(content)})
        return photo

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
        self, method: str, seconds: float, *, then_respond: bool = True, times: int = 1,
        skip: int = 0, when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Hold the reply to the next ``times`` calls of ``method`` for ``seconds``.

        ``then_respond=True``: the call is processed (document stored, ...) at once and the
        reply is written late - a client timeout then yields "TimedOut but done".
        ``then_respond=False``: the call is recorded but not processed, and the connection
        is closed without a reply after the stall. ``stop()`` ends every stall at once.
        ``skip``: let that many calls of ``method`` through first.
        ``when``: the fault applies only to calls whose params it accepts (others pass, and
        do not count for ``skip``), e.g. ``lambda p: p["text"].startswith("✅")``.
        """
        self._add_fault(method, _Fault(
            "stall", times, seconds=seconds, then_respond=then_respond, skip=skip, when=when,
        ))

    def stall_body_next(
        self, method: str, after_bytes: int, *, seconds: float = 60.0, skip: int = 0
    ) -> None:
        """Stop reading the body of the next call of ``method`` after ``after_bytes`` bytes.

        The client is left mid-upload (its writes block once the socket buffers are full);
        the call is not recorded and gets no reply: the connection is closed after
        ``seconds`` or at ``stop()``. ``skip``: let that many calls through first.
        :meth:`wait_body_stalled` tells when the stall has begun.
        """
        with self._cond:
            self._body_faults.setdefault(method.lower(), []).append(_Fault(
                "stall-body", 1, seconds=seconds, skip=skip, after_bytes=after_bytes,
            ))

    def wait_body_stalled(self, timeout: float = 10.0) -> tuple[str, int]:
        """Block until a :meth:`stall_body_next` stall has begun; returns (method, bytes read)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.body_stalls:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no upload body stalled within {timeout}s; recent calls:\n"
                        + self._describe_recent(0)
                    )
                self._cond.wait(left)
            return self.body_stalls[0]

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
        if self._stall_body(h, method):
            return
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
        fault = self._take_fault(method, params=params)
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

    def _stall_body(self, h: _BotHandler, method: str) -> bool:
        """Apply a stall_body_next() fault to this request; True when it did."""
        fault = self._take_fault(method, self._body_faults)
        if fault is None:
            return False
        got = len(h.rfile.read(fault.after_bytes))
        with self._cond:
            self.body_stalls.append((method, got))
            self._cond.notify_all()
        self._wait(fault.seconds)
        h.close_connection = True
        return True

    def _take_fault(
        self, method: str, faults: dict[str, list[_Fault]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> _Fault | None:
        with self._cond:
            queue = (self._faults if faults is None else faults).get(method.lower())
            if not queue:
                return None
            fault = queue[0]
            if fault.when is not None and not fault.when(params or {}):
                return None
            if fault.skip > 0:
                fault.skip -= 1
                return None
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
        if h.command == "GET":
            with self._cond:
                self.file_reads.append((file_path, start, end))
        h.send_response(206 if isinstance(chosen, tuple) else 200)
        h.send_header("Content-Type", stored.mime_type)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(end - start))
        if isinstance(chosen, tuple):
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{stored.size}")
        h.end_headers()
        if h.command != "HEAD":
            _write_range(h, stored.source, start, end, self.file_throttle, self._wait)


# --------------------------------------------------------------------------- helpers


def _body_reader(h: _BotHandler) -> _BodyReader:
    chunked = "chunked" in h.headers.get("Transfer-Encoding", "").lower()
    length = h.headers.get("Content-Length")
    return _BodyReader(h.rfile, int(length) if length else None, chunked)


def _write_range(
    h: _BotHandler, source: bytes | Path, start: int, end: int,
    throttle: int | None = None, wait: Callable[[float], None] | None = None,
) -> None:
    if isinstance(source, bytes):
        if not throttle or wait is None:
            h.wfile.write(source[start:end])
            return
        # ~10 slices a second; the server's stop event cuts the pause short.
        piece = max(1, throttle // 10)
        for pos in range(start, end, piece):
            h.wfile.write(source[pos : min(pos + piece, end)])
            wait(piece / throttle)
        return
    with source.open("rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0 and (chunk := fh.read(min(_CHUNK, left))):
            h.wfile.write(chunk)
            left -= len(chunk)
