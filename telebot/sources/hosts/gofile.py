"""GoFile: a guest account, the site's token, then the contents API, folder by folder.

Facts relied on (docs/HOSTS.md): ``POST https://api.gofile.io/accounts`` makes a guest account
(``data.token``); the site's own script (``https://gofile.io/dist/js/global.js``) carries the
"website token" the contents API wants as ``wt`` (``appdata.wt = "..."``);
``GET https://api.gofile.io/contents/<id>?wt=...`` with ``Authorization: Bearer <token>``
answers ``{"status": "ok", "data": {"type": "folder", "name", "children": {id: child}}}``,
each child a file (``name``, ``size``, ``link``) or a folder (its ``id``, listed by another
call). A protected share wants ``password=<sha256 hex of the password>`` and says
``passwordStatus`` otherwise; a missing one answers ``status: "error-notFound"``. The files
are served only to the account: the download sends ``Cookie: accountToken=<token>``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import DirectLink, HostChanged, HostRefused, PageClient, Resolved

API = "https://api.gofile.io"
SCRIPT = "https://gofile.io/dist/js/global.js"
_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# Linear: a fixed prefix, then a bounded run of one character class.
_WT = re.compile(r"""\bwt\s{0,3}[:=]\s{0,3}["']([A-Za-z0-9]{4,64})["']""")
MAX_FILES = 500
MAX_FOLDERS = 100


class GoFile:
    name: str = "GoFile"
    domains: tuple[str, ...] = ("gofile.io",)
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        parts = [p for p in urlsplit(link).path.split("/") if p]
        if len(parts) != 2 or parts[0] != "d" or not _ID.fullmatch(parts[1]):
            raise HostRefused(self.name, "that is not a share link (gofile.io/d/<id>)")
        token = self._guest_token(client)
        wt = self._website_token(client)
        hashed = hashlib.sha256(password.encode()).hexdigest() if password else None
        headers = {"Cookie": f"accountToken={token}"}
        links: list[DirectLink] = []
        root = self._contents(client, parts[1], token, wt, hashed)
        pending = [(root, "")]
        folders = 0
        while pending:
            data, folder = pending.pop(0)
            for child in self._children(data):
                kind = child.get("type")
                name = child.get("name")
                if not isinstance(name, str) or not name:
                    raise HostChanged(self.name, "a child's name in the contents")
                if kind == "file":
                    url = child.get("link")
                    if not isinstance(url, str) or not url.startswith("https://"):
                        raise HostChanged(self.name, "a file's download link")
                    if len(links) >= MAX_FILES:
                        raise HostRefused(self.name,
                                          f"the share holds more than {MAX_FILES} files")
                    size = child.get("size")
                    links.append(DirectLink(url, name=name, headers=headers, folder=folder,
                                            size=size if isinstance(size, int) else None))
                elif kind == "folder":
                    folders += 1
                    if folders > MAX_FOLDERS:
                        raise HostRefused(self.name,
                                          f"the share holds more than {MAX_FOLDERS} folders")
                    ident = child.get("id")
                    if not isinstance(ident, str) or not _ID.fullmatch(ident):
                        raise HostChanged(self.name, "a folder's id in the contents")
                    sub = self._contents(client, ident, token, wt, hashed)
                    pending.append((sub, f"{folder}/{name}" if folder else name))
                else:
                    raise HostChanged(self.name, "the kind of a child in the contents")
        name = root.get("name")
        single = len(links) == 1 and folders == 0
        return Resolved(self.name, tuple(links),
                        folder_name=None if single else (name if isinstance(name, str) and name
                                                         else parts[1]))

    def _guest_token(self, client: PageClient) -> str:
        body = _json(self, client.post(f"{API}/accounts"), "the guest account")
        data = body.get("data") if body.get("status") == "ok" else None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise HostChanged(self.name, "the guest account's token")
        return token

    def _website_token(self, client: PageClient) -> str:
        found = _WT.search(client.get(SCRIPT).text)
        if found is None:
            raise HostChanged(self.name, "the website token in the site's script")
        return found.group(1)

    def _contents(self, client: PageClient, ident: str, token: str, wt: str,
                  hashed: str | None) -> dict[str, Any]:
        params = {"wt": wt}
        if hashed:
            params["password"] = hashed
        try:
            page = client.get(f"{API}/contents/{ident}", params=params,
                              headers={"Authorization": f"Bearer {token}"})
        except HTTPStatusError as exc:
            if exc.status == 404:
                raise HostRefused(self.name, "the share was deleted or the link is wrong") from exc
            raise
        body = _json(self, page, "the contents")
        status = body.get("status")
        if status == "error-notFound":
            raise HostRefused(self.name, "the share was deleted or the link is wrong")
        if status == "error-passwordRequired":
            raise HostRefused(self.name, "the share has a password: send it with -ap")
        if status == "error-passwordWrong":
            raise HostRefused(self.name, "the password is wrong")
        data = body.get("data")
        if status != "ok" or not isinstance(data, dict):
            raise HostChanged(self.name, "the contents")
        locked = data.get("passwordStatus")
        if locked == "passwordRequired":
            raise HostRefused(self.name, "the share has a password: send it with -ap")
        if locked == "passwordWrong":
            raise HostRefused(self.name, "the password is wrong")
        return data

    def _children(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if data.get("type") == "file":  # a link straight to one file
            return [data]
        children = data.get("children")
        if not isinstance(children, dict):
            raise HostChanged(self.name, "the folder's children")
        return [c for c in children.values() if isinstance(c, dict)]


def _json(host: GoFile, page: Any, step: str) -> dict[str, Any]:
    try:
        body = page.json()
    except ValueError as exc:
        raise HostChanged(host.name, step) from exc
    if not isinstance(body, dict):
        raise HostChanged(host.name, step)
    return body


HOST = GoFile()
