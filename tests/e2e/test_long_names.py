"""Names at NAME_MAX (255 bytes) through the real bot: download (``.part``, ``.part.state``),
mirror and clash numbering (`` (1)``) must all fit, for 1-, 3- and 4-byte UTF-8 names."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, sha256_file, wait_text
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
