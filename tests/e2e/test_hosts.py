"""File host share links end to end: the real bot, the fake Bot API, and a loopback origin
standing in for each host (HOSTS_BASE_URLS sends their requests there, the API and download
domains they declare and the download's redirect hops included)."""

from __future__ import annotations

import base64
import html
import re
import threading
from pathlib import Path
from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, gid_of, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

MiB = 1024 * 1024
SHARE = "https://www.mediafire.com/file/k3yq8ck2z1/{name}/file"


def mediafire_page(href: str, name: str) -> bytes:
    """A file page in MediaFire's shape (tests/fixtures/hosts/mediafire/file.html)."""
    return (f'<!DOCTYPE html><html><head><title>{name} - MediaFire</title></head>'
            f'<body class="DownloadPage"><div class="download_link">'
            f'<a class="input popsok" aria-label="Download file" href="{href}" '
            f'id="downloadButton" rel="nofollow">Download</a></div></body></html>').encode()


def host_bot(make_bot: Any, origin: FakeOrigin, **extra: str) -> Any:
    bases = ",".join(f"{host}={origin.url}" for host in ("mediafire", "pixeldrain", "gofile"))
    return make_bot(HOSTS_BASE_URLS=bases, **extra)


def mirror(api: FakeBotAPI, words: str) -> None:
    api.push_message(f"/mirror {words}", chat_id=OWNER, user_id=OWNER)


def mirror_each(api: FakeBotAPI, links: tuple[str, ...]) -> None:
    """Mirror the links one after the other, each to its ✅ (a ❌ fails naming the link)."""
    for link in links:
        since = api.mark()
        mirror(api, link)
        done = wait_text(api, r"✅|❌", chat_id=OWNER, since=since)
        assert "✅" in text_of(done), (link, text_of(done))


def all_texts(api: FakeBotAPI, since: int) -> str:
    return "\n".join(text_of(c) for c in api.calls[since:])


def test_share_links_of_mediafire_and_pixeldrain_and_a_changed_site(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = host_bot(make_bot, origin)
    # MediaFire: the page names the direct link; held until the status showed the resolve.
    res = origin.add("/dl/video.bin", size=3 * MiB, seed=21)
    origin.fault("/dl/video.bin", throttle=1 * MiB)  # ~3 s: the status shows the download
    page_path = "/file/k3yq8ck2z1/video.bin/file"
    origin.add(page_path, data=mediafire_page(f"{origin.url}/dl/video.bin", "video.bin"),
               content_type="text/html; charset=utf-8")
    hold = threading.Event()
    origin.fault(page_path, gate=hold, times=1)
    since = bot_api.mark()
    mirror(bot_api, SHARE.format(name="video.bin"))
    wait_text(bot_api, r"📥 MediaFire → direct link", since=since, method="editMessageText")
    hold.set()
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since)
    assert "video.bin" in text_of(done)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "video.bin" and sha256_file(saved) == res.sha256()
    # Downloading, with the host under the progress line (the engine stays HTTP: its limits).
    assert re.search(r"Downloading · HTTP.*📥 MediaFire(?! →)", all_texts(bot_api, since), re.S)

    # Pixeldrain: a list arrives as a folder of its files.
    one = origin.add("/api/file/Fi1eOne1?download", size=5000, seed=22)
    two = origin.add("/api/file/Fi1eTwo2?download", size=7000, seed=23)
    origin.add("/api/list/Lst42xYz", content_type="application/json", data=(
        b'{"success":true,"id":"Lst42xYz","title":"Course notes","files":['
        b'{"id":"Fi1eOne1","name":"week1.pdf","size":5000},'
        b'{"id":"Fi1eTwo2","name":"week2.pdf","size":7000}]}'))
    since = bot_api.mark()
    mirror(bot_api, "https://pixeldrain.com/l/Lst42xYz")
    wait_text(bot_api, r"✅.*Course notes", chat_id=OWNER, since=since)
    folder = bot.mirror_dir / "Course notes"
    assert sorted(p.name for p in folder.iterdir()) == ["week1.pdf", "week2.pdf"]
    assert sha256_file(folder / "week1.pdf") == one.sha256()
    assert sha256_file(folder / "week2.pdf") == two.sha256()

    # GoFile: a guest account, the site's token, nested folders; the files need the account's
    # cookie (the origin answers 401 without it).
    cookie = {"Cookie": "accountToken=GuestTok3n"}
    cover = origin.add("/download/web/f-1/cover.png", size=3000, seed=25, require=cookie)
    intro = origin.add("/download/web/f-3/intro.flac", size=4000, seed=26, require=cookie)
    origin.add("/accounts", content_type="application/json",
               data=b'{"status":"ok","data":{"token":"GuestTok3n"}}')
    origin.add("/dist/js/global.js", data=b'appdata.wt = "4fd6sg89d7s6";',
               content_type="application/javascript")
    origin.add("/contents/AbC123?wt=4fd6sg89d7s6", content_type="application/json", data=(
        b'{"status":"ok","data":{"type":"folder","name":"Album","children":{'
        b'"f-1":{"id":"f-1","type":"file","name":"cover.png","size":3000,'
        b'"link":"https://store7.gofile.io/download/web/f-1/cover.png"},'
        b'"d-2":{"id":"d-2","type":"folder","name":"Disc 1"}}}}'))
    origin.add("/contents/d-2?wt=4fd6sg89d7s6", content_type="application/json", data=(
        b'{"status":"ok","data":{"type":"folder","name":"Disc 1","children":{'
        b'"f-3":{"id":"f-3","type":"file","name":"intro.flac","size":4000,'
        b'"link":"https://store7.gofile.io/download/web/f-3/intro.flac"}}}}'))
    since = bot_api.mark()
    mirror(bot_api, "https://gofile.io/d/AbC123")
    wait_text(bot_api, r"✅.*Album", chat_id=OWNER, since=since)
    assert sha256_file(bot.mirror_dir / "Album" / "cover.png") == cover.sha256()
    assert sha256_file(bot.mirror_dir / "Album" / "Disc 1" / "intro.flac") == intro.sha256()
    assert len(origin.requests_for("/accounts", "POST")) == 1  # one guest account per resolve
    listed = origin.requests_for("/contents/AbC123")
    assert listed and all(r.headers.get("authorization") == "Bearer GuestTok3n" for r in listed)

    # A MediaFire page without its download button: one line, and a WARNING in the log.
    origin.add("/file/k3yq8ck2z1/new.bin/file", content_type="text/html", data=(
        b"<html><head><title>new.bin - MediaFire</title></head>"
        b'<body><button class="new-download-widget">Download</button></body></html>'))
    since = bot_api.mark()
    mirror(bot_api, SHARE.format(name="new.bin"))
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert ("MediaFire: could not find the download button (the site may have changed)"
            in text_of(failed))
    log = (bot.home / "telebot.log").read_text()
    assert re.search(r"WARNING.*host resolver MediaFire failed at step 'the download button'",
                     log)
    assert sorted(p.name for p in bot.mirror_dir.iterdir()) == [
        "Album", "Course notes", "video.bin"]
    # /stats counts the failed resolve under its resolver.
    since = bot_api.mark()
    bot_api.push_message("/stats", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Failed file host links</b>: MediaFire 1", chat_id=OWNER, since=since)


def test_a_web_page_is_refused_unless_html_is_asked_for(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    page = (b"<!DOCTYPE html><html><head><meta charset='utf-8'>"
            b"<title>\n Cats &#8211; a story\n</title></head><body>" + b"x" * 5000
            + b"</body></html>")
    origin.add("/article", data=page, content_type="text/html; charset=utf-8")
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/article")
    refused = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert ("That link is a web page (“Cats \u2013 a story”), not a file. "
            "For a video on that page try /ytdl.") in text_of(refused)
    assert files_in(bot.mirror_dir) == []

    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/article -html")
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since)
    [saved] = files_in(bot.mirror_dir)
    assert saved.read_bytes() == page


def test_kill_9_mid_host_download_resolves_again_and_resumes(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    size = 24 * MiB
    res = origin.add("/dl/big.bin", size=size, seed=24)
    origin.fault("/dl/big.bin", throttle=1 * MiB)
    page_path = "/file/k3yq8ck2z1/big.bin/file"
    origin.add(page_path, data=mediafire_page(f"{origin.url}/dl/big.bin", "big.bin"),
               content_type="text/html")
    bot = host_bot(make_bot, origin)
    since = bot_api.mark()
    mirror(bot_api, SHARE.format(name="big.bin"))
    gid = gid_of(bot_api, chat_id=OWNER, since=since)
    wait_text(bot_api, r"([4-7]\d)\.\d%", since=since, method="editMessageText", timeout=60)
    bot.kill9()
    # The direct link expired: the page now names another URL serving the same file.
    origin.add("/dl2/big.bin", size=size, seed=24)
    origin.add(page_path, data=mediafire_page(f"{origin.url}/dl2/big.bin", "big.bin"),
               content_type="text/html")
    before = origin.bytes_sent()
    bot.start()
    wait_text(bot_api, r"♻️ Resuming", since=since, timeout=30)
    wait_text(bot_api, r"✅.*big\.bin", since=since, timeout=60)
    [saved] = files_in(bot.mirror_dir)
    assert sha256_file(saved) == res.sha256()
    assert len(origin.requests_for(page_path, "GET")) == 2  # resolved again after the restart
    assert origin.requests_for("/dl2/big.bin")  # through the new link ...
    refetched = origin.bytes_sent() - before
    assert refetched < 0.85 * size, f"re-fetched {refetched} of {size} bytes"  # ... resumed
    assert not (bot.download_dir / gid).exists()


def test_a_large_google_drive_file_passes_the_virus_scan_warning(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """Drive answers a large file's download with a "can't scan for viruses" page whose form
    leads to the file (tests/fixtures/hosts/gdrive/confirm.html); the bot follows it."""
    bot = make_bot(HOSTS_BASE_URLS=f"googledrive={origin.url}")
    file_id = "1BigFileAbCdEfGhIjKl"
    page = (Path(__file__).parents[1] / "fixtures/hosts/gdrive/confirm.html").read_bytes()
    origin.add(f"/download?id={file_id}&export=download", data=page,
               content_type="text/html; charset=utf-8")
    # The warning is a generated page: the probe's one-byte Range gets the whole page.
    origin.fault(f"/download?id={file_id}&export=download", ignore_range=True)
    res = origin.add(
        f"/download?id={file_id}&export=download&confirm=t&uuid=5e1c2a9b-3f4d-4e6a-9b8c-0d1e2f3a4b5c",
        size=2 * MiB, seed=31, content_disposition='attachment; filename="Big & Bold.iso"',
    )
    since = bot_api.mark()
    mirror(bot_api, f"https://drive.google.com/file/d/{file_id}/view?usp=sharing")
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since)
    assert "✅" in text_of(done), text_of(done)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "Big & Bold.iso" and sha256_file(saved) == res.sha256()
    # The file came by the form's link (its uuid), after the probe got the warning page.
    asked = [r.query for r in origin.requests_for("/download", "GET")]
    assert asked[0] == f"id={file_id}&export=download" and "uuid=" in asked[-1], asked


def test_one_fichier_krakenfiles_wetransfer_and_buzzheavier_links_arrive(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """Each resolver's share link through the real bot to the bytes in MIRROR_DIR, the
    loopback origin answering as the host does (pages and answers in tests/fixtures/hosts/)."""
    fixtures = Path(__file__).parents[1] / "fixtures" / "hosts"
    hosts = ("1fichier", "krakenfiles", "wetransfer", "buzzheavier")
    bot = make_bot(HOSTS_BASE_URLS=",".join(f"{h}={origin.url}" for h in hosts))
    html = "text/html; charset=utf-8"
    expected: dict[str, str] = {}

    # 1fichier: the page's form posted back, the answer's orange button (a-7.1fichier.com).
    origin.add("/?x7k2m9q4p1ab", data=(fixtures / "onefichier/page.html").read_bytes(),
               content_type=html)
    origin.add_post("/?x7k2m9q4p1ab", data=(fixtures / "onefichier/link.html").read_bytes(),
                    content_type=html)
    res = origin.add("/p1234567890", size=300_000, seed=41,
                     content_disposition='attachment; filename="fichier.bin"')
    expected["fichier.bin"] = res.sha256()
    # Krakenfiles: the dl-form's token posted; the JSON names a download server elsewhere.
    origin.add("/view/Zk9QwE1xYt/file.html",
               data=(fixtures / "krakenfiles/page.html").read_bytes(), content_type=html)
    origin.add_post("/download/Zk9QwE1xYt", content_type="application/json",
                    data=f'{{"url": "{origin.url}/force-download/Zk9QwE1xYt"}}'.encode())
    res = origin.add("/force-download/Zk9QwE1xYt", size=200_000, seed=42)
    expected["holiday clip.mp4"] = res.sha256()  # the name the page shows
    # WeTransfer: the v4 download API answers the zip's link (download.wetransfer.com).
    transfer = "4f8a2c0e1b9d7e6f5a4b3c2d1e0f9a8b20241207031500"
    origin.add_post(f"/api/v4/transfers/{transfer}/download", content_type="application/json",
                    data=(fixtures / "wetransfer/download.json").read_bytes())
    res = origin.add(
        f"/eugv/{transfer}/0c9e1a7b2d3f4e5a6b7c8d9e0f1a2b3c4d5e6f70/WeTransfer_files.zip"
        "?cf=y&token=eyJhbGciOiJIUzI1NiJ9.e30.sig", size=100_000, seed=43)
    expected["WeTransfer_files.zip"] = res.sha256()
    # BuzzHeavier: htmx's GET of <link>/download answers the file's URL in hx-redirect.
    origin.add("/f1l3abcd9x", data=(fixtures / "buzzheavier/file.html").read_bytes(),
               content_type=html)
    origin.add("/f1l3abcd9x/download", data=b"", headers={
        "hx-redirect": "https://dl.buzzheavier.com/f1l3abcd9x?sig=abc&exp=1733540000"})
    res = origin.add("/f1l3abcd9x?sig=abc&exp=1733540000", size=150_000, seed=44,
                     content_disposition='attachment; filename="buzz.bin"')
    expected["buzz.bin"] = res.sha256()

    mirror_each(bot_api, ("https://1fichier.com/?x7k2m9q4p1ab",
                          "https://krakenfiles.com/view/Zk9QwE1xYt/file.html",
                          f"https://wetransfer.com/downloads/{transfer}/0c9e1a7b2d3f4e5a",
                          "https://buzzheavier.com/f1l3abcd9x"))
    got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
    assert got == expected


def test_dropbox_share_links_follow_the_redirect_to_the_content_host(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """A Dropbox ``dl=1`` share redirects to ``*.dl.dropboxusercontent.com``: the resolver only
    checks that redirect, and the download follows it. HOSTS_BASE_URLS must cover that hop
    too, or the download would leave the loopback origin for the real content host."""
    fixtures = Path(__file__).parents[1] / "fixtures" / "hosts" / "dropbox"
    bot = make_bot(HOSTS_BASE_URLS=f"dropbox={origin.url}")
    # A file: /scl/fi/<key>/<name>?rlkey=…; dl=0 becomes dl=1, rlkey is kept.
    origin.redirect("/scl/fi/k8x2qzw1/report.pdf?rlkey=r1k3yAbC&dl=1",
                    "https://uc3f1e0c5d7b4a9e2.dl.dropboxusercontent.com/cd/0/get/CGx1/file?dl=1")
    report = origin.add("/cd/0/get/CGx1/file?dl=1", size=400_000, seed=51,
                        content_disposition='attachment; filename="report.pdf"')
    # A folder comes as one zip, named by the download.
    origin.redirect("/scl/fo/f0ld3rk3y/h4shh4sh?rlkey=z1pK3y&dl=1",
                    "https://uc9a8b7c6d5e4f3a2.dl.dropboxusercontent.com/zip_download_get/Zp1")
    photos = origin.add("/zip_download_get/Zp1", size=250_000, seed=52,
                        content_disposition='attachment; filename="Photos.zip"')
    # A share whose dl=1 answers a page instead of the redirect: the site changed.
    origin.add("/scl/fi/n3wk3y00/new.bin?rlkey=n3w&dl=1", content_type="text/html",
               data=(fixtures / "changed.html").read_bytes())

    mirror_each(bot_api, (
        "https://www.dropbox.com/scl/fi/k8x2qzw1/report.pdf?rlkey=r1k3yAbC&dl=0",
        "https://www.dropbox.com/scl/fo/f0ld3rk3y/h4shh4sh?rlkey=z1pK3y&dl=0",
    ))
    got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
    assert got == {"report.pdf": report.sha256(), "Photos.zip": photos.sha256()}
    # The resolver asked without following; the download went through the redirect.
    assert len(origin.requests_for("/scl/fi/k8x2qzw1/report.pdf")) >= 2
    assert origin.requests_for("/cd/0/get/CGx1/file", "GET")

    since = bot_api.mark()
    mirror(bot_api, "https://www.dropbox.com/scl/fi/n3wk3y00/new.bin?rlkey=n3w&dl=0")
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert ("Dropbox: could not find the download redirect (the site may have changed)"
            in text_of(failed))
    assert sorted(p.name for p in files_in(bot.mirror_dir)) == ["Photos.zip", "report.pdf"]


ONEDRIVE_TOKEN = "u!aHR0cHM6Ly8xZHJ2Lm1zL2YvcyFBa0w5eDhCcTNmWjBnUg"  # 1drv.ms/f/s!AkL9x8Bq3fZ0gR


def test_onedrive_and_sharepoint_share_links_arrive(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """OneDrive's resolver reads the shares API on api.onedrive.com and its files come from
    *.files.1drv.com: neither is a share domain, so HOSTS_BASE_URLS follows the host there
    through the domains it declares. SharePoint's download redirect carries guest cookies."""
    fixtures = Path(__file__).parents[1] / "fixtures" / "hosts" / "onedrive"
    bot = make_bot(HOSTS_BASE_URLS=f"onedrive={origin.url}")
    api = f"/v1.0/shares/{ONEDRIVE_TOKEN}"
    as_json = "application/json"
    # The fixtures' folder: a first page, a next page, a subfolder, a OneNote package.
    origin.add(f"{api}/root?expand=children", content_type=as_json,
               data=(fixtures / "folder.json").read_bytes())
    origin.add(f"{api}/items/9A1B2C3D4E5F6071!200/children?$skiptoken=MjAw",
               content_type=as_json, data=(fixtures / "folder_page2.json").read_bytes())
    origin.add(f"{api}/items/9A1B2C3D4E5F6071!210?expand=children", content_type=as_json,
               data=(fixtures / "subfolder.json").read_bytes())
    plan = origin.add("/y4mA/plan.pdf?download", size=1000, seed=61)
    escape = origin.add("/y4mB/../../escape.txt?download", size=7, seed=62)
    beach = origin.add("/y4mC/beach.jpg?download", size=200, seed=63)
    # SharePoint: download=1 redirects to download.aspx and sets the guest cookie it needs.
    share = "/:u:/g/personal/ann_contoso_com/EQx1AbCdEf"
    target = "/personal/ann_contoso_com/_layouts/15/download.aspx?share=EQx1AbCdEf"
    origin.redirect(f"{share}?e=Zy9x&download=1", f"https://contoso.sharepoint.com{target}",
                    headers={"Set-Cookie": "FedAuth=g7u3stT0k3n; Path=/; HttpOnly"})
    budget = origin.add(target, size=300_000, seed=64, require={"Cookie": "FedAuth=g7u3stT0k3n"},
                        content_disposition='attachment; filename="budget.xlsx"')

    since = bot_api.mark()
    mirror(bot_api, "https://1drv.ms/f/s!AkL9x8Bq3fZ0gR")
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since)
    assert "✅" in text_of(done) and "Trip 2024" in text_of(done), text_of(done)
    trip = bot.mirror_dir / "Trip 2024"
    assert sha256_file(trip / "plan.pdf") == plan.sha256()
    assert sha256_file(trip / "_escape.txt") == escape.sha256()  # "../escape.txt" stays inside
    assert sha256_file(trip / "Day 1" / "beach.jpg") == beach.sha256()
    assert sorted(str(p.relative_to(trip)) for p in files_in(trip)) == [
        "Day 1/beach.jpg", "_escape.txt", "plan.pdf"]

    since = bot_api.mark()
    mirror(bot_api, f"https://contoso.sharepoint.com{share}?e=Zy9x")
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since)
    assert "✅" in text_of(done), text_of(done)
    assert sha256_file(bot.mirror_dir / "budget.xlsx") == budget.sha256()

    # A shares-API answer without the file's download URL: the site changed, one line.
    origin.add(f"/v1.0/shares/{_token('https://1drv.ms/u/s!Changed1')}/root?expand=children",
               content_type=as_json,
               data=b'{"id": "X!1", "name": "a.bin", "size": 3, "file": {"mimeType": "x/y"}}')
    since = bot_api.mark()
    mirror(bot_api, "https://1drv.ms/u/s!Changed1")
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert ("OneDrive: could not find the file's download URL (the site may have changed)"
            in html.unescape(text_of(failed)))
    # A SharePoint folder link is refused in plain words, without a request.
    before = len(origin.requests)
    since = bot_api.mark()
    mirror(bot_api, "https://contoso.sharepoint.com/:f:/g/personal/ann_contoso_com/Fld3r")
    refused = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert "SharePoint folder links are not supported" in text_of(refused)
    assert len(origin.requests) == before
    assert sorted(p.name for p in bot.mirror_dir.iterdir()) == ["Trip 2024", "budget.xlsx"]


def _token(link: str) -> str:
    """The shares API's name for ``link`` (u! + base64url without padding)."""
    return "u!" + base64.urlsafe_b64encode(link.encode()).decode().rstrip("=")


def test_pixeldrain_files_held_back_are_refused_and_a_password_changes_nothing(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """A file whose info says Pixeldrain wants a captcha first is refused before any download
    (the download would answer 403); ``-ap`` on a list is not sent anywhere: Pixeldrain lists
    have no password."""
    fixtures = Path(__file__).parents[1] / "fixtures" / "hosts" / "pixeldrain"
    bot = make_bot(HOSTS_BASE_URLS=f"pixeldrain={origin.url}")
    origin.add("/api/file/Hot1ink9/info", content_type="application/json",
               data=(fixtures / "info_captcha.json").read_bytes())
    origin.add("/api/file/Hot1ink9?download", size=1000, seed=71)
    origin.fault("/api/file/Hot1ink9?download", statuses=[403] * 5)  # as Pixeldrain answers
    since = bot_api.mark()
    mirror(bot_api, "https://pixeldrain.com/u/Hot1ink9")
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert ("Pixeldrain: “popular.zip”: Pixeldrain asks for a captcha in a browser before it "
            "serves this file (it drew too much traffic)") in html.unescape(text_of(failed))
    assert origin.requests_for("/api/file/Hot1ink9") == []  # no download was tried
    assert files_in(bot.mirror_dir) == []

    one = origin.add("/api/file/Fi1eOne1?download", size=5000, seed=72)
    origin.add("/api/list/Lst42xYz", content_type="application/json", data=(
        b'{"success":true,"id":"Lst42xYz","title":"Course notes","files":['
        b'{"id":"Fi1eOne1","name":"week1.pdf","size":5000,"availability":""}]}'))
    since = bot_api.mark()
    mirror(bot_api, "https://pixeldrain.com/l/Lst42xYz -ap s3cret")
    wait_text(bot_api, r"✅.*Course notes", chat_id=OWNER, since=since)
    assert sha256_file(bot.mirror_dir / "Course notes" / "week1.pdf") == one.sha256()
    assert not any("s3cret" in f"{r.path}?{r.query} {r.headers}"
                   for r in origin.requests)
