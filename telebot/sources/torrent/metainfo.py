"""Fetching a ``.torrent`` file: from an http(s) link (the HTTP downloader, so the SSRF guard
applies) or from Telegram (the tgfile source). libtorrent itself never fetches it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from telebot.botapi.messenger import Messenger
from telebot.engine.pipeline import DiskSpace, SourceFactory
from telebot.engine.task import Task
from telebot.errors import BadInputError, DownloadError
from telebot.sources.http.downloader import HttpOptions, HttpSource
from telebot.sources.http.source import is_http_link
from telebot.sources.tgfile import TelegramFileSettings, TelegramFileSource
from telebot.sources.torrent.choose import FileChooser
from telebot.sources.torrent.links import TG_PREFIX
from telebot.sources.torrent.seeding import Seeding
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings
from telebot.sources.torrent.source import TorrentSource, torrent_factory

# libtorrent's own ceiling for a .torrent buffer (load_torrent_limits::max_buffer_size).
MAX_METAINFO = 10_000_000
FETCH_DIR = ".metainfo"


class MetainfoFetcher:
    """Callable: ``fetcher(task) -> bytes`` of the task's .torrent file."""

    def __init__(
        self,
        settings: TorrentSettings,
        *,
        http: HttpSource | None = None,
        telegram: Callable[[Task], Path] | None = None,
    ) -> None:
        self._settings = settings
        self._http = http or HttpSource()
        self._telegram = telegram

    def __call__(self, task: Task) -> bytes:
        spec = task.spec
        if is_http_link(spec.source):
            options = HttpOptions(
                headers=dict(spec.headers),
                auth=spec.auth,
                name="metainfo.torrent",
                allow_private=self._settings.allow_private,
                max_size=MAX_METAINFO,
                segments=1,
            )
            folder = task.workdir / FETCH_DIR
            path = self._http.download(
                spec.source, folder, options, progress=task.progress, cancel=task.cancel_event
            )
        elif spec.source.startswith(TG_PREFIX) and self._telegram is not None:
            if (spec.file_size or 0) > MAX_METAINFO:
                raise DownloadError("this .torrent file is too large to be a real one")
            path = self._telegram(task)
            folder = path.parent
        else:
            raise BadInputError("this .torrent source is not supported")
        try:
            if path.stat().st_size > MAX_METAINFO:
                raise DownloadError("this .torrent file is too large to be a real one")
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
            if folder != task.workdir:
                shutil.rmtree(folder, ignore_errors=True)


def torrent_source_factory(
    telegram_settings: TelegramFileSettings,
    session: TorrentSession,
    messenger: Callable[[], Messenger],
    chooser: FileChooser | None = None,
    seeding: Seeding | None = None,
    disk: DiskSpace | None = None,
) -> SourceFactory:
    """The wiring's one line: torrents from magnets, .torrent links and Telegram documents."""
    telegram = TelegramFileSource(telegram_settings, messenger)
    fetcher = MetainfoFetcher(session.settings, telegram=telegram.fetch)
    source = TorrentSource(
        session, metainfo=fetcher, chooser=chooser, seeding=seeding, disk=disk
    )
    return torrent_factory(source)
