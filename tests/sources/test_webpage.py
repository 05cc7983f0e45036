"""A page's title, read from its first bytes for the "that link is a web page" refusal."""

from __future__ import annotations

from telebot.sources.http.webpage import MAX_TITLE, WebPageError, is_web_page, title_of


def test_title_is_unescaped_and_trimmed() -> None:
    head = b"<html><head><meta charset=utf-8><title>\n  Tom &amp; Jerry &#8211; ep 1\n</title>"
    assert title_of(head) == "Tom & Jerry \u2013 ep 1"
    assert title_of(b"<html><body>no title</body>") is None
    long = title_of(b"<title>" + b"a" * 500 + b"</title>")
    assert long is not None and len(long) == MAX_TITLE and long.endswith("…")
    assert title_of(b"<title>first</title><title>second</title>") == "first"


def test_hostile_markup_is_read_without_error() -> None:
    assert title_of(b"<title" + b"<" * 20000) is None
    assert title_of(b"\xff\xfe<title>x y</title>") == "x y"


def test_content_types() -> None:
    assert is_web_page("text/html; charset=UTF-8") and is_web_page("application/xhtml+xml")
    assert not is_web_page("application/octet-stream") and not is_web_page(None)


def test_message() -> None:
    assert str(WebPageError("Home")) == ("That link is a web page (“Home”), not a file. "
                                         "For a video on that page try /ytdl.")
    assert str(WebPageError(None)).startswith("That link is a web page, not a file.")
