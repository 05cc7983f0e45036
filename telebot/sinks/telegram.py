"""Leech: upload the result into a Telegram chat, through the Messenger only.

* Cloud Bot API: each part ≤ the split size (at most 50 MB, the multipart upload limit). Files are
  streamed from disk (PTB ``InputFile(..., read_file_handle=False)``): httpx reads the handle in
  small chunks, so memory stays flat whatever the size, and a counting reader turns those reads
  into upload progress.
* Local Bot API server (``BOT_API_LOCAL=true``): files ≤ 2000 MB are sent by path (``file://``,
  PTB's local mode): the server reads them from the shared disk, nothing passes through the bot.
* Larger files are split (``processing/split.py``) one part at a time; each part is deleted once
  sent, so a leech needs one part of free space.

Retries follow :mod:`telebot.resilience.policies`: a 429 waits ``retry_after`` and sends again (it
was refused, not stored). After a timeout the part may already be in the chat, so it is **not**
sent again; the completion message says which part to check instead.
"""

from __future__ import annotations

import html
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebot.config import Config
from telebot.engine.pipeline import Delivery
from telebot.engine.task import Task
from telebot.errors import BadInputError, TaskCancelled, UploadError
from telebot.fileio.walk import regular_files
from telebot.monitor.perf import monitor_performance
from telebot.processing.split import part_name, plan_parts, write_part
from telebot.telegram.messenger import Messenger

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024  # Bot API caption limit (TELEGRAM-NOTES §2)
PHOTO_LIMIT = 10_000_000  # sendPhoto accepts at most 10 MB
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".webm", ".m4v", ".avi"})
AUDIO_EXTENSIONS = frozenset({".mp3", ".m4a", ".flac", ".ogg", ".opus", ".wav", ".aac"})
PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})


def natural_key(name: str) -> list[Any]:
    """``ep2`` before ``ep10``: digits compare as numbers, the rest case-insensitively."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def files_of(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        (Path(entry.path) for entry in regular_files(path)),
        key=lambda p: [natural_key(part) for part in p.relative_to(path).parts],
    )


def media_method(path: Path, size: int) -> tuple[str, str]:
    """The Bot API method and its file parameter for ``-med``."""
    ext = path.suffix.lower()
    if ext in VIDEO_EXTENSIONS:
        return "send_video", "video"
    if ext in AUDIO_EXTENSIONS:
        return "send_audio", "audio"
    if ext in PHOTO_EXTENSIONS and size <= PHOTO_LIMIT:
        return "send_photo", "photo"
    return "send_document", "document"


def message_link(chat_id: int, message_id: int) -> str | None:
    """``t.me/c/…`` links exist for supergroups and channels (ids ``-100…``) only."""
    text = str(chat_id)
    if text.startswith("-100"):
        return f"https://t.me/c/{text[4:]}/{message_id}"
    return None


class CountingReader(io.FileIO):
    """A file that reports how much the uploader has read (the upload's progress).

    httpx seeks back to 0 before (re)sending a multipart body, so the count follows a retry.
    """

    def __init__(self, path: Path, on_read: Callable[[int], None]) -> None:
        super().__init__(path, "rb")
        self._on_read = on_read

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._on_read(self.tell())
        return data or b""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = super().seek(offset, whence)
        self._on_read(position)
        return position


class TelegramSink:
    """Uploads a finished file or folder to a chat."""

    engine = "Telegram"

    def __init__(self, config: Config, messenger: Callable[[], Messenger]) -> None:
        self._config = config
        self._messenger = messenger

    def part_size(self, task: Task) -> int:
        limit = self._config.upload_limit
        wanted = task.spec.split_size or self._config.leech_split_size
        if wanted > limit:
            raise BadInputError(f"-sp is over the {limit:,} byte upload limit of this Bot API")
        return min(wanted, limit)

    @monitor_performance("sink.telegram.deliver")
    def deliver(self, task: Task, path: Path) -> Delivery:
        chat_id = int(task.spec.upload) if task.spec.upload else task.spec.chat_id
        files = files_of(path)
        total = sum(f.stat().st_size for f in files)
        upload = _Upload(task, total)
        ledger = SendLedger(task.workdir / LEDGER_NAME)
        links: list[str] = []
        notes: list[str] = []
        count = 0
        for file in files:
            for label, size, produce in self._parts(task, file):
                count += 1
                entry = ledger.get(label)
                if entry is not None:  # handled before a restart: never send it twice
                    link, note = entry.link, entry.note
                    upload.finish_part(size)
                else:
                    part = produce()
                    ledger.sending(label)
                    link, note = self._send(task, chat_id, part, label, upload,
                                            whole=part == file)
                    ledger.done(label, link, note)
                    if part != file:
                        part.unlink(missing_ok=True)  # sent: free its space for the next part
                if link:
                    links.append(link)
                if note:
                    notes.append(note)
        where = "this chat" if chat_id == task.spec.chat_id else f"chat {chat_id}"
        return Delivery(
            name=path.name, size=total, location=where, files=count, links=links, notes=notes
        )

    def _parts(self, task: Task, file: Path) -> Iterator[tuple[str, int, Callable[[], Path]]]:
        """(label, size, make-the-part) for each part; a part's file is only written when
        it is about to be sent, so a leech needs free space for one part at a time."""
        size = file.stat().st_size
        limit = self.part_size(task)
        if size <= limit:
            yield file.name, size, lambda: file
            return
        plan = plan_parts(size, limit)
        for index, (offset, length) in enumerate(plan, start=1):
            label = f"{part_name(file.name, index)} (part {index}/{len(plan)} of {file.name})"

            def produce(index: int = index, offset: int = offset, length: int = length) -> Path:
                return write_part(file, task.workdir / ".parts", index, offset, length,
                                  cancel=task.cancel_event)

            yield label, length, produce

    def _send(
        self, task: Task, chat_id: int, part: Path, label: str, upload: _Upload, *, whole: bool
    ) -> tuple[str | None, str | None]:
        """Send one part; returns (link, note). Never sends the same part twice."""
        from telegram.error import BadRequest, TimedOut

        if task.cancel_event.is_set():
            raise TaskCancelled(task.cancel_reason or "cancelled")
        size = part.stat().st_size
        method, field = ("send_document", "document")
        if task.spec.as_media and whole:  # a part of a split file is no playable media
            method, field = media_method(part, size)
        # Cut the text, not the HTML: a cut closing tag would make Telegram refuse the caption.
        caption = f"<code>{html.escape(label[: CAPTION_LIMIT - 20], quote=False)}</code>"
        try:
            try:
                message = self._upload(chat_id, method, field, part, caption, upload)
            except BadRequest as exc:
                if method == "send_document":
                    raise
                log.info(
                    "Telegram refused %s as %s (%s); sending it as a document",
                    part.name,
                    field,
                    exc,
                )
                message = self._upload(chat_id, "send_document", "document", part, caption, upload)
        except (TimedOut, TimeoutError):
            upload.finish_part(size)
            return None, (
                f"{label}: Telegram did not confirm it in time; it was not sent again, "
                "so check that it arrived"
            )
        except BadRequest as exc:
            raise UploadError(f"Telegram refused {part.name}: {exc}") from None
        except Exception as exc:
            if task.cancel_event.is_set():  # our reader aborted the upload; PTB wrapped that
                raise TaskCancelled(task.cancel_reason or "cancelled") from None
            raise _translate(exc, part.name) from None
        upload.finish_part(size)
        return message_link(chat_id, message.message_id), None

    def _upload(
        self, chat_id: int, method: str, field: str, part: Path, caption: str, upload: _Upload
    ) -> Any:
        from telegram import InputFile

        timeout = self._config.upload_timeout
        cancel = upload.cancel
        if self._config.bot_api_local:
            payload: dict[str, Any] = {
                field: part.resolve(),
                "caption": caption,
                "parse_mode": "HTML",
                "read_timeout": timeout,
            }
            return self._messenger().send_file(
                chat_id, method, lambda: payload, timeout=timeout + 30, cancel=cancel
            )

        handles: list[CountingReader] = []

        def payload_factory() -> dict[str, Any]:
            # A fresh handle per attempt: a retried upload must start from byte 0.
            for old in handles:
                old.close()
            handle = CountingReader(part, upload.part_progress)
            handles.append(handle)
            return {
                field: InputFile(handle, filename=part.name, read_file_handle=False),
                "caption": caption,
                "parse_mode": "HTML",
                "read_timeout": timeout,
                "write_timeout": max(timeout, 60.0),
            }

        try:
            # Writing 50 MB can take minutes on a slow uplink: the overall wait covers writing
            # at ≥ 100 kB/s plus the confirmation timeout.
            wait = timeout + part.stat().st_size / 100_000
            return self._messenger().send_file(
                chat_id, method, payload_factory, timeout=wait, cancel=cancel
            )
        finally:
            for handle in handles:
                handle.close()


LEDGER_NAME = ".leech-ledger"
UNCONFIRMED = "was being sent when the bot stopped; it was not sent again, so check that it arrived"


@dataclass(frozen=True)
class LedgerEntry:
    link: str | None
    note: str | None


class SendLedger:
    """What this task already sent, in its folder, so a resumed leech never sends a part twice.

    One JSON line per event, appended: ``sending`` before a part goes out, ``done`` after. A part
    with ``sending`` and no ``done`` was in flight when the bot died: Telegram may have it, so
    (like a timeout) it is not sent again and the completion message says to check it. Appends
    reach the page cache before the upload starts, which is all a kill -9 needs.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._entries: dict[str, LedgerEntry] = {}
        self._load()

    def _load(self) -> None:
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                event = json.loads(line)
                label = str(event["label"])
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash: the event before it still counts
            if event.get("event") == "done":
                self._entries[label] = LedgerEntry(event.get("link"), event.get("note"))
            elif label not in self._entries:
                self._entries[label] = LedgerEntry(None, f"{label}: {UNCONFIRMED}")

    def get(self, label: str) -> LedgerEntry | None:
        return self._entries.get(label)

    def _append(self, event: dict[str, Any]) -> None:
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")

    def sending(self, label: str) -> None:
        self._append({"event": "sending", "label": label})

    def done(self, label: str, link: str | None, note: str | None) -> None:
        self._append({"event": "done", "label": label, "link": link, "note": note})


class _Upload:
    """Progress of a whole delivery: bytes of confirmed parts plus those read of the current one."""

    def __init__(self, task: Task, total: int) -> None:
        self._task = task
        self._total = total
        self._confirmed = 0
        self._lock = threading.Lock()
        task.progress(0, total)

    @property
    def cancel(self) -> threading.Event:
        return self._task.cancel_event

    def part_progress(self, read: int) -> None:
        self._task.progress(min(self._total, self._confirmed + read), self._total)
        if self._task.cancel_event.is_set():
            # Raising inside httpx's read aborts the upload mid-body: cancel within a chunk.
            raise TaskCancelled(self._task.cancel_reason or "cancelled")

    def finish_part(self, size: int) -> None:
        with self._lock:
            self._confirmed += size
        self._task.progress(self._confirmed, self._total)


def _translate(exc: BaseException, name: str) -> BaseException:
    from telegram.error import Forbidden, NetworkError

    if isinstance(exc, TaskCancelled | UploadError):
        return exc
    if isinstance(exc, Forbidden):
        return UploadError(f"the bot may not post in that chat ({exc})")
    text = str(exc)
    if isinstance(exc, NetworkError) and ("413" in text or "too large" in text.lower()):
        return UploadError(f"Telegram refused {name} as too large (HTTP 413)")
    return UploadError(f"uploading {name} failed: {type(exc).__name__}: {text}")
