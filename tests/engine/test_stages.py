"""Stages between download and delivery: order, status, cancel, the folder contract, restarts."""

from __future__ import annotations

from pathlib import Path

from telebot.engine import taskstate
from telebot.engine.pipeline import Pipeline, Stage
from telebot.engine.task import State, Task
from telebot.store import Store
from tests.engine.conftest import MakeManager
from tests.engine.fakes import WAIT, FakeSink, FakeSource, Gates, Recorder, spec


class Suffix:
    """A real stage: copies the result so far into ``out`` with ``.<name>`` appended, after its
    gate opens (and leaves a half-written file there first, as an interrupted stage would)."""

    engine = "suffixer"

    def __init__(self, name: str, auto: bool = True) -> None:
        self.name = name
        self.gates = Gates(name, auto)
        self.runs: list[str] = []
        self.found: list[list[str]] = []  # what each run found in its fresh folder

    def process(self, task: Task, path: Path, out: Path) -> Path:
        self.runs.append(path.name)
        self.found.append(sorted(p.name for p in out.iterdir()))
        (out / "half-written").write_bytes(b"?")
        self.gates.enter(task)
        (out / "half-written").unlink()
        result = out / f"{path.name}.{self.name}"
        result.write_bytes(path.read_bytes() + self.name.encode())
        task.progress(1, 1)
        return result


class Escaping:
    name = "escape"
    engine = "bad"

    def process(self, task: Task, path: Path, out: Path) -> Path:
        return path  # its input: not inside its own folder


def staged(source: FakeSource, sink: FakeSink, *stages: Stage) -> Pipeline:
    return Pipeline([lambda _s: source], [lambda _s: sink], [lambda _s, st=st: st for st in stages])


def test_stages_run_in_order_show_processing_and_hand_the_last_result_to_the_sink(
    make_manager: MakeManager, sink: FakeSink, recorder: Recorder
) -> None:
    source = FakeSource(auto=True)
    first, second = Suffix("join"), Suffix("extract", auto=False)
    manager = make_manager(pipeline=staged(source, sink, first, second))
    task = manager.submit(spec(0))
    second.gates.wait_started(task.gid)
    (snap,) = manager.snapshots()
    assert (snap.state, snap.engine, snap.name) == (
        State.PROCESSING,
        "suffixer",
        "payload.bin.join",
    )
    assert not (task.workdir / "payload.bin").exists()  # consumed input removed once recorded
    second.gates.open(task.gid)
    sink.gates.open(task.gid)
    assert recorder.wait_finished(task.gid) == "done"
    assert sink.delivered[task.gid] == source.payload + b"joinextract"
    assert first.runs == ["payload.bin"] and second.runs == ["payload.bin.join"]
    assert first.found == [[]] and second.found == [[]]


def test_a_spec_without_stages_goes_straight_to_the_sink(
    make_manager: MakeManager, sink: FakeSink, recorder: Recorder
) -> None:
    source = FakeSource(auto=True)
    sink.gates.auto = True
    pipe = Pipeline([lambda _s: source], [lambda _s: sink], [lambda _s: None])
    task = make_manager(pipeline=pipe).submit(spec(0))
    assert recorder.wait_finished(task.gid) == "done"
    assert sink.delivered[task.gid] == source.payload


def test_cancel_during_a_stage_cancels_the_task_and_removes_its_folder(
    make_manager: MakeManager, sink: FakeSink, recorder: Recorder
) -> None:
    source = FakeSource(auto=True)
    stage = Suffix("extract", auto=False)
    manager = make_manager(pipeline=staged(source, sink, stage))
    task = manager.submit(spec(0))
    stage.gates.wait_started(task.gid)
    assert manager.cancel(task.gid)
    assert recorder.wait_finished(task.gid) == "cancelled"
    assert not task.workdir.exists() and sink.delivered == {}


def test_a_stage_that_returns_a_path_outside_its_folder_fails_the_task(
    make_manager: MakeManager, sink: FakeSink, recorder: Recorder
) -> None:
    source = FakeSource(auto=True)
    manager = make_manager(pipeline=staged(source, sink, Escaping()))
    task = manager.submit(spec(0))
    assert recorder.wait_finished(task.gid) == "failed"
    assert task.error is not None and "outside its folder" in task.error
    assert sink.delivered == {}


def test_a_seeding_task_keeps_its_download_for_the_seeder(
    make_manager: MakeManager, sink: FakeSink, recorder: Recorder
) -> None:
    source = FakeSource(auto=True)
    stage = Suffix("extract")
    manager = make_manager(pipeline=staged(source, sink, stage))
    task = manager.submit(spec(0, seed_ratio=1.0))
    sink.gates.wait_started(task.gid)
    assert (task.workdir / "payload.bin").read_bytes() == source.payload
    sink.gates.open(task.gid)
    assert recorder.wait_finished(task.gid) == "done"


def test_a_restart_skips_recorded_stages_and_reruns_the_interrupted_one_from_empty(
    downloads: Path, store: Store, make_manager: MakeManager, sink: FakeSink, recorder: Recorder
) -> None:
    source = FakeSource(auto=True)
    first, second = Suffix("join"), Suffix("extract", auto=False)
    manager = make_manager(pipeline=staged(source, sink, first, second))
    task = manager.submit(spec(0))
    second.gates.wait_started(task.gid)
    manager.shutdown(timeout=WAIT)  # interrupts the second stage, keeps the folder and row
    assert (task.workdir / ".stage-1-extract" / "half-written").exists()
    assert [name for name, _ in taskstate.processed(task.workdir)] == ["join"]

    first2, second2 = Suffix("join"), Suffix("extract")
    sink.gates.auto = True
    fresh = Recorder()  # the first one saw the task end as "cancelled" by the shutdown
    again = make_manager(pipeline=staged(source, sink, first2, second2), listener=fresh)
    (resumed,) = again.restore()
    assert fresh.wait_finished(resumed.gid) == "done"
    assert source.gates.order == [task.gid]  # fetched once
    assert first2.runs == [] and second2.found == [[]]  # nothing half-written left to it
    assert sink.delivered[task.gid] == source.payload + b"joinextract"


def test_a_stale_record_of_a_later_stage_is_dropped_when_an_earlier_one_reruns(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "0123456789"
    taskstate.create(workdir, "0123456789")
    for index, name in enumerate(("join", "extract")):
        result = workdir / name
        result.write_bytes(b"x")
        taskstate.record_processed(workdir, "0123456789", index, name, result)
    taskstate.record_processed(workdir, "0123456789", 0, "join", workdir / "join")
    assert [name for name, _ in taskstate.processed(workdir)] == ["join"]
