"""WeTransfer resolver: long and short links, the download API, refusals, domains."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from telebot.errors import HTTPStatusError
from telebot.sources.hosts import wetransfer
from telebot.sources.hosts.base import HostChanged, HostRefused
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

TRANSFER = "4f8a2c0e1b9d7e6f5a4b3c2d1e0f9a8b20241207031500"
HASH = "0c9e1a7b2d3f4e5a"
LINK = f"https://wetransfer.com/downloads/{TRANSFER}/{HASH}"
API = f"https://wetransfer.com/api/v4/transfers/{TRANSFER}/download"
DIRECT = (
    "https://download.wetransfer.com/eugv/4f8a2c0e1b9d7e6f5a4b3c2d1e0f9a8b20241207031500/"
    "0c9e1a7b2d3f4e5a6b7c8d9e0f1a2b3c4d5e6f70/WeTransfer_files.zip?cf=y"
    "&token=eyJhbGciOiJIUzI1NiJ9.e30.sig"
)


def test_a_transfer_link_asks_the_download_api_for_the_whole_transfer() -> None:
    client = RecordedClient({("POST", API): Answer(fixture("wetransfer", "download.json"))})
    resolved = wetransfer.HOST.resolve(LINK, client, None)
    assert resolved.host == "WeTransfer"
    assert [link.url for link in resolved.links] == [DIRECT]
    assert resolved.folder_name is None
    [sent] = client.requests
    assert sent.json == {"security_hash": HASH, "intent": "entire_transfer"}
    assert sent.headers["Referer"] == LINK


def test_a_recipient_link_sends_the_recipient_id_too() -> None:
    link = f"https://wetransfer.com/downloads/{TRANSFER}/r3c1p13nt/{HASH}"
    client = RecordedClient({("POST", API): Answer(fixture("wetransfer", "download.json"))})
    wetransfer.HOST.resolve(link, client, None)
    assert client.requests[0].json == {
        "security_hash": HASH,
        "intent": "entire_transfer",
        "recipient_id": "r3c1p13nt",
    }


def test_a_short_link_is_followed_to_the_transfer_page() -> None:
    short = "https://we.tl/t-AbC123xYz"
    client = RecordedClient(
        {
            ("GET", short): Answer(fixture("wetransfer", "transfer_page.html"), url=LINK),
            ("POST", API): Answer(fixture("wetransfer", "download.json")),
        }
    )
    [only] = wetransfer.HOST.resolve(short, client, None).links
    assert only.url == DIRECT
    assert [r.method for r in client.requests] == ["GET", "POST"]


def test_a_short_link_landing_elsewhere_is_a_site_change() -> None:
    short = "https://we.tl/t-AbC123xYz"
    client = RecordedClient(
        {("GET", short): Answer("<html></html>", url="https://example.com/downloads/a/b")}
    )
    with pytest.raises(HostChanged) as caught:
        wetransfer.HOST.resolve(short, client, None)
    assert caught.value.step == "the transfer page behind the short link"


def test_a_short_link_to_a_page_without_ids_is_a_site_change() -> None:
    short = "https://we.tl/t-AbC123xYz"
    client = RecordedClient(
        {("GET", short): Answer("<html></html>", url="https://wetransfer.com/explore")}
    )
    with pytest.raises(HostChanged, match="transfer id and security hash"):
        wetransfer.HOST.resolve(short, client, None)


def test_an_expired_transfer_is_refused() -> None:
    client = RecordedClient({("POST", API): Answer(fixture("wetransfer", "expired.json"))})
    with pytest.raises(HostRefused, match="expired"):
        wetransfer.HOST.resolve(LINK, client, None)


def test_other_host_refusals_are_shown_without_markup() -> None:
    client = RecordedClient({("POST", API): Answer(fixture("wetransfer", "other_refusal.json"))})
    with pytest.raises(HostRefused) as caught:
        wetransfer.HOST.resolve(LINK, client, None)
    assert str(caught.value) == "WeTransfer: Download limit reached for this transfer"


@pytest.mark.parametrize(
    ("status", "words"), [(404, "expired or was deleted"), (403, "password-protected")]
)
def test_refusals_by_status(status: int, words: str) -> None:
    client = RecordedClient({("POST", API): Answer(status=status)})
    with pytest.raises(HostRefused, match=words):
        wetransfer.HOST.resolve(LINK, client, "pw")


def test_an_expired_short_link_is_refused() -> None:
    short = "https://we.tl/t-Gone"
    client = RecordedClient({("GET", short): Answer(status=404)})
    with pytest.raises(HostRefused, match="expired"):
        wetransfer.HOST.resolve(short, client, None)


def test_other_errors_pass_through() -> None:
    client = RecordedClient({("POST", API): Answer(status=500)})
    with pytest.raises(HTTPStatusError):
        wetransfer.HOST.resolve(LINK, client, None)


@pytest.mark.parametrize(
    "answer",
    ['{"success": true}', '{"direct_link": "javascript:alert(1)"}', "<html>oops</html>", "[]"],
)
def test_an_answer_without_a_usable_direct_link_is_a_site_change(answer: str) -> None:
    client = RecordedClient({("POST", API): Answer(answer)})
    with pytest.raises(HostChanged):
        wetransfer.HOST.resolve(LINK, client, None)


def claims(link: str) -> bool:
    """The registry's rule: a domain matches itself and its subdomains."""
    hostname = urlsplit(link).hostname or ""
    return any(hostname == d or hostname.endswith("." + d) for d in wetransfer.HOST.domains)


@pytest.mark.parametrize(
    ("link", "claimed"),
    [
        (LINK, True),
        ("https://we.tl/t-AbC123xYz", True),
        ("https://mybrand.wetransfer.com/downloads/a/b", True),
        ("https://wetransfer.com.evil.example/downloads/a/b", False),
        ("https://notwe.tl/t-x", False),
    ],
)
def test_only_wetransfer_links_are_claimed(link: str, claimed: bool) -> None:
    assert claims(link) is claimed
