"""Torrents end to end: the real bot process with its libtorrent session, a loopback seeder
started here, and the fake Bot API (which also serves the .torrent documents)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent, wait_until

PACK = {"pack/a.bin": 1_500_000, "pack/sub/b.bin": 400_001, "pack/c.txt": 17}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torrent_env(port: int = 0, **extra: str) -> dict[str, str]:
    """The bot's session on loopback only, no DHT: its swarm is exactly this test's seeder."""
    return {"TORRENT_PORT": str(port), "TORRENT_LISTEN": "127.0.0.1", "TORRENT_DHT": "false",
            **extra}


@pytest.fixture
def seeder() -> Iterator[Seeder]:
    with Seeder() as swarm:
        yield swarm


@pytest.fixture
def pack(tmp_path: Path, seeder: Seeder) -> tuple[bytes, Path]:
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    seeder.seed(torrent, root)
    return torrent, root / "pack"


def assert_same_tree(got: Path, want: Path) -> None:
    files = sorted(p.relative_to(want) for p in want.rglob("*") if p.is_file())
    assert sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file()) == files
    for rel in files:
        assert (got / rel).read_bytes() == (want / rel).read_bytes(), rel


def test_magnet_with_peer_hint_is_mirrored(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, pack: tuple[bytes, Path]
) -> None:
    torrent, original = pack
    bot = make_bot(**torrent_env())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {magnet(torrent, seeder.port)}", chat_id=OWNER, user_id=OWNER)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert "pack" in text_of(done) and "Saved to" in text_of(done)
    assert_same_tree(bot.mirror_dir / "pack", original)
    shown = [text_of(c) for c in bot_api.calls[since:] if "libtorrent" in text_of(c)]
    assert shown, "the status named the engine"


def test_torrent_document_is_mirrored(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, pack: tuple[bytes, Path]
) -> None:
    torrent, original = pack
    port = free_port()
    bot = make_bot(**torrent_env(port))
    document = bot_api.add_file(
        torrent, file_name="pack.torrent", mime_type="application/x-bittorrent"
    )
    shared = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=document)
    since = bot_api.mark()
    bot_api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=shared)
    # A .torrent names no peers and DHT is off: the seeder dials the bot's TORRENT_PORT.
    handle = seeder.session.get_torrents()[0]

    def delivered() -> bool:
        handle.connect_peer(("127.0.0.1", port))
        return any("✅" in text_of(c) for c in bot_api.calls[since:])

    wait_until(delivered, timeout=60, what="the mirror to finish")
    assert_same_tree(bot.mirror_dir / "pack", original)
    assert "pack.torrent" not in {p.name for p in bot.mirror_dir.rglob("*")}
