"""Limits that protect the host, end to end (issue 16): STORAGE_THRESHOLD on a real small
tmpfs, the per-kind size limits, USER_TASKS_LIMIT and STOP_DUPLICATE."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import polling
from tests.conftest import OWNER, USER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_chat_text, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

MiB = 1024 * 1024
SUDO = 77


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/bot/downloads`` on a 64 MiB tmpfs of its own (unmounted afterwards)."""
    folder = tmp_path / "bot" / "downloads"
    folder.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def mirror(api: FakeBotAPI, link: str, user: int = OWNER, command: str = "mirror") -> None:
    api.push_message(f"/{command} {link}", chat_id=user, user_id=user)


def test_a_known_size_that_would_cross_the_threshold_is_refused(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, small_disk: Path
) -> None:
    bot = make_bot(STORAGE_THRESHOLD="24mib")
    origin.add("/big.bin", size=45 * MiB, seed=1)  # 64 MiB free - 45 MiB < 24 MiB
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/big.bin")
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since, timeout=60)
    text = text_of(failed)
    assert "not enough disk space" in text and "STORAGE_THRESHOLD" in text, text
    assert "24.0 MiB must stay free" in text, text
    assert files_in(small_disk) == [] and files_in(bot.mirror_dir) == []
    # Refused at the probe: no body was fetched beyond the first response's buffer.
    assert origin.bytes_sent("/big.bin") < 8 * MiB


def test_an_unknown_size_pauses_until_space_returns(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, small_disk: Path
) -> None:
    filler = small_disk / "filler.bin"  # not a task folder: the bot leaves it alone
    filler.write_bytes(b"\0" * (30 * MiB))  # 34 MiB free, 24 kept: room for ~10 MiB
    bot = make_bot(STORAGE_THRESHOLD="24mib")
    res = origin.add("/stream.bin", size=20 * MiB, seed=2)
    origin.fault("/stream.bin", no_length=True)  # no Content-Length: the size is unknown
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/stream.bin")
    line = wait_chat_text(
        bot_api, OWNER, r"waiting for disk space: [\d.]+ MiB free, keeping 24.0 MiB", timeout=60
    )
    assert "\n⏸ waiting for disk space" in line  # its own line, under the progress
    filler.unlink()  # space returns: the download goes on from where it paused
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    assert "stream.bin" in text_of(done)
    [saved] = files_in(bot.mirror_dir)
    assert sha256_file(saved) == res.sha256()
    assert len(origin.requests_for("/stream.bin", "GET")) == 1, "paused, never restarted"


@pytest.mark.parametrize(
    ("setting", "command", "words"),
    [
        ("DIRECT_LIMIT", "mirror", "direct links"),
        ("LEECH_LIMIT", "leech", "leech tasks"),
    ],
)
def test_size_limits_name_the_limit_and_its_value_and_sudo_is_exempt(
    bot_api: FakeBotAPI,
    origin: FakeOrigin,
    make_bot: Any,
    setting: str,
    command: str,
    words: str,
) -> None:
    env = {setting: "1mb", "AUTHORIZED_CHATS": str(USER), "SUDO_USERS": str(SUDO)}
    bot = make_bot(STORAGE_THRESHOLD="0", **env)
    origin.add("/two.bin", size=2_000_000, seed=3)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/two.bin", user=USER, command=command)
    failed = wait_text(bot_api, r"❌", chat_id=USER, since=since, timeout=60)
    assert f"{words} are limited to 1 MB ({setting}); two.bin is 2 MB" in text_of(failed)
    assert files_in(bot.download_dir) == []
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/two.bin", user=SUDO, command=command)
    wait_text(bot_api, r"✅", chat_id=SUDO, since=since, timeout=60)


def test_user_tasks_limit_counts_running_and_queued(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(USER_TASKS_LIMIT="2", AUTHORIZED_CHATS=str(USER), SUDO_USERS=str(SUDO))
    origin.add("/slow.bin", size=4 * MiB, seed=4)
    origin.fault("/slow.bin", throttle=256 * 1024)  # ~16 s each: still running when asked
    since = bot_api.mark()
    for _ in range(3):
        mirror(bot_api, f"{origin.url}/slow.bin", user=USER)
    refused = wait_text(bot_api, r"USER_TASKS_LIMIT", chat_id=USER, since=since, timeout=60)
    assert "you have 2 tasks running or queued" in text_of(refused)
    assert "may have 2" in text_of(refused)
    since = bot_api.mark()
    for _ in range(3):  # sudo users are exempt
        mirror(bot_api, f"{origin.url}/slow.bin", user=SUDO)
    polling.wait_until(lambda: bot.log_text().count(" queued: mirror") == 5, 60, "5 queued")
    assert not [
        c
        for c in bot_api.calls[since:]
        if "USER_TASKS_LIMIT" in text_of(c) and c.params.get("chat_id") == SUDO
    ]
    bot_api.push_message("/cancelall", chat_id=OWNER, user_id=OWNER)


def test_stop_duplicate_reports_a_local_result_instead_of_downloading_it(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(STOP_DUPLICATE="true")
    res = origin.add("/dup.bin", size=300_000, seed=5)
    bot.mirror_dir.mkdir(exist_ok=True)
    (bot.mirror_dir / "dup.bin").write_bytes(res.bytes())
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/dup.bin")
    found = wait_text(bot_api, r"STOP_DUPLICATE", chat_id=OWNER, since=since, timeout=60)
    assert "dup.bin (300 kB) is already at mirror/dup.bin" in text_of(found), text_of(found)
    assert origin.requests_for("/dup.bin", "GET") == []  # only the probe
    assert [p.name for p in files_in(bot.mirror_dir)] == ["dup.bin"]
    # Another size under the same name is not a duplicate: downloaded (as "dup (1).bin" or so).
    origin.add("/dup.bin", size=300_001, seed=5)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/dup.bin")
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert len(files_in(bot.mirror_dir)) == 2
    # Leech destinations are exempt: a chat has nothing to compare with.
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/dup.bin", command="leech")
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)


def test_stop_duplicate_on_an_rclone_remote(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    from tests.fakes.rclone_serve import start_remotes

    servers = start_remotes(tmp_path / "remotes")
    try:
        make_bot(STOP_DUPLICATE="true", RCLONE_CONFIG=str(servers.config))
        res = origin.add("/clip.bin", size=200_000, seed=6)
        (servers.webdav.root / "e2e").mkdir(parents=True)
        (servers.webdav.root / "e2e" / "clip.bin").write_bytes(res.bytes())
        since = bot_api.mark()
        bot_api.push_message(
            f"/mirror {origin.url}/clip.bin -up wd:e2e", chat_id=OWNER, user_id=OWNER
        )
        found = wait_text(bot_api, r"STOP_DUPLICATE", chat_id=OWNER, since=since, timeout=60)
        assert "is already at wd:e2e/clip.bin" in text_of(found), text_of(found)
        assert origin.requests_for("/clip.bin", "GET") == []
        # Not on sftp yet: that one is uploaded.
        since = bot_api.mark()
        bot_api.push_message(
            f"/mirror {origin.url}/clip.bin -up sf:e2e", chat_id=OWNER, user_id=OWNER
        )
        wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
        assert sha256_file(servers.sftp.root / "e2e" / "clip.bin") == res.sha256()
    finally:
        servers.webdav.stop()
        servers.sftp.stop()


def test_torrent_limit_applies_once_the_metadata_tells_the_size(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    from tests.e2e.test_torrent import torrent_env
    from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent

    with Seeder() as seeder:
        root = make_files(tmp_path / "seed", {"pack/a.bin": 1_500_000, "pack/b.bin": 600_000})
        torrent = make_torrent(root / "pack")
        seeder.seed(torrent, root)
        env = torrent_env(TORRENT_LIMIT="2mb", SUDO_USERS=str(SUDO))
        bot = make_bot(AUTHORIZED_CHATS=str(USER), **env)
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {magnet(torrent, seeder.port)}", chat_id=USER, user_id=USER)
        failed = wait_text(bot_api, r"❌", chat_id=USER, since=since, timeout=60)
        text = text_of(failed)
        assert "torrents are limited to 2 MB (TORRENT_LIMIT); pack is 2.1 MB" in text, text
        assert files_in(bot.download_dir) == [] and files_in(bot.mirror_dir) == []
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {magnet(torrent, seeder.port)}", chat_id=SUDO, user_id=SUDO)
        wait_text(bot_api, r"✅", chat_id=SUDO, since=since, timeout=60)


def test_ytdl_limit_names_itself(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    from tests.fakes.media import make_media, serve_media

    serve_media(origin, make_media(tmp_path / "media"))
    make_bot(YTDL_LIMIT="1kb", AUTHORIZED_CHATS=str(USER))
    since = bot_api.mark()
    bot_api.push_message(f"/ytdl {origin.url}/page.html -q best", chat_id=USER, user_id=USER)
    failed = wait_text(bot_api, r"❌", chat_id=USER, since=since, timeout=90)
    assert "yt-dlp downloads are limited to 1 kB (YTDL_LIMIT)" in text_of(failed), text_of(failed)


def test_a_telegram_file_over_direct_limit_is_refused_at_once(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    make_bot(DIRECT_LIMIT="100kb", AUTHORIZED_CHATS=str(USER))
    big = bot_api.add_file(b"x" * 200_000, file_name="big.bin")
    since = bot_api.mark()
    upload = bot_api.push_message("", chat_id=USER, user_id=USER, document=big)
    bot_api.push_message("/mirror", chat_id=USER, user_id=USER, reply_to=upload)
    refused = wait_text(bot_api, r"❌", chat_id=USER, since=since, timeout=60)
    assert (
        "refused: direct links and Telegram files are limited to 100 kB (DIRECT_LIMIT); "
        "big.bin is 200 kB" in text_of(refused)
    ), text_of(refused)
    assert bot_api.calls_of("getFile") == []  # refused from the size in the update


def test_stop_duplicate_for_a_telegram_file_asks_telegram_nothing(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    bot = make_bot(STOP_DUPLICATE="true")
    bot.mirror_dir.mkdir(exist_ok=True)
    (bot.mirror_dir / "report.pdf").write_bytes(b"p" * 5000)
    document = bot_api.add_file(b"p" * 5000, file_name="report.pdf")
    since = bot_api.mark()
    upload = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=document)
    bot_api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=upload)
    found = wait_text(bot_api, r"STOP_DUPLICATE", chat_id=OWNER, since=since, timeout=60)
    assert "report.pdf (5 kB) is already at mirror/report.pdf" in text_of(found), text_of(found)
    assert bot_api.calls_of("getFile") == []
