"""Names at NAME_MAX (255 bytes) through the real bot: download (``.part``, ``.part.state``),
mirror and clash numbering (`` (1)``) must all fit, for 1-, 3- and 4-byte UTF-8 names."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

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
