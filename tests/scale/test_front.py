"""The front's runner (telebot/scale/front.py) against a real redis-server, with the worker's
part played by the test: races that a whole bot cannot order deterministically."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from telebot.config import load_config
from telebot.engine.pipeline import Delivery
from telebot.engine.task import State, Task, TaskSpec
from telebot.secretbox import SecretBox
from tests import polling
from tests.scale.conftest import RedisServer, requires_redis

pytestmark = requires_redis
pytest.importorskip("celery")

from telebot.scale import protocol as p  # noqa: E402
from telebot.scale.front import CeleryRunner  # noqa: E402

TOKEN = "123:front-side"
GID = "00000000f1"


class Host:
    """The manager's side of a runner: records each ended task."""

    def __init__(self) -> None:
        self.ended_tasks: list[tuple[Task, State]] = []
        self.changed = threading.Event()

    def execute(self, task: Task) -> State:
        raise AssertionError("a remote runner never executes here")

    def ended(self, task: Task, state: State) -> None:
        self.ended_tasks.append((task, state))
        self.changed.set()


def test_a_cancel_after_the_finish_report_was_written_keeps_the_report(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"BOT_TOKEN": TOKEN, "OWNER_ID": "1", "CELERY_BROKER_URL": redis_server.url}
    runner = CeleryRunner(load_config(env, cwd=tmp_path), redis_server.client())
    host = Host()
    runner.attach(host)
    client = redis_server.client()
    try:
        spec = TaskSpec(kind="mirror", source="http://127.0.0.1:9/f.bin", chat_id=1, user_id=1)
        task = Task(GID, spec, tmp_path / GID)
        runner.start(task)
        assert runner.flush(10)
        # The worker ran it and wrote its report (done, then the lock released) ...
        finished = Task(GID, spec, tmp_path / "w")
        finished.state = State.DONE
        finished.result = Delivery("f.bin", 10, "/m/f.bin", links=("https://x/f.bin",))
        report = p.seal_report(SecretBox.from_token(TOKEN), GID, p.finish_report(finished, "w", 1))
        client.xadd(p.EVENTS, report)  # type: ignore[arg-type]
        client.set(p.key("done", GID), "w:run")
        # ... and /cancel arrives before this front has read that report.
        task.cancel_reason = "cancelled by user"
        task.cancel_event.set()
        runner.cancel(task)
        assert runner.flush(10)
        assert host.ended_tasks == []  # the cancel did not end it: the report decides
        runner.restored()  # now the front reads its finish reports
        polling.wait_until(lambda: host.ended_tasks, 15, "the task to end")
        [(ended, state)] = host.ended_tasks
        assert state is State.DONE
        assert isinstance(ended.result, Delivery) and ended.result.links == ("https://x/f.bin",)
    finally:
        runner.shutdown(0.0)
        client.close()
