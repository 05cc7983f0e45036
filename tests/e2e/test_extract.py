"""/mirror <link> -e end to end: the real bot, a fake origin serving archives built here, the
real 7-Zip; passwords (right, wrong, never in a process's command line or the log), a hostile
archive, and a kill -9 in the middle of an extraction."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from telebot.processing import sevenzip
from tests import polling, proctree
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.processing.archive_helpers import PASSWORD, Watcher, empty_files_7z, make_7z_archive

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
    # Stored (-mx=0), encrypted: LZMA2 stores random data uncompressed anyway (the same
    # extraction), and -mx=1 spent 3.5 CPU-s looking for matches in it.
    archive = make_7z_archive(tmp_path, "locked.7z", src, "-mx=0", password=PASSWORD)
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

    # The bot's own 7-Zip (pid and start time), not any other test's: followed after the kill,
    # when an orphan would no longer be below this process.
    sevenzips: dict[int, int] = {}

    def extracting() -> bool:
        sevenzips.update(proctree.matching(b"zeros.bin.bz2"))
        return bool(sevenzips) and any(
            p.is_file() and p.stat().st_size > 0
            for p in downloads.glob("*/.stage-*-extract/**/*"))

    polling.wait_until(extracting, 60, "7-Zip writing into the stage folder")
    bot.kill9()
    polling.wait_until(lambda: not proctree.running(sevenzips), 10, "7-Zip dying with the bot")
    again = make_bot(home=home, **env)
    wait_text(bot_api, r"Resuming", chat_id=OWNER, since=since, timeout=60)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=180)
    [result] = files_in(again.mirror_dir)
    assert result.relative_to(again.mirror_dir).as_posix() == "zeros.bin/zeros.bin"
    assert result.stat().st_size == size
    done = [c for c in bot_api.calls_of("sendMessage") if "✅" in text_of(c)]
    assert len(done) == 1
    assert files_in(again.download_dir) == []


# -- hostile and harmless archives through the bot (issue 21) ---------------------------------

STEPS = "abcdefghijklmnop"


def _add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, link: str = "",
         data: bytes = b"") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    tar.addfile(info, io.BytesIO(data) if data else None)


def _peak_growth(pid: int, action: Any) -> int:
    """Bytes the process's peak RSS grew by while ``action()`` ran (VmHWM after a reset)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status_kib(pid, "VmHWM")
    action()
    grew = (_status_kib(pid, "VmHWM") - before) << 10
    print(f"peak RSS of the bot: {before >> 10} MiB before, grew by {grew / (1 << 20):.1f} MiB")
    return grew


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def test_a_link_chain_past_path_max_cannot_write_outside_the_task(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """CVE-2025-4517's shape, sized for where -e extracts (DOWNLOAD_DIR/<gid>/.stage-0-extract/
    chain; a gid is 10 characters): 16 links whose expansion passes PATH_MAX, so realpath (and
    tarfile's data filter) judge the rest by name, then ``escape`` → four levels up, to the
    bot's home, and ``escape/victim/new.pth``."""
    bot = make_bot()
    victim = bot.home / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_bytes(b"untouched")
    dest = os.path.realpath(bot.download_dir) + "/0123456789/.stage-0-extract/chain"
    comp = "d" * ((4096 - len(dest) - 1) // (len(STEPS) + 1))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = ""
        for step in STEPS:
            _add(tar, os.path.join(folder, comp), tarfile.DIRTYPE)
            _add(tar, os.path.join(folder, step), tarfile.SYMTYPE, comp)
            folder = os.path.join(folder, comp)
        linkpath = os.path.join(*STEPS, "l" * 254)
        _add(tar, linkpath, tarfile.SYMTYPE, os.path.join(*[".."] * len(STEPS)))
        _add(tar, "escape", tarfile.SYMTYPE, os.path.join(linkpath, "../../../.."))
        _add(tar, "escape/victim/new.pth", data=b"import os; os.system('id')\n")
        _add(tar, "readme.txt", data=b"hello")
    origin.add("/chain.tar", data=buffer.getvalue())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/chain.tar -e", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert (victim / "keep.txt").read_bytes() == b"untouched"
    assert not list(bot.home.rglob("new.pth"))
    assert "✅" in text_of(done), text_of(done)
    assert "skipped an entry whose folder is a link or a file: escape/victim/new.pth" \
        in text_of(done)
    assert (bot.mirror_dir / "chain" / "readme.txt").read_bytes() == b"hello"


def _long_name_tar_gz(length: int) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as out:
        header = tarfile.TarInfo("././@LongLink")
        header.type, header.size = tarfile.GNUTYPE_LONGNAME, length
        out.write(header.tobuf(format=tarfile.GNU_FORMAT))
        block = b"a" * (1 << 20)
        for _ in range(length >> 20):
            out.write(block)
        out.write(tarfile.TarInfo("short").tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024)
    return buffer.getvalue()


def test_a_300_mb_gnu_long_name_is_refused_and_the_bot_stays_small(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """A ~300 KiB .tar.gz whose one header is a 300 MB GNU long name: tarfile in the bot read
    it whole (+2.5 GiB peak)."""
    bot = make_bot()
    data = _long_name_tar_gz(300 << 20)
    assert len(data) < 320 << 10
    origin.add("/long.tar.gz", data=data)
    since = bot_api.mark()
    found: list[Any] = []

    def run() -> None:
        bot_api.push_message(f"/mirror {origin.url}/long.tar.gz -e", chat_id=OWNER,
                             user_id=OWNER)
        found.append(wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60))

    grew = _peak_growth(bot.proc.pid, run)
    assert text_of(found[0]).endswith(
        "failed: the archive has a GNU long name header of 314,572,800 bytes (at most 65,536)"
    ), text_of(found[0])
    assert grew < 32 << 20, f"the bot's peak RSS grew by {grew >> 20} MiB"
    # The child's own peak (its VmHWM, in the one line the bot logs per tar run).
    child = re.search(r"tar extractor: exit 1, .* peak RSS (\d+) MiB", bot.log_text())
    assert child is not None, bot.log_text()[-2000:]
    print(f"peak RSS of the tar child: {child.group(1)} MiB")
    assert int(child.group(1)) < 32
    assert files_in(bot.download_dir) == []


@pytest.fixture(scope="module")
def many_empty_7z() -> bytes:
    """A .7z of 200,000 empty files (about 50 KiB: 7z compresses its headers), written without
    the files (archive_helpers.empty_files_7z: 7-Zip needed them on a disk, 30 s of a busy run).
    """
    return empty_files_7z(200_000)


def test_a_7z_of_200000_empty_files_stops_at_extract_max_files_in_bounded_memory(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, many_empty_7z: bytes
) -> None:
    assert len(many_empty_7z) < 100 << 10
    bot = make_bot()
    origin.add("/many.7z", data=many_empty_7z)
    since = bot_api.mark()
    found: list[Any] = []

    def run() -> None:
        bot_api.push_message(f"/mirror {origin.url}/many.7z -e", chat_id=OWNER, user_id=OWNER)
        found.append(wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=120))

    grew = _peak_growth(bot.proc.pid, run)
    assert text_of(found[0]).endswith(
        "failed: extraction stopped: the archive holds more than EXTRACT_MAX_FILES (100,000)"
    ), text_of(found[0])
    assert grew < 32 << 20, f"the bot's peak RSS grew by {grew >> 20} MiB"
    assert files_in(bot.download_dir) == []


def test_small_compressible_archives_extract_whatever_their_ratio(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    """A 7 KB zip of a 2 MiB log (about 290:1) and a 1 KB password 7z of 1 MiB were refused as
    bombs by EXTRACT_MAX_RATIO (100): below EXTRACT_RATIO_FLOOR a ratio says nothing."""
    bot = make_bot()
    line = b"2026-12-06T21:00:00Z INFO GET /api/items 200 12ms user=42 session=abc\n"
    log = (line * ((2 << 20) // len(line) + 1))[: 2 << 20]
    zipped = zip_bytes({"server.log": log})
    assert len(log) / len(zipped) > 250 and len(zipped) < 8000  # about 290:1
    origin.add("/logs.zip", data=zipped)
    src = tmp_path / "src"
    src.mkdir()
    (src / "disk.img").write_bytes(b"\0" * (1 << 20))
    locked = make_7z_archive(tmp_path, "img.7z", src, "-mx=9", password=PASSWORD)
    assert locked.stat().st_size < 1200
    origin.add("/img.7z", data=locked.read_bytes())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/logs.zip -e", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
    assert "✅" in text_of(done), text_of(done)
    assert (bot.mirror_dir / "logs" / "server.log").read_bytes() == log
    since = bot_api.mark()
    bot_api.push_message(f'/mirror {origin.url}/img.7z -e "{PASSWORD}"', chat_id=OWNER,
                         user_id=OWNER)
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
    assert "✅" in text_of(done), text_of(done)
    assert (bot.mirror_dir / "img" / "disk.img").read_bytes() == b"\0" * (1 << 20)


def test_a_tar_with_a_symlink_loop_is_one_clear_line_not_an_internal_error(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, "a", tarfile.SYMTYPE, "b")
        _add(tar, "b", tarfile.SYMTYPE, "a")
        _add(tar, "ok.txt", data=b"fine")
    origin.add("/loop.tar", data=buffer.getvalue())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/loop.tar -e", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
    assert "internal error" not in text_of(done)
    assert "removed a link in a loop: a" in text_of(done), text_of(done)
    assert files_in(bot.mirror_dir) == [bot.mirror_dir / "loop" / "ok.txt"]
