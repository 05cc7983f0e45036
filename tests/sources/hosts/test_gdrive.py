"""Google Drive resolver: file links of every shape, the confirmation step, folders, refusals."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from telebot.errors import HTTPStatusError
from telebot.sources.hosts import gdrive
from telebot.sources.hosts.base import HostChanged, HostRefused
from tests.sources.hosts.recorded import Answer, RecordedClient, fixture

FILE_ID = "1AbCdEfGhIjKlMnOpQrS"
PROBE = f"https://drive.usercontent.google.com/download?id={FILE_ID}&export=download"
DIRECT = f"https://drive.usercontent.google.com/download?id={FILE_ID}&export=download&confirm=t"
TOP = "1TopFolderAbCdEfGhIjK"
SUB = "1SubFolderAbCdEfGhIjK"
DEEP = "1DeepFolderAbCdEfGhIj"


def folder_url(folder_id: str) -> str:
    return f"https://drive.google.com/drive/folders/{folder_id}?hl=en"


def first_byte() -> Answer:
    """What Drive answers a one-byte range of a small public file."""
    return Answer(
        text="P",
        status=206,
        headers={
            "Content-Disposition": (
                "attachment; filename=\"report.pdf\"; filename*=UTF-8''r%C3%A9port.pdf"
            ),
            "Content-Range": "bytes 0-0/1048576",
            "Content-Type": "application/pdf",
        },
    )


@pytest.mark.parametrize(
    "link",
    [
        f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing",
        f"https://drive.google.com/file/u/0/d/{FILE_ID}/view",
        f"https://drive.google.com/uc?id={FILE_ID}&export=download",
        f"https://docs.google.com/uc?export=download&id={FILE_ID}",
        f"https://drive.usercontent.google.com/download?id={FILE_ID}&export=download",
    ],
)
def test_a_small_file_is_probed_with_one_byte_and_gets_name_and_size(link: str) -> None:
    client = RecordedClient({("GET", PROBE): first_byte()})
    resolved = gdrive.HOST.resolve(link, client, None)
    assert resolved.host == "Google Drive"
    assert resolved.folder_name is None
    [only] = resolved.links
    assert (only.url, only.name, only.size, only.folder) == (DIRECT, "réport.pdf", 1048576, "")
    # The probe asked for one byte only: the resolver never downloads the payload.
    assert [r.headers for r in client.requests] == [{"Range": "bytes=0-0"}]


def test_an_open_link_is_asked_whether_it_is_a_file() -> None:
    opened = f"https://drive.google.com/open?id={FILE_ID}"
    client = RecordedClient(
        {
            ("GET", opened): Answer(
                "<html><title>x - Google Drive</title></html>",
                url=f"https://drive.google.com/file/d/{FILE_ID}/view",
            ),
            ("GET", PROBE): first_byte(),
        }
    )
    [only] = gdrive.HOST.resolve(opened, client, None).links
    assert only.url == DIRECT


def test_an_open_link_to_a_folder_lists_the_folder() -> None:
    opened = f"https://drive.google.com/open?id={TOP}"
    client = folder_client()
    client.answers[("GET", opened)] = Answer(
        "<html></html>", url=f"https://drive.google.com/drive/folders/{TOP}"
    )
    resolved = gdrive.HOST.resolve(opened, client, None)
    assert resolved.folder_name == "My Show"
    assert [r.url for r in client.requests][:2] == [opened, folder_url(TOP)]


def test_a_resource_key_travels_with_the_probe_and_the_direct_link() -> None:
    link = f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing&resourcekey=0-Kx_9"
    client = RecordedClient({("GET", PROBE + "&resourcekey=0-Kx_9"): first_byte()})
    [only] = gdrive.HOST.resolve(link, client, None).links
    assert only.url == DIRECT + "&resourcekey=0-Kx_9"


def test_a_resource_key_is_added_to_a_form_without_one() -> None:
    big = "1BigFileAbCdEfGhIjKl"
    probe = f"https://drive.usercontent.google.com/download?id={big}&export=download"
    client = RecordedClient(
        {("GET", probe + "&resourcekey=0-Kx_9"): Answer(fixture("gdrive", "confirm.html"))}
    )
    link = f"https://drive.google.com/file/d/{big}/view?resourcekey=0-Kx_9"
    [only] = gdrive.HOST.resolve(link, client, None).links
    assert only.url == (
        "https://drive.usercontent.google.com/download?resourcekey=0-Kx_9"
        "&id=1BigFileAbCdEfGhIjKl&export=download"
        "&confirm=t&uuid=5e1c2a9b-3f4d-4e6a-9b8c-0d1e2f3a4b5c"
    )


def test_the_large_file_confirmation_form_is_followed() -> None:
    big = "1BigFileAbCdEfGhIjKl"
    probe = f"https://drive.usercontent.google.com/download?id={big}&export=download"
    client = RecordedClient({("GET", probe): Answer(fixture("gdrive", "confirm.html"))})
    [only] = gdrive.HOST.resolve(f"https://drive.google.com/file/d/{big}/view", client, None).links
    assert only.url == (
        "https://drive.usercontent.google.com/download?id=1BigFileAbCdEfGhIjKl&export=download"
        "&confirm=t&uuid=5e1c2a9b-3f4d-4e6a-9b8c-0d1e2f3a4b5c"
    )
    assert only.name == "Big & Bold.iso"
    assert only.size is None  # the page shows "4.2G", which is not an exact size


def test_the_older_confirm_token_in_a_link_is_followed() -> None:
    old = "1OldFileAbCdEfGhIjKl"
    probe = f"https://drive.usercontent.google.com/download?id={old}&export=download"
    client = RecordedClient({("GET", probe): Answer(fixture("gdrive", "confirm_old.html"))})
    [only] = gdrive.HOST.resolve(f"https://drive.google.com/uc?id={old}", client, None).links
    assert only.url == f"https://drive.google.com/uc?export=download&confirm=Xk3_&id={old}"


def test_the_older_download_warning_cookie_becomes_token_and_header() -> None:
    answer = Answer("<html><body>warning</body></html>", cookies={"download_warning_13058": "Zq9"})
    client = RecordedClient({("GET", PROBE): answer})
    [only] = gdrive.HOST.resolve(f"https://drive.google.com/uc?id={FILE_ID}", client, None).links
    assert only.url == f"https://drive.google.com/uc?export=download&confirm=Zq9&id={FILE_ID}"
    assert only.headers == {"Cookie": "download_warning_13058=Zq9"}


def test_a_form_pointing_outside_http_is_not_followed() -> None:
    page = fixture("gdrive", "confirm.html").replace(
        'action="https://drive.usercontent.google.com/download"', 'action="file:///etc/passwd"'
    )
    big = "1BigFileAbCdEfGhIjKl"
    probe = f"https://drive.usercontent.google.com/download?id={big}&export=download"
    client = RecordedClient({("GET", probe): Answer(page)})
    with pytest.raises(HostChanged) as caught:
        gdrive.HOST.resolve(f"https://drive.google.com/file/d/{big}/view", client, None)
    assert caught.value.step == "the download form's address"


def test_an_unknown_page_is_a_site_change_naming_the_download_form() -> None:
    client = RecordedClient({("GET", PROBE): Answer(fixture("gdrive", "changed.html"))})
    with pytest.raises(HostChanged) as caught:
        gdrive.HOST.resolve(f"https://drive.google.com/file/d/{FILE_ID}/view", client, None)
    assert caught.value.step == "the download form"
    assert str(caught.value) == (
        "Google Drive: could not find the download form (the site may have changed)"
    )


def test_quota_exceeded_is_refused_in_plain_words() -> None:
    client = RecordedClient({("GET", PROBE): Answer(fixture("gdrive", "quota.html"))})
    with pytest.raises(HostRefused, match="quota is exceeded"):
        gdrive.HOST.resolve(f"https://drive.google.com/file/d/{FILE_ID}/view", client, None)


def test_a_private_file_redirects_to_sign_in_and_is_refused() -> None:
    answer = Answer(
        fixture("gdrive", "signin.html"),
        url="https://accounts.google.com/ServiceLogin?continue=https://drive.google.com/",
    )
    client = RecordedClient({("GET", PROBE): answer})
    with pytest.raises(HostRefused, match="not public"):
        gdrive.HOST.resolve(f"https://drive.google.com/file/d/{FILE_ID}/view", client, None)


@pytest.mark.parametrize(
    ("status", "words"), [(404, "does not exist"), (403, "not shared"), (429, "try again later")]
)
def test_refusals_by_status(status: int, words: str) -> None:
    client = RecordedClient({("GET", PROBE): Answer(status=status)})
    with pytest.raises(HostRefused, match=words):
        gdrive.HOST.resolve(f"https://drive.google.com/file/d/{FILE_ID}/view", client, None)


def test_other_http_errors_pass_through() -> None:
    client = RecordedClient({("GET", PROBE): Answer(status=500)})
    with pytest.raises(HTTPStatusError):
        gdrive.HOST.resolve(f"https://drive.google.com/file/d/{FILE_ID}/view", client, None)


def test_a_link_without_an_id_is_a_site_change() -> None:
    with pytest.raises(HostChanged, match="id in the link"):
        gdrive.HOST.resolve("https://drive.google.com/drive/my-drive", RecordedClient({}), None)


def test_native_document_links_are_exported_without_a_request() -> None:
    client = RecordedClient({})
    resolved = gdrive.HOST.resolve(
        "https://docs.google.com/spreadsheets/d/1SheetAbCdEfGhIjKlMn/edit#gid=0", client, None
    )
    assert [link.url for link in resolved.links] == [
        "https://docs.google.com/spreadsheets/d/1SheetAbCdEfGhIjKlMn/export?format=xlsx"
    ]
    assert client.requests == []


def folder_client() -> RecordedClient:
    return RecordedClient(
        {
            ("GET", folder_url(TOP)): Answer(fixture("gdrive", "folder_top.html")),
            ("GET", folder_url(SUB)): Answer(fixture("gdrive", "folder_sub.html")),
            ("GET", folder_url(DEEP)): Answer(fixture("gdrive", "folder_deep.html")),
        }
    )


def test_a_folder_is_listed_recursively_with_safe_relative_paths() -> None:
    client = folder_client()
    resolved = gdrive.HOST.resolve(
        f"https://drive.google.com/drive/folders/{TOP}?usp=sharing", client, None
    )
    assert resolved.folder_name == "My Show"
    got = {(link.folder, link.name, link.url) for link in resolved.links}
    assert got == {
        ("", "README.md", gdrive.direct_url("1FileReadmeAbCdEfGhIj")),
        # A Google Doc is exported; the Form next to it has nothing to download and is skipped.
        (
            "",
            "Notes.docx",
            "https://docs.google.com/document/d/1DocNotesAbCdEfGhIjKl/export?format=docx",
        ),
        ("Season 1", "Épisode 01.mkv", gdrive.direct_url("1FileEp01AbCdEfGhIjKl")),
        # Host-given names never climb out: "../../etc/passwd" and "Extras/.." stay inside.
        ("Season 1", "_.._etc_passwd", gdrive.direct_url("1FileBadNameAbCdEfGhI")),
        ("Season 1/Extras_..", "bonus.txt", gdrive.direct_url("1FileDeepAbCdEfGhIjKl")),
    }
    for link in resolved.links:
        assert not link.folder.startswith("/")
        assert ".." not in link.folder.split("/")
    assert [r.url for r in client.requests] == [folder_url(TOP), folder_url(SUB), folder_url(DEEP)]


def test_folder_names_with_quotes_and_escapes_are_decoded() -> None:
    # As Google writes it: JSON inside a single-quoted JS string, with \xHH, \uHHHH, \/ and
    # \\ escapes; the name is: Tom's "best" /cut\é.txt
    ivd = (
        r"\x5b\x5b\x5b\x221QuoteFileAbCdEfGhIj\x22,\x5b\x22p\x22\x5d,"
        r"\x22Tom\x27s \\\x22best\\\x22 \/cut\\\\\u00e9.txt\x22,\x22text\/plain\x22\x5d\x5d\x5d"
    )
    page = f"<title>Q - Google Drive</title><script>window['_DRIVE_ivd'] = '{ivd}';</script>"
    client = RecordedClient({("GET", folder_url(TOP)): Answer(page)})
    [only] = gdrive.HOST.resolve(
        f"https://drive.google.com/drive/folders/{TOP}", client, None
    ).links
    assert only.name == 'Tom\'s "best" _cut_é.txt'


def test_folder_depth_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gdrive, "MAX_DEPTH", 1)
    client = folder_client()
    resolved = gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", client, None)
    assert all(link.folder in ("", "Season 1") for link in resolved.links)
    assert folder_url(DEEP) not in [r.url for r in client.requests]


def test_folder_file_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gdrive, "MAX_FILES", 2)
    with pytest.raises(HostRefused, match="more than 2 files"):
        gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", folder_client(), None)


def test_a_folder_at_the_listing_cap_is_refused_rather_than_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gdrive, "LISTING_CAP", 3)  # the top page lists 4
    client = folder_client()
    client.answers[("GET", folder_url(TOP))] = Answer(
        fixture("gdrive", "folder_top.html").replace("My Show", "Top")
    )
    with pytest.raises(HostRefused, match='folder "Top" shows 4 entries'):
        gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", client, None)


def test_an_empty_folder_is_refused() -> None:
    client = RecordedClient(
        {("GET", folder_url(TOP)): Answer(fixture("gdrive", "folder_empty.html"))}
    )
    with pytest.raises(HostRefused, match="no downloadable files"):
        gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", client, None)


@pytest.mark.parametrize(
    ("page", "step"),
    [
        ("changed.html", "the folder's file list"),
        ("folder_rows_changed.html", "the folder's entries (id, name, type)"),
    ],
)
def test_a_folder_page_without_its_data_is_a_site_change(page: str, step: str) -> None:
    client = RecordedClient({("GET", folder_url(TOP)): Answer(fixture("gdrive", page))})
    with pytest.raises(HostChanged) as caught:
        gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", client, None)
    assert caught.value.step == step


def test_a_private_subfolder_refuses_the_whole_folder() -> None:
    client = folder_client()
    client.answers[("GET", folder_url(SUB))] = Answer(
        fixture("gdrive", "signin.html"), url="https://accounts.google.com/ServiceLogin"
    )
    with pytest.raises(HostRefused, match="not public"):
        gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", client, None)


def test_a_deleted_folder_is_refused() -> None:
    client = RecordedClient({("GET", folder_url(TOP)): Answer(status=404)})
    with pytest.raises(HostRefused, match="does not exist"):
        gdrive.HOST.resolve(f"https://drive.google.com/drive/folders/{TOP}", client, None)


def claims(link: str) -> bool:
    """The registry's rule: a domain matches itself and its subdomains."""
    hostname = urlsplit(link).hostname or ""
    return any(hostname == d or hostname.endswith("." + d) for d in gdrive.HOST.domains)


@pytest.mark.parametrize(
    ("link", "claimed"),
    [
        (f"https://drive.google.com/file/d/{FILE_ID}/view", True),
        (f"https://docs.google.com/uc?id={FILE_ID}", True),
        (f"https://drive.usercontent.google.com/download?id={FILE_ID}", True),
        ("https://www.google.com/search?q=drive", False),
        ("https://drive.google.com.evil.example/file/d/x/view", False),
        ("https://mydrive.google.co/file/d/x/view", False),
    ],
)
def test_only_drive_links_are_claimed(link: str, claimed: bool) -> None:
    assert claims(link) is claimed
