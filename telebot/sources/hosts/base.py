"""The contract between a file host's resolver and the rest of the bot.

A file host (MediaFire, Pixeldrain, Google Drive, ...) shares a file or a folder as a web page.
Its resolver is one small module in this folder: it names the host and the domains it answers
for, and turns a share link into the direct links of the files behind it, by reading the
host's pages or API through a :class:`PageClient` (the bot's guarded HTTP layer: the SSRF
guard on every redirect hop, retries, a circuit breaker per host, a cap on what a page may
weigh). A resolver never downloads the payload: the bot's segmented downloader fetches each
:class:`DirectLink`, with the headers (cookies, referer) the host asks for.

When a host's page no longer looks as the resolver expects, it raises :class:`HostChanged`
naming the step; the user reads one line ("MediaFire: could not find the download button (the
site may have changed)") and the log a WARNING with the resolver and the step. What the host
itself refuses (deleted file, wrong password, quota) is a :class:`HostRefused` with the host's
reason in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from telebot.errors import DownloadError


@dataclass(frozen=True)
class DirectLink:
    """One file behind a share: where to fetch it and what the host already told about it.

    ``folder`` is the file's folder inside the share ("" at the top; "a/b" nested, "/"
    separated, never absolute or with ".."), for folder links that arrive as a folder.
    """

    url: str
    name: str | None = None
    size: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    folder: str = ""


@dataclass(frozen=True)
class Resolved:
    """What a share link stands for: one file, or a folder named ``folder_name``."""

    host: str  # the host's display name, for the status line ("📥 MediaFire → direct link")
    links: tuple[DirectLink, ...]
    folder_name: str | None = None  # set when the share is a folder (even of one file)


@dataclass(frozen=True)
class Page:
    """A host's answer to one request, read whole (capped) by the :class:`PageClient`."""

    url: str  # the final URL, after redirects
    status: int
    headers: Mapping[str, str]  # lower-case names
    text: str
    cookies: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; :class:`HostChanged`-worthy errors are the caller's to raise."""
        import json

        return json.loads(self.text)


class PageClient(Protocol):
    """Small requests for resolvers, through the bot's guarded HTTP layer.

    Every hop of every redirect is checked against the SSRF guard (private and loopback
    addresses refused unless ALLOW_PRIVATE_LINKS); transient failures are retried; a body over
    the cap ends the request with a DownloadError; cookies set by the host are kept for the
    next request of the same resolve. ``allow_redirects=False`` returns a 3xx as it is (some
    hosts hand the direct link in ``Location``). Raises DownloadError subclasses only.
    """

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> Page: ...

    def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> Page: ...


class Host(Protocol):
    """One file host's resolver (a module-level object in ``sources/hosts/<host>.py``)."""

    name: str  # display name: "MediaFire"
    domains: tuple[str, ...]  # "mediafire.com" also matches "www.mediafire.com"
    #: Other domains the host's API and downloads live on, which are no share link a user
    #: pastes ("api.onedrive.com", "files.1drv.com"); () when everything stays on ``domains``.
    #: A link on them is not claimed, but the owner's ``HOSTS_BASE_URLS`` sends requests and
    #: redirects to them to the host's base like those to ``domains`` (client.Rebase).
    service_domains: tuple[str, ...]

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """The direct links behind ``link``; ``password`` is the share's (``-ap``), if any.

        Raises :class:`HostChanged` when a page lacks what it should hold, :class:`HostRefused`
        when the host says no (deleted, password needed or wrong, quota), and lets the
        client's DownloadError through.
        """
        ...


class HostError(DownloadError):
    """A resolver's failure; the message is the one line the user reads."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host


class HostChanged(HostError):
    """The host's page or API no longer looks as the resolver expects."""

    def __init__(self, host: str, step: str) -> None:
        super().__init__(host, f"could not find {step} (the site may have changed)")
        self.step = step


class HostRefused(HostError):
    """The host answered, and the answer is no: ``reason`` in plain words."""


class RequestBudget:
    """Counts the requests of one resolve, so a huge or looping share ends in plain words
    (:class:`HostRefused`) instead of walking on: ``spend()`` before each request."""

    def __init__(self, host: str, limit: int, what: str = "the folder") -> None:
        self.host, self.limit, self.what = host, limit, what
        self.used = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise HostRefused(self.host, f"{self.what} needs more than {self.limit} requests")


_TAG = re.compile(r"<[^<>]{0,200}>")
_NOT_WORDS = re.compile(r"[^\w .,:;!?'()-]")  # what a host's message may show the user


def host_words(text: str, limit: int = 120) -> str:
    """A host's own message made fit to show: markup and unusual characters removed, cut to
    ``limit`` characters (the text is untrusted: it may hold anything)."""
    return _NOT_WORDS.sub("", _TAG.sub("", text[:1000]))[:limit].strip()
