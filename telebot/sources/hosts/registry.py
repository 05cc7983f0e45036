"""Every file host the bot resolves, in one ordered tuple.

Adding a host: write ``sources/hosts/<host>.py`` with a module-level ``HOST`` (the
:class:`~telebot.sources.hosts.base.Host` contract), then one import and one line in
:data:`HOSTS` below (docs/HOSTS.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from telebot.sources.hosts import (
    buzzheavier,
    dropbox,
    gdrive,
    gofile,
    krakenfiles,
    mediafire,
    onedrive,
    onefichier,
    pixeldrain,
    wetransfer,
)
from telebot.sources.hosts.base import Host
from telebot.sources.hosts.client import on_domain

HOSTS: tuple[Host, ...] = (
    mediafire.HOST,
    pixeldrain.HOST,
    gofile.HOST,
    onefichier.HOST,
    krakenfiles.HOST,
    gdrive.HOST,
    dropbox.HOST,
    onedrive.HOST,
    wetransfer.HOST,
    buzzheavier.HOST,
)


def find(link: str, hosts: tuple[Host, ...] = HOSTS) -> Host | None:
    """The host whose domain ``link``'s hostname is (or is a subdomain of); http(s) only."""
    try:
        parts = urlsplit(link.strip())
        hostname = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return None
    for host in hosts:
        if on_domain(hostname, host.domains):
            return host
    return None
