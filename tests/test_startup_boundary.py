"""What the real bot has imported, and whether it collects garbage, when its first getUpdates
goes out: start-up leaves the plug-ins, libtorrent, psutil, the cipher, the torznab parser, the
rclone runner and the media helpers to first use or to the threads that start once polling has
begun (bench/startup.py times it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import OWNER, bot_env
from tests.fakes.bot_api import FakeBotAPI

# Runs ``python -m telebot`` with one probe: each getUpdates, as PollingRequest.do_request is
# entered, appends what it sees to the file named by argv[1] (the first one also the modules).
DRIVER = """
import gc, json, sys
import telebot.bot.application as application

record, first = sys.argv[1], [True]
do_request = application.PollingRequest.do_request

async def probe(self, url, *args, **kwargs):
    if url.endswith("/getUpdates"):
        seen = {"gc": gc.isenabled()}
        if first[0]:
            first[0] = False
            seen["modules"] = sorted(sys.modules)
        with open(record, "a") as handle:
            handle.write(json.dumps(seen) + "\\n")
    return await do_request(self, url, *args, **kwargs)

application.PollingRequest.do_request = probe
import telebot.__main__
sys.exit(telebot.__main__.main([]))
"""

# Each is needed only by a task, a command or a thread that starts once polling has begun.
DEFERRED = (
    "telebot.plugins",  # the plug-ins: LazyPipeline, warmed after the first getUpdates
    "libtorrent",  # the torrent session, made by the first torrent
    "psutil",  # the sampler's thread and the status board
    "cryptography.hazmat.primitives.ciphers.aead",  # the store's cipher: first seal or open
    "telebot.feeds.torznab.parse",  # /search's client
    "telebot.sinks.rclone.sink",  # the rclone runner: cloud commands, remote duplicate checks
    "telebot.processing.media.videosplit",  # the leech sink's upload path
    "telebot.processing.media.metadata",  # /usetting's -meta check
)


def polls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_first_getupdates_leaves_the_deferred_imports_and_the_collector_for_later(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    record = tmp_path / "polls.jsonl"
    home = tmp_path / "bot"
    home.mkdir()
    with (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(record)],
            cwd=home, env=bot_env(bot_api), stdout=subprocess.DEVNULL, stderr=err,
        )
    try:
        bot_api.wait_polling(timeout=60)
        first = polls(record)[0]
        modules = set(first["modules"])
        # The probe saw a bot that has started: its features are built and registered.
        assert {"telebot.wiring", "telebot.bot.handlers.tasks", "telebot.store"} <= modules
        assert sorted(m for m in DEFERRED if m in modules) == []
        assert first["gc"] is False  # paused for the start (telebot/startgc.py)

        # Once the first getUpdates is out, the collector runs again: a command is answered
        # and the next poll (held now, so its probe line is written) finds it on.
        since = bot_api.mark()
        bot_api.push_message("/start", chat_id=OWNER, user_id=OWNER)
        bot_api.wait_for("sendMessage", lambda c: "running" in str(c.params.get("text")),
                         since=since, timeout=30)
        bot_api.wait_polling(timeout=30)
        later = polls(record)[1:]
        assert later and all(seen["gc"] for seen in later)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
