"""Signed-in downloads end to end: the real bot, real yt-dlp, the loopback origin.

A user sends a cookies.txt to /usetting; the bot deletes the message, keeps the cookies sealed,
and /ytdl sends them to the site (the origin records the ``Cookie`` header) from a per-run copy
that is gone afterwards. The cookie's value never shows in a log, a chat message or the
database file. A bad owner file stops start-up with one line.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.media import make_media, serve_media
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until
from tests.test_main import one_line, run_bot

USER_SECRET = "user-cookie-5f1d2c9a"
OWNER_SECRET = "owner-cookie-77aa31e0"


def jar(value: str, name: str = "sid") -> bytes:
    return f"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\t{name}\t{value}\n".encode()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("media"))


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


def open_menu(api: FakeBotAPI) -> int:
    since = api.mark()
    api.push_message("/us", chat_id=OWNER, user_id=OWNER)
    return int(wait_text(api, r"Your settings", chat_id=OWNER, since=since).result["message_id"])


def press(api: FakeBotAPI, menu: int, label: str) -> None:
    message = api.chat_messages(OWNER)[menu]
    data = buttons(message)[label]
    since = api.mark()
    query = api.push_callback(data, message=message, user_id=OWNER)
    api.wait_for("answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query["id"],
                 since=since, timeout=15)  # fmt: skip


def send_cookies(api: FakeBotAPI, menu: int, content: bytes) -> tuple[int, int]:
    """Press Cookies and answer with ``content`` as cookies.txt; (mark, the document's id)."""
    since = api.mark()
    press(api, menu, "Cookies")
    wait_text(api, r"✏️", chat_id=OWNER, since=since)
    doc = api.add_file(content, file_name="cookies.txt", mime_type="text/plain")
    sent = api.push_message("", chat_id=OWNER, user_id=OWNER, document=doc, entities=False)
    return since, int(sent["message_id"])


def deleted(api: FakeBotAPI, message_id: int, since: int) -> None:
    api.wait_for(
        "deleteMessage", lambda c: int(c.params.get("message_id", 0)) == message_id,
        since=since, timeout=15,
    )  # fmt: skip


def test_a_users_cookies_sign_in_ytdl_and_never_show(
    bot_api: FakeBotAPI, origin: FakeOrigin, media: Path, make_bot: Any, tmp_path: Path
) -> None:
    serve_media(origin, media)
    owner_file = tmp_path / "owner-cookies.txt"
    owner_file.write_bytes(jar(OWNER_SECRET))
    bot = make_bot(YTDL_COOKIES_FILE=str(owner_file))
    menu = open_menu(bot_api)
    assert "Cookies: not set" in str(bot_api.chat_messages(OWNER)[menu]["text"])

    # A malformed file is refused, clearly, and still withdrawn from the chat.
    since, bad = send_cookies(bot_api, menu, b"sid " + USER_SECRET.encode() + b"\n")
    refusal = wait_text(bot_api, r"❌ .*Netscape cookies\.txt: line 1", chat_id=OWNER, since=since)
    deleted(bot_api, bad, since)
    assert USER_SECRET not in text_of(refusal)

    # The prompt is still open: a good file is taken, and its message deleted.
    since = bot_api.mark()
    doc = bot_api.add_file(jar(USER_SECRET), file_name="cookies.txt", mime_type="text/plain")
    good = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=doc, entities=False)
    wait_text(bot_api, r"✅ Cookies set", chat_id=OWNER, since=since, method="editMessageText")
    deleted(bot_api, int(good["message_id"]), since)
    assert "Cookies: set (1 entry)" in str(bot_api.chat_messages(OWNER)[menu]["text"])

    since = bot_api.mark()
    bot_api.push_message(f"/ytdl {origin.url}/clip.mp4 -q b", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    sent = {r.headers.get("cookie") for r in origin.requests_for("/clip.mp4")}
    assert sent == {f"sid={USER_SECRET}"}  # the user's, not the owner's
    assert len(files_in(bot.mirror_dir)) == 1
    left = [p for p in files_in(bot.download_dir) if "cookie" in p.name.lower()]
    assert left == []
    for path in files_in(bot.download_dir):
        assert USER_SECRET.encode() not in path.read_bytes()

    bot.stop_quietly()
    assert USER_SECRET not in bot.log_text() and USER_SECRET not in bot.stderr()
    for call in bot_api.calls:
        assert USER_SECRET not in json.dumps(call.params, default=str)
    databases = [p for p in bot.home.iterdir() if p.name.startswith("telebot.db")]
    assert databases
    for db in databases:
        assert USER_SECRET.encode() not in db.read_bytes()
    assert owner_file.read_bytes() == jar(OWNER_SECRET)


def test_the_owners_cookies_when_the_user_has_none_and_remove(
    bot_api: FakeBotAPI, origin: FakeOrigin, media: Path, make_bot: Any, tmp_path: Path
) -> None:
    serve_media(origin, media)
    owner_file = tmp_path / "owner-cookies.txt"
    owner_file.write_bytes(jar(OWNER_SECRET))
    make_bot(YTDL_COOKIES_FILE=str(owner_file))
    menu = open_menu(bot_api)
    since, _ = send_cookies(bot_api, menu, jar(USER_SECRET))
    wait_text(bot_api, r"✅ Cookies set", chat_id=OWNER, since=since, method="editMessageText")
    press(bot_api, menu, "Remove cookies")
    assert "Cookies: not set" in str(bot_api.chat_messages(OWNER)[menu]["text"])
    since = bot_api.mark()
    bot_api.push_message(f"/ytdl {origin.url}/clip.mp4 -q b", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    sent = {r.headers.get("cookie") for r in origin.requests_for("/clip.mp4")}
    assert sent == {f"sid={OWNER_SECRET}"}


def test_an_unusable_owner_cookies_file_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "cookies.txt"
    bad.write_text(f"127.0.0.1 sid {OWNER_SECRET}\n")
    line = one_line(run_bot(tmp_path, YTDL_COOKIES_FILE=str(bad)))
    assert "YTDL_COOKIES_FILE" in line and "line 1" in line and OWNER_SECRET not in line
    line = one_line(run_bot(tmp_path, YTDL_COOKIES_FILE=str(tmp_path / "missing.txt")))
    assert "YTDL_COOKIES_FILE cannot be read" in line


NETRC_SECRET = "netrc-pw-e2e-41b7"


def test_netrc_signs_in_direct_links_of_its_host_only(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    login = "Basic " + base64.b64encode(f"bob:{NETRC_SECRET}".encode()).decode()
    res = origin.add("/private.bin", size=300_000, seed=9, require={"Authorization": login})
    rc = tmp_path / "netrc"
    rc.write_text(f"machine 127.0.0.1\n  login bob\n  password {NETRC_SECRET}\n")
    rc.chmod(0o600)
    bot = make_bot(NETRC_FILE=str(rc))
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/private.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    [saved] = files_in(bot.mirror_dir)
    assert saved.read_bytes() == res.bytes()
    # The same server by another name: no login for it in the file, so none is sent.
    since = bot_api.mark()
    other_name = origin.url.replace("127.0.0.1", "localhost")
    bot_api.push_message(f"/mirror {other_name}/private.bin", chat_id=OWNER, user_id=OWNER)
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since, timeout=60)
    assert "HTTP 401" in text_of(failed) and "-au" in text_of(failed)
    bot.stop_quietly()
    assert NETRC_SECRET not in bot.log_text() and NETRC_SECRET not in bot.stderr()
    for call in bot_api.calls:
        assert NETRC_SECRET not in json.dumps(call.params, default=str)


def test_an_unparsable_netrc_stops_start_up_naming_the_line(tmp_path: Path) -> None:
    rc = tmp_path / "netrc"
    rc.write_text(f"machine 127.0.0.1 login bob password x\n{NETRC_SECRET} machine y\n")
    line = one_line(run_bot(tmp_path, NETRC_FILE=str(rc)))
    assert "NETRC_FILE cannot be parsed at line 2" in line and NETRC_SECRET not in line


def test_kill9_leaves_the_cookies_only_in_the_task_folder_and_the_restart_rewrites_them(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    big = origin.add("/big.mp4", size=3_000_000, seed=3, content_type="video/mp4")
    origin.fault("/big.mp4", throttle=300_000)
    bot = make_bot()
    menu = open_menu(bot_api)
    since, _ = send_cookies(bot_api, menu, jar(USER_SECRET))
    wait_text(bot_api, r"✅ Cookies set", chat_id=OWNER, since=since, method="editMessageText")
    bot_api.push_message(f"/ytdl {origin.url}/big.mp4 -q b", chat_id=OWNER, user_id=OWNER)

    def part_size() -> int:
        return sum(p.stat().st_size for p in bot.download_dir.rglob("*.part"))

    wait_until(lambda: bot.download_dir.exists() and part_size() > 300_000, timeout=60,
               what="the download is under way")  # fmt: skip
    bot.kill9()
    holding = [p for p in files_in(bot.home) if USER_SECRET.encode() in p.read_bytes()]
    [copy] = holding  # the run's copy, and nothing else in the clear (the database is sealed)
    assert copy.name == ".telebot-cookies.txt" and copy.parent.parent == bot.download_dir
    assert copy.stat().st_mode & 0o777 == 0o600
    copy.write_text("# Netscape HTTP Cookie File\n")  # a stale copy: the next run must rewrite it

    origin.clear_fault("/big.mp4")
    since = bot_api.mark()
    bot.start()
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    [saved] = files_in(bot.mirror_dir)
    assert saved.read_bytes() == big.bytes()
    last = origin.requests_for("/big.mp4", "GET")[-1]
    assert last.headers.get("cookie") == f"sid={USER_SECRET}"  # from the sealed journal
    assert not [p for p in files_in(bot.download_dir) if "cookie" in p.name]
