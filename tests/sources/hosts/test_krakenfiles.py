"""Krakenfiles' resolver against recorded pages."""

from __future__ import annotations

import pytest

from telebot.sources.hosts.base import HostChanged, HostRefused
from telebot.sources.hosts.krakenfiles import HOST
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

LINK = "https://krakenfiles.com/view/Zk9QwE1xYt/file.html"
FORM = "https://krakenfiles.com/download/Zk9QwE1xYt"


def answer(name: str) -> Answer:
    return Answer(fixture("krakenfiles", name))


def test_the_token_is_posted_and_the_json_link_returned() -> None:
    client = RecordedClient({("GET", LINK): answer("page.html"),
                             ("POST", FORM): answer("answer.json")})
    [link] = HOST.resolve(LINK, client, None).links
    assert link.url == ("https://s4.krakencloud.net/force-download/Zk9QwE1xYt"
                        "?token=abc123&expires=1717300000")
    assert link.name == "holiday clip.mp4"
    assert client.requests[1].data == {"token": "9f86d081884c7d659a2feaa0c55ad015"}


def test_a_page_without_the_form_is_a_changed_site() -> None:
    with pytest.raises(HostChanged) as caught:
        HOST.resolve(LINK, RecordedClient({("GET", LINK): answer("changed.html")}), None)
    assert caught.value.step == "the download form"


def test_an_answer_without_the_link_is_a_changed_site() -> None:
    client = RecordedClient({("GET", LINK): answer("page.html"),
                             ("POST", FORM): Answer('{"status":"error"}')})
    with pytest.raises(HostChanged, match="the download link in the form's answer"):
        HOST.resolve(LINK, client, None)


def test_deleted_file() -> None:
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve(LINK, RecordedClient({("GET", LINK): Answer(status=404)}), None)
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve(LINK, RecordedClient({("GET", LINK): answer("not_found.html")}), None)
