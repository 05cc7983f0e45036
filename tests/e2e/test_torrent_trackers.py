"""Issue 22: torrents whose only peer source is an HTTP tracker on 127.0.0.1.

With ``ALLOW_PRIVATE_LINKS=true`` (the test bot's default) the bot must find the seeder through
the tracker (it sat at "seeds 0 · peers 0" for minutes: every torrent started with all file
priorities 0, "finished", and the seed the tracker named dropped it for good), and its status
must say where its peers came from and what a failing tracker answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import wait_text
from tests.e2e.test_torrent import PACK, assert_same_tree, press, torrent_env
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.ports import held_port
from tests.fakes.swarm import Seeder, Tracker, make_files, make_torrent, wait_until

# A wait bound, not a speed goal. Two causes of "peers 0" under a loaded parallel run are gone:
# other tests' swarms found through LSD (tests/fakes/swarm.py: make_files) and the seed closing
# a link that was upload-only before the file choice (sources/torrent/source.py: paused).
SLOW_SWARM = 150.0


def _send_document(bot_api: FakeBotAPI, torrent: bytes) -> int:
    document = bot_api.add_file(
        torrent, file_name="pack.torrent", mime_type="application/x-bittorrent"
    )
    shared = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=document)
    since = bot_api.mark()
    bot_api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=shared)
    return since


def test_a_loopback_tracker_brings_the_seeder(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    root = make_files(tmp_path / "seed", PACK)
    with Seeder(upload_limit=1_000_000) as seeder:  # ~2 s: the status shows the swarm
        tracker = Tracker([seeder.port])
        try:
            torrent = make_torrent(root / "pack", trackers=[tracker.url])
            seeder.seed(torrent, root)
            # No peer hint, no DHT, and the seeder never dials us: only the tracker helps.
            bot = make_bot(**torrent_env())
            since = _send_document(bot_api, torrent)
            wait_text(bot_api, r"✅ <b>pack", chat_id=OWNER, since=since, timeout=30)
            # The status said where the peer came from (wait_text searches the past too).
            wait_text(bot_api, r"peers 1 \(tracker 1\)", chat_id=OWNER, since=since,
                      method="editMessageText", timeout=1)
        finally:
            tracker.close()
    assert_same_tree(bot.mirror_dir / "pack", root / "pack")


def test_a_loopback_tracker_with_any_path_works_when_private_links_are_allowed(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    """libtorrent's SSRF mitigation refuses a loopback tracker unless its path starts with
    /announce; ALLOW_PRIVATE_LINKS=true waives it (private trackers use /tr/<passkey>)."""
    root = make_files(tmp_path / "seed", PACK)
    with Seeder() as seeder:
        tracker = Tracker([seeder.port], path="/tr/0123456789abcdef")
        try:
            torrent = make_torrent(root / "pack", trackers=[tracker.url])
            seeder.seed(torrent, root)
            bot = make_bot(**torrent_env())
            since = _send_document(bot_api, torrent)
            wait_text(bot_api, r"✅ <b>pack", chat_id=OWNER, since=since, timeout=SLOW_SWARM)
        finally:
            tracker.close()
    assert_same_tree(bot.mirror_dir / "pack", root / "pack")


def test_a_tracker_fed_swarm_survives_a_file_choice(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    """-s: the torrent waits on the menu, then finds the seed through the tracker. Held back
    with all file priorities 0 it looked finished, and in upload mode it looked upload-only: the
    seed dropped it, and libtorrent's reconnect back-off kept it at "peers 0"."""
    root = make_files(tmp_path / "seed", PACK)
    with Seeder() as seeder:
        tracker = Tracker([seeder.port])
        try:
            torrent = make_torrent(root / "pack", trackers=[tracker.url])
            seeder.seed(torrent, root)
            bot = make_bot(**torrent_env())
            document = bot_api.add_file(
                torrent, file_name="pack.torrent", mime_type="application/x-bittorrent"
            )
            shared = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=document)
            since = bot_api.mark()
            bot_api.push_message("/mirror -s", chat_id=OWNER, user_id=OWNER, reply_to=shared)
            menu = wait_text(bot_api, r"3 of 3 files selected", chat_id=OWNER, since=since,
                             timeout=60)
            # While the menu waits the torrent is paused: it announces and meets the seed
            # only once the choice is made (a person takes seconds meanwhile).
            wait_until(lambda: tracker.announces >= 1, 30, "the seeder's announce")
            press(bot_api, OWNER, menu.result["message_id"], "c.txt", OWNER)
            press(bot_api, OWNER, menu.result["message_id"], "Start", OWNER)
            wait_text(bot_api, r"✅ <b>pack", chat_id=OWNER, since=since, timeout=SLOW_SWARM)
        finally:
            tracker.close()
    got = bot.mirror_dir / "pack"
    assert sorted(str(p.relative_to(got)) for p in got.rglob("*") if p.is_file()) == [
        "a.bin", "sub/b.bin"]


def test_status_says_what_the_tracker_answered(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    with held_port() as closed:  # a port nobody listens on: the announce is refused
        root = make_files(tmp_path / "seed", PACK)
        torrent = make_torrent(root / "pack", trackers=[f"http://127.0.0.1:{closed}/announce"])
        make_bot(**torrent_env())
        since = _send_document(bot_api, torrent)
        wait_text(bot_api, r"seeds 0 · peers 0.* · tracker: connection refused", chat_id=OWNER,
                  since=since, method="editMessageText", timeout=30)
