"""Controllable fakes for the engine: a Source and a Sink that block on events the test sets,
count how many calls run at once, and a listener that records every callback.

Nothing here sleeps: the fakes wait on events with a deadline (``WAIT``) so a broken engine
fails the test instead of hanging it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telebot.engine.pipeline import Delivery, Pipeline
from telebot.engine.task import Task, TaskSpec
from telebot.engine.taskstate import STATE_FILE
from telebot.errors import TaskCancelled
from tests import polling

WAIT = 10.0  # seconds: far above any real latency here, low enough to fail fast when broken
POLL = 0.005  # seconds between looks at cancel_event while a fake blocks


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Wait for a condition the engine exposes no event for (e.g. a slot queue position)."""
    polling.wait_until(predicate, timeout, what, poll=POLL)


def spec(n: int = 0, **kw: Any) -> TaskSpec:
    """A mirror spec whose source names task ``n`` (the fakes key their gates by it)."""
    values: dict[str, Any] = {
        "kind": "mirror",
        "source": f"http://example.invalid/file{n}.bin",
        "chat_id": 100,
        "user_id": 42,
        "message_id": 1000 + n,
    }
    values.update(kw)
    return TaskSpec(**values)


class Gates:
    """Per-task ``started``/``release`` events and a concurrency meter for one kind of call."""

    def __init__(self, name: str, auto: bool = False) -> None:
        self.name = name
        self.auto = auto  # release at once (for throughput tests)
        self._lock = threading.Lock()
        self.started: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self.release: defaultdict[str, threading.Event] = defaultdict(threading.Event)
        self.active = 0
        self.max_active = 0
        self.order: list[str] = []  # gids in the order their calls began
        self.notify: queue.Queue[tuple[str, str]] | None = None  # (name, gid) as calls begin

    def started_event(self, gid: str) -> threading.Event:
        with self._lock:
            return self.started[gid]

    def release_event(self, gid: str) -> threading.Event:
        with self._lock:
            return self.release[gid]

    def wait_started(self, gid: str, timeout: float = WAIT) -> None:
        assert self.started_event(gid).wait(timeout), f"{self.name} of {gid} never started"

    def has_started(self, gid: str) -> bool:
        return self.started_event(gid).is_set()

    def open(self, gid: str) -> None:
        self.release_event(gid).set()

    def enter(self, task: Task) -> None:
        """Count the call in, then block until released or cancelled."""
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.order.append(task.gid)
            started, release = self.started[task.gid], self.release[task.gid]
        try:
            started.set()
            if self.notify is not None:
                self.notify.put((self.name, task.gid))
            if self.auto:
                return
            deadline = time.monotonic() + WAIT
            while not release.wait(POLL):
                if task.cancel_event.is_set():
                    raise TaskCancelled(task.cancel_reason or "cancelled")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} of {task.gid} was never released")
        finally:
            with self._lock:
                self.active -= 1


class FakeSource:
    """Writes ``payload`` into the task folder once released; can raise instead.

    ``fail`` maps a gid to the exception its fetch raises after being released.
    ``seen_files`` records what each run found in its folder (to check resume).
    """

    engine = "fake-src"

    def __init__(self, auto: bool = False, payload: bytes = b"x" * 1000) -> None:
        self.gates = Gates("fetch", auto)
        self.payload = payload
        self.fail: dict[str, BaseException] = {}
        self.seen_files: dict[str, list[str]] = {}
        self.cancel_seen: dict[str, str | None] = {}

    def fetch(self, task: Task) -> Path:
        self.seen_files[task.gid] = sorted(
            p.name for p in task.workdir.iterdir() if p.name != STATE_FILE
        )
        part = task.workdir / "payload.part"
        part.write_bytes(self.payload[: len(self.payload) // 2])
        try:
            self.gates.enter(task)
        except TaskCancelled:
            self.cancel_seen[task.gid] = task.cancel_reason
            raise
        error = self.fail.get(task.gid)
        if error is not None:
            raise error
        task.progress(len(self.payload), len(self.payload))
        final = task.workdir / "payload.bin"
        final.write_bytes(self.payload)
        part.unlink()
        return final


class FakeSink:
    """Reads the fetched file back (so it must still exist) and reports a Delivery."""

    engine = "fake-sink"

    def __init__(self, auto: bool = False) -> None:
        self.gates = Gates("deliver", auto)
        self.delivered: dict[str, bytes] = {}

    def deliver(self, task: Task, path: Path) -> Delivery:
        self.gates.enter(task)
        data = path.read_bytes()
        self.delivered[task.gid] = data
        return Delivery(name=path.name, size=len(data), location="fake:/")


@dataclass
class Recorder:
    """A TaskListener that remembers everything and lets tests wait for a finish."""

    submitted: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    restore_failed: list[tuple[int, int | None, str, str]] = field(default_factory=list)
    finished_state: dict[str, str] = field(default_factory=dict)
    workdir_at_finish: dict[str, bool] = field(default_factory=dict)
    _finished: defaultdict[str, threading.Event] = field(
        default_factory=lambda: defaultdict(threading.Event)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_submitted(self, task: Task) -> None:
        with self._lock:
            self.submitted.append(task.gid)

    def on_finished(self, task: Task) -> None:
        with self._lock:
            self.finished_state[task.gid] = task.state.value
            self.workdir_at_finish[task.gid] = task.workdir.exists()
            event = self._finished[task.gid]
        event.set()

    def on_resumed(self, task: Task) -> None:
        with self._lock:
            self.resumed.append(task.gid)

    def on_restore_failed(
        self, chat_id: int, message_id: int | None, gid: str, reason: str
    ) -> None:
        with self._lock:
            self.restore_failed.append((chat_id, message_id, gid, reason))

    def wait_finished(self, gid: str, timeout: float = WAIT) -> str:
        with self._lock:
            event = self._finished[gid]
        assert event.wait(timeout), f"task {gid} did not finish"
        return self.finished_state[gid]


def pipeline(source: FakeSource, sink: FakeSink) -> Pipeline:
    return Pipeline([lambda _spec: source], [lambda _spec: sink])


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
