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
