"""The Torznab client against real loopback indexers (tests/fakes/torznab.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from telebot.feeds.torznab.client import (
    Indexer,
    TorznabClient,
    indexers_of,
    label_of,
    query_url,
)
from telebot.resilience import BreakerRegistry, ErrorTracker
from tests.fakes.torznab import FakeTorznab

KEY_J = "jackettkey0123456789abcdef012345"
KEY_P = "prowlarrkey0123456789abcdef01234"
ALPHA = "magnet:?xt=urn:btih:" + "a" * 40 + "&dn=Alpha"


@pytest.fixture
def jackett() -> Iterator[FakeTorznab]:
    with FakeTorznab("jackett.xml", KEY_J, path="/api/v2.0/indexers/all/results/torznab/api",
                     magnet_alpha=ALPHA, hash_alpha="a" * 40) as server:
        yield server


@pytest.fixture
def prowlarr() -> Iterator[FakeTorznab]:
    with FakeTorznab("prowlarr.xml", KEY_P, path="/3/api") as server:
        yield server


def client(*servers: FakeTorznab, keys: tuple[str, ...], **kwargs: object) -> TorznabClient:
    return TorznabClient(
        indexers_of([s.url for s in servers], keys), breakers=BreakerRegistry(),
        errors=ErrorTracker(), sleep=lambda _s: None, **kwargs,  # type: ignore[arg-type]
    )


def test_both_indexers_answer_sorted_by_seeders(
    jackett: FakeTorznab, prowlarr: FakeTorznab
) -> None:
    answer = client(jackett, prowlarr, keys=(KEY_J, KEY_P)).search("pack 2026", (2000, 5070))
    assert not answer.failures
    seeders = [r.seeders for r in answer.results]
    assert seeders == [900, 77, 42, 15, 7, 3, 1, None]
    assert {r.indexer for r in answer.results} == {"OneSeven", "QuietBay", "NorthTracker"}
    for server, key in ((jackett, KEY_J), (prowlarr, KEY_P)):
        [query] = server.queries
        assert query["t"] == "search" and query["q"] == "pack 2026"
        assert query["apikey"] == key and query["cat"] == "2000,5070"


def test_one_failing_indexer_is_a_failure_not_a_failed_search(
    jackett: FakeTorznab, prowlarr: FakeTorznab, caplog: pytest.LogCaptureFixture
) -> None:
    prowlarr.fail = 500
    caplog.set_level(logging.INFO)
    answer = client(jackett, prowlarr, keys=(KEY_J, KEY_P)).search("pack")
    assert {r.indexer for r in answer.results} == {"OneSeven", "QuietBay"}
    [failure] = answer.failures
    assert failure.reason == "HTTP 500" and failure.indexer == label_of(prowlarr.url)
    assert prowlarr.requests == 2  # a 5xx is retried once (SEARCH_POLICY)
    assert KEY_P not in caplog.text and KEY_J not in caplog.text


def test_error_answer_and_wrong_key_are_named_not_retried(
    jackett: FakeTorznab, prowlarr: FakeTorznab
) -> None:
    jackett.fail = "error"
    answer = client(jackett, prowlarr, keys=(KEY_J, "wrong-key")).search("x")
    assert sorted(f.reason for f in answer.failures) == ["error 100: Invalid API Key"] * 2
    assert answer.results == [] and jackett.requests == 1 and prowlarr.requests == 1


def test_oversized_answer_fails_that_indexer(jackett: FakeTorznab) -> None:
    jackett.body = b"<rss><channel>" + b" " * 5000 + b"</channel></rss>"
    answer = client(jackett, keys=(KEY_J,), max_body=4096).search("x")
    [failure] = answer.failures
    assert "larger than" in failure.reason


def test_unreachable_indexer_says_so_without_its_url() -> None:
    with FakeTorznab("jackett.xml", KEY_J) as gone:
        url = gone.url
    answer = TorznabClient([Indexer(url, KEY_J, "gone")], breakers=BreakerRegistry(),
                           errors=ErrorTracker(), sleep=lambda _s: None).search("x")
    [failure] = answer.failures
    assert failure.reason == "could not connect" and failure.indexer == "gone"


def test_query_url_keeps_the_endpoints_own_query() -> None:
    indexer = Indexer("http://h:9696/api?x=1", "K", "h")
    assert query_url(indexer, "a b") == "http://h:9696/api?x=1&t=search&q=a+b&apikey=K&limit=100"


def test_labels_name_the_indexer_never_the_key() -> None:
    assert label_of("http://127.0.0.1:9117/api/v2.0/indexers/all/results/torznab/api") \
        == "127.0.0.1:9117"
    assert label_of("http://lan:9117/api/v2.0/indexers/1337x/results/torznab/") \
        == "1337x (lan:9117)"
    assert label_of("https://prowlarr.lan/5/api") == "prowlarr.lan #5"
    made = indexers_of(["http://a:1/x", "http://a:1/y"], ["k1", "k2"])
    assert [i.label for i in made] == ["a:1", "a:1 (2)"] and "k1" not in repr(made)


def test_indexers_are_asked_at_the_same_time(jackett: FakeTorznab, prowlarr: FakeTorznab) -> None:
    # The first indexer answers only once the second has been asked: one after the other, the
    # first would be held until its hold_timeout and answer 500.
    jackett.hold, jackett.hold_timeout = prowlarr.queried, 20.0
    answer = client(jackett, prowlarr, keys=(KEY_J, KEY_P)).search("x")
    assert not answer.failures
    assert {r.indexer for r in answer.results} == {"OneSeven", "QuietBay", "NorthTracker"}


def test_an_indexer_that_does_not_answer_in_time_is_a_failure(
    jackett: FakeTorznab, prowlarr: FakeTorznab
) -> None:
    released = threading.Event()
    prowlarr.hold = released
    try:
        answer = client(jackett, prowlarr, keys=(KEY_J, KEY_P), timeout=0.5).search("x")
    finally:
        released.set()
    [failure] = answer.failures
    assert failure.reason == "no answer within 0.5 s"
    assert {r.indexer for r in answer.results} == {"OneSeven", "QuietBay"}
