"""Issue 22: a task waiting on its user's menu (``-s``, the /ytdl quality menu) holds no
``QUEUE_DOWNLOAD`` slot; it takes one again after the answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.e2e.test_torrent import PACK, assert_same_tree, press, torrent_env
from tests.e2e.test_ytdl import answer_to, button, height_of, menu_message
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.media import make_media, serve_media
from tests.fakes.origin import FakeOrigin
from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def media_site(origin: FakeOrigin, media_dir: Path) -> Iterator[FakeOrigin]:
    serve_media(origin, media_dir)
    yield origin


def test_an_unanswered_file_menu_does_not_block_a_plain_download(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    with Seeder() as seeder:
        seeder.seed(torrent, root)
        bot = make_bot(QUEUE_DOWNLOAD="1", TORRENT_SELECT_TIMEOUT="300", **torrent_env())
        since = bot_api.mark()
        bot_api.push_message(
            f"/mirror {magnet(torrent, seeder.port)} -s", chat_id=OWNER, user_id=OWNER
        )
        menu = wait_text(bot_api, r"3 of 3 files selected", chat_id=OWNER, since=since,
                         timeout=60)
        # The menu is open and nobody answers it: the one download slot must not wait for it.
        origin.add("/plain.bin", size=300_000, seed=5)
        bot_api.push_message(f"/mirror {origin.url}/plain.bin", chat_id=OWNER, user_id=OWNER)
        wait_text(bot_api, r"✅ <b>plain\.bin", chat_id=OWNER, since=since, timeout=30)
        assert (bot.mirror_dir / "plain.bin").stat().st_size == 300_000
        assert not any("✅ <b>pack" in text_of(c) for c in bot_api.calls[since:])
        # Answered later, the torrent takes a slot again and finishes.
        press(bot_api, OWNER, menu.result["message_id"], "Start", OWNER)
        wait_text(bot_api, r"✅ <b>pack", chat_id=OWNER, since=since, timeout=60)
        assert_same_tree(bot.mirror_dir / "pack", root / "pack")


def test_an_unanswered_quality_menu_does_not_block_a_plain_download(
    bot_api: FakeBotAPI, media_site: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(QUEUE_DOWNLOAD="1", YTDL_SELECT_TIMEOUT="300")
    since = bot_api.mark()
    bot_api.push_message(f"/ytdl {media_site.url}/master.m3u8", chat_id=OWNER, user_id=OWNER)
    menu = menu_message(bot_api, OWNER)
    media_site.add("/plain.bin", size=300_000, seed=6)
    bot_api.push_message(f"/mirror {media_site.url}/plain.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅ <b>plain\.bin", chat_id=OWNER, since=since, timeout=30)
    query = bot_api.push_callback(button(menu, "120p"), message=menu, user_id=OWNER)
    assert "120p" in answer_to(bot_api, query)
    mark = bot_api.mark()
    wait_text(bot_api, r"✅", chat_id=OWNER, since=mark, timeout=60)
    [video] = [p for p in files_in(bot.mirror_dir) if p.name != "plain.bin"]
    assert height_of(video) == 120
