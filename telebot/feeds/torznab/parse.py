"""Reading one Torznab answer (docs/FEEDS.md) into :class:`~.results.Result` values, safely.

The bytes come from an indexer, which relays what trackers wrote: they are untrusted. So the
answer is bounded before it is parsed (:data:`MAX_BODY`), a document with a DOCTYPE or an
entity declaration is refused outright (no DTD means no entity expansion and no external
entity: the standard library's expat then has nothing to fetch or to blow up), at most
:data:`MAX_ITEMS` items are read, and every value taken is checked: counts are non-negative
integers, links are magnets or http(s) URLs of bounded length. An item without a usable link is
left out (nothing could start it).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from telebot.errors import DownloadError
from telebot.feeds.torznab.results import Result
from telebot.intake.args import MAX_LINK_LENGTH

MAX_BODY = 4 << 20  # bytes of one answer: ~100 items take ~100 KiB; far above any real one
MAX_ITEMS = 100  # items read from one indexer's answer
MAX_TITLE = 300  # characters of a title kept
TORRENT_TYPE = "application/x-bittorrent"
_REFUSED = re.compile(rb"<!\s*(?:doctype|entity)", re.I)
_INFOHASH = re.compile(r"[0-9a-fA-F]{40}|[A-Za-z2-7]{32}")


class TorznabError(DownloadError):
    """An indexer's answer is unusable: an error answer, not XML, too large, or refused."""


@dataclass(frozen=True)
class Page:
    """One answer read: its results (at most the cap) and whether items were left unread."""

    results: list[Result]
    truncated: bool = False


def parse_answer(body: bytes, indexer: str, *, max_items: int = MAX_ITEMS,
                 max_body: int = MAX_BODY) -> Page:
    """The results of one answer; ``indexer`` names those whose item does not say which
    indexer it came from. Raises :class:`TorznabError` (one short line) for an ``<error>``
    answer, a document that is too large, has a DOCTYPE/entity, or is not RSS."""
    if len(body) > max_body:
        raise TorznabError(f"answer larger than {max_body >> 20} MiB")
    if _REFUSED.search(body):
        raise TorznabError("answer refused: it declares a DOCTYPE or entities")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise TorznabError(f"answer is not XML ({exc})"[:120]) from None
    if _local(root.tag) == "error":
        code = (root.get("code") or "?")[:10]
        description = (root.get("description") or "no description")[:100]
        raise TorznabError(f"error {code}: {description}")
    channel = root.find("channel")
    if _local(root.tag) != "rss" or channel is None:
        raise TorznabError("answer is not a Torznab RSS feed")
    results: list[Result] = []
    truncated = False
    for item in channel.iter("item"):
        if len(results) >= max_items:
            truncated = True
            break
        result = _result(item, indexer)
        if result is not None:
            results.append(result)
    return Page(results, truncated)


def _local(tag: str) -> str:
    """A tag without its namespace: ``{http://torznab.com/schemas/2015/feed}attr`` → ``attr``."""
    return tag.rsplit("}", 1)[-1]


def _attrs(item: ET.Element) -> dict[str, list[str]]:
    """The item's ``torznab:attr`` (or ``newznab:attr``) values by name; a name may repeat
    (``category``)."""
    found: dict[str, list[str]] = {}
    for child in item:
        if _local(child.tag) == "attr":
            name, value = child.get("name"), child.get("value")
            if name and value is not None:
                found.setdefault(name.lower(), []).append(value.strip())
    return found


def _count(values: Iterable[str | None]) -> int | None:
    """The first value that is a non-negative integer."""
    for value in values:
        if value and value.strip().isdigit():
            return int(value.strip())
    return None


def _text(item: ET.Element, tag: str) -> str | None:
    for child in item:
        if _local(child.tag) == tag and child.text and child.text.strip():
            return child.text.strip()
    return None


def _magnet(value: str | None) -> str | None:
    if value and value[:8].lower() == "magnet:?" and len(value) <= MAX_LINK_LENGTH \
            and not any(c.isspace() for c in value):
        return value
    return None


def _http(value: str | None) -> str | None:
    if value and value[:8].lower().startswith(("http://", "https://")) \
            and len(value) <= MAX_LINK_LENGTH and not any(c.isspace() for c in value):
        return value
    return None


def _link(item: ET.Element, attrs: dict[str, list[str]], title: str) -> str | None:
    """Magnet first (``magneturl``, or a magnet as link/enclosure/guid), then the .torrent
    link (the enclosure of type application/x-bittorrent, else ``<link>``), then a magnet
    made from ``infohash`` (no trackers: DHT must find the peers)."""
    enclosure = next((c for c in item if _local(c.tag) == "enclosure"), None)
    enclosure_url = enclosure.get("url") if enclosure is not None else None
    link, guid = _text(item, "link"), _text(item, "guid")
    for candidate in (*attrs.get("magneturl", ()), enclosure_url, link, guid):
        if magnet := _magnet(candidate):
            return magnet
    torrent_type = enclosure is not None and (enclosure.get("type") or "").lower() == TORRENT_TYPE
    for candidate in ((enclosure_url if torrent_type else None), link, enclosure_url):
        if url := _http(candidate):
            return url
    infohash = next(iter(attrs.get("infohash", ())), "")
    if _INFOHASH.fullmatch(infohash):
        return f"magnet:?xt=urn:btih:{infohash}&dn={quote(title[:200])}"
    return None


def _result(item: ET.Element, indexer: str) -> Result | None:
    title = " ".join((_text(item, "title") or "").split())[:MAX_TITLE]
    if not title:
        return None
    attrs = _attrs(item)
    link = _link(item, attrs, title)
    if link is None:
        return None
    enclosure = next((c for c in item if _local(c.tag) == "enclosure"), None)
    size = _count([*attrs.get("size", ()), _text(item, "size"),
                   enclosure.get("length") if enclosure is not None else None])
    named = _text(item, "jackettindexer") or _text(item, "prowlarrindexer") or indexer
    categories = tuple(int(v) for v in attrs.get("category", ()) if v.isdigit())
    return Result(
        title=title,
        link=link,
        indexer=" ".join(named.split())[:60],
        size=size or None,
        seeders=_count(attrs.get("seeders", ())),
        peers=_count(attrs.get("peers", ())),
        categories=categories,
    )
