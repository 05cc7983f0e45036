"""Names at NAME_MAX (255 bytes) through the real bot: download (``.part``, ``.part.state``),
mirror and clash numbering (`` (1)``) must all fit, for 1-, 3- and 4-byte UTF-8 names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from telebot.namefit import MAX_BASE_BYTES
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

NAME_MAX = 255


def name_of(char: str, ext: str = ".bin") -> str:
    """A name of exactly 255 UTF-8 bytes made of ``char``, ending in ``ext``."""
    width = len(char.encode())
    count = (NAME_MAX - len(ext)) // width
    pad = "x" * (NAME_MAX - len(ext) - count * width)
    name = char * count + pad + ext
    assert len(name.encode()) == NAME_MAX
    return name


@pytest.mark.parametrize("char", ["a", "€", "😀"])
def test_a_255_byte_name_downloads_mirrors_and_numbers(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, char: str
) -> None:
    bot = make_bot()
    name = name_of(char)
    res = origin.add(
        "/long", size=300_000, seed=7,
        content_disposition=f"attachment; filename*=UTF-8''{quote(name)}",
    )
    for done in range(1, 3):  # the second time the name is taken: " (1)" must fit as well
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {origin.url}/long", chat_id=OWNER, user_id=OWNER)
        wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
        wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=1)
        saved = files_in(bot.mirror_dir)
        assert len(saved) == done
    for path in saved:
        assert len(path.name.encode()) <= NAME_MAX
        assert path.name.startswith(char) and path.name.endswith(".bin")
        assert sha256_file(path) == res.sha256()
    assert "ENAMETOOLONG" not in bot.log_text() and "too long" not in bot.log_text()


# 4,000 digits: any run of more than NAME_SHOWN of them in a message is the name, uncut.
LONG = "".join(f"{i:04d}" for i in range(1000))
NAME_SHOWN = 100


def test_a_4000_character_name_is_cut_in_every_message(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """Issue 21: names in status, done and error messages are cut to ~100 characters with
    "…", whichever way the name came: -n, a server's file name, the link's path, a magnet's
    dn=, a -m folder, a leeched file's caption, /mediainfo."""
    make_bot()
    origin.add("/f.bin", size=1000, seed=1)
    origin.add("/cd.bin", size=1000, seed=2,
               content_disposition=f"attachment; filename*=UTF-8''{quote(LONG)}.bin")  # fmt: skip
    listing = bot_api.push_message(f"{origin.url}/f.bin\n{origin.url}/cd.bin", chat_id=OWNER,
                                   user_id=OWNER)  # fmt: skip
    commands = [
        (f"/mirror {origin.url}/f.bin -n {LONG}", r"✅"),
        (f"/leech {origin.url}/f.bin -n {LONG}.bin", r"✅"),
        (f"/leech {origin.url}/cd.bin", r"✅"),
        (f"/mirror {origin.url}/cd.bin -z", r"✅"),
        (f"/mediainfo {origin.url}/cd.bin", r"."),
        (f"/mirror {origin.url}/{LONG}.bin", r"❌"),  # the origin has no such file
        (f"/mirror {origin.url}/f.bin -sp 10 -n {LONG}", r"✅|❌"),
    ]
    for command, outcome in commands:
        since = bot_api.mark()
        bot_api.push_message(command, chat_id=OWNER, user_id=OWNER)
        wait_text(bot_api, outcome, chat_id=OWNER, since=since, timeout=60)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror -b -m {LONG}", chat_id=OWNER, user_id=OWNER, reply_to=listing)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror magnet:?xt=urn:btih:{'ab' * 20}&dn={LONG}", chat_id=OWNER,
                         user_id=OWNER)  # fmt: skip
    status = wait_text(bot_api, r"/cancel", chat_id=OWNER, since=since)
    gid = re.search(r"/cancel (?:<code>)?([0-9a-f]{10})", text_of(status))
    assert gid is not None
    bot_api.push_message(f"/cancel {gid.group(1)}", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"🚫", chat_id=OWNER, since=since)

    shown = 0
    for call in bot_api.calls:
        assert LONG not in repr(call.params), call.method
        for key in ("text", "caption"):
            runs = re.findall(r"\d+", str(call.params.get(key, "")))
            longest = max(map(len, runs), default=0)
            assert longest <= NAME_SHOWN, f"{call.method} shows {longest} characters of a name"
            shown = max(shown, longest)
    assert shown > 50  # the names were shown, cut


def _parts(api: FakeBotAPI, since: int) -> list[Any]:
    return [c for c in api.calls if c.index >= since and c.method == "sendDocument"]


def _assert_arrived_in_parts(api: FakeBotAPI, since: int, data: bytes, stem: str) -> None:
    import hashlib

    parts = _parts(api, since)
    names = [c.files["document"].filename for c in parts]
    assert len(parts) >= 3, names
    assert all(len(n.encode()) <= NAME_MAX for n in names), [len(n.encode()) for n in names]
    assert all(n.startswith(stem) for n in names), names
    joined = hashlib.sha256()
    for call in sorted(parts, key=lambda c: c.files["document"].filename):
        joined.update(call.files["document"].read())
    assert joined.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("char", "ext"), [("a", ".bin"), ("€", ".bin"), ("a", ".8charext")])
def test_a_torrent_file_name_of_255_bytes_is_leeched_in_parts(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path, char: str, ext: str
) -> None:
    """Issue 21: torrent names were not trimmed to 240 bytes like the other sources' names.
    libtorrent 2.1 trims a name to 240 bytes plus an extension of up to 8 characters (249),
    which leaves no room for every suffix telebot appends (".part.state.tmp" is 15): the
    parts must come out of a 240-byte name, as for HTTP, Telegram and yt-dlp names."""
    from tests.e2e.test_torrent import torrent_env
    from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent

    name = name_of(char, ext)
    root = make_files(tmp_path / "src", {name: 300_000})
    data = (root / name).read_bytes()
    torrent = make_torrent(root / name)
    with Seeder() as seeder:
        seeder.seed(torrent, tmp_path / "seed", data=[data])
        bot = make_bot(**torrent_env())
        since = bot_api.mark()
        link = magnet(torrent, seeder.port)
        bot_api.push_message(f"/leech {link} -sp 100000", chat_id=OWNER, user_id=OWNER)
        wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
        wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=1)
    _assert_arrived_in_parts(bot_api, since, data, char * 10)
    for call in _parts(bot_api, since):
        assert len(call.files["document"].filename.encode()) <= MAX_BASE_BYTES + len(".001")
    assert "too long" not in bot.log_text()


@pytest.mark.parametrize("char", ["a", "€"])
def test_an_archive_entry_name_of_255_bytes_is_extracted_and_leeched_in_parts(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path, char: str
) -> None:
    """Issue 21: an archive entry of 241 to 255 bytes extracted fine, then its parts did not
    fit NAME_MAX (ENAMETOOLONG). Each stage's result is trimmed before anything derives from it."""
    import random
    import subprocess

    name = name_of(char)
    data = random.Random(5).randbytes(300_000)
    src = tmp_path / "zipsrc"
    src.mkdir()
    (src / name).write_bytes(data)
    subprocess.run(["zip", "-q", "-0", str(tmp_path / "long.zip"), name], cwd=src, check=True)
    origin.add("/long.zip", data=(tmp_path / "long.zip").read_bytes())
    bot = make_bot()
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/long.zip -e -sp 100000", chat_id=OWNER,
                         user_id=OWNER)  # fmt: skip
    wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=1)
    _assert_arrived_in_parts(bot_api, since, data, char * 10)
    assert "too long" not in bot.log_text()


def test_a_renamed_torrent_file_resumes_after_kill_9(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    """The trimmed name is libtorrent's own (resume data keeps it): after kill -9 the
    download goes on into the same short file and finishes intact."""
    import hashlib

    from tests.e2e.test_torrent import _have_pieces, torrent_env
    from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent, wait_until

    name = name_of("a", ".8charext")
    root = make_files(tmp_path / "src", {name: 4_000_000})
    data = (root / name).read_bytes()
    torrent = make_torrent(root / name, piece_size=65536)
    with Seeder(upload_limit=500_000) as seeder:
        handle = seeder.seed(torrent, tmp_path / "seed", data=[data])
        bot = make_bot(**torrent_env())
        since = bot_api.mark()
        bot_api.push_message(f"/mirror {magnet(torrent, seeder.port)}", chat_id=OWNER,
                             user_id=OWNER)  # fmt: skip
        resume: list[Path] = []

        def some_saved() -> bool:
            resume[:] = list(bot.download_dir.glob("*/.torrent.resume"))
            return bool(resume) and _have_pieces(resume[0]) >= 10

        wait_until(some_saved, timeout=60, what="pieces in the resume data")
        bot.kill9()
        on_disk = [p for p in resume[0].parent.rglob("*") if p.is_file() and "aaaa" in p.name]
        assert [len(p.name.encode()) for p in on_disk] == [MAX_BASE_BYTES]
        seeder.throttle(0)
        wait_until(lambda: handle.status().num_peers == 0, what="the dead bot to be dropped")
        bot.start()
        wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    [saved] = files_in(bot.mirror_dir)
    assert len(saved.name.encode()) == MAX_BASE_BYTES and saved.name.endswith(".8charext")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
