"""The model of a search (paging, the bounded memory of searches) and its chat page."""

from __future__ import annotations

import pytest

from telebot.bot.handlers.search import parse_query, render
from telebot.errors import BadInputError
from telebot.feeds.torznab.results import (
    PER_PAGE,
    Failure,
    Result,
    Search,
    Searches,
    by_seeders,
)


def results(count: int) -> tuple[Result, ...]:
    made = [Result(f"Title {n} <b>", f"magnet:?xt=urn:btih:{n:040d}", "Idx", size=n * 1000,
                   seeders=n) for n in range(count)]
    return tuple(by_seeders(made))


def test_pages_hold_per_page_results_and_clamp() -> None:
    search = Search(1, 1, "q", None, results(12))
    assert search.pages == 3
    number, shown = search.page(1)
    assert number == 1 and [i for i, _ in shown] == list(range(PER_PAGE, 2 * PER_PAGE))
    assert search.page(99)[0] == 2 and len(search.page(99)[1]) == 12 - 2 * PER_PAGE
    assert Search(1, 1, "q", None, ()).pages == 1


def test_searches_keep_the_last_n_and_expire() -> None:
    now = [0.0]
    kept = Searches(clock=lambda: now[0], limit=3, ttl=100.0)
    ids = [kept.add(Search(1, 1, f"q{n}", None, (), created=now[0])) for n in range(4)]
    assert kept.get(ids[0]) is None  # pushed out by the fourth
    assert [kept.get(i).query for i in ids[1:]] == ["q1", "q2", "q3"]  # type: ignore[union-attr]
    now[0] = 101.0
    assert kept.get(ids[3]) is None
    fresh = kept.add(Search(1, 1, "new", None, (), created=now[0]))
    kept.forget(fresh)
    assert kept.get(fresh) is None


def test_page_text_shows_name_size_seeders_indexer_and_failures() -> None:
    search = Search(7, 7, "some <words>", "movies", results(7),
                    (Failure("lan:9696 #3", "HTTP 500"),), capped=("big:9117",))
    text, markup = render(search, "abcd1234", 0)
    assert "7 results</b> for <code>some &lt;words&gt;</code> (movies)" in text
    assert "Title 6 &lt;b&gt;" in text and "5.9 KiB" in text
    assert "🌱 6 · Idx" in text and "Page 1/2" in text
    assert "⚠️ lan:9696 #3: HTTP 500" in text
    assert "📎 big:9117: only its first 100 results" in text
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert "sr:abcd1234:m:0" in data and "sr:abcd1234:l:4" in data and "sr:abcd1234:x" in data
    assert "sr:abcd1234:p:1" in data and all(len(str(d).encode()) <= 64 for d in data)
    text2, _ = render(search, "abcd1234", 1)
    assert "<b>6.</b>" in text2 and "Title 0" in text2 and "Title 6" not in text2


def test_parse_query_takes_the_category_anywhere() -> None:
    assert parse_query("big buck bunny") == ("big buck bunny", None)
    assert parse_query("-cat TV the show") == ("the show", "tv")
    assert parse_query("the show -cat anime") == ("the show", "anime")
    for bad in ("", "-cat movies", "x -cat", "x -cat sports", "x -cat tv -cat movies"):
        with pytest.raises(BadInputError):
            parse_query(bad)
