"""BuzzHeavier: a file page's download button, or a folder page's table of files.

A file page (``buzzheavier.com/<id>``) carries a button with ``hx-get="/<id>/download"``; that
request, made as htmx makes it (``HX-Request: true``, the page as ``Referer``), answers with
the direct URL in an ``hx-redirect`` header. A folder page lists its entries in
``<tbody id="tbody">``: each row links to ``/<id>``, which is a file (its download answers with
``hx-redirect``) or a subfolder (walked, within bounds). Facts relied on: docs/HOSTS.md,
"BuzzHeavier".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import (
    DirectLink,
    HostChanged,
    HostRefused,
    PageClient,
    RequestBudget,
    Resolved,
)
from telebot.sources.names import filename_from_content_disposition, sanitize_filename

NAME = "BuzzHeavier"
SITE = "https://buzzheavier.com"

MAX_DEPTH = 5
MAX_FILES = 2000
MAX_REQUESTS = 1000
SCAN_CHARS = 2_000_000  # pages are untrusted: read at most this much of one

_ID_PATH = re.compile(r"/([A-Za-z0-9]{4,64})/?\Z")
_DOWNLOAD_PATH = re.compile(r"/([A-Za-z0-9]{4,64})/download\Z")


@dataclass
class _Row:
    href: str
    name_parts: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "".join(self.name_parts).strip()


class _PageParser(HTMLParser):
    """The parts of a BuzzHeavier page we read: the download button, the folder table's rows
    (link and its text), and the first ``<span>`` text (the folder's name)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.download: str | None = None
        self.rows: list[_Row] = []
        self.title_parts: list[str] = []
        self.has_table = False
        self._in_tbody = False
        self._row_link: _Row | None = None  # the entry link whose text is being read
        self._row_has_link = False
        self._in_first_span = False
        self._span_seen = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        hx_get = attr.get("hx-get", "")
        if self.download is None and _DOWNLOAD_PATH.fullmatch(hx_get):
            self.download = hx_get
        if tag == "tbody" and attr.get("id") == "tbody":
            self._in_tbody = self.has_table = True
        elif tag == "tr" and self._in_tbody:
            self._row_has_link = False
        elif tag == "a" and self._in_tbody and not self._row_has_link:
            # The row's first link is the entry; one past the bound tells "too many".
            self._row_has_link = True
            if len(self.rows) <= MAX_FILES:
                self._row_link = _Row(attr.get("href", ""))
                self.rows.append(self._row_link)
        elif tag == "span" and not self._span_seen:
            self._in_first_span = self._span_seen = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_tbody = False
        elif tag == "a":
            self._row_link = None
        elif tag == "span":
            self._in_first_span = False

    def handle_data(self, data: str) -> None:
        if self._row_link is not None and len(self._row_link.name_parts) < 50:
            self._row_link.name_parts.append(data)
        if self._in_first_span and len(self.title_parts) < 50:
            self.title_parts.append(data)


class BuzzHeavier:
    """The BuzzHeavier resolver (the module's :data:`HOST`)."""

    name: str = NAME
    domains: tuple[str, ...] = ("buzzheavier.com",)
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """A file's direct link, or a folder's files (subfolders as ``DirectLink.folder``).

        ``password`` is ignored: BuzzHeavier shares have none.
        """
        match = _ID_PATH.fullmatch(urlsplit(link.strip()).path)
        if match is None:
            raise HostChanged(NAME, "a file or folder id in the link")
        budget = RequestBudget(NAME, MAX_REQUESTS, "the folder")
        page_url = f"{SITE}/{match.group(1)}"
        page = _read_page(page_url, client, budget)
        if page.download is not None:
            only = _file(page_url, None, "", client, budget, required=True)
            if only is None:  # required=True raises instead; this keeps the type honest
                raise HostChanged(NAME, "the download redirect (hx-redirect)")
            return Resolved(NAME, (only,))
        if not page.has_table:
            raise HostChanged(NAME, "the download button or the folder's file table")
        links: list[DirectLink] = []
        _walk(page, "", 0, client, budget, links)
        if not links:
            raise HostRefused(NAME, "the folder holds no files")
        title = "".join(page.title_parts).strip()
        return Resolved(NAME, tuple(links), folder_name=_component(title or match.group(1)))


HOST = BuzzHeavier()




def _read_page(url: str, client: PageClient, budget: RequestBudget) -> _PageParser:
    budget.spend()
    try:
        page = client.get(url)
    except HTTPStatusError as error:
        if error.status in (404, 410):
            raise HostRefused(NAME, "the file or folder was deleted, or the link is wrong") from (
                error
            )
        raise
    parser = _PageParser()
    parser.feed(page.text[:SCAN_CHARS])
    parser.close()
    return parser


def _walk(
    page: _PageParser,
    path: str,
    depth: int,
    client: PageClient,
    budget: RequestBudget,
    links: list[DirectLink],
) -> None:
    """Add a folder page's files to ``links``; rows without a download are subfolders."""
    for row in page.rows:
        match = _ID_PATH.fullmatch(row.href)
        if match is None:
            continue  # a link that is not an entry (sorting, a share button)
        entry_url = f"{SITE}/{match.group(1)}"
        name = _component(row.name or match.group(1))
        try:
            link = _file(entry_url, name, path, client, budget, required=False)
        except HTTPStatusError as error:
            if error.status in (404, 410):
                continue  # an entry deleted since the page was made: nothing to fetch
            raise
        if link is not None:
            links.append(link)
            if len(links) > MAX_FILES:
                raise HostRefused(NAME, f"the folder holds more than {MAX_FILES} files")
            continue
        if depth + 1 > MAX_DEPTH:
            continue  # deeper than we go: skipped, as docs/HOSTS.md says
        sub = _read_page(entry_url, client, budget)
        if sub.has_table:
            _walk(sub, f"{path}/{name}" if path else name, depth + 1, client, budget, links)


def _file(
    page_url: str,
    name: str | None,
    folder: str,
    client: PageClient,
    budget: RequestBudget,
    *,
    required: bool,
) -> DirectLink | None:
    """``GET <page>/download`` as htmx does; the direct URL is the ``hx-redirect`` header.

    Without that header: HostChanged when ``required`` (a file page), else None (the row is
    a subfolder, or not downloadable). A 404 is HostRefused when ``required``, else the
    client's error for the caller to skip the row.
    """
    budget.spend()
    try:
        answer = client.get(
            f"{page_url}/download",
            headers={"HX-Request": "true", "HX-Current-URL": page_url, "Referer": page_url},
            allow_redirects=False,
        )
    except HTTPStatusError as error:
        if error.status in (404, 410) and required:
            raise HostRefused(NAME, "the file was deleted, or the link is wrong") from error
        raise
    target = answer.headers.get("hx-redirect", "").strip()
    if not target:
        if required:
            raise HostChanged(NAME, "the download redirect (hx-redirect)")
        return None
    url = urljoin(page_url, target)
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise HostChanged(NAME, "an http(s) address in the download redirect")
    if name is None:
        given = filename_from_content_disposition(answer.headers.get("content-disposition"))
        name = sanitize_filename(given) if given else None
    return DirectLink(url, name=name, headers={"Referer": page_url}, folder=folder)


def _component(name: str) -> str:
    """A host-given name as one harmless path component."""
    return sanitize_filename(name.replace("/", "_").replace("\\", "_"), fallback="unnamed")
