"""OneDrive (personal) and SharePoint / OneDrive for Business share links.

OneDrive personal (``1drv.ms/…``, ``onedrive.live.com/…``) goes through the public "shares"
API: the share URL encoded as ``u!`` + base64url (no padding) names the shared item, whose JSON
holds ``@content.downloadUrl`` for a file and ``children`` for a folder (walked within bounds).
A SharePoint file link (``<tenant>.sharepoint.com/:<kind>:/…``) downloads with ``download=1``:
one request without following redirects tells the download from a sign-in page and picks up the
cookies the download needs. SharePoint folder links are refused. Facts relied on:
docs/HOSTS.md, "OneDrive / SharePoint".
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import (
    DirectLink,
    HostChanged,
    HostRefused,
    PageClient,
    RequestBudget,
    Resolved,
)
from telebot.sources.names import sanitize_filename

NAME = "OneDrive"
API = "https://api.onedrive.com/v1.0"

# Bounds of a folder walk; every listed page is one request, so they also bound the time.
MAX_DEPTH = 10
MAX_FILES = 2000
MAX_REQUESTS = 500

_SHAREPOINT_FOLDER_KIND = "f"


class OneDrive:
    """The OneDrive / SharePoint resolver (the module's :data:`HOST`)."""

    name: str = NAME
    domains: tuple[str, ...] = ("1drv.ms", "onedrive.live.com", "sharepoint.com")
    # The shares API and the files' download servers (``*.files.1drv.com``): never a link a
    # user pastes, but HOSTS_BASE_URLS must follow the resolver there.
    service_domains: tuple[str, ...] = ("api.onedrive.com", "files.1drv.com")

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """Direct links of a OneDrive share (file or folder) or of a SharePoint file link.

        Password-protected shares are refused: neither way has an anonymous password step.
        """
        link = link.strip()
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HostChanged(NAME, "a OneDrive address in the link")
        if parts.hostname == "sharepoint.com" or parts.hostname.endswith(".sharepoint.com"):
            return _resolve_sharepoint(link, client)
        return _resolve_share(link, client)


HOST = OneDrive()


def share_token(link: str) -> str:
    """The shares API's name for a sharing URL: ``u!`` + base64url(url) without ``=``."""
    encoded = base64.urlsafe_b64encode(link.encode("utf-8")).decode("ascii")
    return "u!" + encoded.rstrip("=")


# --- OneDrive personal: the shares API ------------------------------------------------------


def _resolve_share(link: str, client: PageClient) -> Resolved:
    token = share_token(link)
    budget = RequestBudget(NAME, MAX_REQUESTS, "the share")
    root = _api_get(f"{API}/shares/{token}/root", client, budget)
    if "file" in root:
        return Resolved(NAME, (_file_link(root, ""),))
    if "folder" not in root:
        raise HostChanged(NAME, "a file or folder in the share")
    links: list[DirectLink] = []
    queue: deque[tuple[dict[str, Any], str, int]] = deque([(root, "", 0)])
    while queue:
        item, path, depth = queue.popleft()
        for child in _children(item, client, budget):
            if "folder" in child:
                if depth + 1 <= MAX_DEPTH:
                    sub = _api_get(
                        f"{API}/shares/{token}/items/{quote(_id(child), safe='!')}", client, budget
                    )
                    sub_path = f"{path}/{_component(child)}" if path else _component(child)
                    queue.append((sub, sub_path, depth + 1))
                continue  # deeper than we go: skipped, as docs/HOSTS.md says
            if "file" not in child:
                continue  # a OneNote notebook or another package: no single file to fetch
            links.append(_file_link(child, path))
            if len(links) > MAX_FILES:
                raise HostRefused(NAME, f"the folder holds more than {MAX_FILES} files")
    if not links:
        raise HostRefused(NAME, "the folder holds no files")
    return Resolved(NAME, tuple(links), folder_name=_component(root))




def _api_get(url: str, client: PageClient, budget: RequestBudget) -> dict[str, Any]:
    """One shares-API item (``?expand=children`` added unless ``url`` is a next page)."""
    budget.spend()
    params = None if "?" in url else {"expand": "children"}
    try:
        page = client.get(url, params=params, headers={"Accept": "application/json"})
    except HTTPStatusError as error:
        if error.status == 404:
            raise HostRefused(NAME, "the shared item was deleted, or the link is wrong") from error
        if error.status == 401:
            # Since late 2024 the API answers 401 "unauthenticated" to anonymous calls for many
            # shares: a change on Microsoft's side, for the maintainer's log (docs/HOSTS.md).
            raise HostChanged(
                NAME, "anonymous access to the shares API (it asked for sign-in)"
            ) from error
        if error.status == 403:
            raise HostRefused(
                NAME,
                "the share is not open to anyone with the link "
                "(private, expired, or password-protected, which is not supported)",
            ) from error
        raise
    try:
        data = page.json()
    except ValueError as error:
        raise HostChanged(NAME, "the shares API's answer") from error
    if not isinstance(data, dict):
        raise HostChanged(NAME, "the shares API's answer")
    return data


def _children(item: Mapping[str, Any], client: PageClient, budget: RequestBudget) -> list[Any]:
    """A folder item's children, following ``children@odata.nextLink`` pages on the API."""
    children = item.get("children")
    if not isinstance(children, list):
        raise HostChanged(NAME, "the folder's children")
    found = [child for child in children if isinstance(child, dict)]
    next_link = item.get("children@odata.nextLink")
    while isinstance(next_link, str) and next_link:
        if not next_link.startswith(API + "/"):
            raise HostChanged(NAME, "the folder's next page")
        page = _api_get(next_link, client, budget)
        values = page.get("value")
        if not isinstance(values, list):
            raise HostChanged(NAME, "the folder's next page")
        found.extend(child for child in values if isinstance(child, dict))
        next_link = page.get("@odata.nextLink")
    return found


def _file_link(item: Mapping[str, Any], path: str) -> DirectLink:
    url = item.get("@content.downloadUrl")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise HostChanged(NAME, "the file's download URL")
    size = item.get("size")
    return DirectLink(
        url,
        name=_component(item),
        size=size if isinstance(size, int) and size >= 0 else None,
        folder=path,
    )


def _id(item: Mapping[str, Any]) -> str:
    value = item.get("id")
    if not isinstance(value, str) or not value or len(value) > 200 or "/" in value:
        raise HostChanged(NAME, "the folder's item ids")
    return value


def _component(item: Mapping[str, Any]) -> str:
    """An item's name as one harmless path component."""
    name = item.get("name")
    text = name if isinstance(name, str) else ""
    return sanitize_filename(text.replace("/", "_").replace("\\", "_"), fallback="unnamed")


# --- SharePoint / OneDrive for Business -----------------------------------------------------


def _resolve_sharepoint(link: str, client: PageClient) -> Resolved:
    """A ``/:<kind>:/`` file link with ``download=1``: one unfollowed request checks it."""
    parts = urlsplit(link)
    segments = parts.path.split("/")
    kind = segments[1] if len(segments) > 1 else ""
    if not (len(kind) == 3 and kind[0] == ":" and kind[2] == ":"):
        raise HostChanged(NAME, "a SharePoint share link (/:x:/…)")
    if kind[1] == _SHAREPOINT_FOLDER_KIND:
        raise HostRefused(NAME, "SharePoint folder links are not supported; share the files")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "download"] + [("download", "1")]
    url = urlunsplit(("https", parts.netloc, parts.path, urlencode(query), ""))
    try:
        page = client.get(url, allow_redirects=False)
    except HTTPStatusError as error:
        if error.status == 404:
            raise HostRefused(NAME, "the shared file was deleted, or the link is wrong") from error
        if error.status in (401, 403):
            raise HostRefused(
                NAME, "the link is not open to anyone (sign-in needed, or expired)"
            ) from error
        raise
    location = page.headers.get("location", "")
    if 300 <= page.status < 400 and location:
        target = urljoin(url, location)
        target_parts = urlsplit(target)
        if (target_parts.hostname or "").startswith("login."):
            raise HostRefused(NAME, "the link is not open to anyone (sign-in needed)")
        if target_parts.scheme not in ("http", "https"):
            raise HostChanged(NAME, "the SharePoint download redirect")
        # The redirect's target needs the cookies this answer set (FedAuth for guests).
        return Resolved(NAME, (DirectLink(target, headers=_cookie_header(page.cookies)),))
    if "attachment" in page.headers.get("content-disposition", "").lower():
        return Resolved(NAME, (DirectLink(url, headers=_cookie_header(page.cookies)),))
    if "password" in page.text[:200_000].lower():
        raise HostRefused(NAME, "the link is password-protected (not supported)")
    raise HostChanged(NAME, "the SharePoint download redirect")


def _cookie_header(cookies: Mapping[str, str]) -> dict[str, str]:
    if not cookies:
        return {}
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
