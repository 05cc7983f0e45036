"""A feed's bytes → its items, with feedparser (RSS 0.9x/1.0/2.0 and Atom).

Feedparser gets bytes only, never a URL (it would fetch them itself, past the SSRF guard: the
fetching is feeds/rss/fetch.py's). Its XML parser does not resolve external entities; the size
was bounded by the fetch.

What the bot takes of an entry: its GUID (``id``: RSS ``<guid>``, Atom ``<id>``; the link when
there is none), its title, and the link a task is started with: the enclosure of type
``application/x-bittorrent`` when there is one (a tracker's .torrent file, while ``<link>``
is usually the torrent's web page), else the entry's link (a magnet, a .torrent or a direct
link).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import feedparser

from telebot.errors import DownloadError

TORRENT_TYPE = "application/x-bittorrent"
#: Longest title kept (shown in messages, stored for the restart report).
MAX_TITLE = 300


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    torrent_file: bool = False  # link is the item's application/x-bittorrent enclosure


@dataclass(frozen=True)
class Feed:
    title: str
    items: tuple[Item, ...]  # as the feed lists them: usually newest first


def parse_feed(body: bytes) -> Feed:
    """The feed in ``body``; DownloadError when it is no RSS or Atom feed. Entries without a
    link are left out (nothing could be started from them)."""
    parsed = feedparser.parse(body)
    if not parsed.get("version") and not parsed.entries:
        raise DownloadError("this is not an RSS or Atom feed")
    items = []
    for entry in parsed.entries:
        link, torrent_file = _link_of(entry)
        if not link:
            continue
        title = " ".join(str(entry.get("title") or "").split())[:MAX_TITLE] or link[:80]
        guid = str(entry.get("id") or "").strip() or link
        items.append(Item(guid, title, link, torrent_file))
    title = " ".join(str(parsed.feed.get("title") or "").split())[:MAX_TITLE]
    return Feed(title, tuple(items))


def _link_of(entry: Any) -> tuple[str, bool]:
    """The link to start a task with, and whether it is a .torrent enclosure."""
    for enclosure in entry.get("enclosures") or ():
        if str(enclosure.get("type", "")).lower() == TORRENT_TYPE and enclosure.get("href"):
            return str(enclosure["href"]).strip(), True
    return str(entry.get("link") or "").strip(), False
