"""Which task specs are torrents (no libtorrent import: the command parser uses this too)."""

from __future__ import annotations

from urllib.parse import urlsplit

from telebot.engine.task import TaskSpec

TG_PREFIX = "tg:"  # telebot.sources.tgfile.PREFIX


def is_magnet(source: str) -> bool:
    return source[:8].lower() == "magnet:?"


def is_torrent_spec(spec: TaskSpec) -> bool:
    """Magnets, http(s) links whose path ends in .torrent (or that a feed or search said are
    .torrent files: ``spec.torrent_link``), Telegram .torrent documents."""
    source = spec.source
    if is_magnet(source):
        return True
    if source.startswith(TG_PREFIX):
        return (spec.file_name or "").lower().endswith(".torrent")
    if source[:8].lower().startswith(("http://", "https://")):
        return spec.torrent_link or urlsplit(source).path.lower().endswith(".torrent")
    return False
