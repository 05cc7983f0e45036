"""Google Drive: public ("anyone with the link") files and folders, without an API key.

A file is probed once at ``drive.usercontent.google.com/download`` with ``Range: bytes=0-0``,
so the answer is either the file's first byte (name in ``Content-Disposition``, size in
``Content-Range``) or a small HTML page: the large-file confirmation form ("can't scan for
viruses", followed), the older ``confirm=`` token (link or ``download_warning`` cookie), or a
refusal (quota, not shared, deleted). A folder is listed from the ``_DRIVE_ivd`` data embedded
in its page, recursively within bounds. Google's native files (Docs, Sheets, Slides, Drawings)
have no bytes of their own: they are exported (docx, xlsx, pptx, pdf); other native kinds
(Forms, shortcuts, sites, ...) are skipped. Facts relied on: docs/HOSTS.md, "Google Drive".
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import (
    DirectLink,
    HostChanged,
    HostRefused,
    Page,
    PageClient,
    Resolved,
)
from telebot.sources.names import filename_from_content_disposition, sanitize_filename

NAME = "Google Drive"

DOWNLOAD = "https://drive.usercontent.google.com/download"
FOLDER_PAGE = "https://drive.google.com/drive/folders/"
FOLDER_MIME = "application/vnd.google-apps.folder"

# Bounds of a folder walk: each listed folder costs one request, so these also bound the time.
MAX_DEPTH = 10
MAX_FILES = 2000
MAX_FOLDERS = 500
# A folder page embeds at most this many entries (gdown meets the same wall): a folder that
# shows exactly this many may hold more, and a silently partial download is worse than none.
LISTING_CAP = 50

# Only this much of a page is searched: the pages are untrusted and the data sits near the top.
SCAN_CHARS = 4_000_000

# Drive ids are URL-safe base64-ish tokens; anything else in a link is not an id.
_ID = r"[A-Za-z0-9_-]{10,200}"
_FILE_PATH = re.compile(rf"/file/(?:u/\d+/)?d/({_ID})")
_FOLDER_PATH = re.compile(rf"/drive/(?:u/\d+/)?folders/({_ID})")
_NATIVE_PATH = re.compile(rf"/(document|spreadsheets|presentation|drawings)/(?:u/\d+/)?d/({_ID})")
_ID_ONLY = re.compile(rf"{_ID}\Z")
_RESOURCE_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")

# Export of native files: the kind in a docs.google.com path, and the same kind by MIME type.
_EXPORTS: dict[str, tuple[str, str]] = {
    # kind -> (export URL template, file extension)
    "document": ("https://docs.google.com/document/d/{id}/export?format=docx", "docx"),
    "spreadsheets": ("https://docs.google.com/spreadsheets/d/{id}/export?format=xlsx", "xlsx"),
    "presentation": ("https://docs.google.com/presentation/d/{id}/export/pptx", "pptx"),
    "drawings": ("https://docs.google.com/drawings/d/{id}/export/pdf", "pdf"),
}
_NATIVE_KINDS = {
    "application/vnd.google-apps.document": "document",
    "application/vnd.google-apps.spreadsheet": "spreadsheets",
    "application/vnd.google-apps.presentation": "presentation",
    "application/vnd.google-apps.drawing": "drawings",
}

# Possessive, so a long or unterminated literal costs one linear pass, never backtracking.
_IVD = re.compile(r"""window\['_DRIVE_ivd'\]\s*=\s*'((?:[^'\\]++|\\.)*+)'""", re.DOTALL)
_JS_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_JS_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_TITLE = re.compile(r"<title>([^<]{0,1000})</title>", re.IGNORECASE)
_OLD_CONFIRM = re.compile(r"confirm=([0-9A-Za-z_-]{1,100})")
_CONTENT_RANGE_TOTAL = re.compile(r"/\s*(\d{1,20})\s*\Z")

_QUOTA_WORDS = ("Too many users have viewed or downloaded this file", "Quota exceeded")
_NOT_FOUND_WORDS = ("the file you have requested does not exist", "File not found")


@dataclass(frozen=True)
class _Target:
    """What a link points at: ``kind`` is "file", "folder", "open" (either: ``/open?id=``)
    or a native export kind; ``resource_key`` is the ``resourcekey`` that links shared before
    2021 carry and that Drive then requires on every request."""

    kind: str
    id: str
    resource_key: str | None = None


class GoogleDrive:
    """The Google Drive resolver (the module's :data:`HOST`)."""

    name: str = NAME
    domains: tuple[str, ...] = (
        "drive.google.com", "docs.google.com", "drive.usercontent.google.com",
    )
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """The direct links behind a Drive file, folder or native document link.

        ``password`` is ignored: Drive shares have no passwords, only "anyone with the link".
        """
        target = parse_link(link)
        if target.kind == "open":
            target = _open_target(target, client)
        if target.kind == "folder":
            return _resolve_folder(target.id, target.resource_key, client)
        if target.kind == "file":
            return Resolved(NAME, (_resolve_file(target.id, target.resource_key, client),))
        template, _ext = _EXPORTS[target.kind]
        # The export answers with the name in Content-Disposition; nothing to read first.
        return Resolved(NAME, (DirectLink(template.format(id=target.id)),))


HOST = GoogleDrive()


def parse_link(link: str) -> _Target:
    """The file, folder or native document a Drive link names; HostChanged if none."""
    parts = urlsplit(link.strip())
    query = parse_qs(parts.query)
    keys = query.get("resourcekey", [])
    key = keys[0] if keys and _RESOURCE_KEY.fullmatch(keys[0]) else None
    if match := _FOLDER_PATH.search(parts.path):
        return _Target("folder", match.group(1), key)
    if match := _FILE_PATH.search(parts.path):
        return _Target("file", match.group(1), key)
    if match := _NATIVE_PATH.search(parts.path):
        return _Target(match.group(1), match.group(2))
    ids = query.get("id", [])
    if ids and _ID_ONLY.match(ids[0]):
        if "folderview" in parts.path:  # folderview, embeddedfolderview
            return _Target("folder", ids[0], key)
        return _Target("open" if parts.path.endswith("/open") else "file", ids[0], key)
    raise HostChanged(NAME, "a file or folder id in the link")


def _open_target(target: _Target, client: PageClient) -> _Target:
    """``/open?id=`` names a file or a folder: Drive redirects it to the page of the one it
    is (a web page, never the file's bytes), and that address tells which."""
    params = {"id": target.id} | _key_param(target.resource_key)
    page = _get(client, "https://drive.google.com/open", params=params)
    _refuse_if_login(page)
    kind = "folder" if _FOLDER_PATH.search(urlsplit(page.url).path) else "file"
    return _Target(kind, target.id, target.resource_key)


# --- files ------------------------------------------------------------------------------


def direct_url(file_id: str, resource_key: str | None = None) -> str:
    """The download URL of a public file that skips the confirmation step (``confirm=t``)."""
    return f"{DOWNLOAD}?" + urlencode(
        {"id": file_id, "export": "download", "confirm": "t"} | _key_param(resource_key)
    )


def _key_param(resource_key: str | None) -> dict[str, str]:
    return {"resourcekey": resource_key} if resource_key else {}


def _resolve_file(file_id: str, resource_key: str | None, client: PageClient) -> DirectLink:
    """Probe one file with a one-byte range and follow the confirmation step if it comes."""
    page = _get(
        client,
        DOWNLOAD,
        params={"id": file_id, "export": "download"} | _key_param(resource_key),
        headers={"Range": "bytes=0-0"},
    )
    _refuse_if_login(page)
    if "attachment" in page.headers.get("content-disposition", "").lower():
        name = filename_from_content_disposition(page.headers.get("content-disposition"))
        return DirectLink(
            direct_url(file_id, resource_key),
            name=sanitize_filename(name) if name else None,
            size=_range_total(page.headers.get("content-range", "")),
        )
    text = page.text[:SCAN_CHARS]
    form = _DownloadForm.parse(text)
    if form is not None:
        return form.link(file_id, resource_key)
    old = _old_confirm_link(file_id, text, page)
    if old is not None:
        return old
    _refuse_from_text(text)
    raise HostChanged(NAME, "the download form")


def _range_total(content_range: str) -> int | None:
    """The total size in ``Content-Range: bytes 0-0/<total>``; None when absent or "*"."""
    match = _CONTENT_RANGE_TOTAL.search(content_range)
    return int(match.group(1)) if match else None


class _DownloadForm(HTMLParser):
    """The "can't scan this file for viruses" page: ``<form id="download-form">`` and its
    hidden inputs (id, export, confirm, uuid), plus the name in ``.uc-name-size``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.name_parts: list[str] = []
        self._in_form = False
        self._in_name = 0  # >0 while inside the .uc-name-size span's link

    @classmethod
    def parse(cls, text: str) -> _DownloadForm | None:
        parser = cls()
        parser.feed(text)
        parser.close()
        return parser if parser.action is not None else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form" and attr.get("id") == "download-form" and self.action is None:
            self.action = attr.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and attr.get("name"):
            if len(self.fields) < 20:  # a real form has four; never grow without bound
                self.fields[attr["name"]] = attr.get("value", "")
        elif tag == "span" and "uc-name-size" in attr.get("class", "").split():
            self._in_name = 1
        elif tag == "a" and self._in_name == 1:
            self._in_name = 2

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "a" and self._in_name == 2:
            self._in_name = 0

    def handle_data(self, data: str) -> None:
        if self._in_name == 2 and sum(map(len, self.name_parts)) < 1000:
            self.name_parts.append(data)

    def link(self, file_id: str, resource_key: str | None) -> DirectLink:
        """The form's target with its fields as the query (the form is a GET); the link's
        resource key is added when the form does not carry it."""
        action = self.action or ""
        if urlsplit(action).scheme not in ("http", "https") or not urlsplit(action).hostname:
            raise HostChanged(NAME, "the download form's address")
        fields = _key_param(resource_key) | dict(self.fields)
        if fields.get("id", file_id) != file_id or "confirm" not in fields:
            raise HostChanged(NAME, "the download form's fields")
        name = "".join(self.name_parts).strip()
        url = action + ("&" if "?" in action else "?") + urlencode(fields)
        return DirectLink(url, name=sanitize_filename(name) if name else None)


def _old_confirm_link(file_id: str, text: str, page: Page) -> DirectLink | None:
    """The pre-2024 confirmation: a ``confirm=<token>`` link, or a ``download_warning`` cookie
    whose value is the token (then the download needs that cookie too)."""
    for cookie, token in page.cookies.items():
        if cookie.startswith("download_warning") and re.fullmatch(r"[0-9A-Za-z_-]{1,100}", token):
            url = "https://drive.google.com/uc?" + urlencode(
                {"export": "download", "confirm": token, "id": file_id}
            )
            return DirectLink(url, headers={"Cookie": f"{cookie}={token}"})
    if "uc-download-link" in text and (match := _OLD_CONFIRM.search(text)):
        url = "https://drive.google.com/uc?" + urlencode(
            {"export": "download", "confirm": match.group(1), "id": file_id}
        )
        return DirectLink(url)
    return None


# --- folders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    id: str
    name: str
    mime: str


def _resolve_folder(folder_id: str, resource_key: str | None, client: PageClient) -> Resolved:
    """Walk the folder breadth-first (one request per folder) within the bounds above."""
    top_name, entries = _list_folder(folder_id, resource_key, client)
    links: list[DirectLink] = []
    seen = {folder_id}
    queue: deque[tuple[str, int, list[_Entry]]] = deque([("", 0, entries)])
    listed = 1
    while queue:
        path, depth, entries = queue.popleft()
        for entry in entries:
            if entry.mime == FOLDER_MIME:
                if entry.id in seen or depth + 1 > MAX_DEPTH:
                    continue  # a loop, or deeper than we go: skipped, as docs/HOSTS.md says
                seen.add(entry.id)
                listed += 1
                if listed > MAX_FOLDERS:
                    raise HostRefused(NAME, f"the folder holds more than {MAX_FOLDERS} folders")
                _sub_name, sub_entries = _list_folder(entry.id, None, client)
                sub_path = f"{path}/{_component(entry.name)}" if path else _component(entry.name)
                queue.append((sub_path, depth + 1, sub_entries))
                continue
            link = _folder_file_link(entry, path)
            if link is None:
                continue
            links.append(link)
            if len(links) > MAX_FILES:
                raise HostRefused(NAME, f"the folder holds more than {MAX_FILES} files")
    if not links:
        raise HostRefused(NAME, "the folder holds no downloadable files")
    return Resolved(NAME, tuple(links), folder_name=top_name)


def _folder_file_link(entry: _Entry, path: str) -> DirectLink | None:
    """A listed file's direct link; native files are exported, other native kinds skipped."""
    name = _component(entry.name)
    if not entry.mime.startswith("application/vnd.google-apps."):
        return DirectLink(direct_url(entry.id), name=name, folder=path)
    kind = _NATIVE_KINDS.get(entry.mime)
    if kind is None:
        return None  # Forms, shortcuts, sites, maps: nothing to download
    template, ext = _EXPORTS[kind]
    return DirectLink(template.format(id=entry.id), name=f"{name}.{ext}", folder=path)


def _list_folder(
    folder_id: str, resource_key: str | None, client: PageClient
) -> tuple[str, list[_Entry]]:
    """The folder's name and entries, read from its page's ``window['_DRIVE_ivd']``."""
    page = _get(client, FOLDER_PAGE + folder_id, params={"hl": "en"} | _key_param(resource_key))
    _refuse_if_login(page)
    text = page.text[:SCAN_CHARS]
    match = _IVD.search(text)
    if match is None:
        _refuse_from_text(text)
        raise HostChanged(NAME, "the folder's file list")
    try:
        data = json.loads(_js_unescape(match.group(1)))
    except ValueError as error:
        raise HostChanged(NAME, "the folder's file list") from error
    if not isinstance(data, list) or not data:
        raise HostChanged(NAME, "the folder's file list")
    rows = data[0] if data[0] is not None else []  # None: an empty folder
    if not isinstance(rows, list):
        raise HostChanged(NAME, "the folder's file list")
    entries = [entry for row in rows if (entry := _entry(row)) is not None]
    if len(entries) != len(rows):
        raise HostChanged(NAME, "the folder's entries (id, name, type)")
    title = _folder_title(text, folder_id)
    if len(entries) >= LISTING_CAP:
        raise HostRefused(
            NAME,
            f'the folder "{title}" shows {len(entries)} entries and Google lists at most '
            f"{LISTING_CAP} without an API key: it may hold more, so it is not downloaded in "
            "part (split it into smaller folders)",
        )
    return title, entries


def _entry(row: object) -> _Entry | None:
    """One ``_DRIVE_ivd`` row: ``[id, [parent], name, mime, ...]``; None when not that shape."""
    if not isinstance(row, list) or len(row) < 4:
        return None
    file_id, _parents, name, mime = row[:4]
    if not (isinstance(file_id, str) and _ID_ONLY.match(file_id)):
        return None
    if not (isinstance(name, str) and isinstance(mime, str)):
        return None
    return _Entry(file_id, name, mime)


def _folder_title(text: str, folder_id: str) -> str:
    """The folder's name from ``<title>NAME - Google Drive</title>``; its id if absent."""
    match = _TITLE.search(text)
    title = match.group(1) if match else ""
    title = html.unescape(title).strip()
    for suffix in (" - Google Drive", " \u2013 Google Drive"):  # hyphen, en dash
        title = title.removesuffix(suffix)
    return _component(title or folder_id)


def _js_unescape(literal: str) -> str:
    """A single-quoted JS string literal's value (``\\xHH``, ``\\uHHHH``, ``\\/``, ...)."""

    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "xu" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        return _JS_SIMPLE.get(escape, escape)

    return _JS_ESCAPE.sub(one, literal)


def _component(name: str) -> str:
    """A host-given name as one harmless path component ("/" inside a name is kept as "_")."""
    return sanitize_filename(name.replace("/", "_").replace("\\", "_"), fallback="unnamed")


# --- answers shared by files and folders ------------------------------------------------


def _get(
    client: PageClient,
    url: str,
    *,
    params: dict[str, str],
    headers: dict[str, str] | None = None,
) -> Page:
    """GET through the client, turning Drive's refusals by status into plain words."""
    try:
        return client.get(url, params=params, headers=headers)
    except HTTPStatusError as error:
        if error.status == 404:
            raise HostRefused(
                NAME, "the file or folder does not exist (deleted, or a wrong link)"
            ) from error
        if error.status in (401, 403):
            raise HostRefused(
                NAME,
                'access denied: the file is not shared with "anyone with the link", '
                "or its download quota is exceeded",
            ) from error
        if error.status == 429:
            raise HostRefused(NAME, "too many downloads of this file; try again later") from error
        raise


def _refuse_if_login(page: Page) -> None:
    """A private share redirects to Google's sign-in page."""
    if (urlsplit(page.url).hostname or "").endswith("accounts.google.com"):
        raise HostRefused(NAME, 'the share is not public (share it with "anyone with the link")')


def _refuse_from_text(text: str) -> None:
    """The refusals Drive answers as a 200 HTML page."""
    if any(words in text for words in _QUOTA_WORDS):
        raise HostRefused(
            NAME, "the download quota is exceeded (too many downloads recently); try again later"
        )
    if any(words in text for words in _NOT_FOUND_WORDS):
        raise HostRefused(NAME, "the file or folder does not exist (deleted, or a wrong link)")
    if "ServiceLogin" in text or "You need access" in text:
        raise HostRefused(NAME, 'the share is not public (share it with "anyone with the link")')
