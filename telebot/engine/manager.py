"""TaskManager: queues, the worker pool, cancel, cleanup and the restart journal.

Concurrency limits (docs/ARCHITECTURE.md §4): at most ``QUEUE_ALL`` tasks run at once; inside a
running task
the download stage waits for one of ``QUEUE_DOWNLOAD`` slots and the upload stage for one of
``QUEUE_UPLOAD`` (0 = unlimited). Every queue is FIFO and tells each waiter its place.
Waiting tasks hold no thread: only dispatched tasks occupy a pool worker, so 10,000 queued tasks
cost 10,000 small objects, not 10,000 threads.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from telebot.engine import groups, taskstate
from telebot.engine.limits import Limits
from telebot.engine.pipeline import Delivery, Pipeline, Sink, Source
from telebot.engine.runner import LocalRunner, Runner
from telebot.engine.task import Snapshot, SpecTooNew, State, Task, TaskSpec, new_gid
from telebot.errors import BadInputError, TaskCancelled, TelebotError
from telebot.logs import task_context
from telebot.monitor.counters import COUNTERS
from telebot.namefit import fit_tree
from telebot.redact import redact_url
from telebot.store import GroupRecord, JournalEntry, Store

log = logging.getLogger(__name__)

SHUTDOWN_REASON = "the bot is restarting"
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


class FifoSlots:
    """A counting semaphore that serves waiters strictly in arrival order."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_use = 0
        self._waiting: deque[str] = deque()
        self._holders: set[str] = set()  # keys that hold a slot now
        self._cond = threading.Condition()

    def reserve(self, key: str) -> None:
        """Take a place in line now (at dispatch), before the worker thread gets to acquire()."""
        with self._cond:
            if key not in self._waiting:
                self._waiting.append(key)

    def forget(self, key: str) -> None:
        """Give up a reserved place (the task ended before it acquired)."""
        with self._cond:
            if key in self._waiting:
                self._waiting.remove(key)
                self._cond.notify_all()

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def acquire(self, key: str, cancel: threading.Event, *, first: bool = False) -> None:
        """Block until ``key`` holds a slot; raises TaskCancelled when ``cancel`` is set first.
        ``first``: go to the head of the line (a task that already had its turn)."""
        with self._cond:
            if key in self._waiting:
                pass
            elif first:
                self._waiting.appendleft(key)
            else:
                self._waiting.append(key)
            try:
                while not self._may_enter(key):
                    if cancel.is_set():
                        raise TaskCancelled("cancelled while queued")
                    # The timeout is only a safety net: cancel() and release() notify.
                    self._cond.wait(timeout=1.0)
                if cancel.is_set():
                    raise TaskCancelled("cancelled while queued")
                self._in_use += 1
                self._holders.add(key)
            finally:
                self._waiting.remove(key)
                self._cond.notify_all()

    def _may_enter(self, key: str) -> bool:
        free = self._limit <= 0 or self._in_use < self._limit
        return free and self._waiting[0] == key

    def release(self, key: str) -> None:
        """Give back ``key``'s slot; nothing when it holds none (given back earlier)."""
        with self._cond:
            if key not in self._holders:
                return
            self._holders.discard(key)
            self._in_use -= 1
            self._cond.notify_all()

    def holds(self, key: str) -> bool:
        with self._cond:
            return key in self._holders

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def set_limit(self, limit: int) -> None:
        """A new limit, live (/bsetting): waiters enter at once if it grew; if it shrank, the
        holders keep their slots and no one enters until enough of them are released."""
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def position(self, key: str) -> int | None:
        with self._cond:
            try:
                return self._waiting.index(key) + 1
            except ValueError:
                return None


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
        self._pipeline = pipeline
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
        with task_context(task.gid):
            try:
                state = self._execute(task)
            finally:
                self._download_slots.forget(task.gid)  # if it ended before taking its place
                self.limits.release(task)  # its disk reservation (STORAGE_THRESHOLD)
            if task.refusal is not None:  # a limit stopped it, whatever the source made of that
                task.error, state = task.refusal, State.FAILED
            return state

    def ended(self, task: Task, state: State) -> None:
        """The runner reports that ``task`` ended: finish it, free its place, dispatch more."""
        with task_context(task.gid):
            self._finish(task, state)
        with self._lock:
            self._running -= 1
            self._idle.notify_all()
        self._dispatch()

    def _execute(self, task: Task) -> State:
        try:
            taskstate.create(task.workdir, task.gid, self._folder_mode)
            source = self._pipeline.source_for(task.spec)
            sink = self._pipeline.sink_for(task.spec)
            earlier = taskstate.delivered(task.workdir)
            if earlier is not None:  # the last run finished but died before saying so
                self._download_slots.forget(task.gid)
                task.result = earlier
                return State.DONE
            try:
                self._run_pipeline(task, source, sink)
            except taskstate.TornPayload:
                # A result placed before a reboot did not survive it: fetch again, once.
                log.warning("task %s: a result from before a reboot was torn; fetching again",
                            task.gid)
                self._forget_payload(task)
                self._run_pipeline(task, source, sink)
            return State.DONE
        except TaskCancelled as exc:
            if task.cancel_reason is None:  # cancelled from below, e.g. a source gave up
                task.cancel_reason = str(exc)
            return State.CANCELLED
        except TelebotError as exc:
            task.error = str(exc)
        except OSError as exc:
            task.error = describe_os_error(exc)
        except Exception as exc:  # our bug: keep the bot alive, tell the user, log the trace
            log.exception("task %s crashed", task.gid)
            task.error = f"internal error ({type(exc).__name__}); the log has details"
        return State.FAILED

    def _run_pipeline(self, task: Task, source: Source, sink: Sink) -> None:
        """Fetch (or take what an earlier run fetched), run the stages, deliver."""
        if taskstate.unverified(task.workdir):
            self._check_after_reboot(task, source)
        path = fetched_before(task)
        if path is not None:
            self._download_slots.forget(task.gid)  # no download: give up its place in line
        else:
            task.on_total = self._size_check(source.engine)
            try:
                fetched = self._stage(
                    task,
                    State.DOWNLOADING,
                    self._download_slots,
                    source.engine,
                    lambda: source.fetch(task),
                )
            finally:
                task.on_total = None  # later stages report the same bytes again
            assert isinstance(fetched, Path)
            path = remember_fetched(task, fetched, durable=self.durable_writes)
        path = self._process(task, path)
        self.limits.before_delivery(task, path)
        task.result = self._stage(
            task,
            State.UPLOADING,
            self._upload_slots,
            sink.engine,
            lambda: sink.deliver(task, path),
        )
        remember_delivered(task)
        after = getattr(source, "after_delivery", None)  # optional: torrents seed on (-d)
        if after is not None:
            after(task)

    def _check_after_reboot(self, task: Task, source: Source) -> None:
        """The records name results an earlier boot wrote and never flushed (taskstate's
        docstring): keep what passes :func:`taskstate.intact` (and, for the download, the
        source's own check: same size and validators on the server), drop the rest."""
        workdir = task.workdir
        state = taskstate.load(workdir)
        if state is None:
            return
        steps = [(index, rel) for index, (_name, rel) in enumerate(state.processed)]
        latest = steps[-1][1] if steps else state.fetched
        if latest is not None and state.placing is not None and not (workdir / latest).exists():
            return  # renamed into place before the reboot: the sink finds it and checks it
        if steps:
            index, rel = steps[-1]
            if taskstate.intact(workdir / rel, state.sizes.get(rel)):
                taskstate.verified(workdir, task.gid, keep=index + 1)
                return
        if state.fetched is not None:
            path = workdir / state.fetched
            same = getattr(source, "still_same", None)
            if taskstate.intact(path, state.sizes.get(state.fetched)) and (
                same is None or state.origin is None or same(task, state.origin)
            ):
                taskstate.verified(workdir, task.gid, keep=0)
                return
        log.warning("task %s: its results from before a reboot were torn; fetching again",
                    task.gid)
        self._forget_payload(task)

    def _forget_payload(self, task: Task) -> None:
        """Remove every recorded result of ``task`` and the records (taskstate.forget_payload)."""
        state = taskstate.load(task.workdir)
        if state is not None:
            for rel in (state.fetched, *(rel for _name, rel in state.processed)):
                if rel is not None:
                    _discard(task.workdir / rel, task.workdir)
        taskstate.forget_payload(task.workdir, task.gid)

    def _size_check(self, engine: str) -> Callable[[Task, int], None]:
        """The download stage's :attr:`Task.on_total`: every limit, and the duplicate look-up
        once per name (a torrent link reports its .torrent first, then the torrent)."""
        looked_up: set[str] = set()

        def check(task: Task, total: int) -> None:
            first = task.name not in looked_up
            looked_up.add(task.name)
            self.limits.on_total(task, engine, total, first=first)

        return check

    def _stage(
        self, task: Task, state: State, slots: FifoSlots, engine: str, work: Callable[[], object]
    ) -> object:
        COUNTERS.stage_started(task)  # /metrics: the last stage's bytes, before QUEUED hides them
        task.state = State.QUEUED  # shown as waiting (with its place) until a slot is free
        slots.acquire(task.gid, task.cancel_event)
        try:
            if task.cancel_event.is_set():
                raise TaskCancelled(task.cancel_reason or "cancelled")
            task.begin(state, engine)
            self._journal_state(task)
            return work()
        finally:
            slots.release(task.gid)  # nothing if outside_queue lost it to a cancel

    @contextmanager
    def outside_queue(self, task: Task) -> Iterator[None]:
        """Around a download's wait for its user (the ``-s`` file menu, the /ytdl quality
        menu): its ``QUEUE_DOWNLOAD`` slot goes to the next task meanwhile, and it queues for
        one again afterwards, at the head of the line. Three ignored menus used to stall every
        download. Raises TaskCancelled when cancelled while queueing again. A no-op for a task
        that holds no download slot (none is taken on a remote runner)."""
        slots = self._download_slots
        if not slots.holds(task.gid):
            yield
            return
        slots.release(task.gid)
        yield  # an error in the wait ends the task: it needs no slot again
        state = task.state
        task.state = State.QUEUED  # shown as waiting, with its place, until a slot is free
        slots.acquire(task.gid, task.cancel_event, first=True)
        task.state = state

    def _process(self, task: Task, path: Path) -> Path:
        """Run the spec's stages on ``path``, skipping those an earlier run recorded; returns
        the last result. Each consumed intermediate is removed once the next result is recorded
        (a torrent that seeds keeps its download)."""
        done = taskstate.processed(task.workdir)
        fetched = path
        for index, stage in enumerate(self._pipeline.stages_for(task.spec)):
            if index < len(done) and done[index][0] == stage.name:
                path = done[index][1]
                task.name = path.name
                continue
            done = []  # a later record describes an older result: run the rest again
            if task.cancel_event.is_set():
                raise TaskCancelled(task.cancel_reason or "cancelled")
            out = task.workdir / f".stage-{index}-{stage.name}"
            shutil.rmtree(out, ignore_errors=True)  # what an interrupted run left half-written
            out.mkdir(mode=0o700)
            task.begin(State.PROCESSING, stage.engine)
            self._journal_state(task)
            result = stage.process(task, path, out)
            if out not in (result, *result.parents):
                raise TelebotError(
                    f"internal error: the {stage.name} stage wrote outside its folder"
                )
            # Archive entries (and any stage's names) of 241-255 bytes fit on disk, but not the
            # names the next stage or the sink derives from them: trim before it is recorded.
            result = fit_tree(result)
            taskstate.record_processed(
                task.workdir, task.gid, index, stage.name, result, durable=self.durable_writes
            )
            if not (path == fetched and task.spec.seeding):
                _discard(path, task.workdir)
            path = result
            task.name = path.name
        return path

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
        spec = task.spec
        try:
            if groups.is_delivery(spec):
                self._store.group_remove(groups.group_of(spec))
            elif spec.group is not None:
                record = self._store.group_note(
                    spec.group, task.gid, groups.outcome_of(task, state)
                )
                if record is not None and record.complete:
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
        folder moved aside (:meth:`_set_aside`); a row from a newer telebot is reported and kept
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
        entries = self._store.journal_entries()
        records = {record.group_id: record for record in self._store.groups()}
        restored: list[Task] = []
        for entry in entries:
            if self._live(entry.gid) or self._settled_member(entry, records):
                continue
            try:
                task = self._restore_entry(entry)
            except ShuttingDown:
                return restored
            if task is not None:
                restored.append(task)
        self._restore_groups(records, {entry.gid for entry in entries})
        self._sweep({entry.gid for entry in entries} | set(records))
        return restored

    def _settled_member(self, entry: JournalEntry, records: dict[str, GroupRecord]) -> bool:
        """A group member killed after its outcome was recorded but before its row was removed:
        finish removing it instead of running it again."""
        group = (entry.spec or {}).get("group")
        record = records.get(group) if isinstance(group, str) else None
        if record is None or entry.gid not in record.outcomes:
            return False
        assert self._store is not None
        folder = self.download_dir / entry.gid
        if taskstate.owned(folder):
            shutil.rmtree(folder, ignore_errors=True)
        self._store.journal_remove(entry.gid)
        return True

    def _restore_groups(self, records: dict[str, GroupRecord], journaled: set[str]) -> None:
        """Record members that never got queued as lost; deliver complete groups that have no
        delivery task (killed between the last outcome and its submit)."""
        assert self._store is not None
        for group_id in records:
            record = self._store.group(group_id)  # fresh: restored members may have ended
            if record is None:
                continue
            for gid in record.members:
                if gid not in record.outcomes and gid not in journaled and not self._live(gid):
                    lost = {"name": gid, "state": State.FAILED.value, "reason": groups.LOST}
                    record = self._store.group_note(group_id, gid, lost) or record
            if record.complete and group_id not in journaled:
                self._deliver_group(record)

    def _restore_entry(self, entry: JournalEntry) -> Task | None:
        try:
            if not _SAFE_GID.match(entry.gid):  # it names a folder: never one outside ours
                raise ValueError(f"bad task id {entry.gid[:40]!r}")
            if entry.spec is None:
                raise ValueError(entry.problem or "not valid JSON")
            spec = TaskSpec.from_json(entry.spec)
        except SpecTooNew as exc:
            log.warning("task %s kept for a newer telebot: %s", entry.gid, exc)
            self._report(entry, f"it was {exc}; it stays saved until that version runs")
            return None
        except (TypeError, ValueError) as exc:
            where = self._set_aside(entry.gid)
            kept = f"; its files are kept in {where.name}" if where is not None else ""
            self._report(entry, f"its saved description is unreadable ({exc}){kept}")
            return None
        try:
            task = self.submit(spec, gid=entry.gid)
        except TelebotError:
            if self._stopping:
                raise ShuttingDown from None
            raise
        self._listener.on_resumed(task)
        return task

    def _report(self, entry: JournalEntry, reason: str) -> None:
        try:
            self._listener.on_restore_failed(entry.chat_id, entry.message_id, entry.gid, reason)
        except Exception:
            log.exception("could not report restore problem of task %s", entry.gid)

    def _set_aside(self, gid: str) -> Path | None:
        """Drop an unreadable row but keep its files: ``<gid>`` becomes ``<gid>.unreadable`` (no
        longer a gid name, so no later restore removes it; the operator decides)."""
        assert self._store is not None
        folder = self.download_dir / gid
        target: Path | None = None
        if _SAFE_GID.match(gid) and folder.is_dir() and not folder.is_symlink():
            target = self.download_dir / f"{gid}.unreadable"
            try:
                os.rename(folder, target)
            except OSError as exc:
                log.warning("could not move %s aside (%s); left in place", folder, exc)
                return folder  # keep the row too: its folder must not look like an orphan
        self._store.journal_remove(gid)
        log.warning("task %s: unreadable journal row dropped; files kept in %s", gid, target)
        return target

    def _live(self, gid: str) -> bool:
        with self._lock:
            return gid in self._tasks

    def _sweep(self, known: set[str]) -> None:
        """Remove task folders without a journal row; leave (and log once) everything else."""
        if not self.download_dir.is_dir():
            return
        strangers: list[str] = []
        for entry in sorted(self.download_dir.iterdir()):
            # A live task registers before its folder exists and removes the folder itself.
            if entry.name in known or self._live(entry.name):
                continue
            if taskstate.owned(entry):
                shutil.rmtree(entry, ignore_errors=True)
            elif not _remove_empty_gid_folder(entry):
                strangers.append(entry.name)
        if strangers:
            shown = ", ".join(strangers[:10]) + (" ..." if len(strangers) > 10 else "")
            log.info(
                "restore: left %d item(s) in %s that are not telebot task folders: %s",
                len(strangers),
                self.download_dir,
                shown,
            )

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


# Journal gids this manager will turn into a folder name: new_gid() makes 10 hex digits; older
# or hand-made rows may differ, but never with a separator or dots that could leave the folder.
_SAFE_GID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class ShuttingDown(Exception):
    """Internal: restore() met a shutdown."""


def _remove_empty_gid_folder(folder: Path) -> bool:
    """A gid-named folder killed between mkdir and its state file is empty: rmdir only ever
    removes an empty folder, so this deletes nothing."""
    if not taskstate.GID_RE.match(folder.name) or folder.is_symlink() or not folder.is_dir():
        return False
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def _discard(path: Path, workdir: Path) -> None:
    """Remove a consumed intermediate result, but only one inside the task's own folder."""
    if workdir not in path.parents or path.is_symlink():
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fetched_before(task: Task) -> Path | None:
    """The finished download of an earlier run of this task (it was interrupted later, e.g.
    during the upload), so a resumed task does not fetch it again."""
    path = taskstate.fetched_path(task.workdir)
    if path is not None:
        task.name = path.name
    return path


def remember_fetched(task: Task, path: Path, *, durable: bool = False) -> Path:
    """Record which file the fetch produced (written after the source renamed it into place),
    with what the source said about it (:attr:`Task.origin`)."""
    taskstate.record_fetched(task.workdir, task.gid, path, durable=durable, origin=task.origin)
    return path


def remember_delivered(task: Task) -> None:
    """Written right after the sink returns: a restart then reports the result, not redoes it."""
    if isinstance(task.result, Delivery):
        taskstate.record_delivered(task.workdir, task.gid, task.result)


def describe_os_error(exc: OSError) -> str:
    """One line for the chat, with no absolute paths of the host beyond the file's name."""
    if exc.errno == errno.ENOSPC:
        return "disk full: not enough free space to finish"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied while writing the result"
    name = Path(exc.filename).name if isinstance(exc.filename, str) else ""
    return f"file error: {exc.strerror or exc}" + (f" ({name})" if name else "")


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
