"""The registry: which host a link belongs to, by its hostname only."""

from __future__ import annotations

import pytest

from telebot.sources.hosts import registry
from telebot.sources.hosts.client import host_key


@pytest.mark.parametrize(("link", "host"), [
    ("https://www.mediafire.com/file/k/x/file", "MediaFire"),
    ("http://mediafire.com/?k", "MediaFire"),
    ("https://WWW.MediaFire.com./folder/k", "MediaFire"),
    ("https://pixeldrain.com/u/abc", "Pixeldrain"),
    ("https://pixeldrain.net/l/abc", "Pixeldrain"),
    ("https://gofile.io/d/AbC123", "GoFile"),
    ("https://1fichier.com/?x7k2m9q4p1ab", "1fichier"),
    ("https://x7k2m9q4p1ab.1fichier.com/", "1fichier"),
    ("https://krakenfiles.com/view/Zk9QwE1xYt/file.html", "Krakenfiles"),
    ("https://notmediafire.com/file/k", None),  # a suffix is not a subdomain
    ("https://mediafire.com.evil.example/file/k", None),
    ("https://evil.example/?u=https://www.mediafire.com/file/k", None),
    ("ftp://www.mediafire.com/file/k", None),
    ("magnet:?xt=urn:btih:x&tr=https://pixeldrain.com", None),
    ("https://[::1/", None),
])
def test_find_by_hostname(link: str, host: str | None) -> None:
    found = registry.find(link)
    assert (found.name if found else None) == host


def test_every_host_has_a_unique_key_and_domains() -> None:
    keys = [host_key(h) for h in registry.HOSTS]
    assert len(set(keys)) == len(keys) and all(keys)
    # Service domains too: HOSTS_BASE_URLS rewrites them for their host, so no two hosts (and no
    # host's links and another's services) may share one.
    domains = [d for h in registry.HOSTS for d in (*h.domains, *h.service_domains)]
    assert len(set(domains)) == len(domains)
    assert all(d == d.lower() and "/" not in d for d in domains)


@pytest.mark.parametrize("link", [
    "https://api.onedrive.com/v1.0/shares/u!x/root",  # OneDrive's API: not a share link
    "https://public.am.files.1drv.com/y4m/file.bin",
])
def test_service_domains_are_not_claimed_as_links(link: str) -> None:
    assert registry.find(link) is None
