"""Where a dispatched task runs: the one small interface between :class:`TaskManager` and the
thing that executes source → stages → sink.

Two implementations: :class:`LocalRunner` (a thread pool in this process, the default; it needs
neither Redis nor Celery and imports neither) and ``telebot.scale.front.CeleryRunner`` (the task
is sent to Celery workers over Redis, which run the same pipeline code in their own
``TaskManager`` with a :class:`LocalRunner`). The manager keeps the queue, the journal and the
listener; a runner only runs, and tells the manager when a task has ended.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from telebot.engine.task import State, Task


class RunnerHost(Protocol):
    """What a runner may call back on the manager that owns it."""

    def execute(self, task: Task) -> State:
        """Run ``task`` here, in the calling thread, to its end (local runners only)."""
        ...

    def ended(self, task: Task, state: State) -> None:
        """``task`` has ended in ``state``: finish it (journal, listener) and dispatch more."""
        ...


class Runner(Protocol):
    """Runs dispatched tasks. Every started task is reported to ``host.ended`` exactly once,
    except those a remote runner leaves running when this process stops."""

    #: True when tasks run outside this process and outlive it: shutdown then neither cancels
    #: nor waits for them (a new front adopts them).
    remote: bool
    #: How many tasks it can run at once, or None when that is not this process's to say (a
    #: remote runner: the workers' threads are the limit).
    capacity: int | None

    def attach(self, host: RunnerHost) -> None: ...

    def start(self, task: Task) -> None:
        """Begin running ``task``; returns at once."""
        ...

    def cancel(self, task: Task) -> None:
        """``task.cancel_event`` has just been set: make it reach wherever the task runs."""
        ...

    def restored(self) -> None:
        """The journal has been read back after a start: every unfinished task is known."""
        ...

    def shutdown(self, deadline: float) -> None:
        """Stop taking work; ``deadline`` is a ``time.monotonic()`` value."""
        ...


class LocalRunner:
    """Today's behaviour: each dispatched task runs on a thread of one pool in this process."""

    remote = False

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="task")
        self.capacity: int | None = max_workers  # fixed: a ThreadPoolExecutor cannot grow
        self._host: RunnerHost | None = None

    def attach(self, host: RunnerHost) -> None:
        self._host = host

    def start(self, task: Task) -> None:
        self._pool.submit(self._run, task)

    def _run(self, task: Task) -> None:
        assert self._host is not None
        self._host.ended(task, self._host.execute(task))

    def cancel(self, task: Task) -> None:
        """Nothing to do: the task's thread watches ``task.cancel_event`` itself."""

    def restored(self) -> None:
        """Nothing to do: local tasks are resubmitted by the journal reader."""

    def shutdown(self, deadline: float) -> None:
        del deadline  # the manager has already waited for the running tasks
        self._pool.shutdown(wait=False, cancel_futures=True)

