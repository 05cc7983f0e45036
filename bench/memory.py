"""Memory per task: ``Task`` with ``__slots__`` against the same class without them.

Run: python bench/memory.py [--runs 5] [--tasks 10000]

Two measurements, each the median of ``--runs`` runs, with ``tracemalloc`` (bytes Python
allocated and still holds, so object headers, instance dicts, the Event/Condition/lock,
the workdir Path and the display name all count; the cancel Event and the speed window are
made when a task starts, so a queued task holds neither):

* objects: ``--tasks`` Task objects built directly (gids made beforehand, one shared spec);
* queued: ``--tasks`` tasks submitted to a real ``TaskManager`` whose single task slot
  (QUEUE_ALL=1) is held by a first task that blocks, so every other task stays queued. This
  adds what the manager keeps per task (dict entry, deque slot). The specs are built before
  measuring: they belong to the caller. No store: SQLite's memory is not Python's to trace.

``PlainTask`` is a copy of ``Task.__init__``'s assignments in a class without ``__slots__``;
its methods are Task's own functions, so the manager can drive it unchanged. The machine is
shared (2 cores, other work running); allocation counts do not depend on load, but run the
medians anyway.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Replace this script's folder on the path by the repository root: bench/ holds
# scripts named like standard modules (copy.py) that would shadow them.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import telebot.engine.manager as manager_module  # noqa: E402
from telebot.engine.manager import TaskManager  # noqa: E402
from telebot.engine.pipeline import Delivery, Pipeline  # noqa: E402
from telebot.engine.task import SpeedMeter, State, Task, TaskSpec, _name_hint  # noqa: E402
from telebot.errors import TaskCancelled  # noqa: E402


class PlainTask:
    """``Task`` without ``__slots__``: the same assignments, Task's own methods."""

    def __init__(
        self,
        gid: str,
        spec: TaskSpec,
        workdir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gid = gid
        self.spec = spec
        self.workdir = workdir
        self._clock = clock
        self.state = State.QUEUED
        self.name = spec.name or spec.file_name or _name_hint(spec.source)
        self.engine = ""
        self.done = 0
        self.total: int | None = None
        self.created_at = clock()
        self.started_at: float | None = None
        self.error: str | None = None
        self.note: str | None = None
        self.result: Any = None
        self.warnings: list[str] = []
        self._cancel_event: threading.Event | None = None  # as in Task: made on first use
        self.cancel_reason: str | None = None
        self.detail: str | None = None
        self.on_total: Callable[[Task, int], None] | None = None
        self.refusal: str | None = None
        self.origin: dict[str, Any] | None = None
        self._meter: SpeedMeter | None = None  # as in Task: created when it starts running

    cancel_event = Task.cancel_event
    begin = Task.begin
    progress = Task.progress
    cancel = Task.cancel
    snapshot = Task.snapshot


VARIANTS: dict[str, type] = {"__slots__ (Task)": Task, "no __slots__": PlainTask}


def make_spec(n: int) -> TaskSpec:
    return TaskSpec(
        kind="mirror",
        source=f"https://files.example.org/pub/archive-{n}.tar.gz",
        chat_id=-1001234567890,
        user_id=123456789,
        message_id=1000 + n,
    )


def traced(build: Callable[[], object]) -> int:
    """Bytes allocated by ``build()`` and still held while its result is alive."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def per_object(cls: type, n: int, root: Path) -> float:
    spec = make_spec(0)
    gids = [f"{i:010x}" for i in range(n)]
    holder: list[object] = [None] * n  # the list itself is allocated before measuring

    def build() -> list[object]:
        for i, gid in enumerate(gids):
            holder[i] = cls(gid, spec, root / gid)
        return holder

    return traced(build) / n


class BlockingSource:
    """Blocks the first task until cancelled, so every later task stays queued."""

    engine = "bench"

    def __init__(self) -> None:
        self.started = threading.Event()

    def fetch(self, task: Task) -> Path:
        self.started.set()
        task.cancel_event.wait(60)
        raise TaskCancelled("bench over")


class NeverSink:
    engine = "bench"

    def deliver(self, task: Task, path: Path) -> Delivery:
        raise AssertionError("no task gets this far")


class NullListener:
    def on_submitted(self, task: Task) -> None: ...
    def on_finished(self, task: Task) -> None: ...
    def on_resumed(self, task: Task) -> None: ...
    def on_restore_failed(
        self, chat_id: int, message_id: int | None, gid: str, reason: str
    ) -> None: ...


def per_queued_task(cls: type, n: int, root: Path) -> float:
    source = BlockingSource()
    original = manager_module.Task
    manager_module.Task = cls  # type: ignore[misc,assignment]  # what submit() instantiates
    try:
        manager = TaskManager(
            download_dir=root,
            pipeline=Pipeline([lambda _s: source], [lambda _s: NeverSink()]),
            listener=NullListener(),
            store=None,
            queue_all=1,
        )
        manager.submit(make_spec(0))
        if not source.started.wait(10):
            raise RuntimeError("the blocking task never started")
        specs = [make_spec(i) for i in range(1, n + 1)]
        try:
            size = traced(lambda: [manager.submit(s) for s in specs] and None)
        finally:
            manager.shutdown(timeout=10)
    finally:
        manager_module.Task = original  # type: ignore[misc]
    return size / n


def parts(n: int) -> dict[str, float]:
    """Bytes per task of the pieces every Task owns, to show where the memory goes."""
    root = Path("/srv/downloads")
    gids = [f"{i:010x}" for i in range(n)]
    builders: dict[str, Callable[[], object]] = {
        "cancel Event (running only)": lambda: [threading.Event() for _ in gids],
        "SpeedMeter + deque (running only)": lambda: [SpeedMeter(time.monotonic) for _ in gids],
        "workdir Path": lambda: [root / gid for gid in gids],
    }
    return {label: traced(build) / n for label, build in builders.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        root = Path(tmp)
        for cls in VARIANTS.values():  # warm-up: a class's first instances cost more (3.11
            per_object(cls, 100, root)  # builds its shared attribute keys as they appear)
        for _ in range(args.runs):
            for label, cls in VARIANTS.items():  # interleaved: drift hits both alike
                for what, measure in (("objects", per_object), ("queued", per_queued_task)):
                    results.setdefault((what, label), []).append(measure(cls, args.tasks, root))
    print(f"bytes per task, median of {args.runs} runs, {args.tasks:,} tasks (tracemalloc)")
    print(f"{'measure':<34}{'__slots__':>12}{'no __slots__':>14}{'ratio':>8}{'saved':>9}")
    for what, title in (("objects", "Task objects"), ("queued", "queued in a TaskManager")):
        slots = statistics.median(results[(what, "__slots__ (Task)")])
        plain = statistics.median(results[(what, "no __slots__")])
        print(f"{title:<34}{slots:>12.0f}{plain:>14.0f}{plain / slots:>7.2f}x{plain - slots:>9.0f}")
    print("of which (same in both):")
    for label, size in parts(args.tasks).items():
        print(f"  {label:<32}{size:>12.0f}")
    total = statistics.median(results[("queued", "__slots__ (Task)")]) * args.tasks
    print(f"{args.tasks:,} queued tasks hold {total / 2**20:.1f} MiB with __slots__")


if __name__ == "__main__":
    main()
