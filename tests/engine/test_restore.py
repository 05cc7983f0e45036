"""Restarts lose nothing and delete nothing: journal order, spec versions, folder ownership."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telebot.engine import taskstate
from telebot.engine.pipeline import Pipeline
from telebot.engine.task import SPEC_VERSION, Task, TaskSpec
from telebot.errors import DownloadError
from telebot.store import Store
from tests.engine.conftest import MakeManager
from tests.engine.fakes import FakeSink, FakeSource, Recorder, pipeline, spec


def journal(store: Store) -> dict[str, str]:
    return {e.gid: e.state for e in store.journal_entries()}


class FailingSource:
    engine = "fails"

    def fetch(self, task: Task) -> Path:
        raise DownloadError("the origin said no")


class YieldingStore(Store):
    """A real Store whose ``journal_add`` first runs ``before_add`` (the test's "another thread
    gets the CPU right here")."""

    before_add: Callable[[str], None] | None = None

    def journal_add(self, gid: str, **kw: Any) -> None:
        hook, self.before_add = self.before_add, None
        if hook is not None:
            hook(gid)
        super().journal_add(gid, **kw)


def test_the_journal_row_is_written_before_the_task_can_run(
    tmp_path: Path, downloads: Path, make_manager: MakeManager, recorder: Recorder
) -> None:
    store = YieldingStore(tmp_path / "yield.db")
    try:
        manager = make_manager(
            store=store, pipeline=Pipeline([lambda _s: FailingSource()], [lambda _s: FakeSink()])
        )

        def another_thread_dispatches(gid: str) -> None:
            # What a finishing task's worker does at any moment: dispatch the pending queue.
            other = threading.Thread(target=manager._dispatch)
            other.start()
            other.join()
            if manager._running:  # it took our task: let that run fail (and clean up) first
                assert recorder.wait_finished(gid) == "failed"

        store.before_add = another_thread_dispatches
        task = manager.submit(spec(0))
        assert recorder.wait_finished(task.gid) == "failed"
        assert journal(store) == {}, "a failed task left a row that would re-run on restart"
    finally:
        store.close()


def test_restore_removes_only_folders_it_can_prove_are_its_own(
    make_manager: MakeManager,
    downloads: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def ours(gid: str, parent: Path = downloads) -> Path:
        folder = parent / gid
        folder.mkdir()
        (folder / "payload.bin").write_bytes(b"x")
        (folder / taskstate.STATE_FILE).write_text(json.dumps({"v": 1, "gid": gid}))
        return folder

    orphan = ours("00000000aa")
    results = downloads / "mirror"  # MIRROR_DIR inside DOWNLOAD_DIR (config refuses it now)
    results.mkdir()
    (results / "film.mkv").write_bytes(b"keep me")
    unmarked = downloads / "00000000bb"
    unmarked.mkdir()
    (unmarked / "notes.txt").write_text("a user's folder that happens to look like a gid")
    wrong_gid = ours("00000000cc")
    (wrong_gid / taskstate.STATE_FILE).write_text(json.dumps({"v": 1, "gid": "00000000dd"}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = ours("00000000ee", elsewhere)
    (downloads / "00000000ee").symlink_to(target)
    empty = downloads / "00000000ff"  # killed between mkdir and the state file
    empty.mkdir()
    (downloads / "stray.txt").write_text("x")

    with caplog.at_level(logging.INFO, logger="telebot.engine.restore"):
        assert make_manager().restore() == []

    assert not orphan.exists() and not empty.exists()
    assert (results / "film.mkv").read_bytes() == b"keep me"
    assert (unmarked / "notes.txt").exists()
    assert (wrong_gid / "payload.bin").exists()
    assert (target / "payload.bin").exists() and (downloads / "00000000ee").is_symlink()
    assert (downloads / "stray.txt").exists()
    (line,) = [r.getMessage() for r in caplog.records if "not telebot task folders" in r.message]
    for name in ("mirror", "00000000bb", "00000000cc", "00000000ee", "stray.txt"):
        assert name in line


@pytest.mark.parametrize("local_api", [False, True])
def test_task_folders_are_private_unless_a_local_bot_api_must_open_parts(
    local_api: bool, make_manager: MakeManager, source: FakeSource, tmp_path: Path
) -> None:
    from telebot.config import load_config
    from telebot.taskconfig import task_folder_mode

    env = {"BOT_TOKEN": "1:x", "OWNER_ID": "1", "BOT_API_LOCAL": str(local_api).lower()}
    config = load_config(env=env, cwd=tmp_path)
    manager = make_manager(folder_mode=task_folder_mode(config))
    task = manager.submit(spec(0))
    source.gates.wait_started(task.gid)
    # Traverse-only for the local server's account: it opens a part by name, lists nothing.
    assert task.workdir.stat().st_mode & 0o777 == (0o711 if local_api else 0o700)
    source.gates.open(task.gid)


def test_a_run_claims_its_folder_and_records_fetch_and_delivery_in_one_state_file(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager()
    task = manager.submit(spec(0))
    source.gates.wait_started(task.gid)
    state = taskstate.load(task.workdir)
    assert state == taskstate.TaskState(task.gid) and taskstate.owned(task.workdir)
    assert (task.workdir / taskstate.STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert task.workdir.stat().st_mode & 0o777 == 0o700
    source.gates.open(task.gid)
    sink.gates.wait_started(task.gid)
    state = taskstate.load(task.workdir)
    assert state is not None and state.fetched == "payload.bin" and state.delivered is None
    sink.gates.open(task.gid)
    assert recorder.wait_finished(task.gid) == "done"


def test_an_unversioned_row_is_migrated_and_resumed(
    make_manager: MakeManager, source: FakeSource, recorder: Recorder, store: Store
) -> None:
    old = spec(3, auth=("me", "pw"), headers=(("X-A", "1"),)).to_json()
    del old["v"]  # the format written before rows carried a version
    old["headers"] = [list(pair) for pair in old["headers"]]  # as JSON gives them back
    old["auth"] = list(old["auth"])
    store.journal_add("00000000a0", chat_id=100, user_id=42, message_id=1, spec=old, state="queued")

    (task,) = make_manager().restore()

    assert task.spec == spec(3, auth=("me", "pw"), headers=(("X-A", "1"),))
    (row,) = store.journal_entries()
    assert row.spec is not None and row.spec["v"] == SPEC_VERSION
    assert recorder.restore_failed == []
    source.gates.wait_started(task.gid)


def test_a_row_from_a_newer_version_is_reported_and_kept_with_its_folder(
    make_manager: MakeManager, recorder: Recorder, store: Store, downloads: Path
) -> None:
    newer = {**spec(0).to_json(), "v": SPEC_VERSION + 1, "something_new": True}
    store.journal_add("00000000b0", chat_id=5, user_id=6, message_id=7, spec=newer, state="queued")
    folder = downloads / "00000000b0"
    folder.mkdir()
    (folder / "payload.part").write_bytes(b"half")
    (folder / taskstate.STATE_FILE).write_text(json.dumps({"v": 1, "gid": "00000000b0"}))

    assert make_manager().restore() == []

    ((chat, message, gid, reason),) = recorder.restore_failed
    assert (chat, message, gid) == (5, 7, "00000000b0") and "newer telebot" in reason
    assert list(journal(store)) == ["00000000b0"]
    assert (folder / "payload.part").read_bytes() == b"half"


@pytest.mark.parametrize(
    "data",
    [
        {"v": 1, "kind": "mirror"},  # fields missing
        {"v": "one", "kind": "mirror", "source": "x", "chat_id": 1, "user_id": 1},
        {"v": 1, "kind": 5, "source": "x", "chat_id": 1, "user_id": 1},
        {"v": 1, "kind": "mirror", "source": "x", "chat_id": 1, "user_id": 1, "auth": "pw"},
    ],
)
def test_damaged_specs_raise_value_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TaskSpec.from_json(data)


def test_spec_round_trips_with_its_version() -> None:
    original = spec(1, auth=("u", "p"), headers=(("A", "b"),), split_size=5)
    data = json.loads(json.dumps(original.to_json()))
    assert data["v"] == SPEC_VERSION
    assert TaskSpec.from_json(data) == original


def test_an_unreadable_row_whose_folder_cannot_be_moved_keeps_row_and_folder(
    make_manager: MakeManager, recorder: Recorder, store: Store, downloads: Path
) -> None:
    store.journal_add(
        "00000000c0", chat_id=5, user_id=6, message_id=None, spec={"v": 1}, state="queued"
    )
    (downloads / "00000000c0").mkdir()
    (downloads / "00000000c0.unreadable").write_text("in the way")  # rename target is taken
    (downloads / "00000000c0" / "payload.part").write_bytes(b"half")

    assert make_manager().restore() == []

    assert [g for _, _, g, _ in recorder.restore_failed] == ["00000000c0"]
    assert (downloads / "00000000c0" / "payload.part").exists()
    assert list(journal(store)) == ["00000000c0"]


def test_restore_stops_quietly_when_shutdown_begins(
    make_manager: MakeManager, store: Store, source: FakeSource, sink: FakeSink
) -> None:
    for n in range(3):
        store.journal_add(
            f"00000000d{n}", chat_id=1, user_id=1, message_id=None,
            spec=spec(n).to_json(), state="queued",
        )
    manager = make_manager(pipeline=pipeline(source, sink))
    manager.shutdown(timeout=1)
    assert manager.restore() == []
    assert len(journal(store)) == 3


def test_a_row_whose_gid_would_leave_the_download_folder_touches_no_folder(
    make_manager: MakeManager, recorder: Recorder, store: Store, downloads: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    store.journal_add(
        "../precious", chat_id=5, user_id=6, message_id=None, spec={"v": 1}, state="queued"
    )
    assert make_manager().restore() == []
    assert [g for _, _, g, _ in recorder.restore_failed] == ["../precious"]
    assert (outside / "keep.txt").exists() and not (tmp_path / "precious.unreadable").exists()
    assert journal(store) == {}


def test_restore_while_users_already_submit_leaves_their_tasks_alone(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder,
    store: Store,
) -> None:
    # Restore runs after polling has started, so a user's task may already be running; its row
    # and its folder are there (and its gid is not in the journal list read by a slow restore).
    manager = make_manager()
    early = manager.submit(spec(0))
    source.gates.wait_started(early.gid)
    late = manager.submit(spec(1))
    source.gates.wait_started(late.gid)
    store.journal_remove(late.gid)  # as if restore had read the journal before it was queued

    assert manager.restore() == []

    assert recorder.resumed == [] and early.workdir.is_dir() and late.workdir.is_dir()
    assert manager.get(early.gid) is early
    for task in (early, late):
        source.gates.open(task.gid)
        sink.gates.open(task.gid)
        assert recorder.wait_finished(task.gid) == "done"
