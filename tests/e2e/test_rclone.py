"""/mirror to rclone remotes end to end: the real bot, the fake Bot API, the fake origin and real
``rclone serve webdav|sftp`` servers on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import polling
from tests.conftest import OWNER, USER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.fakes.rclone_serve import PASSWORD, Remotes, obscure, start_remotes

MiB = 1 << 20


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Remotes]:
    remotes = start_remotes(tmp_path / "remotes")
    yield remotes
    remotes.webdav.stop()
    remotes.sftp.stop()


def leaks(api: FakeBotAPI, *homes: Path) -> list[str]:
    """The config's password (clear or obscured) in any chat call, log or stderr."""
    needles = [PASSWORD]
    for line in (homes[0].parent / "remotes" / "rclone.conf").read_text().splitlines():
        if line.startswith("pass = "):
            needles.append(line.removeprefix("pass = "))
    found = [
        f"{c.method} holds a secret" for c in api.calls for n in needles if n in repr(c.params)
    ]
    for home in homes:
        for name in ("telebot.log", "stderr.txt"):
            text = (home / name).read_text(errors="replace") if (home / name).exists() else ""
            found += [f"{name} holds a secret" for n in needles if n in text]
    return found


def rclone_children(config: Path) -> str:
    return subprocess.run(["pgrep", "-af", f"rclone --config {config}"],
                          capture_output=True, text=True).stdout


def test_mirror_to_webdav_and_sftp_with_progress(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, servers: Remotes
) -> None:
    make_bot(RCLONE_CONFIG=str(servers.config), RCLONE_BWLIMIT="3M")
    res = origin.add("/files/clip.bin", size=6 * MiB, seed=4)
    for remote, root in (("wd", servers.webdav.root), ("sf", servers.sftp.root)):
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {origin.url}/files/clip.bin -up {remote}:e2e",
                             chat_id=OWNER, user_id=OWNER)
        wait_text(bot_api, r"Uploading · rclone.*\d+\.\d%", since=since,
                  method="editMessageText", timeout=60)
        done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
        assert f"Uploaded to: <code>{remote}:e2e/clip.bin</code>" in text_of(done)
        assert sha256_file(root / "e2e" / "clip.bin") == res.sha256()
    assert leaks(bot_api, servers.config.parent.parent / "bot") == []


REFUSED = [
    ("/srv/x", "local paths are refused"),
    (":local:/tmp/x", "Connection strings"),
    ("wd:a/../../b", "may not contain"),
    ("nosuch:x", "There is no remote called .{1,6}nosuch"),
    ("disk:x", "writes to the bot.{1,6}s own disk"),
    ("back:x", "wraps a local path"),
    ("wd,url=http://127.0.0.1:1/:x", "local paths are refused"),
]


def test_default_upload_and_refused_destinations(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    servers = start_remotes(tmp_path / "remotes", "[disk]\ntype = local\n\n"
                            "[back]\ntype = alias\nremote = /\n")
    try:
        make_bot(RCLONE_CONFIG=str(servers.config), DEFAULT_UPLOAD="wd:defaults")
        res = origin.add("/files/d.bin", size=300_000, seed=5)
        for dest, why in REFUSED:
            since = bot_api.mark()
            bot_api.push_message(f"/mirror {origin.url}/files/d.bin -up {dest}",
                                 chat_id=OWNER, user_id=OWNER)
            wait_text(bot_api, why, chat_id=OWNER, since=since)
        assert origin.requests_for("/files/d.bin") == []  # refused before any download
        assert files_in(tmp_path / "bot" / "mirror") == []
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {origin.url}/files/d.bin", chat_id=OWNER, user_id=OWNER)
        done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
        assert "wd:defaults/d.bin" in text_of(done)
        assert sha256_file(servers.webdav.root / "defaults" / "d.bin") == res.sha256()
    finally:
        servers.webdav.stop()
        servers.sftp.stop()


def test_kill9_mid_upload_then_restart_finishes_once(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, servers: Remotes
) -> None:
    bot = make_bot(RCLONE_CONFIG=str(servers.config), RCLONE_BWLIMIT="2M")
    res = origin.add("/files/big.bin", size=10 * MiB, seed=6)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/files/big.bin -up wd:k", chat_id=OWNER,
                         user_id=OWNER)
    wait_text(bot_api, r"Uploading · rclone.*\d+\.\d%", since=since, method="editMessageText",
              timeout=60)
    bot.kill9()
    # The kernel signals the child when the bot dies (PR_SET_PDEATHSIG); it exits a moment
    # later, not in the same instant: a few seconds, never for as long as the upload needs.
    polling.wait_until(lambda: rclone_children(servers.config) == "", 5,
                       "rclone to die with the killed bot")
    bot.start()
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    assert "wd:k/big.bin" in text_of(done)
    assert [p.name for p in files_in(servers.webdav.root / "k")] == ["big.bin"]
    assert sha256_file(servers.webdav.root / "k" / "big.bin") == res.sha256()
    assert leaks(bot_api, bot.home) == []
    assert obscure(PASSWORD) != PASSWORD  # the obscured form was checked as well (see leaks)


def button(call: Any, action: str) -> str:
    import re

    found = re.search(rf"rc:{action}:[0-9a-f]+(?::\d+)?", str(call.params.get("reply_markup")))
    assert found, call.params
    return found.group(0)


def test_clone_count_list_and_del(
    bot_api: FakeBotAPI, make_bot: Any, servers: Remotes
) -> None:
    root = servers.webdav.root
    for rel, size in [("docs/report-2024.txt", 1000), ("docs/sub/notes.txt", 2500),
                      *((f"many/item-{n:02}.txt", 10) for n in range(12))]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * size)
    make_bot(RCLONE_CONFIG=str(servers.config), AUTHORIZED_CHATS=str(USER))

    since = bot_api.mark()
    bot_api.push_message("/count wd:docs", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"wd:docs</code>: 2 files, 3\.4 KiB", chat_id=OWNER, since=since)

    since = bot_api.mark()
    bot_api.push_message("/clone wd:docs -up sf:copied", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert "sf:copied/docs" in text_of(done)
    assert (servers.sftp.root / "copied/docs/sub/notes.txt").stat().st_size == 2500

    since = bot_api.mark()
    bot_api.push_message("/list ITEM", chat_id=OWNER, user_id=OWNER)
    first = wait_text(bot_api, r"12 result", chat_id=OWNER, since=since)
    assert "Page 1/2" in text_of(first) and "item-09" in text_of(first)
    message = bot_api.chat_messages(OWNER)[first.result["message_id"]]
    mark = bot_api.mark()
    bot_api.push_callback(button(first, "p"), message=message, user_id=USER)
    bot_api.wait_for("answerCallbackQuery", lambda c: "Only the user" in str(c.params),
                     since=mark, timeout=15)
    bot_api.push_callback(button(first, "p"), message=message, user_id=OWNER)
    page = wait_text(bot_api, r"Page 2/2", since=mark, method="editMessageText")
    assert "item-11" in text_of(page) and "item-00" not in text_of(page)

    since = bot_api.mark()
    bot_api.push_message("/del wd:docs/report-2024.txt", chat_id=USER, user_id=USER)
    wait_text(bot_api, r"only for sudo users", chat_id=USER, since=since)
    assert (root / "docs/report-2024.txt").exists()
    bot_api.push_message("/del wd:docs/report-2024.txt", chat_id=OWNER, user_id=OWNER)
    ask = wait_text(bot_api, r"Delete <code>wd:docs/report-2024.txt", chat_id=OWNER, since=since)
    assert (root / "docs/report-2024.txt").exists()  # nothing happens before the confirm
    message = bot_api.chat_messages(OWNER)[ask.result["message_id"]]
    bot_api.push_callback(button(ask, "del"), message=message, user_id=OWNER)
    wait_text(bot_api, r"Deleted", since=since, method="editMessageText")
    assert not (root / "docs/report-2024.txt").exists()
    assert (root / "docs/sub/notes.txt").exists()

    since = bot_api.mark()
    bot_api.push_message("/stats", chat_id=OWNER, user_id=OWNER)
    stats = wait_text(bot_api, r"rclone remotes</b>: sf · wd", chat_id=OWNER, since=since)
    assert "rclone 1." in text_of(stats) and str(servers.webdav.port) not in text_of(stats)
    assert leaks(bot_api, servers.config.parent.parent / "bot") == []


ROOT_SPELLINGS = ["wd:", "wd:.", "wd:./", "wd:/", "wd://", "wd:.//.", "wd:a/..",
                  "top:.", "top:./", "top:", "sub:", "wd:keep", "wd:./keep/", "top:keep//",
                  "wd:/keep", "top:/keep"]


def test_del_never_removes_a_remote_root(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    aliases = "[top]\ntype = alias\nremote = wd:./\n\n[sub]\ntype = alias\nremote = wd:keep\n\n"
    servers = start_remotes(tmp_path / "remotes", aliases)
    try:
        root = servers.webdav.root
        for rel in ("a/one.txt", "keep/two.txt", "gone/three.txt"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"x" * 10)
        make_bot(RCLONE_CONFIG=str(servers.config))
        for where in ROOT_SPELLINGS:
            since = bot_api.mark()
            bot_api.push_message(f"/del {where}", chat_id=OWNER, user_id=OWNER)
            said = wait_text(bot_api, r"❌|Delete", chat_id=OWNER, since=since)
            assert "❌" in text_of(said), f"/del {where} was not refused: {text_of(said)}"
            assert "rc:del" not in str(said.params.get("reply_markup"))
        # A folder inside, named through the alias with the same odd spellings, still goes.
        since = bot_api.mark()
        bot_api.push_message("/del top:.//gone/./", chat_id=OWNER, user_id=OWNER)
        ask = wait_text(bot_api, r"Delete <code>top:gone</code>", chat_id=OWNER, since=since)
        message = bot_api.chat_messages(OWNER)[ask.result["message_id"]]
        bot_api.push_callback(button(ask, "del"), message=message, user_id=OWNER)
        wait_text(bot_api, r"Deleted", since=since, method="editMessageText")
        assert not (root / "gone").exists()
        assert sorted(str(p.relative_to(root)) for p in files_in(root)) == [
            "a/one.txt", "keep/two.txt"
        ]
    finally:
        servers.webdav.stop()
        servers.sftp.stop()


def test_a_second_upload_of_a_name_takes_name_1_and_sudo_may_overwrite(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, servers: Remotes
) -> None:
    make_bot(RCLONE_CONFIG=str(servers.config), AUTHORIZED_CHATS=str(USER))
    first = origin.add("/a/first.bin", size=40_000, seed=11)
    second = origin.add("/a/second.bin", size=50_000, seed=12)
    third = origin.add("/a/third.bin", size=60_000, seed=13)
    folder = servers.sftp.root / "Backups"

    def mirror(path: str, flags: str, user: int) -> str:
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {origin.url}{path} -up sf:Backups -n db.sqlite {flags}",
                             chat_id=user, user_id=user)
        return text_of(wait_text(bot_api, r"✅|❌", chat_id=user, since=since, timeout=60))

    assert "sf:Backups/db.sqlite</code>" in mirror("/a/first.bin", "", USER)
    assert "sf:Backups/db (1).sqlite</code>" in mirror("/a/second.bin", "", USER)
    assert sha256_file(folder / "db.sqlite") == first.sha256()  # the first is unchanged
    assert sha256_file(folder / "db (1).sqlite") == second.sha256()
    assert "only for sudo users" in mirror("/a/third.bin", "-overwrite", USER)
    # In a -b list too, where one check usually covers every line with the same destination.
    listing = bot_api.push_message(
        f"{origin.url}/a/third.bin -up sf:Backups\n"
        f"{origin.url}/a/third.bin -up sf:Backups -n db.sqlite -overwrite",
        chat_id=USER, user_id=USER,
    )
    since = bot_api.mark()
    bot_api.push_message("/mirror -b", chat_id=USER, user_id=USER, reply_to=listing)
    refused = wait_text(bot_api, r"✅|❌|Started", chat_id=USER, since=since, timeout=60)
    assert "only for sudo users" in text_of(refused)
    assert "sf:Backups/db.sqlite</code>" in mirror("/a/third.bin", "-overwrite", OWNER)
    assert sha256_file(folder / "db.sqlite") == third.sha256()
    assert sorted(p.name for p in folder.iterdir()) == ["db (1).sqlite", "db.sqlite"]


def test_absolute_sftp_paths_need_an_allowed_root(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, servers: Remotes
) -> None:
    # rclone serve sftp shows its folder as "/", so "/pub" here is <root>/pub; on a real server
    # "sf:/etc" would be the server's /etc, which is what the bot refuses.
    make_bot(RCLONE_CONFIG=str(servers.config), RCLONE_ALLOWED_ROOTS="sf:/pub")
    res = origin.add("/abs.bin", size=30_000, seed=14)
    for command in (f"/mirror {origin.url}/abs.bin -up sf:/etc", "/count sf:/",
                    "/clone sf:/etc/passwd -up wd:x", f"/mirror {origin.url}/abs.bin -up sf://pu"):
        since = bot_api.mark()
        bot_api.push_message(command, chat_id=OWNER, user_id=OWNER)
        said = wait_text(bot_api, r"❌|✅|📊", chat_id=OWNER, since=since, timeout=60)
        assert "absolute path" in text_of(said), (command, text_of(said))
    assert origin.requests_for("/abs.bin") == []
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/abs.bin -up sf:/pub/in", chat_id=OWNER,
                         user_id=OWNER)
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
    assert "sf:/pub/in/abs.bin" in text_of(done)
    assert sha256_file(servers.sftp.root / "pub" / "in" / "abs.bin") == res.sha256()


def test_list_says_first_n_shown_at_its_bound(
    bot_api: FakeBotAPI, make_bot: Any, servers: Remotes
) -> None:
    for n in range(230):  # over the 200 results a search keeps
        (servers.webdav.root / "many" / f"clip-{n:03}.bin").parent.mkdir(exist_ok=True)
        (servers.webdav.root / "many" / f"clip-{n:03}.bin").write_bytes(b"x")
    make_bot(RCLONE_CONFIG=str(servers.config))
    since = bot_api.mark()
    bot_api.push_message("/list clip", chat_id=OWNER, user_id=OWNER)
    said = wait_text(bot_api, r"🔎|❌", chat_id=OWNER, since=since, timeout=60)
    assert "200 result(s)" in text_of(said) and "first 200 shown" in text_of(said)
    assert "Page 1/20" in text_of(said)


@pytest.mark.parametrize("limit", [{"STORAGE_THRESHOLD": str(10**18)},
                                   {"MAX_DOWNLOAD_SIZE": "1000"}])
def test_clone_ignores_the_local_disk_threshold_and_the_download_limit(
    bot_api: FakeBotAPI, make_bot: Any, servers: Remotes, limit: dict[str, str]
) -> None:
    # /clone streams remote to remote and never writes the payload to this disk, nor downloads:
    # STORAGE_THRESHOLD (here far above the free space) and MAX_DOWNLOAD_SIZE do not apply.
    src = servers.webdav.root / "big" / "blob.bin"
    src.parent.mkdir()
    src.write_bytes(b"z" * 300_000)
    make_bot(RCLONE_CONFIG=str(servers.config), **limit)
    for what in ("wd:big/blob.bin", "wd:big"):
        since = bot_api.mark()
        bot_api.push_message(f"/clone {what} -up sf:copies", chat_id=OWNER, user_id=OWNER)
        done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
        assert "✅" in text_of(done), text_of(done)
    assert (servers.sftp.root / "copies" / "blob.bin").read_bytes() == src.read_bytes()
    assert (servers.sftp.root / "copies" / "big" / "blob.bin").read_bytes() == src.read_bytes()


def test_kill9_mid_upload_to_a_taken_name_resumes_on_the_same_new_name(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, servers: Remotes
) -> None:
    bot = make_bot(RCLONE_CONFIG=str(servers.config), RCLONE_BWLIMIT="2M")
    taken = servers.webdav.root / "k" / "big.bin"
    taken.parent.mkdir()
    taken.write_bytes(b"someone's file")
    res = origin.add("/files/big.bin", size=10 * MiB, seed=16)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/files/big.bin -up wd:k", chat_id=OWNER,
                         user_id=OWNER)
    wait_text(bot_api, r"Uploading · rclone.*\d+\.\d%", since=since, method="editMessageText",
              timeout=60)
    bot.kill9()
    bot.start()
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    assert "wd:k/big (1).bin" in text_of(done)
    assert sorted(p.name for p in files_in(taken.parent)) == ["big (1).bin", "big.bin"]
    assert taken.read_bytes() == b"someone's file"
    assert sha256_file(taken.parent / "big (1).bin") == res.sha256()
