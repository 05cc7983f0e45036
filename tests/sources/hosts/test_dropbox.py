"""Dropbox resolver: dl=1 links for files and folders, old links, refusals, domains."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from telebot.errors import HTTPStatusError
from telebot.sources.hosts import dropbox
from telebot.sources.hosts.base import HostChanged, HostRefused
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

CONTENT = "https://uc3f1e0c5d7b4a9e2.dl.dropboxusercontent.com/cd/0/get/CGx1/file?dl=1"
NEW_FILE = "https://www.dropbox.com/scl/fi/k3y9x/My%20Report.pdf?rlkey=r1k2e3y4&st=s7&dl=0"
NEW_FILE_DL1 = "https://www.dropbox.com/scl/fi/k3y9x/My%20Report.pdf?rlkey=r1k2e3y4&st=s7&dl=1"


def to_content() -> Answer:
    return Answer(fixture("dropbox", "redirect.html"), status=302, headers={"Location": CONTENT})


def test_a_file_link_becomes_dl1_keeping_rlkey_after_one_unfollowed_request() -> None:
    client = RecordedClient({("GET", NEW_FILE_DL1): to_content()})
    resolved = dropbox.HOST.resolve(NEW_FILE, client, None)
    assert resolved.host == "Dropbox"
    assert resolved.folder_name is None
    [only] = resolved.links
    assert (only.url, only.name, only.size, dict(only.headers)) == (
        NEW_FILE_DL1,
        "My Report.pdf",
        None,
        {},
    )
    assert [r.url for r in client.requests] == [NEW_FILE_DL1]


def test_an_old_s_link_follows_its_move_to_the_scl_form() -> None:
    old = "https://www.dropbox.com/s/abc123/movie.mkv?dl=0"
    old_dl1 = "https://www.dropbox.com/s/abc123/movie.mkv?dl=1"
    moved = "/scl/fi/n3w/movie.mkv?rlkey=q9&dl=1"
    client = RecordedClient(
        {
            ("GET", old_dl1): Answer(status=301, headers={"Location": moved}),
            ("GET", "https://www.dropbox.com/scl/fi/n3w/movie.mkv?rlkey=q9&dl=1"): to_content(),
        }
    )
    [only] = dropbox.HOST.resolve(old, client, None).links
    assert only.url == "https://www.dropbox.com/scl/fi/n3w/movie.mkv?rlkey=q9&dl=1"
    assert only.name == "movie.mkv"


@pytest.mark.parametrize(
    ("link", "asked"),
    [
        (
            "https://www.dropbox.com/scl/fo/f0ld3r/k3y2?rlkey=zz&dl=0",
            "https://www.dropbox.com/scl/fo/f0ld3r/k3y2?rlkey=zz&dl=1",
        ),
        ("https://www.dropbox.com/sh/abc/def?raw=1", "https://www.dropbox.com/sh/abc/def?dl=1"),
    ],
)
def test_a_folder_comes_as_one_zip_whose_name_the_download_tells(link: str, asked: str) -> None:
    client = RecordedClient({("GET", asked): to_content()})
    resolved = dropbox.HOST.resolve(link, client, None)
    assert [(x.url, x.name, x.folder) for x in resolved.links] == [(asked, None, "")]
    assert resolved.folder_name is None  # one zip file, not a folder of links


def test_a_content_host_link_is_already_direct() -> None:
    link = "https://dl.dropboxusercontent.com/s/abc123/notes.txt"
    client = RecordedClient({})
    [only] = dropbox.HOST.resolve(link, client, None).links
    assert (only.url, only.name) == (link, "notes.txt")
    assert client.requests == []


def test_a_password_redirect_is_refused() -> None:
    client = RecordedClient(
        {
            ("GET", NEW_FILE_DL1): Answer(
                status=302, headers={"Location": "https://www.dropbox.com/sm/password?cont=x"}
            )
        }
    )
    with pytest.raises(HostRefused, match="password-protected"):
        dropbox.HOST.resolve(NEW_FILE, client, "secret")


def test_a_password_page_is_refused_and_the_password_is_not_echoed() -> None:
    client = RecordedClient({("GET", NEW_FILE_DL1): Answer(fixture("dropbox", "password.html"))})
    with pytest.raises(HostRefused) as caught:
        dropbox.HOST.resolve(NEW_FILE, client, "hunter2")
    assert "password-protected" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "words"),
    [(404, "deleted"), (410, "deleted"), (403, "denied"), (429, "too much traffic")],
)
def test_refusals_by_status(status: int, words: str) -> None:
    client = RecordedClient({("GET", NEW_FILE_DL1): Answer(status=status)})
    with pytest.raises(HostRefused, match=words):
        dropbox.HOST.resolve(NEW_FILE, client, None)


def test_other_errors_pass_through() -> None:
    client = RecordedClient({("GET", NEW_FILE_DL1): Answer(status=502)})
    with pytest.raises(HTTPStatusError):
        dropbox.HOST.resolve(NEW_FILE, client, None)


def test_a_page_instead_of_a_redirect_is_a_site_change() -> None:
    client = RecordedClient({("GET", NEW_FILE_DL1): Answer(fixture("dropbox", "changed.html"))})
    with pytest.raises(HostChanged) as caught:
        dropbox.HOST.resolve(NEW_FILE, client, None)
    assert caught.value.step == "the download redirect"


def test_a_redirect_elsewhere_is_a_site_change() -> None:
    answer = Answer(status=302, headers={"Location": "https://www.dropbox.com/home/somewhere"})
    client = RecordedClient({("GET", NEW_FILE_DL1): answer})
    with pytest.raises(HostChanged, match="download redirect"):
        dropbox.HOST.resolve(NEW_FILE, client, None)


def test_endless_moves_are_bounded() -> None:
    loop = "https://www.dropbox.com/s/a/b.txt?dl=1"
    client = RecordedClient({("GET", loop): Answer(status=301, headers={"Location": loop})})
    with pytest.raises(HostChanged, match="too many hops"):
        dropbox.HOST.resolve(loop, client, None)
    assert len(client.requests) == dropbox.MAX_HOPS


def test_a_link_that_is_not_a_share_is_a_site_change() -> None:
    with pytest.raises(HostChanged, match="shared file or folder"):
        dropbox.HOST.resolve("https://www.dropbox.com/home", RecordedClient({}), None)


def claims(link: str) -> bool:
    """The registry's rule: a domain matches itself and its subdomains."""
    hostname = urlsplit(link).hostname or ""
    return any(hostname == d or hostname.endswith("." + d) for d in dropbox.HOST.domains)


@pytest.mark.parametrize(
    ("link", "claimed"),
    [
        (NEW_FILE, True),
        ("https://dl.dropboxusercontent.com/s/a/b.txt", True),
        ("https://dl.dropbox.com/s/a/b.txt", True),
        ("https://notdropbox.com/s/a/b.txt", False),
        ("https://dropbox.com.evil.example/s/a/b.txt", False),
    ],
)
def test_only_dropbox_links_are_claimed(link: str, claimed: bool) -> None:
    assert claims(link) is claimed
