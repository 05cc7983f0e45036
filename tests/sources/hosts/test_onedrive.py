"""OneDrive / SharePoint resolver: the shares API for files and folders, SharePoint download=1."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from telebot.errors import HTTPStatusError
from telebot.sources.hosts import onedrive
from telebot.sources.hosts.base import HostChanged, HostRefused
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

API = "https://api.onedrive.com/v1.0/shares"
FILE_LINK = "https://1drv.ms/u/s!AkL9x8Bq3fZ0gQ"
FILE_TOKEN = "u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0w5eDhCcTNmWjBnUQ"  # `base64 -w0 | tr +/ -_`, "=" cut
FOLDER_LINK = "https://1drv.ms/f/s!AkL9x8Bq3fZ0gR"
FOLDER_TOKEN = "u!aHR0cHM6Ly8xZHJ2Lm1zL2YvcyFBa0w5eDhCcTNmWjBnUg"
FILE_ROOT = f"{API}/{FILE_TOKEN}/root?expand=children"
FOLDER_ROOT = f"{API}/{FOLDER_TOKEN}/root?expand=children"
NEXT_PAGE = f"{API}/{FOLDER_TOKEN}/items/9A1B2C3D4E5F6071!200/children?$skiptoken=MjAw"
SUBFOLDER = f"{API}/{FOLDER_TOKEN}/items/9A1B2C3D4E5F6071!210?expand=children"


def test_the_share_token_is_u_bang_base64url_without_padding() -> None:
    assert onedrive.share_token(FILE_LINK) == FILE_TOKEN
    assert "=" not in onedrive.share_token("https://1drv.ms/u/s!A")


def test_a_shared_file_gives_its_download_url_name_and_size() -> None:
    client = RecordedClient({("GET", FILE_ROOT): Answer(fixture("onedrive", "file.json"))})
    resolved = onedrive.HOST.resolve(FILE_LINK, client, None)
    assert resolved.host == "OneDrive"
    assert resolved.folder_name is None
    [only] = resolved.links
    assert (only.url, only.name, only.size, only.folder) == (
        "https://public.am.files.1drv.com/y4mQx1Zs/holiday.mp4?download&psid=1",
        "holiday.mp4",
        73400320,
        "",
    )


def test_an_onedrive_live_link_is_encoded_as_given() -> None:
    link = (
        "https://onedrive.live.com/?cid=9A1B2C3D4E5F6071&resid=9A1B2C3D4E5F6071%21105&authkey=!AHk3"
    )
    url = f"{API}/{onedrive.share_token(link)}/root?expand=children"
    client = RecordedClient({("GET", url): Answer(fixture("onedrive", "file.json"))})
    [only] = onedrive.HOST.resolve(link, client, None).links
    assert only.name == "holiday.mp4"


def folder_client() -> RecordedClient:
    return RecordedClient(
        {
            ("GET", FOLDER_ROOT): Answer(fixture("onedrive", "folder.json")),
            ("GET", NEXT_PAGE): Answer(fixture("onedrive", "folder_page2.json")),
            ("GET", SUBFOLDER): Answer(fixture("onedrive", "subfolder.json")),
        }
    )


def test_a_shared_folder_is_walked_with_pages_and_subfolders() -> None:
    client = folder_client()
    resolved = onedrive.HOST.resolve(FOLDER_LINK, client, None)
    assert resolved.folder_name == "Trip 2024"
    got = {(link.folder, link.name, link.size) for link in resolved.links}
    assert got == {
        ("", "plan.pdf", 1000),
        ("", "_escape.txt", 7),  # "../escape.txt" from the host stays a plain name
        ("Day 1", "beach.jpg", 200),
        # The OneNote notebook (a "package") has no single file and is skipped.
    }
    assert [r.url for r in client.requests] == [FOLDER_ROOT, NEXT_PAGE, SUBFOLDER]


def test_folder_depth_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onedrive, "MAX_DEPTH", 0)
    client = folder_client()
    resolved = onedrive.HOST.resolve(FOLDER_LINK, client, None)
    assert {link.folder for link in resolved.links} == {""}
    assert SUBFOLDER not in [r.url for r in client.requests]


def test_folder_requests_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onedrive, "MAX_REQUESTS", 2)
    with pytest.raises(HostRefused, match="more than 2 requests"):
        onedrive.HOST.resolve(FOLDER_LINK, folder_client(), None)


def test_a_next_page_off_the_api_is_not_followed() -> None:
    folder = fixture("onedrive", "folder.json").replace(
        "https://api.onedrive.com/v1.0/shares/u!", "https://evil.example/shares/u!"
    )
    client = RecordedClient({("GET", FOLDER_ROOT): Answer(folder)})
    with pytest.raises(HostChanged) as caught:
        onedrive.HOST.resolve(FOLDER_LINK, client, None)
    assert caught.value.step == "the folder's next page"


def test_a_file_without_download_url_is_a_site_change() -> None:
    changed = fixture("onedrive", "file.json").replace("@content.downloadUrl", "@other")
    client = RecordedClient({("GET", FILE_ROOT): Answer(changed)})
    with pytest.raises(HostChanged) as caught:
        onedrive.HOST.resolve(FILE_LINK, client, None)
    assert caught.value.step == "the file's download URL"


def test_an_answer_that_is_not_json_is_a_site_change() -> None:
    client = RecordedClient({("GET", FILE_ROOT): Answer("<html>maintenance</html>")})
    with pytest.raises(HostChanged, match="shares API"):
        onedrive.HOST.resolve(FILE_LINK, client, None)


@pytest.mark.parametrize(("status", "words"), [(404, "deleted"), (403, "password-protected")])
def test_refusals_by_status(status: int, words: str) -> None:
    client = RecordedClient({("GET", FILE_ROOT): Answer(status=status)})
    with pytest.raises(HostRefused, match=words):
        onedrive.HOST.resolve(FILE_LINK, client, "pw")


def test_the_api_asking_for_sign_in_is_a_site_change_for_the_maintainer() -> None:
    client = RecordedClient({("GET", FILE_ROOT): Answer(status=401)})
    with pytest.raises(HostChanged) as caught:
        onedrive.HOST.resolve(FILE_LINK, client, None)
    assert caught.value.step == "anonymous access to the shares API (it asked for sign-in)"


def test_other_errors_pass_through() -> None:
    client = RecordedClient({("GET", FILE_ROOT): Answer(status=503)})
    with pytest.raises(HTTPStatusError):
        onedrive.HOST.resolve(FILE_LINK, client, None)


SP_LINK = "https://contoso-my.sharepoint.com/:u:/g/personal/ann_contoso_com/EQx1AbC?e=Zy9"
SP_ASKED = (
    "https://contoso-my.sharepoint.com/:u:/g/personal/ann_contoso_com/EQx1AbC?e=Zy9&download=1"
)


def test_a_sharepoint_file_redirect_is_handed_on_with_its_cookies() -> None:
    location = "/personal/ann_contoso_com/_layouts/15/download.aspx?UniqueId=5a1b&Translate=false"
    answer = Answer(
        status=302, headers={"Location": location}, cookies={"FedAuth": "77u/PD94", "rtFa": "x1"}
    )
    client = RecordedClient({("GET", SP_ASKED): answer})
    [only] = onedrive.HOST.resolve(SP_LINK, client, None).links
    assert only.url == "https://contoso-my.sharepoint.com" + location
    assert only.headers == {"Cookie": "FedAuth=77u/PD94; rtFa=x1"}


def test_a_sharepoint_sign_in_redirect_is_refused() -> None:
    answer = Answer(
        fixture("onedrive", "signin.html"),
        status=302,
        headers={"Location": "https://login.microsoftonline.com/common/oauth2/authorize?x=1"},
    )
    client = RecordedClient({("GET", SP_ASKED): answer})
    with pytest.raises(HostRefused, match="sign-in"):
        onedrive.HOST.resolve(SP_LINK, client, None)


def test_a_sharepoint_password_page_is_refused() -> None:
    page = Answer(fixture("onedrive", "sharepoint_password.html"))
    client = RecordedClient({("GET", SP_ASKED): page})
    with pytest.raises(HostRefused, match="password-protected"):
        onedrive.HOST.resolve(SP_LINK, client, "pw")


def test_a_sharepoint_page_without_redirect_is_a_site_change() -> None:
    client = RecordedClient({("GET", SP_ASKED): Answer("<html><body>hello</body></html>")})
    with pytest.raises(HostChanged) as caught:
        onedrive.HOST.resolve(SP_LINK, client, None)
    assert caught.value.step == "the SharePoint download redirect"


def test_a_sharepoint_folder_link_is_refused_without_a_request() -> None:
    client = RecordedClient({})
    with pytest.raises(HostRefused, match="folder links are not supported"):
        onedrive.HOST.resolve(
            "https://contoso.sharepoint.com/:f:/s/Team/EkFoLdEr?e=1", client, None
        )
    assert client.requests == []


def test_a_sharepoint_link_that_is_not_a_share_is_a_site_change() -> None:
    with pytest.raises(HostChanged, match="SharePoint share link"):
        onedrive.HOST.resolve("https://contoso.sharepoint.com/sites/Team", RecordedClient({}), None)


def claims(link: str) -> bool:
    """The registry's rule: a domain matches itself and its subdomains."""
    hostname = urlsplit(link).hostname or ""
    return any(hostname == d or hostname.endswith("." + d) for d in onedrive.HOST.domains)


@pytest.mark.parametrize(
    ("link", "claimed"),
    [
        (FILE_LINK, True),
        ("https://onedrive.live.com/?cid=1&resid=1%212", True),
        (SP_LINK, True),
        ("https://sharepoint.com.evil.example/:u:/g/x", False),
        ("https://my1drv.ms/u/s!x", False),
        ("https://api.onedrive.com/v1.0/shares/x", False),
    ],
)
def test_only_onedrive_and_sharepoint_links_are_claimed(link: str, claimed: bool) -> None:
    assert claims(link) is claimed
