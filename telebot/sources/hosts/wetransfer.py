"""WeTransfer: a transfer's download link, from its id and security hash.

A transfer link is ``wetransfer.com/downloads/<transfer id>[/<recipient id>]/<security hash>``;
a short ``we.tl/<x>`` link redirects to one (followed by one GET of that page). WeTransfer's
web API then hands a ``direct_link`` for the whole transfer (a zip of its files). Facts relied
on: docs/HOSTS.md, "WeTransfer".
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import (
    DirectLink,
    HostChanged,
    HostRefused,
    PageClient,
    Resolved,
    host_words,
)

NAME = "WeTransfer"
API = "https://wetransfer.com/api/v4/transfers"

_PART = r"[A-Za-z0-9]{1,128}"
_DOWNLOADS = re.compile(rf"/downloads/({_PART})(?:/({_PART}))?/({_PART})/?\Z")


class WeTransfer:
    """The WeTransfer resolver (the module's :data:`HOST`)."""

    name: str = NAME
    domains: tuple[str, ...] = ("wetransfer.com", "we.tl")
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        """The transfer's one direct link (a zip of its files).

        Password-protected transfers (a paid feature) are refused: their unlock step is not
        built.
        """
        link = link.strip()
        if not _is_wetransfer(link):
            raise HostChanged(NAME, "a WeTransfer address in the link")
        if _DOWNLOADS.search(urlsplit(link).path) is None:
            # A short we.tl link (or a landing page): its final address names the transfer.
            link = _get(link, client)
            if not _is_wetransfer(link):
                raise HostChanged(NAME, "the transfer page behind the short link")
        match = _DOWNLOADS.search(urlsplit(link).path)
        if match is None:
            raise HostChanged(NAME, "the transfer id and security hash in the link")
        transfer_id, recipient_id, security_hash = match.groups()
        body: dict[str, str] = {"security_hash": security_hash, "intent": "entire_transfer"}
        if recipient_id:
            body["recipient_id"] = recipient_id
        return Resolved(NAME, (DirectLink(_direct_link(transfer_id, body, link, client)),))


HOST = WeTransfer()


def _is_wetransfer(link: str) -> bool:
    parts = urlsplit(link)
    hostname = parts.hostname or ""
    return parts.scheme in ("http", "https") and any(
        hostname == domain or hostname.endswith("." + domain) for domain in HOST.domains
    )


def _get(link: str, client: PageClient) -> str:
    """The final address of a short link, after the client followed its redirects."""
    try:
        return client.get(link).url
    except HTTPStatusError as error:
        if error.status in (404, 410):
            raise HostRefused(NAME, "the transfer expired or was deleted") from error
        raise


def _direct_link(transfer_id: str, body: dict[str, str], referer: str, client: PageClient) -> str:
    """``POST …/transfers/<id>/download`` → ``{"direct_link": …}``; refusals in plain words."""
    try:
        page = client.post(
            f"{API}/{transfer_id}/download",
            json=body,
            headers={"X-Requested-With": "XMLHttpRequest", "Referer": referer},
        )
    except HTTPStatusError as error:
        if error.status in (404, 410):
            raise HostRefused(NAME, "the transfer expired or was deleted") from error
        if error.status in (401, 403):
            raise HostRefused(
                NAME, "the transfer is password-protected or restricted (not supported)"
            ) from error
        raise
    try:
        data = page.json()
    except ValueError as error:
        raise HostChanged(NAME, "the download API's answer") from error
    if not isinstance(data, dict):
        raise HostChanged(NAME, "the download API's answer")
    direct = data.get("direct_link")
    if isinstance(direct, str) and urlsplit(direct).scheme in ("http", "https"):
        return direct
    reason = data.get("message") or data.get("error")
    if isinstance(reason, str) and reason.strip():
        if "expired" in reason.lower():
            raise HostRefused(NAME, "the transfer expired")
        if "password" in reason.lower():
            raise HostRefused(NAME, "the transfer is password-protected (not supported)")
        # The host's own words, cut short and stripped of markup: they are untrusted text.
        raise HostRefused(NAME, host_words(reason) or "refused")
    raise HostChanged(NAME, "the direct link in the download API's answer")
