"""MediaFire's resolver against recorded pages and API answers."""

from __future__ import annotations

import pytest

from telebot.sources.hosts.base import HostChanged, HostRefused
from telebot.sources.hosts.mediafire import HOST
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

PAGE = "https://www.mediafire.com/file/k3yq8ck2z1/song.mp3/file"
API = "https://www.mediafire.com/api/1.5/folder"


def page(name: str, **kw: object) -> Answer:
    return Answer(fixture("mediafire", name), headers={"Content-Type": "text/html"}, **kw)  # type: ignore[arg-type]


def api(name: str) -> Answer:
    return Answer(fixture("mediafire", name), headers={"Content-Type": "application/json"})


def content(key: str, kind: str) -> str:
    return (f"{API}/get_content.php?folder_key={key}&content_type={kind}&chunk=1"
            "&response_format=json")


def test_file_page_gives_the_download_button_link() -> None:
    client = RecordedClient({("GET", PAGE): page("file.html")})
    resolved = HOST.resolve(PAGE, client, None)
    [link] = resolved.links
    assert link.url == "https://download1587.mediafire.com/abcd1234efgh/k3yq8ck2z1/song.mp3"
    assert link.headers["Referer"] == PAGE
    assert resolved.folder_name is None and resolved.host == "MediaFire"


def test_scrambled_link_is_decoded() -> None:
    client = RecordedClient({("GET", PAGE): page("scrambled.html")})
    [link] = HOST.resolve(PAGE, client, None).links
    assert link.url == "https://download2001.mediafire.com/xyz/r3p0rt/report.pdf"


def test_a_page_without_the_button_is_a_changed_site() -> None:
    client = RecordedClient({("GET", PAGE): page("changed.html")})
    with pytest.raises(HostChanged) as caught:
        HOST.resolve(PAGE, client, None)
    assert caught.value.step == "the download button"
    assert str(caught.value) == ("MediaFire: could not find the download button "
                                 "(the site may have changed)")


def test_deleted_file_redirects_to_the_error_page() -> None:
    gone = "https://www.mediafire.com/error.php?errno=320&origin=download"
    client = RecordedClient({("GET", PAGE): page("changed.html", url=gone)})
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve(PAGE, client, None)


def test_404_is_a_refusal() -> None:
    client = RecordedClient({("GET", PAGE): Answer("not found", status=404)})
    with pytest.raises(HostRefused, match="deleted or the link is wrong"):
        HOST.resolve(PAGE, client, None)


def test_password_is_asked_for_then_posted() -> None:
    asked = RecordedClient({("GET", PAGE): page("password.html")})
    with pytest.raises(HostRefused, match="-ap"):
        HOST.resolve(PAGE, asked, None)
    client = RecordedClient({("GET", PAGE): page("password.html"),
                             ("POST", PAGE): page("file.html")})
    [link] = HOST.resolve(PAGE, client, "hunter2").links
    assert link.url.endswith("/song.mp3")
    assert client.requests[1].data == {"downloadp": "hunter2"}
    wrong = RecordedClient({("GET", PAGE): page("password.html"),
                            ("POST", PAGE): page("password.html")})
    with pytest.raises(HostRefused, match="password is wrong"):
        HOST.resolve(PAGE, wrong, "nope")


def folder_answers() -> dict[tuple[str, str], Answer]:
    return {
        ("GET", f"{API}/get_info.php?folder_key=f0ld3rk3y&response_format=json"):
            api("folder_info.json"),
        ("GET", content("f0ld3rk3y", "files")): api("folder_files.json"),
        ("GET", content("f0ld3rk3y", "folders")): api("folder_folders.json"),
        ("GET", content("sub222", "files")): api("sub_files.json"),
        ("GET", content("sub222", "folders")): api("sub_folders.json"),
        ("GET", "https://www.mediafire.com/file/aaa111/beach.jpg/file"): page("beach.html"),
        ("GET", "https://www.mediafire.com/file/bbb222/sunset.jpg/file"): page("sunset.html"),
    }


def test_folder_lists_files_and_nested_folders() -> None:
    client = RecordedClient(folder_answers())
    resolved = HOST.resolve("https://www.mediafire.com/folder/f0ld3rk3y/Holiday+Photos",
                            client, None)
    assert resolved.folder_name == "Holiday Photos"
    assert [(link.folder, link.name, link.size) for link in resolved.links] == [
        ("", "beach.jpg", 1200), ("Day 2", "sunset.jpg", 2400)]
    assert resolved.links[1].url == "https://download2202.mediafire.com/q9/bbb222/sunset.jpg"


def test_missing_folder_is_a_refusal() -> None:
    client = RecordedClient({
        ("GET", f"{API}/get_info.php?folder_key=nope&response_format=json"):
            api("folder_missing.json")})
    with pytest.raises(HostRefused, match="Unknown or Invalid FolderKey"):
        HOST.resolve("https://www.mediafire.com/folder/nope", client, None)


def test_folder_listing_without_files_is_a_changed_site() -> None:
    answers = folder_answers()
    answers[("GET", content("f0ld3rk3y", "files"))] = Answer('{"response":{"result":"Success",'
                                                            '"folder_content":{"items":[]}}}')
    with pytest.raises(HostChanged) as caught:
        HOST.resolve("https://www.mediafire.com/folder/f0ld3rk3y", RecordedClient(answers), None)
    assert "files" in caught.value.step


def test_a_direct_download_link_is_taken_as_it_is() -> None:
    direct = "https://download1587.mediafire.com/abcd1234efgh/k3yq8ck2z1/song.mp3"
    client = RecordedClient({})
    [link] = HOST.resolve(direct, client, None).links
    assert link.url == direct and client.requests == []
