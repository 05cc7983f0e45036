"""Pixeldrain: everything through its JSON API, no page scraping.

Facts relied on (docs/HOSTS.md): a file ``/u/<id>`` is described by ``GET /api/file/<id>/info``
(``name``, ``size``) and downloaded from ``/api/file/<id>?download``; a list ``/l/<id>`` is
``GET /api/list/<id>`` (``title`` and ``files``, each with ``id``, ``name``, ``size``) and
arrives as a folder. A missing file answers 404 with ``{"success": false, "value":
"not_found"}``. A file Pixeldrain holds back says so in its info's ``availability`` (empty when
it downloads; ``…_captcha_required`` when its web viewer would ask a captcha first): refused in
plain words rather than downloaded into an error. Pixeldrain has no password on files or lists,
so ``-ap`` is not used.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import (
    DirectLink,
    HostChanged,
    HostRefused,
    Page,
    PageClient,
    Resolved,
    host_words,
)

SITE = "https://pixeldrain.com"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CAPTCHA = "Pixeldrain asks for a captcha in a browser before it serves"
#: ``availability`` codes that Pixeldrain's own file viewer turns into a captcha, in plain words.
HELD_BACK = {
    "file_rate_limited_captcha_required":
        f"{_CAPTCHA} this file (it drew too much traffic)",
    "virus_detected_captcha_required":
        f"{_CAPTCHA} this file (its scanner flagged it as malware)",
    "ip_download_limited_captcha_required":
        f"{_CAPTCHA} more files to this server's address today",
    "ip_transfer_limited_captcha_required":
        f"{_CAPTCHA} more data to this server's address today",
    "server_overload_captcha_required":
        f"{_CAPTCHA} files while it is overloaded",
}


class Pixeldrain:
    name: str = "Pixeldrain"
    domains: tuple[str, ...] = ("pixeldrain.com", "pixeldrain.net")
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """The file, or the list as a folder of its files. ``password`` is not used: Pixeldrain
        files and lists have none (docs/HOSTS.md, "Pixeldrain")."""
        parts = [p for p in urlsplit(link).path.split("/") if p]
        if len(parts) >= 3 and parts[:2] == ["api", "file"]:  # the API's own file link
            parts = ["u", parts[2]]
        if len(parts) < 2 or parts[0] not in ("u", "l") or not _ID.fullmatch(parts[1]):
            raise HostRefused(self.name, "that is not a file or list link (/u/<id> or /l/<id>)")
        kind, ident = parts[0], parts[1]
        if kind == "u":
            info = self._get(client, f"{SITE}/api/file/{ident}/info", "the file")
            return Resolved(self.name, (self._link(info, "the file's info"),))
        listing = self._get(client, f"{SITE}/api/list/{ident}", "the list")
        files = listing.get("files")
        if not isinstance(files, list):
            raise HostChanged(self.name, "the list's files")
        title = listing.get("title")
        return Resolved(self.name, tuple(self._link(f, "a file in the list") for f in files),
                        folder_name=title if isinstance(title, str) and title else ident)

    def _link(self, info: Any, step: str) -> DirectLink:
        if not isinstance(info, dict) or not isinstance(info.get("id"), str) \
                or not _ID.fullmatch(info["id"]):
            raise HostChanged(self.name, step)
        self._available(info)
        size = info.get("size")
        name = info.get("name")
        return DirectLink(f"{SITE}/api/file/{info['id']}?download",
                          name=name if isinstance(name, str) and name else None,
                          size=size if isinstance(size, int) and size >= 0 else None)

    def _available(self, info: dict[str, Any]) -> None:
        """Refuse a file Pixeldrain holds back (its ``availability``), naming it in a list."""
        code = info.get("availability")
        if not code or not isinstance(code, str):  # "" or absent: it downloads
            return
        name = info.get("name")
        which = f"“{host_words(name, 80)}”: " if isinstance(name, str) and name else ""
        reason = HELD_BACK.get(code)
        if reason is None:  # another refusal: Pixeldrain's own message, or its code
            message = info.get("availability_message")
            words = host_words(message) if isinstance(message, str) else ""
            reason = f"the file is not available ({words or host_words(code, 60)})"
        raise HostRefused(self.name, which + reason)

    def _get(self, client: PageClient, url: str, what: str) -> dict[str, Any]:
        try:
            page: Page = client.get(url)
        except HTTPStatusError as exc:
            if exc.status == 404:
                raise HostRefused(self.name, f"{what} was deleted or the link is wrong") from exc
            if exc.status in (401, 403):
                raise HostRefused(self.name, f"{what} is not public") from exc
            raise
        try:
            body = page.json()
        except ValueError as exc:
            raise HostChanged(self.name, f"the API's answer for {what}") from exc
        if not isinstance(body, dict):
            raise HostChanged(self.name, f"the API's answer for {what}")
        if body.get("success") is False:
            raise HostRefused(self.name, f"{what} is not available ({str(body.get('value'))[:80]})")
        return body


HOST = Pixeldrain()
