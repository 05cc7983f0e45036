"""TaskManager: limits, FIFO order, queue positions, cancel, cleanup and error texts."""

from __future__ import annotations

import errno
import logging
import queue
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from telebot.engine.execute import describe_os_error
from telebot.engine.manager import TaskManager
from telebot.engine.pipeline import Delivery, Pipeline
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import DownloadError, TelebotError, UploadError
from telebot.store import Store
from tests.engine.conftest import MakeManager
from tests.engine.fakes import FakeClock, FakeSink, FakeSource, Recorder, spec, wait_until


def submit_all(manager: TaskManager, n: int) -> list[Task]:
    return [manager.submit(spec(i)) for i in range(n)]


def positions(manager: TaskManager) -> dict[str, int | None]:
    return {s.gid: s.queue_position for s in manager.snapshots()}


def has_place(manager: TaskManager, task: Task, place: int) -> Callable[[], bool]:
    return lambda: positions(manager)[task.gid] == place


def finish(source: FakeSource, sink: FakeSink, recorder: Recorder, task: Task) -> str:
    source.gates.open(task.gid)
    sink.gates.open(task.gid)
    return recorder.wait_finished(task.gid)


# -- limits and order -----------------------------------------------------------------------


def test_limits_step_by_step(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    """QUEUE_ALL=3, QUEUE_DOWNLOAD=2, QUEUE_UPLOAD=1: each limit is reached, none exceeded."""
    manager = make_manager(queue_all=3, queue_download=2, queue_upload=1)
    fetch, deliver = source.gates, sink.gates
    # One by one, so the test controls which task holds which slot.
    t = [manager.submit(spec(0))]
    fetch.wait_started(t[0].gid)
    t.append(manager.submit(spec(1)))
    fetch.wait_started(t[1].gid)
    t.append(manager.submit(spec(2)))
    # t2 holds a task slot but waits for a download slot; t3..t5 wait for a task slot.
    wait_until(lambda: positions(manager)[t[2].gid] == 1, what="t2 waits for a download slot")
    t += [manager.submit(spec(n)) for n in range(3, 6)]
    # One line for everyone waiting: t2 (download slot) is 1st, the undispatched follow it.
    assert [positions(manager)[x.gid] for x in t[3:]] == [2, 3, 4]
    assert fetch.active == 2 and not fetch.has_started(t[2].gid)

    fetch.open(t[0].gid)  # t0 moves on to upload; its download slot goes to t2
    deliver.wait_started(t[0].gid)
    fetch.wait_started(t[2].gid)
    fetch.open(t[1].gid)  # t1 now waits for the single upload slot
    wait_until(lambda: manager.get(t[1].gid) is not None and fetch.active == 1)
    assert not deliver.has_started(t[1].gid)
    assert not fetch.has_started(t[3].gid)  # three tasks run: t3 stays queued

    sink.gates.open(t[0].gid)
    assert recorder.wait_finished(t[0].gid) == "done"
    deliver.wait_started(t[1].gid)
    fetch.wait_started(t[3].gid)
    for k in range(1, len(t)):
        assert finish(source, sink, recorder, t[k]) == "done"
        # Finishing t[k] hands a download slot to t[k + 2]; let its worker reach fetch() before
        # the next slot frees, so `order` (recorded inside fetch, after the grant) follows the
        # grants rather than thread scheduling.
        if k + 2 < len(t):
            fetch.wait_started(t[k + 2].gid)
    assert (fetch.max_active, deliver.max_active) == (2, 1)
    assert fetch.order == [x.gid for x in t]


@pytest.mark.parametrize(
    ("queue_all", "queue_download", "queue_upload"),
    [(3, 2, 1), (2, 0, 0), (0, 2, 1), (4, 3, 2), (1, 1, 1)],
)
def test_limits_are_never_exceeded_under_random_release_order(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    queue_all: int,
    queue_download: int,
    queue_upload: int,
) -> None:
    n = 16
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    source.gates.notify = sink.gates.notify = events
    in_flight, max_in_flight = [0], [0]
    original_fetch, original_deliver = source.fetch, sink.deliver

    def fetch(task: Task) -> Path:
        with source.gates._lock:
            in_flight[0] += 1
            max_in_flight[0] = max(max_in_flight[0], in_flight[0])
        return original_fetch(task)

    def deliver(task: Task, path: Path) -> Delivery:
        try:
            return original_deliver(task, path)
        finally:
            with source.gates._lock:
                in_flight[0] -= 1

    source.fetch = fetch  # type: ignore[method-assign]
    sink.deliver = deliver  # type: ignore[method-assign]
    manager = make_manager(
        queue_all=queue_all, queue_download=queue_download, queue_upload=queue_upload
    )
    tasks = submit_all(manager, n)
    rng = random.Random(queue_all * 100 + queue_download * 10 + queue_upload)
    blocked: list[tuple[str, str]] = []
    released = 0
    while released < 2 * n:
        # Collect every call that began; release one at random once things are quiet.
        try:
            blocked.append(events.get(timeout=0.02 if blocked else 10))
            continue
        except queue.Empty:
            assert blocked, "no call began: the engine stalled"
        kind, gid = blocked.pop(rng.randrange(len(blocked)))
        (source.gates if kind == "fetch" else sink.gates).open(gid)
        released += 1
    assert all(recorder.wait_finished(x.gid) == "done" for x in tasks)
    for limit, seen in (
        (queue_all, max_in_flight[0]),
        (queue_download, source.gates.max_active),
        (queue_upload, sink.gates.max_active),
    ):
        if limit > 0:
            assert seen <= limit


def test_task_slots_are_fifo(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=1)
    tasks = submit_all(manager, 5)
    for task in tasks:
        source.gates.wait_started(task.gid)
        assert finish(source, sink, recorder, task) == "done"
    assert source.gates.order == [t.gid for t in tasks]
    assert source.gates.max_active == 1


def test_download_slots_serve_tasks_in_their_arrival_order(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=4, queue_download=1)
    first = manager.submit(spec(0))
    source.gates.wait_started(first.gid)
    waiting = []
    for n in range(1, 4):  # each submitted after the previous one is in the slot queue
        task = manager.submit(spec(n))
        wait_until(has_place(manager, task, n), what=f"task {n} waits")
        waiting.append(task)
    for task in [first, *waiting]:
        source.gates.wait_started(task.gid)
        assert finish(source, sink, recorder, task) == "done"
    assert source.gates.order == [t.gid for t in [first, *waiting]]


def test_download_slots_follow_submission_order_even_when_a_worker_is_slow(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    holder_spec, early_spec, late_spec = spec(0), spec(1), spec(2)
    late: list[Task] = []

    def slow_for_early(s: TaskSpec) -> FakeSource:
        # The worker of the earlier task is delayed before the slot queue (mkdir, resolvers).
        if s == early_spec:
            wait_until(lambda: bool(late) and positions(manager)[late[0].gid] is not None)
        return source

    manager = make_manager(
        queue_all=3,
        queue_download=1,
        pipeline=Pipeline([slow_for_early], [lambda _s: sink]),
    )
    holder = manager.submit(holder_spec)
    source.gates.wait_started(holder.gid)
    early = manager.submit(early_spec)
    late.append(manager.submit(late_spec))
    wait_until(
        lambda: positions(manager)[early.gid] == 1 and positions(manager)[late[0].gid] == 2,
        what="both tasks in the slot queue, in submission order",
    )
    for task in (holder, early, late[0]):
        source.gates.open(task.gid)
        sink.gates.open(task.gid)
    for task in (holder, early, late[0]):
        recorder.wait_finished(task.gid)
    assert source.gates.order == [holder.gid, early.gid, late[0].gid]


# -- queue positions ------------------------------------------------------------------------


def test_snapshots_show_queue_positions_and_they_move_up(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=1)
    t = submit_all(manager, 4)
    source.gates.wait_started(t[0].gid)
    by_gid = {s.gid: s for s in manager.snapshots()}
    assert by_gid[t[0].gid].state is State.DOWNLOADING
    assert by_gid[t[0].gid].queue_position is None
    assert [by_gid[x.gid].queue_position for x in t[1:]] == [1, 2, 3]
    assert all(by_gid[x.gid].state is State.QUEUED for x in t[1:])

    manager.cancel(t[2].gid)
    assert positions(manager) == {t[0].gid: None, t[1].gid: 1, t[3].gid: 2}
    assert finish(source, sink, recorder, t[0]) == "done"
    source.gates.wait_started(t[1].gid)
    assert positions(manager) == {t[1].gid: None, t[3].gid: 1}


def test_a_task_waiting_for_an_upload_slot_shows_its_place(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=2, queue_upload=1)
    first, second = submit_all(manager, 2)
    source.gates.open(first.gid)
    sink.gates.wait_started(first.gid)  # first holds the only upload slot
    source.gates.open(second.gid)
    wait_until(lambda: manager._upload_slots.position(second.gid) == 1, what="upload queue")
    assert positions(manager)[second.gid] == 1


def test_waiting_tasks_show_distinct_places(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=2, queue_download=1)
    first = manager.submit(spec(0))
    source.gates.wait_started(first.gid)
    in_slot_queue = manager.submit(spec(1))
    wait_until(lambda: positions(manager)[in_slot_queue.gid] == 1, what="download queue")
    pending = manager.submit(spec(2))
    places = [positions(manager)[t.gid] for t in (in_slot_queue, pending)]
    assert places == [1, 2]


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_a_queued_task_finishes_it_at_once_and_it_never_runs(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    store: Store,
) -> None:
    manager = make_manager(queue_all=1)
    running, queued = submit_all(manager, 2)
    source.gates.wait_started(running.gid)
    assert manager.cancel(queued.gid, "no longer needed")
    # on_finished ran inside cancel(): no waiting needed.
    assert recorder.finished_state[queued.gid] == "cancelled"
    assert queued.cancel_reason == "no longer needed"
    assert manager.get(queued.gid) is None
    assert [e.gid for e in store.journal_entries()] == [running.gid]
    assert finish(source, sink, recorder, running) == "done"
    assert not source.gates.has_started(queued.gid)
    assert source.gates.order == [running.gid]


def test_cancel_a_running_task_reaches_the_source(
    make_manager: MakeManager,
    source: FakeSource,
    recorder: Recorder,
    store: Store,
    downloads: Path,
) -> None:
    manager = make_manager()
    task = manager.submit(spec())
    source.gates.wait_started(task.gid)
    assert (downloads / task.gid / "payload.part").exists()
    assert manager.cancel(task.gid, "stop it")
    assert recorder.wait_finished(task.gid) == "cancelled"
    assert source.cancel_seen[task.gid] == "stop it"
    assert not (downloads / task.gid).exists()
    assert store.journal_entries() == []
    assert not manager.cancel(task.gid)  # finished tasks cannot be cancelled again


def test_cancel_a_task_waiting_for_a_download_slot(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=2, queue_download=1)
    first = manager.submit(spec(0))
    source.gates.wait_started(first.gid)
    second = manager.submit(spec(1))
    wait_until(lambda: positions(manager)[second.gid] == 1, what="second waits for a slot")
    assert manager.cancel(second.gid)
    assert recorder.wait_finished(second.gid) == "cancelled"
    assert finish(source, sink, recorder, first) == "done"
    assert not source.gates.has_started(second.gid)


def test_cancel_unknown_and_cancel_all(
    make_manager: MakeManager, source: FakeSource, recorder: Recorder
) -> None:
    manager = make_manager(queue_all=2)
    assert not manager.cancel("0000000000")
    tasks = submit_all(manager, 5)
    source.gates.wait_started(tasks[0].gid)
    assert manager.cancel_all(manager.tasks()) == 5
    assert {recorder.wait_finished(t.gid) for t in tasks} == {"cancelled"}
    wait_until(lambda: manager.tasks() == [], what="cancelled tasks leave the manager")


# -- cleanup and error texts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "state", "text"),
    [
        (None, "done", None),
        (DownloadError("HTTP 404 from h.example"), "failed", "HTTP 404 from h.example"),
        (OSError(errno.ENOSPC, "No space left on device", "/srv/x"), "failed", "disk full"),
        (OSError(errno.EACCES, "Permission denied"), "failed", "permission denied"),
        (RuntimeError("bug"), "failed", "internal error (RuntimeError)"),
        (KeyError("oops"), "failed", "internal error (KeyError)"),
    ],
)
def test_workdir_and_journal_row_go_however_the_task_ends(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    store: Store,
    downloads: Path,
    fault: BaseException | None,
    state: str,
    text: str | None,
) -> None:
    manager = make_manager()
    task = manager.submit(spec())
    source.gates.wait_started(task.gid)
    assert (downloads / task.gid).is_dir()
    assert [e.gid for e in store.journal_entries()] == [task.gid]
    if fault is not None:
        source.fail[task.gid] = fault
    assert finish(source, sink, recorder, task) == state
    assert recorder.workdir_at_finish[task.gid] is False
    assert list(downloads.iterdir()) == []
    assert store.journal_entries() == []
    if text is None:
        assert task.error is None
        assert task.result.size == len(source.payload)
        assert sink.delivered[task.gid] == source.payload
    else:
        assert task.error is not None and task.error.startswith(text)
        assert "/srv" not in task.error  # no host paths in the chat


def test_a_crash_is_logged_with_its_traceback(
    make_manager: MakeManager,
    source: FakeSource,
    sink: FakeSink,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = make_manager()
    task = manager.submit(spec())
    source.fail[task.gid] = ZeroDivisionError("boom")
    with caplog.at_level(logging.ERROR, logger="telebot.engine.execute"):
        assert finish(source, sink, recorder, task) == "failed"
    crash = [r for r in caplog.records if r.exc_info]
    assert crash and crash[0].exc_info[0] is ZeroDivisionError  # type: ignore[index]


def test_sink_failure_fails_the_task_and_cleans_up(
    make_manager: MakeManager, source: FakeSource, recorder: Recorder, downloads: Path
) -> None:
    class BrokenSink:
        engine = "broken"

        def deliver(self, task: Task, path: Path) -> Delivery:
            raise UploadError("remote refused the file")

    manager = make_manager(pipeline=Pipeline([lambda _s: source], [lambda _s: BrokenSink()]))
    task = manager.submit(spec())
    source.gates.open(task.gid)
    assert recorder.wait_finished(task.gid) == "failed"
    assert task.error == "remote refused the file"
    assert list(downloads.iterdir()) == []


def test_no_source_for_the_link_fails_with_a_clear_text(
    make_manager: MakeManager, sink: FakeSink, recorder: Recorder, downloads: Path
) -> None:
    manager = make_manager(pipeline=Pipeline([lambda _s: None], [lambda _s: sink]))
    task = manager.submit(spec(source="ftp://h.example/file"))
    assert recorder.wait_finished(task.gid) == "failed"
    assert task.error is not None and "no downloader handles" in task.error
    assert list(downloads.iterdir()) == []


def test_describe_os_error_names_only_the_file() -> None:
    text = describe_os_error(OSError(errno.EIO, "I/O error", "/home/bot/downloads/abc/f.bin"))
    assert text == "file error: I/O error (f.bin)"


def test_listener_error_does_not_leak_the_task(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    finished = recorder.on_finished

    def explode(task: Task) -> None:
        finished(task)
        raise RuntimeError("listener bug")

    recorder.on_finished = explode  # type: ignore[method-assign]
    manager = make_manager(queue_all=1)
    first, second = submit_all(manager, 2)
    assert finish(source, sink, recorder, first) == "done"
    # The worker survived the listener's error and went on with the next task.
    assert finish(source, sink, recorder, second) == "done"
    wait_until(lambda: manager.tasks() == [], what="finished tasks leave the manager")


# -- lookups, snapshots with a clock, shutdown --------------------------------------------------


def test_lookups_and_counts(make_manager: MakeManager, source: FakeSource) -> None:
    manager = make_manager(queue_all=1)
    a = manager.submit(spec(0, chat_id=1))
    b = manager.submit(spec(1, chat_id=2))
    source.gates.wait_started(a.gid)
    assert manager.find_by_message(2, 1001) is b
    assert manager.find_by_message(2, 1000) is None
    assert [t.gid for t in manager.tasks(chat_id=1)] == [a.gid]
    assert manager.counts_by_state() == {"downloading": 1, "queued": 1}


def test_snapshot_speed_and_eta_through_the_manager(
    make_manager: MakeManager, source: FakeSource, sink: FakeSink, recorder: Recorder
) -> None:
    clock = FakeClock()
    manager = make_manager(clock=clock)
    task = manager.submit(spec())
    source.gates.wait_started(task.gid)
    for done in range(0, 5001, 1000):  # 1000 bytes/s, 5000 of 20000 after 5 s
        task.progress(done, 20_000)
        clock.advance(1)
    clock.advance(-1)
    (snap,) = manager.snapshots()
    assert snap.speed == pytest.approx(1000)
    assert snap.eta == pytest.approx(15)
    assert snap.elapsed == pytest.approx(5)
    assert finish(source, sink, recorder, task) == "done"


def test_submit_after_shutdown_is_refused(make_manager: MakeManager) -> None:
    manager = make_manager()
    manager.shutdown(timeout=1)
    with pytest.raises(TelebotError, match="shutting down"):
        manager.submit(spec())
