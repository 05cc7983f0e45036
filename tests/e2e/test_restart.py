"""Restarts end to end: resumed tasks never hold up polling, and nothing is lost or deleted."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from telebot.engine.task import TaskSpec
from telebot.store import Store
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

ROWS = 30
STALL = 10.0  # seconds the fake Bot API holds the first sendMessage reply


def journal_rows(db: Path, origin: FakeOrigin, count: int, token: str) -> list[str]:
    """``count`` unfinished mirror tasks, as an earlier run of the bot left them (its links
    sealed with the bot's token, as the bot seals them)."""
    store = Store(db, secret_key=token)
    gids = []
    try:
        for n in range(count):
            gid = f"{n:010x}"
            chat = 5000 + n  # one chat each: the per-chat rate limit is not what is tested
            spec = TaskSpec(kind="mirror", source=f"{origin.url}/f{n}.bin", chat_id=chat,
                            user_id=chat)
            store.journal_add(gid, chat_id=chat, user_id=chat, message_id=None,
                              spec=spec.to_json(), state="queued")
            gids.append(gid)
    finally:
        store.close()
    return gids


def resuming(api: FakeBotAPI) -> list[Any]:
    return [c for c in api.calls_of("sendMessage") if "Resuming" in text_of(c)]


def test_resumed_tasks_are_announced_after_polling_starts(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    for n in range(ROWS):
        origin.add(f"/f{n}.bin", size=1000 + n, seed=n)
    home = tmp_path / "bot"
    home.mkdir()
    journal_rows(home / "telebot.db", origin, ROWS, bot_api.token)
    bot_api.stall_next("sendMessage", STALL)  # the first announcement hangs

    bot = make_bot(start=False, home=home)
    bot.start(wait_ready=False)
    # Generous: only the order below is the assertion. Before the fix the first poll came only
    # after the stalled announcement and all 30 others (post_init ran the restore).
    bot_api.wait_polling(timeout=STALL * 3)
    assert len(resuming(bot_api)) <= 1, "tasks were announced before polling started"

    # Nothing is lost: every task is announced and finishes once the stall ends.
    for n in range(ROWS):
        wait_text(bot_api, r"Resuming", chat_id=5000 + n, timeout=STALL * 3)
        wait_text(bot_api, r"✅", chat_id=5000 + n, timeout=STALL * 3)
    assert len(files_in(bot.mirror_dir)) == ROWS


def test_overlapping_folders_stop_start_up_with_exit_2(make_bot: Any) -> None:
    bot = make_bot(start=False, DOWNLOAD_DIR="data", MIRROR_DIR="data/results")
    bot.start(wait_ready=False)
    assert bot.proc is not None and bot.proc.wait(timeout=60) == 2
    lines = bot.stderr().strip().splitlines()
    assert len(lines) == 1 and "DOWNLOAD_DIR" in lines[0] and "MIRROR_DIR" in lines[0]


def test_a_restart_removes_only_its_own_leftovers(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    home = tmp_path / "bot"
    downloads = home / "downloads"
    downloads.mkdir(parents=True)
    ours = downloads / "00000000aa"  # a task folder whose row is gone
    ours.mkdir()
    (ours / "payload.part").write_bytes(b"x")
    (ours / ".telebot-task").write_text('{"v": 1, "gid": "00000000aa"}')
    theirs = downloads / "00000000bb"  # looks like a task folder, but the bot did not make it
    theirs.mkdir()
    (theirs / "holiday.jpg").write_bytes(b"y")
    (downloads / "notes.txt").write_text("z")

    bot = make_bot(home=home)
    # Restore runs on its own thread once polling has started: wait for its log line.
    wait_log(bot, "not telebot task folders")
    assert not ours.exists()
    assert (theirs / "holiday.jpg").exists() and (downloads / "notes.txt").exists()


def wait_log(bot: Any, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while text not in bot.log_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged within {timeout}s")
        pause.wait(0.05)
