"""Reading Torznab answers: the recorded shapes of Jackett and Prowlarr, and the documents
that must be refused."""

from __future__ import annotations

import pytest

from telebot.errors import BadInputError
from telebot.feeds.torznab.categories import CATEGORIES, category_ids
from telebot.feeds.torznab.parse import MAX_ITEMS, TorznabError, parse_answer
from tests.fakes.torznab import fixture

BASE = "http://127.0.0.1:9117"
KEY = "k3y-of-the-indexer"
ALPHA = "magnet:?xt=urn:btih:" + "a" * 40 + "&dn=Pack+Alpha&tr=udp%3A%2F%2Ftracker"


def jackett() -> bytes:
    return fixture("jackett.xml", base=BASE, key=KEY, magnet_alpha=ALPHA, hash_alpha="a" * 40)


def test_jackett_answer_gives_attrs_links_and_indexers() -> None:
    page = parse_answer(jackett(), "fallback")
    by_title = {r.title: r for r in page.results}
    # "Epsilon Without Any Link" names nothing a task could start: left out.
    assert set(by_title) == {
        "Pack Alpha 2026 1080p", "Pack Beta 2026 Linux ISO", "Gamma Collection",
        "Delta Unknown Seeders", "Zeta Season 1", "Eta Extras",
    }
    alpha = by_title["Pack Alpha 2026 1080p"]
    # magneturl wins over the enclosure's .torrent link, & unescaped from the XML.
    assert alpha.link == ALPHA
    assert (alpha.size, alpha.seeders, alpha.peers) == (1_900_018, 42, 50)
    assert alpha.indexer == "OneSeven" and alpha.categories == (2000, 100001)
    beta = by_title["Pack Beta 2026 Linux ISO"]
    # No magnet: the enclosure of type application/x-bittorrent.
    assert beta.link == f"{BASE}/dl/quietbay/?jackett_apikey={KEY}&path=Q2ZES&file=Pack+Beta"
    assert (beta.size, beta.seeders, beta.indexer) == (900_000, 7, "QuietBay")
    # A magnet given as <link>; size from <size> without a size attr.
    gamma = by_title["Gamma Collection"]
    assert gamma.link.startswith("magnet:?xt=urn:btih:3333") and gamma.size == 5_368_709_120
    # Only an infohash: a magnet is made of it; no counts, no size.
    delta = by_title["Delta Unknown Seeders"]
    assert delta.link == "magnet:?xt=urn:btih:" + "4" * 40 + "&dn=Delta%20Unknown%20Seeders"
    assert (delta.size, delta.seeders, delta.peers) == (None, None, None)


def test_prowlarr_answer_magnet_enclosure_and_indexer_name() -> None:
    page = parse_answer(fixture("prowlarr.xml", base=BASE, key=KEY), "fallback")
    theta, iota = page.results
    assert theta.indexer == "NorthTracker" and theta.seeders == 77
    # The enclosure is a magnet (Prowlarr does this for magnet-only indexers): preferred over
    # the /download link.
    assert theta.link.startswith("magnet:?xt=urn:btih:8888")
    assert iota.link.startswith("magnet:?xt=urn:btih:9999") and iota.size == 2048


def test_item_without_indexer_name_takes_the_endpoints_label() -> None:
    body = (b'<rss version="2.0"><channel><item><title>Only</title>'
            b"<link>https://h.example/x.torrent</link></item></channel></rss>")
    [only] = parse_answer(body, "host:9117").results
    assert only.indexer == "host:9117" and only.link == "https://h.example/x.torrent"


def test_error_answer_is_an_error_with_its_code_and_description() -> None:
    with pytest.raises(TorznabError, match=r"error 100: Invalid API Key"):
        parse_answer(fixture("error.xml"), "x")


@pytest.mark.parametrize("name", ["doctype.xml", "external.xml"])
def test_doctype_and_entities_are_refused_before_parsing(name: str) -> None:
    with pytest.raises(TorznabError, match="DOCTYPE"):
        parse_answer(fixture(name), "x")


def test_an_entity_declaration_alone_is_refused() -> None:
    body = b'<rss><!ENTITY x "y"><channel/></rss>'
    with pytest.raises(TorznabError, match="DOCTYPE or entities"):
        parse_answer(body, "x")


def test_oversized_answer_is_refused() -> None:
    body = jackett()
    with pytest.raises(TorznabError, match="larger than"):
        parse_answer(body, "x", max_body=len(body) - 1)
    assert parse_answer(body, "x", max_body=len(body)).results


def test_more_items_than_the_cap_are_cut() -> None:
    item = ("<item><title>T{n}</title><link>magnet:?xt=urn:btih:{n:040d}</link>"
            '<torznab:attr name="seeders" value="{n}"/></item>')
    items = "".join(item.format(n=n) for n in range(MAX_ITEMS + 20))
    body = ('<rss xmlns:torznab="http://torznab.com/schemas/2015/feed"><channel>'
            f"{items}</channel></rss>").encode()
    page = parse_answer(body, "x")
    assert len(page.results) == MAX_ITEMS and page.truncated
    assert [r.seeders for r in page.results] == list(range(MAX_ITEMS))
    few = parse_answer(body, "x", max_items=500)
    assert len(few.results) == MAX_ITEMS + 20 and not few.truncated


@pytest.mark.parametrize("body", [b"not xml at all", b"<html><body>login</body></html>",
                                  b"<rss><nochannel/></rss>"])
def test_answers_that_are_no_feed_are_errors(body: bytes) -> None:
    with pytest.raises(TorznabError):
        parse_answer(body, "x")


def test_bad_values_are_not_taken() -> None:
    body = (
        b'<rss xmlns:torznab="http://torznab.com/schemas/2015/feed"><channel>'
        b"<item><title>  Spaced \n  Title </title>"
        b'<torznab:attr name="seeders" value="-4"/><torznab:attr name="size" value="big"/>'
        b'<torznab:attr name="magneturl" value="javascript:alert(1)"/>'
        b"<link>file:///etc/passwd</link>"
        b'<enclosure url="https://ok.example/t.torrent" type="application/x-bittorrent"/>'
        b"</item></channel></rss>"
    )
    [item] = parse_answer(body, "x").results
    assert item.title == "Spaced Title"
    assert item.link == "https://ok.example/t.torrent"
    assert item.seeders is None and item.size is None


def test_category_words_map_to_standard_ids() -> None:
    assert category_ids("movies") == (2000,)
    assert category_ids("TV") == (5000,)
    assert category_ids("music") == (3000,)
    assert category_ids("books") == (7000,)
    assert category_ids("anime") == (5070,)
    assert category_ids("other") == (8000,)
    with pytest.raises(BadInputError) as refused:
        category_ids("sports")
    assert all(word in str(refused.value) for word in CATEGORIES)
