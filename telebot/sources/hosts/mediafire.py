"""MediaFire: a file page's download button, or a folder through the public API.

Facts relied on (docs/HOSTS.md): a file page (``/file/<key>/<name>/file``, ``/?<key>``,
``/download/<key>``) holds ``<a id="downloadButton" aria-label="Download file" href=...>``;
some pages leave ``href`` a placeholder and carry the link base64-encoded in
``data-scrambled-url``. A password-protected file's page holds a form with the ``downloadp``
field, posted back to the page. A deleted file redirects to ``/error.php``. A folder
(``/folder/<key>``) is listed by ``api/1.5/folder/get_content.php`` (files, then folders,
``chunk`` by ``chunk`` while ``more_chunks`` says ``yes``) and named by ``get_info.php``;
each file's ``links.normal_download`` is its file page.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urljoin, urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import DirectLink, HostChanged, HostRefused, PageClient, Resolved
from telebot.sources.hosts.pagescan import Scan, scan

SITE = "https://www.mediafire.com"
API = f"{SITE}/api/1.5/folder"
MAX_FILES = 500  # a folder share larger than this is refused rather than half-fetched
MAX_DEPTH = 8
MAX_CHUNKS = 50


class MediaFire:
    name: str = "MediaFire"
    domains: tuple[str, ...] = ("mediafire.com",)
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        hostname = (urlsplit(link).hostname or "").lower()
        if hostname.startswith("download"):  # already a direct link (downloadNNNN.mediafire)
            return Resolved(self.name, (DirectLink(link),))
        parts = [p for p in urlsplit(link).path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "folder":
            return self._folder(parts[1], client, password)
        return Resolved(self.name, (self._file(link, client, password),))

    # ------------------------------------------------------------------------------- a file

    def _file(self, page_url: str, client: PageClient, password: str | None,
              folder: str = "") -> DirectLink:
        try:
            page = client.get(page_url)
        except HTTPStatusError as exc:
            if exc.status in (404, 410):
                raise HostRefused(self.name, "the file was deleted or the link is wrong") from exc
            raise
        if urlsplit(page.url).path.startswith("/error.php"):
            raise HostRefused(self.name, "the file was deleted or the link is wrong")
        found = scan(page.text)
        if found.form(name="form_password") or _has_input(found, "downloadp"):
            if not password:
                raise HostRefused(self.name, "the file has a password: send it with -ap")
            page = client.post(page.url, data={"downloadp": password})
            found = scan(page.text)
            if found.form(name="form_password") or _has_input(found, "downloadp"):
                raise HostRefused(self.name, "the password is wrong")
        button = found.find("a", id="downloadButton") or found.find(
            "a", aria_label="Download file")
        if button is None:
            raise HostChanged(self.name, "the download button")
        url = _scrambled(button.attrs.get("data-scrambled-url", "")) or button.attrs.get("href")
        if not url or not url.lower().startswith(("http://", "https://", "/")):
            raise HostChanged(self.name, "the download button's link")
        return DirectLink(urljoin(page.url, url), headers={"Referer": page.url}, folder=folder)

    # ----------------------------------------------------------------------------- a folder

    def _folder(self, key: str, client: PageClient, password: str | None) -> Resolved:
        info = self._api(client, "get_info.php", {"folder_key": key})
        name = _dig(info, "folder_info", "name")
        if not isinstance(name, str):
            raise HostChanged(self.name, "the folder's name")
        links: list[DirectLink] = []
        self._walk(client, key, "", links, password, depth=0)
        return Resolved(self.name, tuple(links), folder_name=name)

    def _walk(self, client: PageClient, key: str, folder: str, links: list[DirectLink],
              password: str | None, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise HostRefused(self.name, f"the folder is nested deeper than {MAX_DEPTH} levels")
        for item in self._content(client, key, "files", "files"):
            page = _dig(item, "links", "normal_download")
            if not isinstance(page, str) or not page.startswith(SITE):
                raise HostChanged(self.name, "a file's page in the folder listing")
            if len(links) >= MAX_FILES:
                raise HostRefused(self.name, f"the folder holds more than {MAX_FILES} files")
            link = self._file(page, client, password, folder)
            size = item.get("size")
            links.append(DirectLink(link.url, name=str(item.get("filename") or "") or None,
                                    size=int(size) if str(size).isdigit() else None,
                                    headers=link.headers, folder=folder))
        for item in self._content(client, key, "folders", "folders"):
            sub, sub_name = item.get("folderkey"), item.get("name")
            if not isinstance(sub, str) or not isinstance(sub_name, str):
                raise HostChanged(self.name, "a subfolder in the folder listing")
            path = f"{folder}/{sub_name}" if folder else sub_name
            self._walk(client, sub, path, links, password, depth + 1)

    def _content(self, client: PageClient, key: str, kind: str, field: str) -> list[Any]:
        items: list[Any] = []
        for chunk in range(1, MAX_CHUNKS + 1):
            body = self._api(client, "get_content.php", {
                "folder_key": key, "content_type": kind, "chunk": str(chunk),
                "response_format": "json"})
            content = _dig(body, "folder_content")
            found = content.get(field) if isinstance(content, dict) else None
            if not isinstance(found, list):
                raise HostChanged(self.name, f"the folder's {kind} in the listing")
            items.extend(i for i in found if isinstance(i, dict))
            if content.get("more_chunks") != "yes":
                return items
        raise HostRefused(self.name, "the folder listing does not end")

    def _api(self, client: PageClient, call: str, params: dict[str, str]) -> dict[str, Any]:
        params = {**params, "response_format": "json"}
        try:
            body = client.get(f"{API}/{call}", params=params).json()
        except ValueError as exc:
            raise HostChanged(self.name, f"the folder API's answer ({call})") from exc
        response = body.get("response") if isinstance(body, dict) else None
        if not isinstance(response, dict):
            raise HostChanged(self.name, f"the folder API's answer ({call})")
        if response.get("result") != "Success":
            # 112: invalid or deleted folder key; anything else is shown as the host says it.
            message = str(response.get("message") or "the folder cannot be read")[:200]
            raise HostRefused(self.name, f"the folder is not available ({message})")
        return response


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _has_input(found: Scan, name: str) -> bool:
    return found.find("input", name=name) is not None


def _scrambled(value: str) -> str | None:
    """The link some pages hide in ``data-scrambled-url`` (base64 of the URL)."""
    if not value:
        return None
    try:
        url = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return url if url.startswith(("http://", "https://")) else None


HOST = MediaFire()
