"""Torrents end to end: the real bot process with its libtorrent session, a loopback seeder
started here, and the fake Bot API (which also serves the .torrent documents)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.ports import reserved_port
from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent, wait_until

PACK = {"pack/a.bin": 1_500_000, "pack/sub/b.bin": 400_001, "pack/c.txt": 17}


def torrent_env(port: int = 0, **extra: str) -> dict[str, str]:
    """The bot's session on loopback only, no DHT: its swarm is exactly this test's seeder."""
    return {
        "TORRENT_PORT": str(port),
        "TORRENT_LISTEN": "127.0.0.1",
        "TORRENT_DHT": "false",
        **extra,
    }


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
    # About 1.5 s of transfer: unthrottled on loopback it can finish between two status
    # refreshes, and the status would never show the engine (a race, not a bug).
    seeder.throttle(1_000_000)
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
    port = reserved_port()
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


GROUP = -100777
STRANGER = 555


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Button text → callback data of a bot message."""
    import json

    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


def press(api: FakeBotAPI, chat_id: int, menu_id: int, label: str, user_id: int) -> str:
    """Press the button whose text contains ``label``; returns the answer's text."""
    message = api.chat_messages(chat_id)[menu_id]
    [data] = [d for text, d in buttons(message).items() if label in text]
    assert len(data.encode()) <= 64
    since = api.mark()
    query = api.push_callback(data, message=message, user_id=user_id)
    answer = api.wait_for(
        "answerCallbackQuery",
        lambda c: c.params.get("callback_query_id") == query["id"],
        since=since,
        timeout=15,
    )
    return str(answer.params.get("text") or "")


def test_select_files_by_the_owner_not_a_stranger(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, pack: tuple[bytes, Path]
) -> None:
    torrent, original = pack
    bot = make_bot(AUTHORIZED_CHATS=str(GROUP), **torrent_env())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {magnet(torrent, seeder.port)} -s", chat_id=GROUP, user_id=OWNER)
    menu = wait_text(bot_api, r"3 of 3 files selected", chat_id=GROUP, since=since, timeout=60)
    menu_id = menu.result["message_id"]
    assert "Only the user who started" in press(bot_api, GROUP, menu_id, "b.bin", STRANGER)
    assert "3 of 3" in bot_api.chat_messages(GROUP)[menu_id]["text"]
    press(bot_api, GROUP, menu_id, "b.bin", OWNER)
    press(bot_api, GROUP, menu_id, "c.txt", OWNER)
    wait_text(bot_api, r"1 of 3 files selected", since=since, method="editMessageText")
    assert "Only the user who started" in press(bot_api, GROUP, menu_id, "Start", STRANGER)
    press(bot_api, GROUP, menu_id, "Start", OWNER)
    wait_text(bot_api, r"✅", chat_id=GROUP, since=since, timeout=60)
    got = bot.mirror_dir / "pack"
    assert [p.relative_to(got) for p in got.rglob("*") if p.is_file()] == [Path("a.bin")]
    assert (got / "a.bin").read_bytes() == (original / "a.bin").read_bytes()
    assert not bot_api.unanswered_callbacks()


def test_select_menu_times_out_with_every_file(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, pack: tuple[bytes, Path]
) -> None:
    torrent, original = pack
    bot = make_bot(TORRENT_SELECT_TIMEOUT="1", **torrent_env())
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {magnet(torrent, seeder.port)} -s", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"files selected", chat_id=OWNER, since=since, timeout=60)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert_same_tree(bot.mirror_dir / "pack", original)


def test_select_is_refused_for_plain_links(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot(**torrent_env())
    since = bot_api.mark()
    bot_api.push_message("/mirror http://example.com/a.bin -s", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"-s only applies to torrents", chat_id=OWNER, since=since)


def test_seed_after_delivery_until_ratio(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, pack: tuple[bytes, Path], tmp_path: Path
) -> None:
    torrent, original = pack
    port = reserved_port()
    bot = make_bot(**torrent_env(port))
    since = bot_api.mark()
    bot_api.push_message(
        f"/mirror {magnet(torrent, seeder.port)} -d 1", chat_id=OWNER, user_id=OWNER
    )
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert_same_tree(bot.mirror_dir / "pack", original)  # copied out, not moved
    status = wait_text(
        bot_api,
        r"Seeding · libtorrent.*ratio 0\.00 of 1",
        since=since,
        method="editMessageText",
        timeout=30,
    )
    assert "st:c:" in str(status.params.get("reply_markup"))
    seeder.close()  # from now on the bot is the only peer that has the data
    with Seeder() as peer:
        handle = peer.leech(magnet(torrent, port), tmp_path / "peer")
        wait_text(bot_api, r"Stopped seeding.*ratio", chat_id=OWNER, since=since, timeout=60)
        wait_until(lambda: handle.status().is_seeding, what="the peer to finish")
    assert not (bot.download_dir / ".seeding").exists() or not any(
        (bot.download_dir / ".seeding").iterdir()
    )
    assert_same_tree(bot.mirror_dir / "pack", original)


def test_cancel_button_stops_seeding(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, pack: tuple[bytes, Path]
) -> None:
    torrent, _ = pack
    bot = make_bot(**torrent_env())
    since = bot_api.mark()
    bot_api.push_message(
        f"/mirror {magnet(torrent, seeder.port)} -d :60", chat_id=OWNER, user_id=OWNER
    )
    status = wait_text(
        bot_api, r"Seeding · libtorrent.*left", since=since, method="editMessageText", timeout=60
    )
    mark = bot_api.mark()
    bot_api.push_message("/status", chat_id=OWNER, user_id=OWNER)  # its only task is seeding
    status = wait_text(bot_api, r"Seeding · libtorrent", chat_id=OWNER, since=mark, timeout=15)
    menu = bot_api.chat_messages(OWNER)[status.result["message_id"]]
    [data] = [d for d in buttons(menu).values() if d.startswith("st:c:")]
    seeding = bot.download_dir / ".seeding" / data.split(":")[2]
    assert seeding.is_dir()
    answer = press(bot_api, OWNER, menu["message_id"], "✖", OWNER)
    assert "Stopped seeding" in answer
    assert not seeding.exists()


def _have_pieces(resume: Path) -> int:
    import libtorrent as lt

    try:
        return sum(1 for bit in lt.read_resume_data(resume.read_bytes()).have_pieces if bit)
    except (FileNotFoundError, RuntimeError):
        return 0


def test_kill_9_then_restart_does_not_fetch_finished_pieces_again(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    import libtorrent as lt

    root = make_files(tmp_path / "seed", {"big/a.bin": 5_000_000, "big/b.bin": 1_000_000})
    torrent = make_torrent(root / "big", piece_size=65536)
    info = lt.torrent_info(lt.bdecode(torrent))
    with Seeder(upload_limit=600_000) as seeder:  # ~10 s: time to kill it half way
        handle = seeder.seed(torrent, root)
        bot = make_bot(**torrent_env())
        since = bot_api.mark()
        bot_api.push_message(
            f"/mirror {magnet(torrent, seeder.port)}", chat_id=OWNER, user_id=OWNER
        )
        resume: list[Path] = []

        def a_third_saved() -> bool:
            resume[:] = list(bot.download_dir.glob("*/.torrent.resume"))
            return bool(resume) and _have_pieces(resume[0]) >= info.num_pieces() // 3

        wait_until(a_third_saved, timeout=60, what="a third of the pieces in the resume data")
        bot.kill9()
        kept = _have_pieces(resume[0])
        assert kept < info.num_pieces()
        seeder.throttle(0)
        wait_until(lambda: handle.status().num_peers == 0, what="the dead bot to be dropped")
        before = handle.status().total_payload_upload
        bot.start()
        wait_text(bot_api, r"♻️ Resuming", since=since, timeout=30)
        wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
        fetched_again = handle.status().total_payload_upload - before
    assert_same_tree(bot.mirror_dir / "big", root / "big")
    assert fetched_again <= (info.num_pieces() - kept) * info.piece_length(), (kept, fetched_again)
    log = bot.log_text()
    assert f"resuming from saved resume data ({kept} pieces complete)" in log
    assert "is checking its files" not in log  # trusted resume data: no full re-hash


def test_leech_a_single_file_magnet(
    bot_api: FakeBotAPI, make_bot: Any, seeder: Seeder, tmp_path: Path
) -> None:
    import hashlib

    single = tmp_path / "seed" / "clip.bin"
    single.parent.mkdir(parents=True)
    single.write_bytes(hashlib.shake_256(b"clip").digest(700_000))
    torrent = make_torrent(single)
    seeder.seed(torrent, single.parent)
    make_bot(**torrent_env())
    since = bot_api.mark()
    bot_api.push_message(f"/leech {magnet(torrent, seeder.port)}", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    [sent] = [c for c in bot_api.calls_of("sendDocument") if c.index >= since]
    assert sent.files["document"].filename == "clip.bin"
    assert sent.files["document"].sha256 == hashlib.sha256(single.read_bytes()).hexdigest()
