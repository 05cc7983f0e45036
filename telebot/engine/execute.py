"""Running one task: source → stages → sink, in the calling thread, resuming from the task's
state file (engine/taskstate.py) and taking its place in the download and upload lines
(engine/slots.py). :class:`~telebot.engine.manager.TaskManager` owns the queue and the journal;
this runs what it dispatched and says how it ended.
"""

from __future__ import annotations

import errno
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from telebot.engine import taskstate
from telebot.engine.limits import Limits
from telebot.engine.pipeline import Delivery, Pipeline, Sink, Source
from telebot.engine.slots import FifoSlots
from telebot.engine.task import State, Task
from telebot.errors import TaskCancelled, TelebotError
from telebot.fileio.durable import intact
from telebot.logs import task_context
from telebot.monitor.counters import COUNTERS
from telebot.namefit import fit_tree

log = logging.getLogger(__name__)


class TaskExecutor:
    """Runs a dispatched task through its pipeline under the download and upload slots.

    ``journal_state`` is called whenever the task enters a stage (so a restart shows where it
    was); ``durable_writes`` is DURABLE_WRITES (taskstate's module docstring)."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        limits: Limits,
        download_slots: FifoSlots,
        upload_slots: FifoSlots,
        journal_state: Callable[[Task], None],
        folder_mode: int = taskstate.PRIVATE_MODE,
        durable_writes: bool = False,
    ) -> None:
        self._pipeline = pipeline
        self._limits = limits
        self._download_slots = download_slots
        self._upload_slots = upload_slots
        self._journal_state = journal_state
        self._folder_mode = folder_mode
        self.durable_writes = durable_writes

    def run(self, task: Task) -> State:
        """Run ``task`` to its end; its final state (the task's ``error``/``cancel_reason`` say
        why). Frees its place in the download line and its disk reservation, however it ends."""
        with task_context(task.gid):
            try:
                state = self._execute(task)
            finally:
                self._download_slots.forget(task.gid)  # if it ended before taking its place
                self._limits.release(task)  # its disk reservation (STORAGE_THRESHOLD)
            if task.refusal is not None:  # a limit stopped it, whatever the source made of that
                task.error, state = task.refusal, State.FAILED
            return state

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
        self._limits.before_delivery(task, path)
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
        docstring): keep what passes :func:`intact` (and, for the download, the
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
            if intact(workdir / rel, state.sizes.get(rel)):
                taskstate.verified(workdir, task.gid, keep=index + 1)
                return
        if state.fetched is not None:
            path = workdir / state.fetched
            same = getattr(source, "still_same", None)
            if intact(path, state.sizes.get(state.fetched)) and (
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
            self._limits.on_total(task, engine, total, first=first)

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
