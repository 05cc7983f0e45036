"""1fichier's resolver against recorded pages."""

from __future__ import annotations

import pytest

from telebot.sources.hosts.base import HostChanged, HostRefused
from telebot.sources.hosts.onefichier import HOST
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

LINK = "https://1fichier.com/?x7k2m9q4p1ab"


def page(name: str) -> Answer:
    return Answer(fixture("onefichier", name), headers={"Content-Type": "text/html"})


def test_the_form_is_posted_and_the_orange_button_read() -> None:
    client = RecordedClient({("GET", LINK): page("page.html"), ("POST", LINK): page("link.html")})
    resolved = HOST.resolve(LINK, client, None)
    [link] = resolved.links
    assert link.url == "https://a-7.1fichier.com/p1234567890"
    assert resolved.folder_name is None
    assert client.requests[1].data == {"adz": "4.1.0.17", "dl_no_ssl": "on"}


def test_password_goes_with_the_form() -> None:
    with pytest.raises(HostRefused, match="-ap"):
        HOST.resolve(LINK, RecordedClient({("GET", LINK): page("protected.html")}), None)
    client = RecordedClient({("GET", LINK): page("protected.html"),
                             ("POST", LINK): page("link.html")})
    HOST.resolve(LINK, client, "s3same")
    assert client.requests[1].data == {"adz": "4.1.0.17", "dl_no_ssl": "on", "pass": "s3same"}
    wrong = RecordedClient({("GET", LINK): page("protected.html"),
                            ("POST", LINK): page("bad_password.html")})
    with pytest.raises(HostRefused, match="password is wrong"):
        HOST.resolve(LINK, wrong, "nope")


def test_waiting_between_downloads_is_a_refusal_with_the_wait() -> None:
    client = RecordedClient({("GET", LINK): page("page.html"), ("POST", LINK): page("wait.html")})
    with pytest.raises(HostRefused, match="wait 14 minutes"):
        HOST.resolve(LINK, client, None)


def test_missing_file() -> None:
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve(LINK, RecordedClient({("GET", LINK): page("not_found.html")}), None)
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve(LINK, RecordedClient({("GET", LINK): Answer(status=404)}), None)


def test_a_page_without_the_form_is_a_changed_site() -> None:
    with pytest.raises(HostChanged) as caught:
        HOST.resolve(LINK, RecordedClient({("GET", LINK): page("changed.html")}), None)
    assert caught.value.step == "the download form"
    client = RecordedClient({("GET", LINK): page("page.html"),
                             ("POST", LINK): page("changed.html")})
    with pytest.raises(HostChanged, match="the download link after the form"):
        HOST.resolve(LINK, client, None)


def test_a_download_server_link_is_taken_as_it_is() -> None:
    client = RecordedClient({})
    [link] = HOST.resolve("https://a-7.1fichier.com/p1234567890", client, None).links
    assert link.url == "https://a-7.1fichier.com/p1234567890" and client.requests == []
