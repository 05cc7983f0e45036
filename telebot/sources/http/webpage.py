"""A link whose answer is a web page, not a file: the user is told so instead of getting
the page's HTML as a "download" (unless they asked for it with ``-html``)."""

from __future__ import annotations

from html.parser import HTMLParser

from telebot.errors import DownloadError

#: How much of a page is read to find its title: ``<title>`` sits in the head, near the top.
TITLE_BYTES = 16 * 1024
MAX_TITLE = 120  # characters of a title shown in the chat


class WebPageError(DownloadError):
    """The link answers with a web page; the message names it and points at /ytdl."""

    def __init__(self, title: str | None) -> None:
        named = f" (“{title}”)" if title else ""
        super().__init__(f"That link is a web page{named}, not a file. "
                         "For a video on that page try /ytdl.")
        self.title = title


def is_web_page(content_type: str | None) -> bool:
    """Does this Content-Type say HTML (a browser's page, not a file)?"""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml")


class _Title(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.done = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "title" and not self.done

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.inside:
            self.inside, self.done = False, True

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.parts.append(data)


def title_of(head: bytes) -> str | None:
    """The ``<title>`` in the first bytes of a page: character references unescaped, spaces
    collapsed, at most :data:`MAX_TITLE` characters; None when there is none. The standard
    library's tokenizer reads it (linear, nothing that can blow up on hostile bytes)."""
    parser = _Title()
    parser.feed(head[:TITLE_BYTES].decode("utf-8", errors="replace"))
    title = " ".join("".join(parser.parts).split())
    if not title:
        return None
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"
