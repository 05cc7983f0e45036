"""AlbumSend: an album's point of no return is the last file's EOF, and every item shares the
album's fate in the leech ledger (what a resumed leech reads back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.errors import TaskCancelled
from telebot.sinks.album import AlbumSend, can_group
from telebot.sinks.telegram import UNCONFIRMED, SendLedger

LABELS = ["a.part1.mp4", "a.part2.mp4", "a.part3.mp4"]


def test_sent_only_once_every_file_reached_its_end(tmp_path: Path) -> None:
    ledger = SendLedger(tmp_path / "ledger")
    progress: list[int] = []
    album = AlbumSend(ledger, LABELS, progress.append)
    album.attempt()
    album.read(0, 100)
    album.read(1, 50)
    assert progress == [100, 150]  # the whole album's bytes so far
    album.eof(0)
    album.eof(2)
    # Killed here: the second file's body was not complete, so Telegram cannot have the album.
    again = SendLedger(tmp_path / "ledger")
    assert [again.get(label) for label in LABELS] == [None, None, None]
    album.eof(1)
    resumed = SendLedger(tmp_path / "ledger")
    for label in LABELS:  # every byte out, no answer: each to check, none sent again
        entry = resumed.get(label)
        assert entry is not None and entry.link is None and UNCONFIRMED in str(entry.note)
    assert album.settle() is True


def test_settling_before_the_end_aborts_the_body_for_good(tmp_path: Path) -> None:
    album = AlbumSend(SendLedger(tmp_path / "ledger"), LABELS, lambda _n: None)
    album.attempt()
    album.read(0, 10)
    assert album.settle() is False
    with pytest.raises(TaskCancelled):
        album.read(0, 20)  # the loop's next read stops the body
    with pytest.raises(TaskCancelled):
        album.eof(0)


@pytest.mark.parametrize(
    ("kinds", "ok"),
    [(["photo", "video"], True), (["audio", "audio"], True), (["audio", "video"], False),
     (["document", "document"], False), (["photo", "photo"], True)],
)
def test_which_kinds_share_an_album(kinds: list[str], ok: bool) -> None:
    assert can_group(kinds) is ok
