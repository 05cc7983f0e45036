"""Pixeldrain's resolver against recorded API answers."""

from __future__ import annotations

import pytest

from telebot.sources.hosts.base import HostChanged, HostRefused
from telebot.sources.hosts.pixeldrain import HOST
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture


def api(name: str, status: int = 200) -> Answer:
    return Answer(fixture("pixeldrain", name), status=status,
                  headers={"Content-Type": "application/json"})


def test_file_link_gives_the_api_download_with_name_and_size() -> None:
    client = RecordedClient({("GET", "https://pixeldrain.com/api/file/Ab3dEf9h/info"):
                             api("info.json")})
    resolved = HOST.resolve("https://pixeldrain.com/u/Ab3dEf9h", client, None)
    [link] = resolved.links
    assert link.url == "https://pixeldrain.com/api/file/Ab3dEf9h?download"
    assert (link.name, link.size) == ("lecture 01.mkv", 734003200)
    assert resolved.folder_name is None


def test_list_arrives_as_a_folder() -> None:
    client = RecordedClient({("GET", "https://pixeldrain.com/api/list/Lst42xYz"):
                             api("list.json")})
    resolved = HOST.resolve("https://pixeldrain.com/l/Lst42xYz#item=1", client, None)
    assert resolved.folder_name == "Course notes"
    assert [(link.url, link.name, link.size) for link in resolved.links] == [
        ("https://pixeldrain.com/api/file/Fi1eOne1?download", "week1.pdf", 2048),
        ("https://pixeldrain.com/api/file/Fi1eTwo2?download", "week2.pdf", 4096)]


def test_deleted_file_is_a_refusal() -> None:
    client = RecordedClient({("GET", "https://pixeldrain.com/api/file/Gone0000/info"):
                             api("not_found.json", status=404)})
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve("https://pixeldrain.com/u/Gone0000", client, None)


def test_changed_api_names_the_step() -> None:
    client = RecordedClient({("GET", "https://pixeldrain.com/api/file/Ab3dEf9h/info"):
                             api("changed_info.json")})
    with pytest.raises(HostChanged) as caught:
        HOST.resolve("https://pixeldrain.com/u/Ab3dEf9h", client, None)
    assert caught.value.step == "the file's info"


def test_other_paths_are_refused_without_a_request() -> None:
    client = RecordedClient({})
    with pytest.raises(HostRefused, match="not a file or list link"):
        HOST.resolve("https://pixeldrain.com/about", client, None)
    assert client.requests == []


def test_the_api_file_link_is_resolved_like_the_share() -> None:
    client = RecordedClient({("GET", "https://pixeldrain.com/api/file/Ab3dEf9h/info"):
                             api("info.json")})
    [link] = HOST.resolve("https://pixeldrain.com/api/file/Ab3dEf9h?download", client, None).links
    assert link.name == "lecture 01.mkv"


def test_a_file_held_behind_a_captcha_is_refused_in_plain_words() -> None:
    """Pixeldrain's info says ``availability: file_rate_limited_captcha_required`` when its
    viewer would ask a captcha: the download would only get an error, so it is refused."""
    client = RecordedClient({("GET", "https://pixeldrain.com/api/file/Hot1ink9/info"):
                             api("info_captcha.json")})
    with pytest.raises(HostRefused) as caught:
        HOST.resolve("https://pixeldrain.com/u/Hot1ink9", client, None)
    assert str(caught.value) == ("Pixeldrain: “popular.zip”: Pixeldrain asks for a captcha in a "
                                 "browser before it serves this file (it drew too much traffic)")


def test_another_refusal_shows_the_hosts_words_without_markup() -> None:
    client = RecordedClient({("GET", "https://pixeldrain.com/api/file/Lega1000/info"):
                             api("info_unavailable.json")})
    with pytest.raises(HostRefused) as caught:
        HOST.resolve("https://pixeldrain.com/u/Lega1000", client, None)
    assert str(caught.value) == ("Pixeldrain: “movie.mkv”: the file is not available (This file "
                                 "has been removed after a copyright claim.)")


def test_a_list_with_a_held_back_file_is_refused_whole() -> None:
    """Not a silently partial folder: the file held back is named."""
    client = RecordedClient({("GET", "https://pixeldrain.com/api/list/Lst99Mal"):
                             api("list_held.json")})
    with pytest.raises(HostRefused, match=r"“crack\.exe”: .*flagged it as malware"):
        HOST.resolve("https://pixeldrain.com/l/Lst99Mal", client, None)


def test_a_password_is_not_sent_anywhere() -> None:
    """Pixeldrain files and lists have no password: ``-ap`` changes no request (the recorded
    client fails on any request it was not given) and the list arrives as without it."""
    client = RecordedClient({("GET", "https://pixeldrain.com/api/list/Lst42xYz"):
                             api("list.json")})
    resolved = HOST.resolve("https://pixeldrain.com/l/Lst42xYz", client, "s3cret")
    assert [link.name for link in resolved.links] == ["week1.pdf", "week2.pdf"]
    assert all(not link.headers for link in resolved.links)
    assert all("s3cret" not in repr(sent) for sent in client.requests)
