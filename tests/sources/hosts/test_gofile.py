"""GoFile's resolver against recorded API answers."""

from __future__ import annotations

import hashlib

import pytest

from telebot.sources.hosts.base import HostChanged, HostRefused
from telebot.sources.hosts.gofile import HOST
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

API = "https://api.gofile.io"
SCRIPT = "https://gofile.io/dist/js/global.js"
WT = "4fd6sg89d7s6"


def answer(name: str) -> Answer:
    return Answer(fixture("gofile", name))


def answers(code: str, contents: str, password: str | None = None,
            script: str = "global.js") -> dict[tuple[str, str], Answer]:
    query = f"?wt={WT}" + (f"&password={hashlib.sha256(password.encode()).hexdigest()}"
                           if password else "")
    return {("POST", f"{API}/accounts"): answer("accounts.json"),
            ("GET", SCRIPT): answer(script),
            ("GET", f"{API}/contents/{code}{query}"): answer(contents)}


def test_nested_folder_with_the_account_cookie() -> None:
    recorded = answers("AbC123", "folder.json")
    recorded[("GET", f"{API}/contents/d-2222?wt={WT}")] = answer("subfolder.json")
    client = RecordedClient(recorded)
    resolved = HOST.resolve("https://gofile.io/d/AbC123", client, None)
    assert resolved.folder_name == "Album 2024"
    assert [(link.folder, link.name, link.size, link.url) for link in resolved.links] == [
        ("", "cover.png", 1000, "https://store7.gofile.io/download/web/f-1111/cover.png"),
        ("Disc 1", "01 intro.flac", 2000,
         "https://store7.gofile.io/download/web/f-3333/01%20intro.flac")]
    assert all(link.headers == {"Cookie": "accountToken=GuestTok3nABCDEF"}
               for link in resolved.links)
    contents = [r for r in client.requests if "/contents/" in r.url]
    assert all(r.headers["Authorization"] == "Bearer GuestTok3nABCDEF" for r in contents)


def test_one_file_arrives_as_that_file() -> None:
    resolved = HOST.resolve("https://gofile.io/d/OnE789",
                            RecordedClient(answers("OnE789", "single.json")), None)
    assert resolved.folder_name is None
    [link] = resolved.links
    assert link.name == "setup.exe"


def test_password_is_sent_as_its_sha256() -> None:
    with pytest.raises(HostRefused, match="-ap"):
        HOST.resolve("https://gofile.io/d/PwD000",
                     RecordedClient(answers("PwD000", "password_required.json")), None)
    with pytest.raises(HostRefused, match="password is wrong"):
        HOST.resolve("https://gofile.io/d/PwD000",
                     RecordedClient(answers("PwD000", "password_wrong.json", "nope")), "nope")
    resolved = HOST.resolve("https://gofile.io/d/PwD000",
                            RecordedClient(answers("PwD000", "single.json", "open sesame")),
                            "open sesame")
    assert [link.name for link in resolved.links] == ["setup.exe"]


def test_deleted_share_is_a_refusal() -> None:
    with pytest.raises(HostRefused, match="deleted"):
        HOST.resolve("https://gofile.io/d/Gone00",
                     RecordedClient(answers("Gone00", "not_found.json")), None)


def test_a_script_without_the_token_is_a_changed_site() -> None:
    with pytest.raises(HostChanged) as caught:
        HOST.resolve("https://gofile.io/d/AbC123",
                     RecordedClient(answers("AbC123", "folder.json", script="global_changed.js")),
                     None)
    assert caught.value.step == "the website token in the site's script"


def test_other_links_are_refused() -> None:
    with pytest.raises(HostRefused, match=r"gofile\.io/d/"):
        HOST.resolve("https://gofile.io/myProfile", RecordedClient({}), None)
