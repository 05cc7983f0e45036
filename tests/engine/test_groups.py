"""-m groups across a restart: every crash window ends in one delivery of the group's folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from telebot.config import Config
from telebot.engine import taskstate
from telebot.engine.groups import group_source, group_source_factory
from telebot.engine.pipeline import Pipeline
from telebot.engine.task import Task
from telebot.errors import DownloadError
from telebot.plugins import group_member_sink_factory
from telebot.sinks.local import LocalSink
from telebot.store import Store
from tests.engine.conftest import MakeManager
from tests.engine.fakes import FakeSource, Recorder, spec


@dataclass
class WarningRecorder(Recorder):
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def on_finished(self, task: Task) -> None:
        self.warnings[task.gid] = list(task.warnings)
        super().on_finished(task)


def group_pipeline(store: Store, source: FakeSource, downloads: Path, mirror: Path) -> Pipeline:
    config = Config(bot_token="1:x", owner_id=1, download_dir=downloads, mirror_dir=mirror)
    return Pipeline(
        [group_source_factory(store), lambda _spec: source],
        [group_member_sink_factory(config), lambda _spec: LocalSink(mirror)],
    )


def test_restore_skips_settled_members_names_lost_ones_and_delivers_once(
    tmp_path: Path, downloads: Path, store: Store, make_manager: MakeManager
) -> None:
    group, mirror = "aaaaaaaaaa", tmp_path / "mirror"
    members = ["1111111111", "2222222222", "3333333333"]
    delivery = spec(9, source=group_source(group), name="set")
    store.group_add(group, chat_id=100, members=members, spec=delivery.to_json())
    taskstate.create(downloads / group, group)
    (downloads / group / "set").mkdir()
    for n, gid in enumerate(members[:2]):
        (downloads / group / "set" / f"r{n}.bin").write_bytes(b"%d" % n * 100)
        store.group_note(group, gid, {"name": f"r{n}.bin", "state": "done", "reason": None})
    # Member 2 was killed after its outcome, before its row went; member 3 never got a row.
    member = spec(2, group=group, group_folder="set")
    store.journal_add(members[1], chat_id=100, user_id=42, message_id=None,
                      spec=member.to_json(), state="uploading")  # fmt: skip
    taskstate.create(downloads / members[1], members[1])

    source, recorder = FakeSource(auto=True), WarningRecorder()
    manager = make_manager(
        pipeline=group_pipeline(store, source, downloads, mirror), listener=recorder
    )
    manager.restore()
    assert recorder.wait_finished(group) == "done"
    assert source.seen_files == {}  # no member ran again
    assert recorder.resumed == []
    assert sorted(p.name for p in (mirror / "set").iterdir()) == ["r0.bin", "r1.bin"]
    assert recorder.warnings[group][0] == "2 of 3 results delivered"
    lost = recorder.warnings[group][1]
    assert "3333333333" in lost and "never started" in lost
    assert store.groups() == [] and store.journal_entries() == []
    assert list(downloads.iterdir()) == []


def test_a_group_delivers_the_rest_when_a_member_fails(
    tmp_path: Path, downloads: Path, store: Store, make_manager: MakeManager
) -> None:
    mirror = tmp_path / "mirror"
    source, recorder = FakeSource(auto=True), WarningRecorder()
    manager = make_manager(
        pipeline=group_pipeline(store, source, downloads, mirror), listener=recorder
    )
    original = source.fetch

    def fetch(task: Task) -> Path:
        if "file1" in task.spec.source:
            raise DownloadError("HTTP 404")
        return original(task)

    source.fetch = fetch  # type: ignore[method-assign]
    group = manager.submit_group([spec(n, name=f"m{n}.bin") for n in range(3)], spec(9, name="out"))
    assert recorder.wait_finished(group) == "done"
    assert sorted(p.name for p in (mirror / "out").iterdir()) == ["m0.bin", "m2.bin"]
    assert recorder.warnings[group][0] == "2 of 3 results delivered"
    assert "m1.bin failed: HTTP 404" in recorder.warnings[group][1]
    # Members finished before their group was delivered; nothing is left.
    assert len(recorder.finished_state) == 4
    assert store.groups() == [] and list(downloads.iterdir()) == []
