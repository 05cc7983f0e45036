"""-z end to end: the real bot archives what it downloaded, for /mirror and /leech (volumes)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from telebot.processing import sevenzip
from tests import polling, proctree
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

pytestmark = pytest.mark.skipif(sevenzip.find() is None, reason="7-Zip is not installed")
PASSWORD = "e2e zip-Pass"


def log_text(size: int) -> bytes:
    pick = random.Random(5)
    words = ["GET", "POST", "/api/items", "200", "404", "user", "session", "timeout"]
    out = bytearray()
    while len(out) < size:
        out += (" ".join(pick.choice(words) for _ in range(9)) + f" {pick.random()}\n").encode()
    return bytes(out[:size])


def extract(archive: Path, dest: Path, password: str | None = None) -> Path:
    sevenzip.run(["x", "-y", f"-o{dest}", "--", str(archive)], password=password, cancel=None)
    return dest


def test_mirror_z_saves_one_compressed_zip(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    bot = make_bot()
    data = log_text(2_000_000)
    origin.add("/server.log", data=data)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/server.log -z", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    assert "server.log.zip" in text_of(done)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "server.log.zip" and saved.stat().st_size < len(data) // 2
    got = extract(saved, tmp_path / "x")
    assert (got / "server.log").read_bytes() == data
    assert files_in(bot.download_dir) == []


def test_mirror_z_password_7z_hides_names_and_deletes_the_command(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    bot = make_bot()
    res = origin.add("/secret-plans.bin", size=700_000, seed=3)
    since = bot_api.mark()
    command = bot_api.push_message(
        f"/mirror {origin.url}/secret-plans.bin -z '{PASSWORD}' -zf 7z",
        chat_id=OWNER, user_id=OWNER,
    )
    wait_text(bot_api, r"I deleted your message", chat_id=OWNER, since=since)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    assert command["message_id"] not in bot_api.chat_messages(OWNER)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "secret-plans.bin.7z"
    assert b"secret-plans" not in saved.read_bytes()  # -mhe=on: even the names are encrypted
    with pytest.raises(sevenzip.PasswordNeeded):
        extract(saved, tmp_path / "nopw")
    got = extract(saved, tmp_path / "x", PASSWORD)
    assert sha256_file(got / "secret-plans.bin") == res.sha256()
    assert PASSWORD not in bot.log_text()
    assert not any(PASSWORD in text_of(c) for c in bot_api.calls_of("sendMessage"))


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_leech_z_sends_volumes_of_the_part_size_that_open_together(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path, fmt: str
) -> None:
    make_bot()
    res = origin.add("/movie.mkv", size=3_500_000, seed=9)
    since = bot_api.mark()
    bot_api.push_message(
        f"/leech {origin.url}/movie.mkv -z '{PASSWORD}' -zf {fmt} -sp 1mib",
        chat_id=OWNER, user_id=OWNER,
    )
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    sent = [c for c in bot_api.calls_of("sendDocument") if c.index >= since and c.status == 200]
    names = [c.files["document"].filename for c in sent]
    assert names == [f"movie.mkv.{fmt}.00{i}" for i in (1, 2, 3, 4)]
    assert all(c.files["document"].size <= 1 << 20 for c in sent)
    # Each volume is sent as a file of its own, not cut again by the sink ("part 1/4 of ...").
    assert [c.params.get("caption") for c in sent] == [f"<code>{n}</code>" for n in names]
    assert "Sent 4 files" in text_of(done)
    received = tmp_path / "received"
    received.mkdir()
    for call, name in zip(sent, names, strict=True):
        path = call.files["document"].path
        assert path is not None
        shutil.copyfile(path, received / name)
    got = extract(received / names[0], tmp_path / "x", PASSWORD)
    assert sha256_file(got / "movie.mkv") == res.sha256()


def test_leech_z_that_fits_one_part_sends_one_plain_archive(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    origin.add("/small.bin", size=300_000, seed=4)
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/small.bin -z", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    sent = [c for c in bot_api.calls_of("sendDocument") if c.index >= since and c.status == 200]
    assert [c.files["document"].filename for c in sent] == ["small.bin.zip"]


def test_kill_during_compression_reruns_the_stage_after_restart(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    block = log_text(1_000_000)  # > deflate's window: every copy costs full work
    # Enough work that 7-Zip is still running when it is seen: 120 copies took under a second
    # on a quiet machine, and the whole task was done before a 50 ms poll caught the archive.
    data = block * 300
    origin.add("/big.log", data=data)
    home = tmp_path / "bot"
    bot = make_bot(home=home)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/big.log -z", chat_id=OWNER, user_id=OWNER)
    # The bot's own 7-Zip (pid and start time), not any other test's: followed after the kill,
    # when an orphan would no longer be below this process.
    sevenzips: dict[int, int] = {}

    def compressing() -> bool:
        sevenzips.update(proctree.matching(b"big.log.zip"))
        return bool(sevenzips)

    polling.wait_until(compressing, 120, "7-Zip started on the archive", poll=0.01)
    bot.kill9()
    # PR_SET_PDEATHSIG: 7-Zip died with the bot, it does not write on into the task folder.
    polling.wait_until(lambda: not proctree.running(sevenzips), 10, "7-Zip exited with the bot")
    restarted = make_bot(home=home)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=180)
    [saved] = files_in(restarted.mirror_dir)
    assert saved.name == "big.log.zip"
    assert (extract(saved, tmp_path / "x") / "big.log").read_bytes() == data
    assert files_in(restarted.download_dir) == []


def test_leech_z_with_volumes_under_1_mib_is_refused_with_one_line(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """-sp 10 once made 7-Zip write volumes of 10 bytes: ~10^8 files for 1 GB, no MAX_PARTS."""
    bot = make_bot()
    origin.add("/movie.mkv", size=3_500_000, seed=9)
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/movie.mkv -z -sp 10", chat_id=OWNER, user_id=OWNER)
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, since=since, timeout=60)
    assert text_of(failed).endswith(
        "failed: volumes (-z) are at least 1 MiB, and the part size here is 10 B: refused, nothing "
        "was archived (raise -sp to 1mib or more)"
    ), text_of(failed)
    assert not [c for c in bot_api.calls_of("sendDocument") if c.index >= since]
    assert files_in(bot.download_dir) == []
