"""The leech's record of what it sent: how a resumed task reads it, and how an upload that got
no answer is settled by how far its body got (telebot/sinks/telegram.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from telebot.engine.task import Task, TaskSpec
from telebot.errors import TaskCancelled, UploadError
from telebot.sinks.telegram import (
    UNCONFIRMED,
    CountingReader,
    PartSend,
    SendLedger,
    _unanswered,
)

LABEL = "a.bin.002 (part 2/3 of a.bin)"


def write_events(path: Path, *events: str) -> None:
    path.write_text(
        "".join(json.dumps({"event": e, "label": LABEL}) + "\n" for e in events)
        + '{"event": "sent", "lab',  # a line torn by kill -9 is ignored
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    ("events", "resent"),
    [
        (("sending",), True),  # the body never got out whole: Telegram cannot have it
        (("sending", "sent"), False),  # every byte out, no answer recorded: check it
        (("sending", "sent", "sending"), True),  # a retry after a refusal, stopped mid-body
    ],
)
def test_a_resumed_leech_resends_only_parts_whose_body_was_never_complete(
    tmp_path: Path, events: tuple[str, ...], resent: bool
) -> None:
    write_events(tmp_path / "ledger", *events)
    entry = SendLedger(tmp_path / "ledger").get(LABEL)
    if resent:
        assert entry is None
    else:
        assert entry is not None and entry.note == f"{LABEL}: {UNCONFIRMED}"


def test_done_is_final(tmp_path: Path) -> None:
    ledger = SendLedger(tmp_path / "ledger")
    ledger.sending(LABEL)
    ledger.sent(LABEL)
    ledger.done(LABEL, "https://t.me/c/1/2", None)
    entry = SendLedger(tmp_path / "ledger").get(LABEL)
    assert entry is not None and (entry.link, entry.note) == ("https://t.me/c/1/2", None)


def part_send(tmp_path: Path) -> tuple[PartSend, Path]:
    ledger_path = tmp_path / "ledger"
    return PartSend(SendLedger(ledger_path), LABEL, lambda position: None), ledger_path


def events(path: Path) -> list[str]:
    return [json.loads(line)["event"] for line in path.read_text().splitlines()]


def test_the_sent_line_is_on_disk_before_the_reader_returns_eof(tmp_path: Path) -> None:
    sending, ledger_path = part_send(tmp_path)
    data = tmp_path / "part"
    data.write_bytes(b"x" * 100_000)
    sending.attempt()
    with CountingReader(data, sending.read, sending.sent) as reader:
        assert len(reader.read(65536)) == 65536
        assert len(reader.read(65536)) == 100_000 - 65536
        assert events(ledger_path) == ["sending"]  # the last bytes are not out yet
        assert reader.read(65536) == b""
        assert events(ledger_path) == ["sending", "sent"]
    assert sending.settle() is True


def test_a_settled_upload_can_never_complete_behind_the_workers_back(tmp_path: Path) -> None:
    sending, ledger_path = part_send(tmp_path)
    data = tmp_path / "part"
    data.write_bytes(b"x" * 10)
    sending.attempt()
    with CountingReader(data, sending.read, sending.sent) as reader:
        assert reader.read(5) == b"xxxxx"
        assert sending.settle() is False  # the worker gave up mid-body
        with pytest.raises(TaskCancelled):
            reader.read(5)
        with pytest.raises(TaskCancelled):
            sending.sent()
    assert events(ledger_path) == ["sending"]


def make_task(tmp_path: Path) -> Task:
    return Task("g1", TaskSpec(kind="leech", source="http://x/a.bin", chat_id=1, user_id=1),
                tmp_path)


def transport_error() -> NetworkError:
    try:
        raise NetworkError("httpx.WriteError: broken pipe") from httpx.WriteError("broken pipe")
    except NetworkError as exc:
        return exc


@pytest.mark.parametrize("exc", [TimedOut(), TimeoutError(), transport_error()])
def test_no_answer_after_the_last_byte_is_a_note(tmp_path: Path, exc: Exception) -> None:
    sending, ledger_path = part_send(tmp_path)
    sending.attempt()
    sending.sent()
    note = _unanswered(make_task(tmp_path), tmp_path / "a.bin.002", sending, exc)
    assert note == f"{LABEL}: Telegram did not confirm it; check that it arrived"
    assert events(ledger_path) == ["sending", "sent", "done"]


@pytest.mark.parametrize("exc", [TimedOut(), TimeoutError(), transport_error()])
def test_no_answer_before_the_last_byte_is_an_error_not_a_note(
    tmp_path: Path, exc: Exception
) -> None:
    sending, ledger_path = part_send(tmp_path)
    sending.attempt()
    with pytest.raises(UploadError, match="stopped before all of it was sent"):
        _unanswered(make_task(tmp_path), tmp_path / "a.bin.002", sending, exc)
    assert events(ledger_path) == ["sending"]


@pytest.mark.parametrize("sent", [False, True])
def test_a_shutdown_interrupts_the_task_either_way(tmp_path: Path, sent: bool) -> None:
    sending, ledger_path = part_send(tmp_path)
    sending.attempt()
    if sent:
        sending.sent()
    task = make_task(tmp_path)
    task.cancel("the bot is restarting")
    with pytest.raises(TaskCancelled):
        _unanswered(task, tmp_path / "a.bin.002", sending, TaskCancelled("cancelled"))
    # Mid-body: nothing more on disk, so the part goes again; after it: settled with a note.
    assert events(ledger_path) == (["sending", "sent", "done"] if sent else ["sending"])
