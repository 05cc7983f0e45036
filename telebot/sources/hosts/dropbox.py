"""Dropbox: shared files and folders, made direct by ``dl=1``.

A share link (``/s/…``, ``/scl/fi/…?rlkey=…``, folders ``/sh/…`` and ``/scl/fo/…``) becomes
direct when its ``dl`` parameter is ``1``; every other parameter (``rlkey`` above all) is kept.
One request, without following redirects, checks that Dropbox answers with a redirect to its
content host and not with a refusal; the payload is never fetched. A folder comes as one zip
file. Facts relied on: docs/HOSTS.md, "Dropbox".
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import (
    DirectLink,
    HostChanged,
    HostRefused,
    PageClient,
    Resolved,
)
from telebot.sources.names import sanitize_filename

NAME = "Dropbox"
CONTENT_HOST = "dropboxusercontent.com"
# Old /s/ links redirect to their /scl/fi/ form before the content redirect: a few hops at most.
MAX_HOPS = 4

_FILE_PREFIXES = ("/s/", "/scl/fi/")
_FOLDER_PREFIXES = ("/sh/", "/scl/fo/")


class Dropbox:
    """The Dropbox resolver (the module's :data:`HOST`)."""

    name: str = NAME
    domains: tuple[str, ...] = ("dropbox.com", "dropboxusercontent.com")
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """One direct link: the share with ``dl=1`` (a folder as a zip).

        Password-protected shares are refused: Dropbox unlocks them with a browser form and
        session cookies that the downloader could not carry.
        """
        if _is_content_host(link):  # already direct (dl.dropboxusercontent.com)
            if urlsplit(link).scheme not in ("http", "https"):
                raise HostChanged(NAME, "a Dropbox address in the link")
            return Resolved(NAME, (DirectLink(link.strip(), name=_name(link)),))
        url = with_dl1(link)
        for _hop in range(MAX_HOPS):
            location = _redirect_of(url, client)
            if _is_content_host(location):
                return Resolved(NAME, (DirectLink(url, name=_name(url)),))
            path = urlsplit(location).path
            if "password" in path:
                raise HostRefused(NAME, "the link is password-protected (not supported)")
            if path.startswith("/login"):
                raise HostRefused(NAME, "the link is not public (Dropbox asks to sign in)")
            if not path.startswith(_FILE_PREFIXES + _FOLDER_PREFIXES):
                raise HostChanged(NAME, "the download redirect")
            url = with_dl1(location)  # an old link's new form: ask again
        raise HostChanged(NAME, "the download redirect (too many hops)")


HOST = Dropbox()


def with_dl1(link: str) -> str:
    """``link`` with ``dl=1`` (replacing ``dl=0``, ``raw=1``), other parameters kept in order."""
    parts = urlsplit(link.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HostChanged(NAME, "a Dropbox address in the link")
    if not parts.path.startswith(_FILE_PREFIXES + _FOLDER_PREFIXES):
        raise HostChanged(NAME, "a shared file or folder in the link")
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in ("dl", "raw")]
    query.append(("dl", "1"))
    return urlunsplit(("https", parts.netloc, parts.path, urlencode(query), ""))


def _redirect_of(url: str, client: PageClient) -> str:
    """Where Dropbox sends a ``dl=1`` request (absolute, http(s)); refusals in plain words."""
    try:
        page = client.get(url, allow_redirects=False)
    except HTTPStatusError as error:
        if error.status in (404, 410):
            raise HostRefused(NAME, "the file or folder was deleted, or the link is wrong") from (
                error
            )
        if error.status == 403:
            raise HostRefused(NAME, "access to the link is denied (not shared publicly)") from (
                error
            )
        if error.status == 429:
            raise HostRefused(
                NAME, "the link is temporarily disabled (it drew too much traffic)"
            ) from error
        raise
    location = page.headers.get("location", "")
    if not 300 <= page.status < 400 or not location:
        if "password" in page.text[:200_000].lower():
            raise HostRefused(NAME, "the link is password-protected (not supported)")
        raise HostChanged(NAME, "the download redirect")
    absolute = urljoin(url, location)
    if urlsplit(absolute).scheme not in ("http", "https"):
        raise HostChanged(NAME, "the download redirect")
    return absolute


def _is_content_host(url: str) -> bool:
    hostname = urlsplit(url).hostname or ""
    return hostname == CONTENT_HOST or hostname.endswith("." + CONTENT_HOST)


def _name(url: str) -> str | None:
    """The file name a file link carries as its last path part; None for folders."""
    path = urlsplit(url.strip()).path
    prefix = next((p for p in _FILE_PREFIXES if path.startswith(p)), None)
    if prefix is None:
        return None  # a folder's last part is a key; its zip's name comes with the download
    parts = path[len(prefix) :].strip("/").split("/")  # <key>/<name>
    last = unquote(parts[-1]) if len(parts) >= 2 else ""
    return sanitize_filename(last) if last else None
