"""Limits in the engine: a size learnt after the start fails the task whatever the source does
with the refusal; USER_TASKS_LIMIT holds under concurrent submits; queue limits change live."""

from __future__ import annotations

import threading
from pathlib import Path

from telebot.engine.limits import Limits, LimitValues
from telebot.engine.task import Task
from telebot.errors import BadInputError, DownloadError
from tests.engine.conftest import MakeManager
from tests.engine.fakes import FakeSink, FakeSource, Recorder, pipeline, spec, wait_until


class SwallowingSource(FakeSource):
    """An HTTP-like source that turns every error into its own (as a library boundary
    might)."""

    engine = "HTTP"

    def fetch(self, task: Task) -> Path:
        try:
            return super().fetch(task)
        except Exception as exc:
            raise DownloadError(f"the engine said: {type(exc).__name__}") from exc


def test_a_size_learnt_after_the_start_fails_the_task_with_the_limit(
    make_manager: MakeManager, recorder: Recorder, sink: FakeSink
) -> None:
    source = SwallowingSource()
    limits = Limits(LimitValues(direct=500), exempt=lambda user: user == 7)
    manager = make_manager(limits=limits, pipeline=pipeline(source, sink))
    task = manager.submit(spec(0))
    source.gates.wait_started(task.gid)
    assert task.workdir.exists()
    source.gates.open(task.gid)  # now it reports 1000 bytes
    assert recorder.wait_finished(task.gid) == "failed"
    assert task.error == (
        "refused: direct links are limited to 500 B (DIRECT_LIMIT); file0.bin is 1 kB"
    )
    assert recorder.workdir_at_finish[task.gid] is False
    assert sink.delivered == {}
    exempt = manager.submit(spec(1, user_id=7))  # sudo: exempt
    source.gates.open(exempt.gid)
    sink.gates.open(exempt.gid)
    assert recorder.wait_finished(exempt.gid) == "done"


def test_user_tasks_limit_holds_for_concurrent_submits(make_manager: MakeManager) -> None:
    manager = make_manager(limits=Limits(LimitValues(user_tasks=3)))
    admitted, refused = [], []
    start = threading.Barrier(10)

    def submit(n: int) -> None:
        start.wait()
        try:
            admitted.append(manager.submit(spec(n)))
        except BadInputError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(admitted) == 3 and len(refused) == 7
    assert "may have 3 (USER_TASKS_LIMIT)" in refused[0]
    manager.submit(spec(99, user_id=43))  # another user is not counted against this one


def test_a_larger_download_queue_lets_a_waiting_task_in_live(
    make_manager: MakeManager, source: FakeSource
) -> None:
    manager = make_manager(queue_download=1)
    first, second = manager.submit(spec(0)), manager.submit(spec(1))
    source.gates.wait_started(first.gid)
    wait_until(lambda: manager.snapshots()[1].queue_position == 1, what="second waits")
    assert not source.gates.has_started(second.gid)
    assert manager.set_queue_limits(download=2) is True
    source.gates.wait_started(second.gid)


def test_queue_all_above_the_pool_needs_a_restart(make_manager: MakeManager) -> None:
    manager = make_manager(queue_all=2)
    assert manager.set_queue_limits(queue_all=1) is True
    assert manager.set_queue_limits(queue_all=5) is False  # runs at the pool's 2 until restart

