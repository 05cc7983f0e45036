"""/list's search against a real ``rclone serve webdav``: the listing is streamed line by line,
so output past the byte cap of whole reads still works, and the bounds stop rclone early."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from telebot.bot.handlers.cloud import CloudCommands, lsjson_entry
from telebot.config import load_config
from telebot.engine.manager import TaskManager
from telebot.sinks.rclone import sink as rclone_mod
from tests.fakes.rclone_serve import Remotes, start_remotes

FILES = 400


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Remotes]:
    remotes = start_remotes(tmp_path / "remotes")
    for n in range(FILES):
        (remotes.webdav.root / f"dir-{n % 4}").mkdir(exist_ok=True)
        (remotes.webdav.root / f"dir-{n % 4}" / f"item-{n:04}.txt").write_bytes(b"x")
    yield remotes
    remotes.webdav.stop()
    remotes.sftp.stop()


def commands(servers: Remotes, tmp_path: Path, **bounds: Any) -> CloudCommands:
    config = load_config(
        {"BOT_TOKEN": "1:x", "OWNER_ID": "1", "RCLONE_CONFIG": str(servers.config)},
        cwd=tmp_path,
    )
    return CloudCommands(config, cast(TaskManager, None), **bounds)


def test_a_listing_past_the_whole_read_cap_is_searched(
    servers: Remotes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 400 entries print ~40 kB of lsjson; with the cap of whole reads at 8 kB, reading the
    # listing whole fails (the old code's JSON error at 16 MiB, made small).
    monkeypatch.setattr(rclone_mod, "MAX_OUTPUT_BYTES", 8 * 1024)
    with pytest.raises(rclone_mod.UploadError, match="more than 8192 bytes"):
        rclone_mod.run_rclone(["lsjson", "-R", "--", "wd:"], config=servers.config)
    results, scanned, capped = commands(servers, tmp_path, max_results=1000)._search(["item"])
    assert len(results) == FILES and not capped
    assert "wd:dir-1/item-0001.txt" in results and scanned >= FILES


def test_the_search_stops_at_its_bound_and_stops_rclone(
    servers: Remotes, tmp_path: Path
) -> None:
    results, scanned, capped = commands(servers, tmp_path, max_results=50)._search(["item"])
    assert len(results) == 50 and capped and scanned < FILES
    results, scanned, capped = commands(servers, tmp_path, max_scanned=100)._search(["0003"])
    assert capped and scanned == 100 and len(results) <= 1
    left = subprocess.run(["pgrep", "-f", f"rclone --config {servers.config}"],
                          capture_output=True, text=True).stdout
    assert left == "", "rclone still runs after the search stopped"


def test_lsjson_entry() -> None:
    assert lsjson_entry("[") is None and lsjson_entry("]") is None
    assert lsjson_entry('{"Path":"a","IsDir":false},') == {"Path": "a", "IsDir": False}
    assert lsjson_entry('{"Path":"b"}') == {"Path": "b"}
    assert lsjson_entry("{broken,") is None
