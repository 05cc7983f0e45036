"""/mirror <link> -e end to end: the real bot, a fake origin serving archives built here, the
real 7-Zip; passwords (right, wrong, never in a process's command line or the log), a hostile
archive, and a kill -9 in the middle of an extraction."""

from __future__ import annotations

import bz2
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from telebot.processing import sevenzip
from tests import polling
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.processing.archive_helpers import PASSWORD, Watcher, cmdlines, make_7z_archive

pytestmark = pytest.mark.skipif(sevenzip.find() is None, reason="7-Zip is not installed")


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_mirror_e_extracts_a_zip_into_the_mirror_folder(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    files = {"docs/readme.txt": b"hello", "data.bin": os.urandom(200_000)}
    origin.add("/pack.zip", data=zip_bytes(files))
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/pack.zip -e", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert "<b>pack</b>" in text_of(done) and "extracted 1 archive: 2 files" in text_of(done)
    result = bot.mirror_dir / "pack"
    assert {p.relative_to(result).as_posix(): p.read_bytes() for p in files_in(result)} == files
    assert files_in(bot.download_dir) == []


def test_a_password_opens_the_archive_and_stays_secret(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    bot = make_bot()
    src = tmp_path / "src"
    src.mkdir()
    (src / "secret.bin").write_bytes(os.urandom(1 << 20) * 24)
    archive = make_7z_archive(tmp_path, "locked.7z", src, "-mx=1", password=PASSWORD)
    origin.add("/locked.7z", data=archive.read_bytes())
    since = bot_api.mark()
    with Watcher() as watcher:
        sent = bot_api.push_message(
            f'/mirror {origin.url}/locked.7z -e "{PASSWORD}"', chat_id=OWNER, user_id=OWNER
        )
        done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=90)
    assert "extracted 1 archive" in text_of(done)
    got = bot.mirror_dir / "locked" / "secret.bin"
    assert got.read_bytes() == (src / "secret.bin").read_bytes()
    assert any(b"locked.7z" in line for line in watcher.seen), "7-Zip was never seen running"
    assert not any(PASSWORD.encode() in line for line in watcher.seen)
    # The command carried a password: deleted from the chat, and never in the log.
    bot_api.wait_for(
        "deleteMessage", lambda c: c.params.get("message_id") == sent["message_id"], since=since
    )
    assert PASSWORD not in bot.log_text()
    assert not [c for c in bot_api.calls if PASSWORD in str(c.params)
                and c.method != "getUpdates"]


def test_a_wrong_password_says_so(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    bot = make_bot()
    src = tmp_path / "src"
    src.mkdir()
    (src / "secret.txt").write_bytes(b"top secret")
    archive = make_7z_archive(tmp_path, "locked.zip", src, password=PASSWORD)
    origin.add("/locked.zip", data=archive.read_bytes())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/locked.zip -e guess", chat_id=OWNER,
                         user_id=OWNER)
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since, timeout=60)
    assert text_of(failed).endswith("failed: wrong password")
    assert files_in(bot.mirror_dir) == [] and files_in(bot.download_dir) == []
    assert "Traceback" not in bot.log_text()


def test_a_zip_slip_archive_is_refused_and_nothing_escapes(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    origin.add("/slip.zip", data=zip_bytes({"fine.txt": b"ok", "../../escaped.txt": b"pwned"}))
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/slip.zip -e", chat_id=OWNER, user_id=OWNER)
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since, timeout=60)
    assert "refused" in text_of(failed) and "parent reference" in text_of(failed)
    assert not any(p.name == "escaped.txt" for p in bot.mirror_dir.parent.rglob("*"))
    assert files_in(bot.mirror_dir) == []


def test_kill9_mid_extraction_resumes_from_an_empty_folder_and_delivers_once(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    size = 768 << 20  # zeros: 7-Zip needs a few seconds, the download a moment
    origin.add("/zeros.bin.bz2", data=bz2.compress(b"\0" * (16 << 20), 9) * (size >> 24))
    home = tmp_path / "bot"
    env = {"EXTRACT_MAX_RATIO": "1000000000"}  # the point here is the restart, not the bomb
    bot = make_bot(home=home, **env)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/zeros.bin.bz2 -e", chat_id=OWNER, user_id=OWNER)
    downloads = bot.download_dir

    def extracting() -> bool:
        return any(p.is_file() and p.stat().st_size > 0
                   for p in downloads.glob("*/.stage-*-extract/**/*"))

    polling.wait_until(extracting, 60, "7-Zip writing into the stage folder")
    bot.kill9()
    polling.wait_until(lambda: not any(b"zeros.bin.bz2" in c for c in cmdlines()), 10,
                       "7-Zip dying with the bot")
    again = make_bot(home=home, **env)
    wait_text(bot_api, r"Resuming", chat_id=OWNER, since=since, timeout=60)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=180)
    [result] = files_in(again.mirror_dir)
    assert result.relative_to(again.mirror_dir).as_posix() == "zeros.bin/zeros.bin"
    assert result.stat().st_size == size
    done = [c for c in bot_api.calls_of("sendMessage") if "✅" in text_of(c)]
    assert len(done) == 1
    assert files_in(again.download_dir) == []
