"""Leech: upload the result into a Telegram chat, through the Messenger only.

* Cloud Bot API: each part ≤ the split size (at most 50 MB, the multipart upload limit). Files are
  streamed from disk (PTB ``InputFile(..., read_file_handle=False)``): httpx reads the handle in
  small chunks, so memory stays flat whatever the size, and a counting reader turns those reads
  into upload progress.
* Local Bot API server (``BOT_API_LOCAL=true``): files ≤ 2000 MB are sent by path (``file://``,
  PTB's local mode): the server reads them from the shared disk, nothing passes through the bot.
* Larger files are split one part at a time; each part is deleted once sent, so a leech needs
  one part of free space. A video (unless ``-doc``) is cut at keyframes into parts that each
  play (``processing/media/videosplit.py``: ``name.part1.mp4``, …), sent as videos with ``-med``;
  everything else, and a video leeched with ``-doc`` (the user wants the file's exact bytes
  back: ``cat name.0* > name``), gets the byte split (``processing/media/split.py``: ``name.001``).

Retries follow :mod:`telebot.resilience.policies`: a 429 waits ``retry_after`` and sends again (it
was refused, not stored). An upload that ends without an answer is judged by how far it got
(:class:`PartSend`): stopped before the last byte of the request was handed to the socket
(cancel, shutdown, a broken connection mid-body), Telegram cannot have the part, so it is sent
again when the task resumes; every byte handed over but no answer (timeout, shutdown while
waiting), the part may be in the chat, so it is **not** sent again and the completion message
says which part to check.

How PTB 22.8 sends a file (read in ``telegram/request/_httpxrequest.py`` and httpx
``_multipart.py``, checked with a server that stops reading): ``InputFile(handle,
read_file_handle=False)`` hands the open handle to httpx, whose multipart stream reads it in
64 KiB chunks *while* it writes the body - each ``read`` comes only after the previous chunk
was written - so the reader's position runs ahead of the server by no more than the socket
buffers. The read that returns EOF therefore happens after the file's last byte was written and
before the closing multipart boundary is: the point of no return for the whole body.
"""

from __future__ import annotations

import functools
import html
import io
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.engine.pipeline import Delivery
from telebot.engine.task import Task, TaskSpec
from telebot.errors import TaskCancelled, UploadError
from telebot.fileio.walk import regular_files
from telebot.monitor.perf import monitor_performance
from telebot.processing.media.split import (
    equal_part_size,
    leech_part_size,
    part_name,
    plan_parts,
    write_part,
)
from telebot.settings.user import caption_for
from telebot.shown import short_words
from telebot.sinks.album import ALBUM_KINDS, ALBUM_MAX, ALBUM_MIN, AlbumItem, AlbumSend, can_group

if TYPE_CHECKING:
    from telebot.processing.media.videosplit import VideoSplit

# The media helpers (ffprobe attributes, thumbnails, video splitting, the stages' screenshots
# and samples, with fftools and the child-process code under them) are imported where an
# upload uses them, in its task's thread: the bot builds this sink at start-up.

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024  # Bot API caption limit (docs/TELEGRAM.md, limits)
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
    """A file that reports how much the uploader has read (the upload's progress) and when it
    read EOF (every byte of the file written to the socket; see the module docstring).

    httpx seeks back to 0 before (re)sending a multipart body, so the count follows a retry.
    Either callback may raise to abort the upload: httpx then never writes the rest.
    """

    def __init__(
        self, path: Path, on_read: Callable[[int], None], on_eof: Callable[[], None]
    ) -> None:
        super().__init__(path, "rb")
        self._on_read = on_read
        self._on_eof = on_eof

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._on_read(self.tell())
        if not data and size != 0:
            self._on_eof()
        return data or b""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = super().seek(offset, whence)
        self._on_read(position)
        return position


@dataclass(frozen=True)
class LeechSettings:
    """Immutable settings of the Telegram sink, read once at start (LEECH_SPLIT_SIZE is only
    its first value: /bsetting changes :attr:`TelegramSink.default_part_size` live)."""

    split_size: int  # LEECH_SPLIT_SIZE at start, bytes
    upload_limit: int  # the largest part the configured Bot API accepts
    upload_timeout: float = 120.0  # UPLOAD_TIMEOUT, seconds
    local: bool = False  # BOT_API_LOCAL: the server reads parts from a shared disk by path
    media_group: bool = True  # MEDIA_GROUP: playable parts and screenshots go as albums

    @classmethod
    def from_config(cls, config: Config) -> LeechSettings:
        return cls(
            split_size=config.leech_split_size,
            upload_limit=config.upload_limit,
            upload_timeout=config.upload_timeout,
            local=config.bot_api_local,
            media_group=config.media_group,
        )


class TelegramSink:
    """Uploads a finished file or folder to a chat."""

    engine = "Telegram"

    def __init__(self, settings: LeechSettings, messenger: Callable[[], Messenger]) -> None:
        self._settings = settings
        self._messenger = messenger
        self.default_part_size = settings.split_size  # LEECH_SPLIT_SIZE; /bsetting sets it

    def part_size(self, task: Task) -> int:
        return self.part_size_for(task.spec)

    def part_size_for(self, spec: TaskSpec) -> int:
        """The leech part size for ``spec``; the compress stage's volumes use it too."""
        return leech_part_size(self._settings.upload_limit, self.default_part_size, spec.split_size)

    @monitor_performance("sink.telegram.deliver")
    def deliver(self, task: Task, path: Path) -> Delivery:
        chat_id = int(task.spec.upload) if task.spec.upload else task.spec.chat_id
        files = files_of(path)
        # Screenshots (-ss/-tl) and sample clips (-sv) the media stages made beside the result.
        from telebot.processing.media import extras
        shots = {file: extras.shots_of(path, file) for file in files}
        samples = {file: extras.sample_of(path, file) for file in files}
        added = [*itertools.chain(*shots.values()), *filter(None, samples.values())]
        total = sum(f.stat().st_size for f in [*files, *added])
        upload = _Upload(task, total)
        ledger = SendLedger(task.workdir / LEDGER_NAME)
        links: list[str] = []
        notes: list[str] = []
        count = 0
        # {total} of a caption template: planned by size; keyframe splits of a video may
        # come out a part longer, so a caption never shows an index past its total.
        uploads = self._count_parts(task, files)
        sent = _Sent(links, notes)
        for file in files:
            self._send_shots(task, chat_id, path, file, shots[file], ledger, upload, notes)
            # The playable parts of a split file go as albums (-med, MEDIA_GROUP); an album's
            # parts are all on disk while it is sent, so it needs up to ALBUM_MAX parts of room.
            grouped = self._groups_parts(task, file)
            pending: list[AlbumItem] = []
            for label, size, produce, playable in self._parts(task, file):
                count += 1
                entry = ledger.get(label)
                if entry is not None:  # handled before a restart: never send it twice
                    self._flush(task, chat_id, pending, ledger, upload, sent)
                    upload.finish_part(size)
                    sent.add(entry.link, entry.note)
                    continue
                place = (count, max(count, uploads))
                if grouped and playable:
                    part = produce()
                    kind = media_method(part, part.stat().st_size)[1]
                    caption = "" if pending else _caption(task, label, part.name, size, place)
                    pending.append(AlbumItem(label, part, kind, size, caption,
                                             temporary=part != file))
                    if len(pending) == ALBUM_MAX:
                        self._flush(task, chat_id, pending, ledger, upload, sent)
                    continue
                part = produce()
                sending = PartSend(ledger, label, upload.part_progress)
                sending.caption = _caption(task, label, part.name, size, place)
                sent.add(*self._send(task, chat_id, part, sending, upload, whole=playable))
                if part != file:
                    part.unlink(missing_ok=True)  # sent: free its space for the next part
            self._flush(task, chat_id, pending, ledger, upload, sent)
            sample = samples[file]
            if sample is not None:
                shown = html.escape(short_words(file.name), quote=False)
                caption = f"<code>Sample of {shown}</code>"
                from telebot.processing.media import extras
                item = AlbumItem(f"sample of {extras.key_of(path, file)}", sample, "video",
                                 sample.stat().st_size, caption, temporary=False)
                self._send_extra(task, chat_id, [item], ledger, upload, notes)
        where = "this chat" if chat_id == task.spec.chat_id else f"chat {chat_id}"
        return Delivery(
            name=path.name, size=total, location=where, files=count, links=links, notes=notes
        )

    def _count_parts(self, task: Task, files: list[Path]) -> int:
        limit = self.part_size(task)
        sizes = (f.stat().st_size for f in files)
        return sum(len(plan_parts(size, limit)) if size > limit else 1 for size in sizes)

    def _groups_parts(self, task: Task, file: Path) -> bool:
        """Whether the playable parts of ``file`` go as albums: -med, MEDIA_GROUP, and split."""
        if not (self._settings.media_group and task.spec.as_media):
            return False
        kind = media_method(file, 0)[1]
        return kind in ALBUM_KINDS and file.stat().st_size > self.part_size(task)

    def _send_shots(
        self, task: Task, chat_id: int, result: Path, file: Path, shots: list[Path],
        ledger: SendLedger, upload: _Upload, notes: list[str],
    ) -> None:
        """The screenshots of ``file``, before it: photo albums of up to ALBUM_MAX
        (``MEDIA_GROUP``), else one photo each; a grid is one photo."""
        if not shots:
            return
        from telebot.processing.media import extras
        key = extras.key_of(result, file)
        name = html.escape(short_words(file.name), quote=False)
        items = [
            AlbumItem(f"screenshot {index}/{len(shots)} of {key}", shot, "photo",
                      shot.stat().st_size, "", temporary=False)
            for index, shot in enumerate(shots, start=1)
        ]
        step = ALBUM_MAX if self._settings.media_group else 1
        for first in range(0, len(items), step):
            batch = items[first : first + step]
            batch[0].caption = f"<code>Screenshots of {name}</code>" if first == 0 else ""
            self._send_extra(task, chat_id, batch, ledger, upload, notes)

    def _send_extra(
        self, task: Task, chat_id: int, items: list[AlbumItem], ledger: SendLedger,
        upload: _Upload, notes: list[str],
    ) -> None:
        """Send screenshots or a sample once (the ledger keeps them like parts); their links
        are not the result's, so only a note (to check one) reaches the completion message."""
        waiting = [item for item in items if ledger.get(item.label) is None]
        for item in items:
            entry = ledger.get(item.label)
            if entry is not None:
                upload.finish_part(item.size)
                if entry.note:
                    notes.append(entry.note)
        self._flush(task, chat_id, waiting, ledger, upload, _Sent([], notes))

    def _flush(
        self, task: Task, chat_id: int, pending: list[AlbumItem], ledger: SendLedger,
        upload: _Upload, sent: _Sent,
    ) -> None:
        """Send the items gathered for one album (one item: as a single message) and empty
        ``pending``; each part made for the upload is removed once settled."""
        items = list(pending)
        pending.clear()
        if not items:
            return
        try:
            if len(items) < ALBUM_MIN or not can_group([i.kind for i in items]):
                for item in items:
                    sent.add(*self._send_one(task, chat_id, item, ledger, upload))
            else:
                for link, note in self._send_album(task, chat_id, items, ledger, upload):
                    sent.add(link, note)
        finally:
            for item in items:
                if item.temporary:
                    item.path.unlink(missing_ok=True)

    def _send_one(
        self, task: Task, chat_id: int, item: AlbumItem, ledger: SendLedger, upload: _Upload
    ) -> tuple[str | None, str | None]:
        sending = PartSend(ledger, item.label, upload.part_progress)
        sending.caption = item.caption or _caption(
            task, item.label, item.path.name, item.size, (1, 1))
        return self._send(task, chat_id, item.path, sending, upload, whole=True, media=True)

    def _send_album(
        self, task: Task, chat_id: int, items: list[AlbumItem], ledger: SendLedger,
        upload: _Upload,
    ) -> list[tuple[str | None, str | None]]:
        """Send ``items`` as one album and record each in the ledger; (link, note) per item.

        Sent exactly once like a single part (:mod:`telebot.sinks.album`). An album Telegram
        refuses (an answer: nothing was stored) goes again item by item, each of which may fall
        back to a document.
        """
        from telegram.error import BadRequest

        if task.cancel_event.is_set():
            raise TaskCancelled(task.cancel_reason or "cancelled")
        for item in items:
            extra: dict[str, Any] | None = {}
            if item.kind != "photo":
                from telebot.processing.media.attributes import media_fields
                extra = media_fields(item.path, item.kind, task.workdir / THUMBS_DIR,
                                     video=item.kind == "video")
            if extra is None:  # ffmpeg refused one: it must go as a document, alone
                return [self._send_one(task, chat_id, i, ledger, upload) for i in items]
            thumb = self._custom_thumbnail(task) if item.kind in THUMB_FIELDS else None
            if thumb is not None:
                extra["thumbnail"] = thumb
            item.fields = extra
        sending = AlbumSend(ledger, [item.label for item in items], upload.part_progress)
        try:
            messages = self._upload_album(chat_id, items, sending, upload)
        except BadRequest as exc:
            log.info("Telegram refused an album of %d (%s); sending its items one by one",
                     len(items), exc)
            return [self._send_one(task, chat_id, i, ledger, upload) for i in items]
        except Exception as exc:
            unconfirmed = _album_unanswered(task, items, sending, exc)
            for item in items:
                upload.finish_part(item.size)
            return [(None, f"{item.label}: {UNCONFIRMED}") for item in unconfirmed]
        results: list[tuple[str | None, str | None]] = []
        for item, message in zip(items, messages, strict=False):
            upload.finish_part(item.size)
            link = message_link(chat_id, message.message_id)
            ledger.done(item.label, link, None)
            results.append((link, None))
        return results

    def _upload_album(
        self, chat_id: int, items: list[AlbumItem], sending: AlbumSend, upload: _Upload
    ) -> list[Any]:
        from telegram import InputFile

        timeout = self._settings.upload_timeout

        def fields(item: AlbumItem, media: Any) -> dict[str, Any]:
            caption = {"caption": item.caption, "parse_mode": "HTML"} if item.caption else {}
            extra = dict(item.fields)
            thumb = extra.get("thumbnail")
            if isinstance(thumb, Path) and not self._settings.local:
                # InputMedia turns a path into a file:// URI whatever the bot's mode (PTB
                # inputmedia.py: it cannot know it); the cloud takes only an upload.
                extra["thumbnail"] = InputFile(thumb.read_bytes(), filename=thumb.name,
                                               attach=True)
            return {"media": media, **caption, **extra}

        if self._settings.local:

            def local_items() -> list[tuple[str, dict[str, Any]]]:
                sending.attempt()
                sending.all_sent()  # paths, not bytes: built is as good as written
                return [(item.kind, fields(item, item.path.resolve())) for item in items]

            return self._messenger().send_album(
                chat_id, len(items), local_items, timeout=timeout + 30, cancel=upload.cancel
            )

        handles: list[CountingReader] = []

        def upload_items() -> list[tuple[str, dict[str, Any]]]:
            for old in handles:  # a fresh handle per attempt: a retry starts from byte 0
                old.close()
            sending.attempt()
            built = []
            for index, item in enumerate(items):
                handle = CountingReader(item.path, functools.partial(sending.read, index),
                                        functools.partial(sending.eof, index))
                handles.append(handle)
                media = InputFile(handle, filename=item.path.name, attach=True,
                                  read_file_handle=False)
                built.append((item.kind, fields(item, media)))
            return built

        try:
            wait = timeout + sum(item.size for item in items) / 100_000
            return self._messenger().send_album(
                chat_id, len(items), upload_items, timeout=wait, cancel=upload.cancel
            )
        finally:
            for handle in handles:
                handle.close()

    def _custom_thumbnail(self, task: Task) -> Path | None:
        """The user's thumbnail (a Telegram file_id) as a file in the task folder, fetched once
        per task; None (logged) when Telegram cannot give it: a thumbnail is a nicety."""
        file_id = task.spec.thumbnail
        if not file_id:
            return None
        path = task.workdir / CUSTOM_THUMB_DIR / CUSTOM_THUMB
        if path.is_file():
            return path
        refused = path.with_name("refused")
        if refused.exists():  # no picture: not fetched again for every part
            return None
        bridge = self._messenger()
        try:
            data = bridge.call(task.spec.chat_id, "getFile", lambda: _fetch(bridge.bot, file_id))
        except Exception as exc:
            log.warning("could not fetch the custom thumbnail of %s: %s", task.gid, exc)
            return None
        path.parent.mkdir(mode=0o700, exist_ok=True)
        raw = path.with_name("raw.bin")
        raw.write_bytes(data)
        # Checked and fitted by the boxed ffmpeg (a photo is untrusted bytes too), then renamed:
        # whole or absent, so a resumed task never sends half a thumbnail.
        from telebot.processing.media.thumbnail import prepare_thumbnail
        prepared = prepare_thumbnail(raw, path)
        if prepared is None:
            refused.touch()
        return prepared

    def _parts(
        self, task: Task, file: Path
    ) -> Iterator[tuple[str, int, Callable[[], Path], bool]]:
        """(label, size, make-the-part, plays-on-its-own) for each part; a part's file is only
        written when it is about to be sent, so a leech needs free space for one part at a time."""
        size = file.stat().st_size
        limit = self.part_size(task)
        if size <= limit:
            yield file.name, size, lambda: file, True
            return
        if not task.spec.as_document and file.suffix.lower() in VIDEO_EXTENSIONS:
            from telebot.processing.media.videosplit import open_split
            video = open_split(file, task.workdir / ".parts", limit, cancel=task.cancel_event,
                               equal=task.spec.equal_split)
            if video is not None:
                yield from _video_parts(file, video)
                return
        plan = plan_parts(size, equal_part_size(size, limit) if task.spec.equal_split else limit)
        for index, (offset, length) in enumerate(plan, start=1):
            label = f"{part_name(file.name, index)} (part {index}/{len(plan)} of {file.name})"

            def produce(index: int = index, offset: int = offset, length: int = length) -> Path:
                return write_part(file, task.workdir / ".parts", index, offset, length,
                                  cancel=task.cancel_event)

            yield label, length, produce, False

    def _send(
        self, task: Task, chat_id: int, part: Path, sending: PartSend, upload: _Upload, *,
        whole: bool, media: bool = False,
    ) -> tuple[str | None, str | None]:
        """Send one part and record it in the ledger; returns (link, note).

        Never sends the same part twice: an upload that got no answer is settled by how far
        it got (:class:`PartSend`).
        """
        from telegram.error import BadRequest

        if task.cancel_event.is_set():
            raise TaskCancelled(task.cancel_reason or "cancelled")
        size = part.stat().st_size
        method, field = ("send_document", "document")
        # A part of a split file is no playable media; screenshots and samples (``media``)
        # are always sent as what they are.
        if (task.spec.as_media or media) and whole:
            method, field = media_method(part, size)
        caption = sending.caption or _caption(task, sending.label, part.name, size, (1, 1))
        try:
            from telebot.processing.media.attributes import media_fields
            extra = media_fields(part, field, task.workdir / THUMBS_DIR,
                                 video=part.suffix.lower() in VIDEO_EXTENSIONS)
            if extra is None:  # ffmpeg refused it (a playlist named .mp4...): a plain document
                method, field, extra = "send_document", "document", {}
            thumb = self._custom_thumbnail(task) if field in THUMB_FIELDS else None
            if thumb is not None:  # the user's thumbnail wins over one made from the file
                extra["thumbnail"] = thumb
            message = self._send_as(
                chat_id, method, field, part, caption, upload, sending, extra
            )
        except BadRequest as exc:
            raise UploadError(f"Telegram refused {part.name}: {exc}") from None
        except Exception as exc:
            note = _unanswered(task, part, sending, exc)
            upload.finish_part(size)
            return None, note
        upload.finish_part(size)
        link = message_link(chat_id, message.message_id)
        sending.ledger.done(sending.label, link, None)
        return link, None

    def _send_as(
        self, chat_id: int, method: str, field: str, part: Path, caption: str, upload: _Upload,
        sending: PartSend, extra: dict[str, Any],
    ) -> Any:
        """Upload as ``method``; a media form Telegram refuses is sent again as a document
        (the refusal was an answer: nothing was stored)."""
        from telegram.error import BadRequest

        try:
            return self._upload(chat_id, method, field, part, caption, upload, sending, extra)
        except BadRequest as exc:
            if method == "send_document":
                raise
            log.info("Telegram refused %s as %s (%s); sending it as a document",
                     part.name, field, exc)
            return self._upload(chat_id, "send_document", "document", part, caption, upload,
                                sending, {})

    def _upload(
        self, chat_id: int, method: str, field: str, part: Path, caption: str, upload: _Upload,
        sending: PartSend, extra: dict[str, Any],
    ) -> Any:
        from telegram import InputFile

        timeout = self._settings.upload_timeout
        cancel = upload.cancel
        if self._settings.local:

            def local_payload() -> dict[str, Any]:
                # The request carries a path, not the file: built is as good as written
                # (PartSend explains why that is the signal we can get).
                sending.attempt()
                sending.sent()
                return {field: part.resolve(), "caption": caption, "parse_mode": "HTML",
                        "read_timeout": timeout, **extra}

            return self._messenger().send_file(
                chat_id, method, local_payload, timeout=timeout + 30, cancel=cancel
            )

        handles: list[CountingReader] = []

        def payload_factory() -> dict[str, Any]:
            # A fresh handle per attempt: a retried upload must start from byte 0.
            for old in handles:
                old.close()
            sending.attempt()
            handle = CountingReader(part, sending.read, sending.sent)
            handles.append(handle)
            return {
                field: InputFile(handle, filename=part.name, read_file_handle=False),
                "caption": caption,
                "parse_mode": "HTML",
                "read_timeout": timeout,
                "write_timeout": max(timeout, 60.0),
                **extra,  # video metadata and thumbnail (processing/media/attributes.py)
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


async def _fetch(bot: Any, file_id: str) -> bytes:
    """getFile and the download, on the loop; the caller writes the bytes from its thread."""
    remote = await bot.get_file(file_id)
    return bytes(await remote.download_as_bytearray())


def _caption(task: Task, label: str, name: str, size: int, position: tuple[int, int]) -> str:
    """The user's caption template filled in, else the part's label in monospace. The text is
    cut, not the HTML: a cut closing tag or entity would make Telegram refuse the caption."""
    template = task.spec.caption
    if not template:
        return f"<code>{html.escape(short_words(label), quote=False)}</code>"
    index, total = position
    text = caption_for(template, name=name, size=size, index=index, total=total)
    return html.escape(text[:CAPTION_LIMIT], quote=False)


def _video_parts(
    file: Path, video: VideoSplit
) -> Iterator[tuple[str, int, Callable[[], Path], bool]]:
    """The keyframe parts of a video. The label (the ledger's key) names no total: a part
    that comes out too big makes the rest be planned again, and the parts already sent must
    keep their labels."""
    index = 1
    while index <= video.count():  # read each time: producing a part may re-plan the rest
        label = f"{video.name(index)} (part {index} of {file.name})"
        yield label, video.estimate(index), functools.partial(video.produce, index), True
        index += 1


def _unanswered(task: Task, part: Path, sending: PartSend, exc: Exception) -> str:
    """The note for a part whose upload ended without an answer, or the error to raise."""
    _settle_unanswered(task, [sending.label], sending, exc, part.name)
    return f"{sending.label}: {UNCONFIRMED}"


def _album_unanswered(
    task: Task, items: list[AlbumItem], sending: AlbumSend, exc: Exception
) -> list[AlbumItem]:
    """The items to report as unconfirmed for an album whose upload ended without an answer,
    or the error to raise."""
    labels = [item.label for item in items]
    _settle_unanswered(task, labels, sending, exc, f"an album of {len(items)}")
    return items


def _settle_unanswered(
    task: Task, labels: list[str], sending: PartSend | AlbumSend, exc: Exception, what: str
) -> None:
    """One rule for an upload (``what``) that ended without an answer: when every byte went
    out, Telegram may have it, so its ``labels`` are recorded unconfirmed (never sent again)
    and this returns, or raises TaskCancelled after a cancel; otherwise it raises
    (TaskCancelled, or the error), and the upload is sent again on resume."""
    cancelled = task.cancel_event.is_set()
    if sending.settle() and (cancelled or _no_answer(exc)):
        for label in labels:
            sending.ledger.done(label, None, f"{label}: {UNCONFIRMED}")
        if cancelled:
            raise TaskCancelled(task.cancel_reason or "cancelled") from None
        return
    if cancelled:  # stopped before the last byte: not delivered, sent again on resume
        raise TaskCancelled(task.cancel_reason or "cancelled") from None
    if _no_answer(exc):
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise UploadError(
            f"uploading {what} stopped before all of it was sent ({why}); "
            "Telegram did not get it"
        ) from None
    raise _translate(exc, what) from None


class _Sent:
    """The links and notes of what a delivery sent, in order."""

    def __init__(self, links: list[str], notes: list[str]) -> None:
        self.links = links
        self.notes = notes

    def add(self, link: str | None, note: str | None) -> None:
        if link:
            self.links.append(link)
        if note:
            self.notes.append(note)


def _no_answer(exc: BaseException) -> bool:
    """True when no HTTP answer came back: a timeout, a shutdown, or a broken connection
    (PTB raises httpx's transport errors ``from`` the httpx error)."""
    from telegram.error import TimedOut

    if isinstance(exc, TimedOut | TimeoutError | TaskCancelled):
        return True
    import httpx

    seen: set[int] = set()
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, httpx.TransportError):
            return True
        cause = cause.__cause__
    return False


class PartSend:
    """How far the upload of one part got, agreed between the worker thread and the event loop
    that writes the request.

    The loop reports each new attempt (:meth:`attempt`: from byte 0), each read of the file
    (:meth:`read`) and the point of no return (:meth:`sent`: the file's EOF was read, so every
    byte of it was written and only the closing multipart boundary follows). When the upload
    ends without an answer the worker calls :meth:`settle`: before the point of no return it
    aborts the upload for good - later reads raise, so the body can never be completed behind
    its back - and the part counts as not delivered (sent again on resume); after it, Telegram
    may have the part (never sent again, the user is asked to check). One lock makes both
    threads agree on which side of that point the upload stopped.

    The loop appends ``sending`` and ``sent`` to the ledger itself, before it writes on, so a
    ``kill -9`` at any instant leaves on disk a state at least as far as the truth: a part whose
    body can be complete always has its ``sent`` line. That is one short append on the event
    loop per attempt, next to the 64 KiB reads httpx already makes there for every chunk.

    In local Bot API mode the request carries a ``file://`` path, a few hundred bytes written
    in one call right after PTB builds the request, and neither PTB nor httpx tells when that
    write happened: building the request is the signal, so a cancel that lands while the
    connection is still being made is reported as unconfirmed (no duplicate; a part to check).
    """

    def __init__(self, ledger: SendLedger, label: str, progress: Callable[[int], None]) -> None:
        self.ledger = ledger
        self.label = label
        self.caption = ""  # the HTML caption of this part (set by the sink)
        self._progress = progress
        self._lock = threading.Lock()
        self._sent = False
        self._aborted = False

    def _check(self) -> None:
        if self._aborted:
            raise TaskCancelled("the upload was abandoned")

    def attempt(self) -> None:
        with self._lock:
            self._check()
            self.ledger.sending(self.label)
            self._sent = False

    def read(self, position: int) -> None:
        with self._lock:
            self._check()
        self._progress(position)  # raises on cancel: the body stops mid-way

    def sent(self) -> None:
        with self._lock:
            self._check()
            self.ledger.sent(self.label)
            self._sent = True

    def settle(self) -> bool:
        """True when every byte was handed over; otherwise the upload is aborted for good."""
        with self._lock:
            if not self._sent:
                self._aborted = True
            return self._sent


LEDGER_NAME = ".leech-ledger"
THUMBS_DIR = ".thumbs"  # video thumbnails, in the task folder beside the ledger
# The user's /usetting thumbnail, fetched once per task. A dot name: sources never give a
# result one (names.sanitize_filename), and video thumbnails in THUMBS_DIR are named by video.
CUSTOM_THUMB = ".custom-thumbnail.jpg"
CUSTOM_THUMB_DIR = ".custom-thumb"  # the folder the boxed ffmpeg may write it in
THUMB_FIELDS = frozenset({"document", "video", "audio"})  # the send methods taking a thumbnail
UNCONFIRMED = "Telegram did not confirm it; check that it arrived"


@dataclass(frozen=True)
class LedgerEntry:
    link: str | None
    note: str | None


class SendLedger:
    """What this task already sent, in its folder, so a resumed leech never sends a part twice
    and never skips one that Telegram cannot have.

    One JSON line per event, appended: ``sending`` when an attempt starts (from byte 0),
    ``sent`` at its point of no return (see :class:`PartSend`), ``done`` with the link or the
    note once the part is settled. On load, a part's last event decides: ``done`` - handled,
    ``sent`` - it may be in the chat but no answer was recorded (the bot died waiting), so it
    is not sent again and the completion message asks to check it; ``sending`` - its body was
    never complete, so Telegram cannot have it and it is sent again. Appends reach the page
    cache before the request goes on, which is all a kill -9 needs; the file lives in the task
    folder and goes with it when the task ends.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._entries: dict[str, LedgerEntry] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        maybe: dict[str, bool] = {}  # label -> its last attempt reached the point of no return
        for line in lines:
            try:
                event = json.loads(line)
                label = str(event["label"])
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a crash: the event before it still counts
            kind = event.get("event")
            if kind == "done":
                self._entries[label] = LedgerEntry(event.get("link"), event.get("note"))
            elif kind in ("sending", "sent"):
                maybe[label] = kind == "sent"
        for label, sent in maybe.items():
            if sent and label not in self._entries:
                self._entries[label] = LedgerEntry(None, f"{label}: {UNCONFIRMED}")

    def get(self, label: str) -> LedgerEntry | None:
        return self._entries.get(label)

    def _append(self, event: dict[str, Any]) -> None:
        with self._lock, self._path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")

    def sending(self, label: str) -> None:
        self._append({"event": "sending", "label": label})

    def sent(self, label: str) -> None:
        self._append({"event": "sent", "label": label})

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
