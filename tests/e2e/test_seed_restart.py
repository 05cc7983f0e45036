"""Issue 22: ``-d`` seeding across a restart (it was silently dropped).

A real loopback swarm: a seeder the bot downloads from, which then goes away, so the bot is the
only peer with the data; after the restart a fresh leecher must still get every byte from it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import OWNER, BotProcess
from tests.e2e.helpers import restart_by_command, wait_text
from tests.e2e.test_torrent import PACK, assert_same_tree, torrent_env
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.ports import reserved_port
from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent, wait_until


def _seed_through_the_bot(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path, port: int
) -> tuple[BotProcess, bytes, Path]:
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    with Seeder() as seeder:
        seeder.seed(torrent, root)
        bot = make_bot(**torrent_env(port))
        since = bot_api.mark()
        bot_api.push_message(
            f"/mirror {magnet(torrent, seeder.port)} -d 100", chat_id=OWNER, user_id=OWNER
        )
        wait_text(bot_api, r"✅ <b>pack", chat_id=OWNER, since=since, timeout=60)
        wait_text(bot_api, r"Seeding · libtorrent.*ratio 0\.00 of 100", since=since,
                  method="editMessageText", timeout=30)
    return bot, torrent, root / "pack"  # the first seeder is gone: only the bot has the data


def test_seeding_goes_on_after_a_restart(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    port = reserved_port()
    bot, torrent, original = _seed_through_the_bot(bot_api, make_bot, tmp_path, port)
    restart_by_command(bot_api, OWNER)
    mark = bot_api.mark()
    bot_api.push_message("/status", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"Seeding · libtorrent.*of 100", chat_id=OWNER, since=mark)
    with Seeder() as peer:
        handle = peer.leech(magnet(torrent, port), tmp_path / "peer")
        wait_until(lambda: handle.status().is_seeding, timeout=60,
                   what="a new peer to get the whole torrent from the restarted bot")
    assert_same_tree(tmp_path / "peer" / "pack", original)
    assert "seeding resumed after the restart" in bot.log_text()


def test_the_chat_is_told_when_seeding_cannot_resume(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    bot, _, _ = _seed_through_the_bot(bot_api, make_bot, tmp_path, reserved_port())
    assert bot.terminate(timeout=30) == 0
    seeding = bot.download_dir / ".seeding"
    [folder] = [p for p in seeding.iterdir() if p.is_dir()]
    shutil.rmtree(folder)  # its data is gone while the bot was down
    since = bot_api.mark()
    make_bot(home=bot.home, **torrent_env(reserved_port()))
    wait_text(bot_api, r"Stopped seeding <b>pack</b>: it could not resume", chat_id=OWNER,
              since=since, timeout=30)
    assert list(seeding.iterdir()) == []
