"""Telegram files as sources: /mirror or /leech as a reply to a document, video or audio.

Cloud Bot API: ``getFile`` serves files up to 20 MB only (docs/TELEGRAM.md, limits); larger ones
get a
clear explanation instead of a confusing 400. The file is then fetched over HTTP with the resumable
downloader.

The token never rests on disk: the journal keeps only ``tg:<file_id>``, and getFile is asked
again on each (re)start. The Bot API's file URL holds the token (``…/file/bot<token>/<path>``),
so the downloader is handed the token-free form ``…/file/bot/<path>`` (which is what its resume
sidecar and log lines record) and :class:`_TokenAdapter` puts the token in only on the wire.
Local Bot API server: ``getFile`` answers with an absolute path on the shared disk, which is
copied with the native IO core — no HTTP at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import BaseAdapter

from telebot import fileio
from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.engine.pipeline import DiskSpace, Source, SourceFactory
from telebot.engine.task import Task, TaskSpec
from telebot.errors import DownloadError
from telebot.monitor.perf import monitor_performance
from telebot.sources.http.downloader import HttpOptions, HttpSource
from telebot.sources.http.netguard import GuardedAdapter
from telebot.sources.http.request import default_session
from telebot.sources.http.source import with_disk_gate
from telebot.sources.names import sanitize_filename
from telebot.sources.refs import TELEGRAM_FILE_PREFIX, telegram_file_source
from telebot.units import format_bytes

if TYPE_CHECKING:
    from telegram import File

PREFIX = TELEGRAM_FILE_PREFIX
CLOUD_DOWNLOAD_LIMIT = 20_000_000  # getFile limit of the cloud Bot API (FILESIZE_DOWNLOAD)

TOO_BIG = (
    "this file is {size:.1f} MB, and the cloud Bot API only lets bots download files up to 20 MB. "
    "Run a local Bot API server (BOT_API_LOCAL=true; see the README) to lift the limit."
)



@dataclass(frozen=True)
class TelegramFileSettings:
    """Immutable settings of the Telegram file source, read once at start."""

    api_url: str = "https://api.telegram.org"  # BOT_API_URL: the Bot API server
    # BOT_TOKEN: only ever in the session's URLs; never in a journal row nor a repr (logs).
    token: str = field(default="", repr=False)
    local: bool = False  # BOT_API_LOCAL: a local Bot API server (files on a shared disk)
    max_size: int | None = None  # MAX_DOWNLOAD_SIZE at start, bytes; None = no limit

    @classmethod
    def from_config(cls, config: Config) -> TelegramFileSettings:
        return cls(
            api_url=config.bot_api_url,
            token=config.bot_token,
            local=config.bot_api_local,
            max_size=config.max_download_size,
        )


class TelegramFileSource:
    engine = "Telegram"

    def __init__(
        self,
        settings: TelegramFileSettings,
        messenger: Callable[[], Messenger],
        http: HttpSource | None = None,
        disk: DiskSpace | None = None,
    ) -> None:
        self._settings = settings
        self._disk = disk
        self._messenger = messenger
        # How build_application configures PTB's base_file_url (bot/application.py).
        self._secret_prefix = f"{settings.api_url}/file/bot{settings.token}/"
        self._public_prefix = f"{settings.api_url}/file/bot/"
        self._http = http or HttpSource(session_factory=self._session)

    def _session(self, adapter: GuardedAdapter) -> requests.Session:
        session = default_session(adapter)
        session.mount(
            self._public_prefix, _TokenAdapter(adapter, self._public_prefix, self._secret_prefix)
        )
        return session

    def _public_url(self, file_path: str) -> str:
        """PTB's file URL (``…/file/bot<token>/<path>``) without the token."""
        if file_path.startswith(self._secret_prefix):
            return self._public_prefix + file_path[len(self._secret_prefix) :]
        return file_path

    @monitor_performance("source.telegram.fetch")
    def fetch(self, task: Task) -> Path:
        spec = task.spec
        size = spec.file_size or 0
        if not self._settings.local and size > CLOUD_DOWNLOAD_LIMIT:
            raise DownloadError(TOO_BIG.format(size=size / 1e6))
        check_size_limit(self._settings.max_size, spec.file_size)
        if spec.file_size and (spec.name or spec.file_name):
            # Name and size are known from the update: the limits, the disk check and the
            # duplicate look-up (engine/limits.py) run now, before getFile.
            task.name = sanitize_filename(spec.name or spec.file_name or "", fallback="file")
            task.progress(0, spec.file_size)
        remote = self._get_file(spec)
        check_size_limit(self._settings.max_size, remote.file_size)
        path = remote.file_path or ""
        name = sanitize_filename(
            spec.name or spec.file_name or Path(path).name, fallback="telegram_file"
        )
        task.name = name
        target = task.workdir / name
        if self._settings.local and Path(path).is_absolute():
            task.progress(0, size or None)
            fileio.copy_file(Path(path), target, progress=task.progress, cancel=task.cancel_event)
            return target
        options = HttpOptions(  # the configured Bot API is trusted
            name=name, allow_private=True, max_size=self._settings.max_size
        )
        return self._http.download(
            self._public_url(path),
            task.workdir,
            with_disk_gate(options, self._disk, task),
            progress=task.progress,
            cancel=task.cancel_event,
        )

    def locate(self, chat_id: int, file_id: str, size: int | None) -> str:
        """Where a Telegram file can be read (``/mediainfo``): an absolute path on the shared
        disk (local Bot API server) or its token-free URL for :meth:`read_range`."""
        if not self._settings.local and (size or 0) > CLOUD_DOWNLOAD_LIMIT:
            raise DownloadError(TOO_BIG.format(size=(size or 0) / 1e6))
        spec = TaskSpec(kind="mediainfo", source=telegram_file_source(file_id), chat_id=chat_id,
                        user_id=0, message_id=0, file_size=size)
        path = self._get_file(spec).file_path or ""
        if self._settings.local and Path(path).is_absolute():
            return path
        return self._public_url(path)

    def read_range(
        self, url: str, start: int, length: int, cancel: threading.Event
    ) -> tuple[bytes, int | None]:
        """Bytes of a file at a :meth:`locate` URL, through the token-adding session."""
        options = HttpOptions(allow_private=True)  # the configured Bot API is trusted
        return self._http.read_range(url, options, start, length, cancel=cancel)

    def _get_file(self, spec: TaskSpec) -> File:
        from telegram.error import BadRequest

        bridge = self._messenger()
        file_id = spec.source[len(PREFIX) :]
        try:
            return bridge.call(spec.chat_id, "getFile", lambda: bridge.bot.get_file(file_id))
        except BadRequest as exc:
            if "too big" in str(exc).lower():
                raise DownloadError(TOO_BIG.format(size=(spec.file_size or 0) / 1e6)) from None
            raise DownloadError(f"Telegram would not hand out the file: {exc}") from None


class _TokenAdapter(BaseAdapter):
    """Sends requests for ``public…`` to ``secret…`` and reports the public URL back, so the
    token lives only in the request line on the wire."""

    def __init__(self, inner: GuardedAdapter, public: str, secret: str) -> None:
        super().__init__()
        self._inner, self._public, self._secret = inner, public, secret

    def send(  # type: ignore[override]  # forwards requests' keyword arguments unchanged
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        if not url.startswith(self._public):
            return self._inner.send(request, **kwargs)
        wire = request.copy()
        wire.url = self._secret + url[len(self._public) :]
        response = self._inner.send(wire, **kwargs)
        response.url = url
        response.request = request
        return response

    def close(self) -> None:
        self._inner.close()


def check_size_limit(limit: int | None, size: int | None) -> None:
    """MAX_DOWNLOAD_SIZE (``limit``) holds for Telegram files too: refuse before fetching a
    byte."""
    if limit is not None and size is not None and size > limit:
        raise DownloadError(
            f"this file is {format_bytes(size)}, over the {format_bytes(limit)} download limit"
        )


def telegram_file_factory(
    settings: TelegramFileSettings,
    messenger: Callable[[], Messenger],
    disk: DiskSpace | None = None,
) -> SourceFactory:
    source = TelegramFileSource(settings, messenger, disk=disk)

    def factory(spec: TaskSpec) -> Source | None:
        return source if spec.source.startswith(PREFIX) else None

    return factory
