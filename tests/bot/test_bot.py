from __future__ import annotations

from pathlib import Path

from telebot.bot.application import log_snapshot


def test_log_snapshot_keeps_the_recent_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "telebot.log"
    log.write_bytes(b"".join(f"line {i}\n".encode() for i in range(1000)))
    assert log_snapshot(log) == log.read_bytes()
    tail = log_snapshot(log, limit=100)
    assert len(tail) <= 100 and tail.endswith(b"line 999\n")
    assert tail.startswith(b"line ")  # cut at a line boundary
