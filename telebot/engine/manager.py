"""TaskManager: the engine's facade. Submitting (admission, the journal row), the queue and
dispatch to the runner, cancel, finishing a task (its folder, its group, the listener), restart
and shutdown. Running one task is engine/execute.py, the download and upload lines are
engine/slots.py, reading the journal back is engine/restore.py.

Concurrency limits (docs/ARCHITECTURE.md §4): at most ``QUEUE_ALL`` tasks run at once; inside a
running task
the download stage waits for one of ``QUEUE_DOWNLOAD`` slots and the upload stage for one of
``QUEUE_UPLOAD`` (0 = unlimited). Every queue is FIFO and tells each waiter its place.
Waiting tasks hold no thread: only dispatched tasks occupy a pool worker, so 10,000 queued tasks
cost 10,000 small objects, not 10,000 threads.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from telebot.engine import groups, taskstate
from telebot.engine.execute import TaskExecutor
from telebot.engine.limits import Limits
from telebot.engine.pipeline import Pipeline
from telebot.engine.restore import Restorer
from telebot.engine.runner import LocalRunner, Runner
from telebot.engine.slots import FifoSlots
from telebot.engine.task import SHUTDOWN_REASON, Snapshot, State, Task, TaskSpec, new_gid
from telebot.errors import BadInputError, TelebotError
from telebot.logs import task_context
from telebot.monitor.counters import COUNTERS
from telebot.redact import redact_url
from telebot.store import GroupRecord, Store

log = logging.getLogger(__name__)

# Pool size when QUEUE_ALL is 0 (unlimited): a ceiling on threads, not a product limit.
UNLIMITED_WORKERS = 64


class TaskListener(Protocol):
    """How the engine reports to its user interface (``bot/`` implements it)."""

    def on_submitted(self, task: Task) -> None: ...
    def on_finished(self, task: Task) -> None: ...
    def on_resumed(self, task: Task) -> None: ...
    def on_restore_failed(
        self, chat_id: int, message_id: int | None, gid: str, reason: str
    ) -> None: ...


class TaskManager:
    """Runs tasks through the pipeline under the configured limits."""

    def __init__(
        self,
        *,
        download_dir: Path,
        pipeline: Pipeline,
        listener: TaskListener,
        store: Store | None = None,
        queue_all: int = 4,
        queue_download: int = 3,
        queue_upload: int = 2,
        clock: Callable[[], float] = time.monotonic,
        folder_mode: int = taskstate.PRIVATE_MODE,
        runner: Runner | None = None,
        limits: Limits | None = None,
        durable_writes: bool = False,
    ) -> None:
        self.download_dir = download_dir
        # DURABLE_WRITES: flush each result before recording it, instead of recording the boot
        # id and checking the result after a reboot (taskstate's module docstring).
        self.durable_writes = durable_writes
        self.limits = limits or Limits()
        self._folder_mode = folder_mode
        self._listener = listener
        self._store = store
        self._clock = clock
        self._queue_all = queue_all
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._pending: deque[Task] = deque()
        self._running = 0
        self._stopping = False
        self._idle = threading.Condition(self._lock)
        self._download_slots = FifoSlots(queue_download)
        self._upload_slots = FifoSlots(queue_upload)
        self._executor = TaskExecutor(
            pipeline=pipeline,
            limits=self.limits,
            download_slots=self._download_slots,
            upload_slots=self._upload_slots,
            journal_state=self._journal_state,
            folder_mode=folder_mode,
            durable_writes=durable_writes,
        )
        # Where dispatched tasks run: this process's threads, or Celery workers (scale-out).
        self._runner = runner or LocalRunner(queue_all if queue_all > 0 else UNLIMITED_WORKERS)
        self._runner.attach(self)

    # -- submitting and looking up --------------------------------------------------------

    def submit(self, spec: TaskSpec, *, gid: str | None = None) -> Task:
        """Queue a task. Its journal row is written *before* the task can be dispatched, so no
        other thread's dispatch can run and finish it first and leave an orphan row behind."""
        with self._lock:
            self._check_running()
            if gid is None:  # a restored task was admitted before the restart
                # Under the lock, so two submits at once cannot both take the last place.
                self.limits.admit(spec, self._active_of(spec.user_id))
            task = self._register(spec, gid)
        self._enqueue(task)
        return task

    def submit_many(self, specs: Sequence[TaskSpec], labels: Sequence[str]) -> list[Task]:
        """Queue every one of ``specs`` (a -b or -i command), or none: they pass the admission
        checks together (each admitted one counts against the next), and when any would be
        refused :class:`BadInputError` names each refused one by its ``labels`` entry
        ("line 3"). Not on the event loop (journal writes)."""
        with self._lock:
            self._check_running()
            self._admit_all(specs, labels)
            tasks = [self._register(spec, None) for spec in specs]
        for task in tasks:
            self._enqueue(task)
        return tasks

    def _admit_all(self, specs: Sequence[TaskSpec], labels: Sequence[str]) -> None:
        """Under ``_lock``: raise :class:`BadInputError` unless all of ``specs`` may start."""
        reasons = self.limits.admit_all(specs, self._active_of)
        refused = [(label, why) for label, why in zip(labels, reasons, strict=True) if why]
        if refused:
            raise BadInputError(refusal_text(refused, len(specs)))

    def _check_running(self) -> None:
        if self._stopping:
            raise TelebotError("the bot is shutting down; try again in a moment")

    def _register(self, spec: TaskSpec, gid: str | None) -> Task:
        """Under ``_lock``: a task holding its gid (and its user's place), not yet pending."""
        gid = gid or self._unused_gid()
        task = Task(gid, spec, self.download_dir / gid, clock=self._clock)
        self._tasks[gid] = task
        return task

    def _enqueue(self, task: Task) -> None:
        """Journal a registered task, then make it dispatchable."""
        gid, spec = task.gid, task.spec
        try:
            self._journal_add(task)
        except BaseException:
            with self._lock:
                self._tasks.pop(gid, None)
            raise
        with self._lock:
            # A shutdown that came meanwhile leaves the row: the task runs after the restart.
            if not self._stopping:
                self._pending.append(task)
        log.info("task %s queued: %s %s", gid, spec.kind, _redact_url(spec.source))
        self._listener.on_submitted(task)
        self._dispatch()

    def _journal_add(self, task: Task) -> None:
        if self._store is None:
            return
        spec = task.spec
        self._store.journal_add(
            task.gid,
            chat_id=spec.chat_id,
            user_id=spec.user_id,
            message_id=spec.message_id,
            spec=spec.to_json(),
            state=State.QUEUED.value,
        )

    def _active_of(self, user_id: int) -> int:
        """Running and queued tasks of ``user_id`` (USER_TASKS_LIMIT counts these); under
        ``_lock``."""
        return sum(1 for t in self._tasks.values() if t.spec.user_id == user_id)

    def submit_group(
        self,
        members: list[TaskSpec],
        delivery: TaskSpec,
        labels: Sequence[str] | None = None,
    ) -> str:
        """Queue ``members`` as one -m group whose results ``delivery`` (its name is the folder)
        delivers once all have ended (engine/groups.py); returns the group id. The members pass
        the admission checks together, as :meth:`submit_many` (a group starts whole or not at
        all). The group record is written before the folder and before any member is queued.
        Not on the event loop."""
        if self._store is None:
            raise TelebotError("-m needs the task journal")
        folder = groups.check_folder(delivery.name or "")
        labels = labels or [f"link {n}" for n in range(1, len(members) + 1)]
        with self._lock:
            self._check_running()
            self._admit_all(members, labels)
            ids: list[str] = []
            while len(ids) <= len(members):
                gid = self._unused_gid()
                if gid not in ids:
                    ids.append(gid)
            group_id, gids = ids[0], ids[1:]
            spec = replace(delivery, source=groups.group_source(group_id))
            tasks = [
                self._register(replace(member, group=group_id, group_folder=folder), gid)
                for gid, member in zip(gids, members, strict=True)
            ]
        try:
            self._store.group_add(
                group_id, chat_id=spec.chat_id, members=gids, spec=spec.to_json()
            )
            taskstate.create(self.download_dir / group_id, group_id, self._folder_mode)
            (self.download_dir / group_id / folder).mkdir(
                mode=taskstate.PRIVATE_MODE, exist_ok=True
            )
        except BaseException:
            with self._lock:
                for task in tasks:
                    self._tasks.pop(task.gid, None)
            raise
        for task in tasks:
            self._enqueue(task)
        return group_id

    def _unused_gid(self) -> str:
        while True:
            gid = new_gid()
            if gid not in self._tasks:
                return gid

    def get(self, gid: str) -> Task | None:
        with self._lock:
            return self._tasks.get(gid)

    def find_by_message(self, chat_id: int, message_id: int) -> Task | None:
        with self._lock:
            for task in self._tasks.values():
                if task.spec.chat_id == chat_id and task.spec.message_id == message_id:
                    return task
        return None

    def tasks(self, chat_id: int | None = None) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks.values() if chat_id is None or t.spec.chat_id == chat_id]

    def snapshots(self, chat_id: int | None = None) -> list[Snapshot]:
        return [t.snapshot(self._position(t)) for t in self.tasks(chat_id)]

    def _position(self, task: Task) -> int | None:
        """1-based place in line. Tasks not yet dispatched stand behind every task already
        waiting for a download slot, so two waiting tasks never show the same place."""
        if task.state is not State.QUEUED:
            return None
        with self._lock:
            for index, waiting in enumerate(self._pending):
                if waiting is task:
                    return self._download_slots.waiting() + index + 1
        place = self._download_slots.position(task.gid)
        return place if place is not None else self._upload_slots.position(task.gid)

    def counts_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.tasks():
            counts[task.state.value] = counts.get(task.state.value, 0) + 1
        return counts

    # -- live limits (/bsetting) -----------------------------------------------------------

    def set_queue_limits(
        self, *, queue_all: int | None = None, download: int | None = None,
        upload: int | None = None,
    ) -> bool:
        """Change QUEUE_ALL / QUEUE_DOWNLOAD / QUEUE_UPLOAD live. False when QUEUE_ALL asks for
        more tasks at once than the worker pool has threads: the pool is sized at start
        (ThreadPoolExecutor cannot grow safely), so until a restart it runs at its size."""
        if download is not None:
            self._download_slots.set_limit(download)
        if upload is not None:
            self._upload_slots.set_limit(upload)
        fully = True
        if queue_all is not None:
            wanted = queue_all if queue_all > 0 else UNLIMITED_WORKERS
            size = self._runner.capacity or wanted
            fully = wanted <= size
            with self._lock:
                self._queue_all = min(wanted, size)
            self._dispatch()  # a higher limit lets waiting tasks start now
        return fully

    # -- cancelling -----------------------------------------------------------------------

    def cancel(self, gid: str, reason: str = "cancelled by user") -> bool:
        """Cancel a task; False when there is no such running or queued task.

        A running task ends in its worker thread; a queued one is finished here, in the
        calling thread (folder removal, journal write, the listener's message), so never call
        this on the event loop.
        """
        with self._lock:
            task = self._tasks.get(gid)
            if task is None or task.state.finished:
                return False
            task.cancel(reason)
            queued = task in self._pending
            if queued:
                self._pending.remove(task)
        if not queued:
            self._runner.cancel(task)
        self._download_slots.wake()
        self._upload_slots.wake()
        if queued:
            self._finish(task, State.CANCELLED)
        return True

    def cancel_all(self, tasks: Iterable[Task], reason: str = "cancelled by user") -> int:
        """:meth:`cancel` each of ``tasks``; how many were cancelled. Not on the event loop."""
        return sum(self.cancel(task.gid, reason) for task in list(tasks))

    # -- running --------------------------------------------------------------------------

    def _dispatch(self) -> None:
        started: list[Task] = []
        with self._lock:
            while self._pending and (self._queue_all <= 0 or self._running < self._queue_all):
                task = self._pending.popleft()
                self._running += 1
                # The download line is joined here, in dispatch order, not when the worker
                # thread happens to reach acquire(): otherwise tasks dispatched together race.
                if not self._runner.remote:
                    self._download_slots.reserve(task.gid)
                started.append(task)
        for task in started:  # outside the lock: a remote runner talks to its broker
            self._runner.start(task)

    def execute(self, task: Task) -> State:
        """Run ``task``'s pipeline in the calling thread (the :class:`LocalRunner` host side)."""
        return self._executor.run(task)

    def ended(self, task: Task, state: State) -> None:
        """The runner reports that ``task`` ended: finish it, free its place, dispatch more."""
        with task_context(task.gid):
            self._finish(task, state)
        with self._lock:
            self._running -= 1
            self._idle.notify_all()
        self._dispatch()

    def outside_queue(self, task: Task) -> AbstractContextManager[None]:
        """Around a download's wait for its user (the ``-s`` file menu, the /ytdl quality
        menu): its download slot goes to the next task meanwhile
        (:meth:`~telebot.engine.execute.TaskExecutor.outside_queue`)."""
        return self._executor.outside_queue(task)

    def _journal_state(self, task: Task) -> None:
        if self._store is not None:
            self._store.journal_set_state(task.gid, task.state.value)

    def _finish(self, task: Task, state: State) -> None:
        interrupted = state is State.CANCELLED and task.cancel_reason == SHUTDOWN_REASON
        COUNTERS.stage_started(task)  # /metrics: the last stage's bytes, while its state says so
        task.state = state
        if interrupted:
            # Keep the folder and the journal row: the next start resumes from them.
            log.info("task %s interrupted by shutdown; it resumes on the next start", task.gid)
        else:
            self._settle_group(task, state)  # before its folder and row go: a rerun is harmless
            shutil.rmtree(task.workdir, ignore_errors=True)
            log.info("task %s %s%s", task.gid, state.value, f": {task.error}" if task.error else "")
        with self._lock:
            self._tasks.pop(task.gid, None)  # first, so a status refresh no longer lists it
        self._count_end(task, state, interrupted)
        try:
            self._listener.on_finished(task)
        except Exception:
            log.exception("listener failed for task %s", task.gid)
        finally:
            # After the listener: it may journal the message the user is owed in the very
            # transaction that removes this row (bot/announce.py); then this finds nothing.
            if not interrupted and self._store is not None:
                self._store.journal_remove(task.gid)

    def _count_end(self, task: Task, state: State, interrupted: bool) -> None:
        """/metrics: how long the task took from submission, as its user waited; not for one
        a shutdown interrupted (it resumes on the next start)."""
        if interrupted:
            return
        seconds = self._clock() - task.created_at
        COUNTERS.task_ended(task, task.spec.kind, state.value, seconds)

    def _settle_group(self, task: Task, state: State) -> None:
        """A group's delivery ended: forget the group. A member ended: record its outcome, and
        deliver the group if that was the last one (engine/groups.py)."""
        if self._store is None:
            return
        try:
            record = groups.settle(self._store, task, state)
            if record is not None:
                self._deliver_group(record)
        except Exception:  # the group must not take its member down; restore retries it
            log.exception("could not settle the group of task %s", task.gid)

    def _deliver_group(self, record: GroupRecord) -> None:
        """Submit a complete group's delivery task (gid = group id), unless it runs already."""
        if self._live(record.group_id):
            return
        try:
            self.submit(TaskSpec.from_json(record.spec), gid=record.group_id)
        except ValueError as exc:
            log.error("group %s cannot be delivered: %s", record.group_id, exc)
        except TelebotError:
            # Shutting down: the group is complete and has no delivery row, so the next
            # start submits it (restore).
            log.info("group %s is delivered after the restart", record.group_id)

    # -- restart --------------------------------------------------------------------------

    def restore(self) -> list[Task]:
        """Resubmit the journal's unfinished tasks; remove task folders no row owns.

        Never deletes what it cannot prove is its own: a row it cannot read is reported and its
        folder moved aside (engine/restore.py); a row from a newer telebot is reported and kept
        with its folder; in ``DOWNLOAD_DIR`` only folders :func:`taskstate.owned` accepts (and
        empty gid-named ones, a crash between ``mkdir`` and the state file) are removed.
        Stops quietly when a shutdown begins meanwhile: the remaining rows wait for the next start.

        Safe while users already submit (it runs after polling has started): a gid this manager
        already runs is neither resubmitted nor has its folder removed.
        """
        if self._store is None:
            self._runner.restored()
            return []
        try:
            return self._restore_all()
        finally:
            self._runner.restored()

    def _restore_all(self) -> list[Task]:
        assert self._store is not None
        return Restorer(
            store=self._store,
            download_dir=self.download_dir,
            listener=self._listener,
            live=self._live,
            submit=lambda spec, gid: self.submit(spec, gid=gid),
            stopping=lambda: self._stopping,
            deliver_group=self._deliver_group,
        ).restore_all()

    def _live(self, gid: str) -> bool:
        with self._lock:
            return gid in self._tasks

    def shutdown(self, timeout: float = 8.0) -> None:
        """Interrupt every task (kept for resume) and wait for workers up to ``timeout``."""
        # Real time, not the injected clock: shutdown must end even when a test freezes time.
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopping = True
            # Queued tasks never started: their journal rows stay, so they run after the restart.
            pending = set(self._pending)
            self._pending.clear()
            running = [t for t in self._tasks.values() if t not in pending]
        if self._runner.remote:  # they run on workers and outlive this process
            self._runner.shutdown(deadline)
            return
        for task in running:
            task.cancel(SHUTDOWN_REASON)
        self._download_slots.wake()
        self._upload_slots.wake()
        with self._lock:
            while self._running and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.05, deadline - time.monotonic()))
        self._runner.shutdown(deadline)


def refusal_text(refused: Sequence[tuple[str, str]], total: int) -> str:
    """One reply for a list of which some items would be refused: how many, then each reason
    once with the items it applies to ("line 3, line 4 and 96 more")."""
    by_reason: dict[str, list[str]] = {}
    for label, why in refused:
        by_reason.setdefault(why, []).append(label)
    lines = [f"nothing was started: {len(refused)} of the {total} would be refused."]
    for why, labels in by_reason.items():
        shown = ", ".join(labels[:5])
        more = f" and {len(labels) - 5} more" if len(labels) > 5 else ""
        lines.append(f"{shown}{more}: {why}")
    lines.append("Send fewer (-b start:end picks lines), or wait for your tasks to finish.")
    return "\n".join(lines)


def _redact_url(url: str) -> str:
    """Logs keep the host and path, never credentials or query strings (they carry tokens)."""
    return redact_url(url)
