"""BuzzHeavier resolver: the htmx download (hx-redirect), folder tables, refusals, domains."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from telebot.errors import HTTPStatusError
from telebot.sources.hosts import buzzheavier
from telebot.sources.hosts.base import HostChanged, HostRefused
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

SITE = "https://buzzheavier.com"
FILE = f"{SITE}/f1l3abcd9x"
FOLDER = f"{SITE}/f0ld3rzz77"


def redirect(to: str, disposition: str | None = None) -> Answer:
    """The answer htmx gets: an empty body and the direct URL in ``hx-redirect``."""
    headers = {"hx-redirect": to}
    if disposition:
        headers["Content-Disposition"] = disposition
    return Answer("", status=204, headers=headers)


def test_a_file_page_gives_the_hx_redirect_with_the_headers_htmx_sends() -> None:
    direct = "https://dl.buzzheavier.com/f1l3abcd9x?sig=abc&exp=1733540000"
    client = RecordedClient(
        {
            ("GET", FILE): Answer(fixture("buzzheavier", "file.html")),
            ("GET", f"{FILE}/download"): redirect(direct, 'attachment; filename="holiday.mkv"'),
        }
    )
    resolved = buzzheavier.HOST.resolve(FILE, client, None)
    assert resolved.host == "BuzzHeavier"
    assert resolved.folder_name is None
    [only] = resolved.links
    assert (only.url, only.name, dict(only.headers)) == (direct, "holiday.mkv", {"Referer": FILE})
    assert client.requests[1].headers == {
        "HX-Request": "true",
        "HX-Current-URL": FILE,
        "Referer": FILE,
    }


def test_a_relative_hx_redirect_is_made_absolute() -> None:
    client = RecordedClient(
        {
            ("GET", FILE): Answer(fixture("buzzheavier", "file.html")),
            ("GET", f"{FILE}/download"): redirect("/dl/f1l3abcd9x?t=1"),
        }
    )
    [only] = buzzheavier.HOST.resolve(FILE + "/", client, None).links
    assert (only.url, only.name) == (f"{SITE}/dl/f1l3abcd9x?t=1", None)


def test_a_download_without_hx_redirect_is_a_site_change() -> None:
    client = RecordedClient(
        {
            ("GET", FILE): Answer(fixture("buzzheavier", "file.html")),
            ("GET", f"{FILE}/download"): Answer("<p>please wait</p>"),
        }
    )
    with pytest.raises(HostChanged) as caught:
        buzzheavier.HOST.resolve(FILE, client, None)
    assert caught.value.step == "the download redirect (hx-redirect)"


def test_a_redirect_outside_http_is_refused_as_a_site_change() -> None:
    client = RecordedClient(
        {
            ("GET", FILE): Answer(fixture("buzzheavier", "file.html")),
            ("GET", f"{FILE}/download"): redirect("file:///etc/passwd"),
        }
    )
    with pytest.raises(HostChanged, match="http"):
        buzzheavier.HOST.resolve(FILE, client, None)


def test_a_page_without_button_or_table_is_a_site_change() -> None:
    client = RecordedClient({("GET", FILE): Answer(fixture("buzzheavier", "changed.html"))})
    with pytest.raises(HostChanged) as caught:
        buzzheavier.HOST.resolve(FILE, client, None)
    assert caught.value.step == "the download button or the folder's file table"


def test_a_deleted_file_is_refused() -> None:
    client = RecordedClient({("GET", FILE): Answer(status=404)})
    with pytest.raises(HostRefused, match="deleted"):
        buzzheavier.HOST.resolve(FILE, client, None)


def test_other_errors_pass_through() -> None:
    client = RecordedClient({("GET", FILE): Answer(status=503)})
    with pytest.raises(HTTPStatusError):
        buzzheavier.HOST.resolve(FILE, client, None)


def folder_client() -> RecordedClient:
    return RecordedClient(
        {
            ("GET", FOLDER): Answer(fixture("buzzheavier", "folder.html")),
            ("GET", f"{SITE}/ep01aaaa11/download"): redirect("https://dl.buzzheavier.com/ep01"),
            ("GET", f"{SITE}/ep02bbbb22/download"): redirect("https://dl.buzzheavier.com/ep02"),
            ("GET", f"{SITE}/subfold333/download"): Answer("", status=204),  # a folder
            ("GET", f"{SITE}/subfold333"): Answer(fixture("buzzheavier", "subfolder.html")),
            ("GET", f"{SITE}/mk0fzzzz44/download"): redirect("https://dl.buzzheavier.com/mk0f"),
        }
    )


def test_a_folder_table_is_walked_with_subfolders_and_safe_names() -> None:
    client = folder_client()
    resolved = buzzheavier.HOST.resolve(FOLDER, client, None)
    assert resolved.folder_name == "Season & Extras"
    assert [(x.folder, x.name, x.url) for x in resolved.links] == [
        ("", "Episode 01.mkv", "https://dl.buzzheavier.com/ep01"),
        ("", "_.._Episode 02.mkv", "https://dl.buzzheavier.com/ep02"),
        ("Bonus", "making-of.mp4", "https://dl.buzzheavier.com/mk0f"),
    ]
    # The row linking off-site is not an entry: never requested.
    assert not any("evil" in r.url for r in client.requests)


def test_folder_depth_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buzzheavier, "MAX_DEPTH", 0)
    client = folder_client()
    resolved = buzzheavier.HOST.resolve(FOLDER, client, None)
    assert {x.folder for x in resolved.links} == {""}
    assert f"{SITE}/subfold333" not in [r.url for r in client.requests]


def test_folder_requests_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buzzheavier, "MAX_REQUESTS", 3)
    with pytest.raises(HostRefused, match="more than 3 requests"):
        buzzheavier.HOST.resolve(FOLDER, folder_client(), None)


def test_a_folder_without_files_is_refused() -> None:
    client = RecordedClient(
        {
            ("GET", FOLDER): Answer(fixture("buzzheavier", "subfolder.html")),
            ("GET", f"{SITE}/mk0fzzzz44/download"): Answer(status=404),
        }
    )
    with pytest.raises(HostRefused, match="no files"):
        buzzheavier.HOST.resolve(FOLDER, client, None)


def test_a_link_without_an_id_is_a_site_change() -> None:
    with pytest.raises(HostChanged, match="id in the link"):
        buzzheavier.HOST.resolve(f"{SITE}/help/faq", RecordedClient({}), None)


def claims(link: str) -> bool:
    """The registry's rule: a domain matches itself and its subdomains."""
    hostname = urlsplit(link).hostname or ""
    return any(hostname == d or hostname.endswith("." + d) for d in buzzheavier.HOST.domains)


@pytest.mark.parametrize(
    ("link", "claimed"),
    [
        (FILE, True),
        ("https://www.buzzheavier.com/f1l3abcd9x", True),
        ("https://buzzheavier.com.evil.example/f1l3abcd9x", False),
        ("https://notbuzzheavier.com/f1l3abcd9x", False),
    ],
)
def test_only_buzzheavier_links_are_claimed(link: str, claimed: bool) -> None:
    assert claims(link) is claimed
