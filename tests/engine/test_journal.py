"""The restart journal: rows follow tasks, survive shutdown, and restore() resumes them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from telebot.engine.manager import SHUTDOWN_REASON, TaskManager
from telebot.store import Store
from tests.engine.conftest import MakeManager
from tests.engine.fakes import (
    FakeSink,
    FakeSource,
    Recorder,
    pipeline,
    spec,
    wait_until,
)


def journal(store: Store) -> dict[str, str]:
    return {e.gid: e.state for e in store.journal_entries()}


def test_rows_are_added_on_submit_follow_the_stage_and_go_when_done(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    store: Store,
) -> None:
    manager = make_manager(queue_all=1)
    a = manager.submit(spec(0, auth=("me", "pw")))
    b = manager.submit(spec(1))
    (row_a,) = [e for e in store.journal_entries() if e.gid == a.gid]
    assert (row_a.chat_id, row_a.user_id, row_a.message_id) == (100, 42, 1000)
    assert row_a.spec == json.loads(json.dumps(a.spec.to_json()))
    source.gates.wait_started(a.gid)
    assert journal(store) == {a.gid: "downloading", b.gid: "queued"}
    source.gates.open(a.gid)
    sink.gates.wait_started(a.gid)
    assert journal(store)[a.gid] == "uploading"
    sink.gates.open(a.gid)
    assert recorder.wait_finished(a.gid) == "done"
    assert a.gid not in journal(store)
    source.gates.open(b.gid)
    sink.gates.open(b.gid)
    assert recorder.wait_finished(b.gid) == "done"
    assert journal(store) == {}


def test_shutdown_keeps_rows_and_folders_and_restore_resumes_them(
    make_manager: MakeManager,
    source: FakeSource,
    recorder: Recorder,
    store: Store,
    downloads: Path,
) -> None:
    first = make_manager(queue_all=2, queue_download=1)
    running = first.submit(spec(0))
    source.gates.wait_started(running.gid)
    in_slot_queue = first.submit(spec(1))
    wait_until(
        lambda: {s.gid: s.queue_position for s in first.snapshots()}[in_slot_queue.gid] == 1,
        what="second task waits for a download slot",
    )
    pending = first.submit(spec(2))
    first.shutdown(timeout=5)

    # Running and slot-waiting tasks end as interrupted; the never-started one stays silent.
    assert source.cancel_seen == {running.gid: SHUTDOWN_REASON}
    for task in (running, in_slot_queue):
        assert recorder.wait_finished(task.gid) == "cancelled"
        assert task.cancel_reason == SHUTDOWN_REASON
        assert recorder.workdir_at_finish[task.gid]
    assert pending.gid not in recorder.finished_state
    assert (downloads / running.gid / "payload.part").is_file()
    assert list(journal(store)) == [running.gid, in_slot_queue.gid, pending.gid]

    orphan = downloads / "0123456789"  # a task folder of ours whose row is gone
    orphan.mkdir()
    (orphan / "leftover.bin").write_bytes(b"x")
    (orphan / ".telebot-task").write_text('{"v": 1, "gid": "0123456789"}')

    source2, sink2, recorder2 = FakeSource(), FakeSink(), Recorder()
    second = make_manager(pipeline=pipeline(source2, sink2), listener=recorder2)
    restored = second.restore()
    gids = [running.gid, in_slot_queue.gid, pending.gid]
    assert [t.gid for t in restored] == gids
    assert recorder2.resumed == gids
    assert [t.spec for t in restored] == [running.spec, in_slot_queue.spec, pending.spec]
    assert not orphan.exists()

    for task in restored:
        source2.gates.wait_started(task.gid)
    # The interrupted download found what the first run left behind.
    assert source2.seen_files[running.gid] == ["payload.part"]
    for task in restored:
        source2.gates.open(task.gid)
        sink2.gates.open(task.gid)
        assert recorder2.wait_finished(task.gid) == "done"
    assert journal(store) == {}
    assert list(downloads.iterdir()) == []


def test_restore_reports_an_unreadable_spec_and_keeps_its_files_aside(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    store: Store,
    downloads: Path,
) -> None:
    store.journal_add(
        "bad0000001", chat_id=5, user_id=6, message_id=77, spec={"kind": "mirror"}, state="queued"
    )
    store.journal_add(
        "good000001",
        chat_id=100,
        user_id=42,
        message_id=1000,
        spec=spec().to_json(),
        state="downloading",
    )
    for gid in ("bad0000001", "good000001"):
        (downloads / gid).mkdir()
        (downloads / gid / "payload.part").write_bytes(b"half")

    manager = make_manager()
    restored = manager.restore()

    ((chat, message, gid, reason),) = recorder.restore_failed
    assert (chat, message, gid) == (5, 77, "bad0000001")
    assert "unreadable" in reason and "bad0000001.unreadable" in reason
    assert not (downloads / "bad0000001").exists()
    assert (downloads / "bad0000001.unreadable" / "payload.part").read_bytes() == b"half"
    assert [t.gid for t in restored] == ["good000001"] == recorder.resumed
    source.gates.wait_started("good000001")
    assert source.seen_files["good000001"] == ["payload.part"]
    assert list(journal(store)) == ["good000001"]
    source.gates.open("good000001")
    sink.gates.open("good000001")
    assert recorder.wait_finished("good000001") == "done"


def test_restore_survives_a_spec_that_is_not_json(
    make_manager: MakeManager, recorder: Recorder, store: Store
) -> None:
    for gid in ("bad0000002", "good000002"):
        store.journal_add(
            gid, chat_id=5, user_id=6, message_id=None, spec=spec().to_json(), state="queued"
        )
    with sqlite3.connect(store.path) as raw:  # e.g. a row truncated by a broken disk
        raw.execute("UPDATE task_journal SET spec = '{\"kind\": \"mir' WHERE gid = 'bad0000002'")
    restored = make_manager().restore()
    assert [g for _, _, g, _ in recorder.restore_failed] == ["bad0000002"]
    assert [t.gid for t in restored] == ["good000002"]


def test_restore_without_a_store_does_nothing(
    downloads: Path, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    keep = downloads / "0123456789"
    keep.mkdir()
    manager = TaskManager(
        download_dir=downloads, pipeline=pipeline(source, sink), listener=recorder, store=None
    )
    try:
        assert manager.restore() == []
        assert keep.is_dir()
    finally:
        manager.shutdown(timeout=1)


def test_restore_with_no_download_dir_yet(
    make_manager: MakeManager, tmp_path: Path, store: Store
) -> None:
    manager = make_manager(download_dir=tmp_path / "not-created-yet")
    assert manager.restore() == []


def test_a_run_that_delivered_but_died_before_reporting_is_not_redone(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    store: Store,
    downloads: Path,
) -> None:
    gid = "dead000001"
    store.journal_add(
        gid, chat_id=5, user_id=6, message_id=None, spec=spec().to_json(), state="uploading"
    )
    folder = downloads / gid
    folder.mkdir(parents=True)
    (folder / ".delivered").write_text(
        json.dumps(
            {
                "name": "a.bin",
                "size": 3,
                "location": "mirror/a.bin",
                "files": 1,
                "links": [],
                "notes": [],
            }
        )
    )
    (restored,) = make_manager().restore()
    assert recorder.wait_finished(gid) == "done"
    assert restored.result.location == "mirror/a.bin"
    assert not source.gates.has_started(gid) and not sink.gates.has_started(gid)
    assert journal(store) == {} and not folder.exists()


def test_a_torn_delivered_marker_delivers_again(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    store: Store,
    downloads: Path,
) -> None:
    gid = "torn000001"
    store.journal_add(
        gid, chat_id=5, user_id=6, message_id=None, spec=spec().to_json(), state="uploading"
    )
    (downloads / gid).mkdir(parents=True)
    (downloads / gid / ".delivered").write_text('{"name": "a.b')
    make_manager().restore()
    source.gates.open(gid)
    sink.gates.open(gid)
    assert recorder.wait_finished(gid) == "done"
    assert sink.gates.has_started(gid)
