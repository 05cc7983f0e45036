"""A worker's half: run a Celery task body through this process's own :class:`TaskManager`.

The Celery task (threads pool) only hands the task to the local manager and waits for its end,
so the pipeline code runs exactly as in one process (``LocalRunner`` threads, the download and
upload slots), knowing nothing of Celery. Around it:

* a lock per gid (``SET NX`` with a TTL, renewed while the task runs): a copy the broker
  redelivers while the first still runs (celery/celery#5935) waits and retries instead of
  running beside it; a dead worker's lock expires, so its redelivered task runs elsewhere;
* one heartbeat thread: every quarter second it looks for cancel flags (a /cancel reaches the
  task's ``cancel_event`` well within 2 s), every half second it writes progress hashes, and
  every third of the lock TTL it renews the locks;
* the finish report goes into the ``events`` stream before the message is acknowledged (the
  task body returns): if the worker dies between the two, the redelivered copy finds the
  ``done`` marker and ends at once.

When the worker itself stops (warm shutdown), running tasks are interrupted with the engine's
shutdown reason, keep their folders, and their messages go back to the queue at once.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery.exceptions import Reject

from telebot.config import Config
from telebot.engine import taskstate
from telebot.engine.manager import SHUTDOWN_REASON, TaskManager
from telebot.engine.task import State, Task
from telebot.scale import protocol as p
from telebot.secretbox import SecretBox, Unsealable

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.5  # between attempts to publish a finish report while Redis is unreachable

# Release the lock only if it is still ours (it may have expired and been taken meanwhile).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end"
)


@dataclass
class Run:
    """One task this worker is running."""

    gid: str
    token: str  # the lock's value: this run, on this worker
    started: float = field(default_factory=time.monotonic)
    ended: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False
    cancelled: bool = False


class WorkerSide:
    """Per worker process: the local manager, the Redis client and the heartbeat thread.
    Implements the engine's ``TaskListener``."""

    def __init__(self, config: Config, client: redis.Redis, name: str) -> None:
        self._config = config
        self._redis = client
        self._name = name
        self._box = SecretBox.from_token(config.bot_token)
        self._lock_ttl_ms = int(config.worker_lock_ttl * 1000)
        self._runs: dict[str, Run] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._manager: TaskManager | None = None
        self._heartbeat = threading.Thread(target=self._beat, name="scale-heartbeat", daemon=True)

    def attach(self, manager: TaskManager) -> None:
        self._manager = manager
        self._heartbeat.start()

    def sweep(self, download_dir: Path) -> list[str]:
        """Remove task folders a killed run of this worker left behind, once no run can want
        them: the task ended (elsewhere) or the front no longer has it, and no worker holds
        it. Only folders :func:`taskstate.owned` proves are telebot's; returns their gids."""
        removed: list[str] = []
        if not download_dir.is_dir():
            return removed
        for folder in sorted(download_dir.iterdir()):
            if not taskstate.owned(folder):
                continue
            gid = folder.name
            held = self._redis.exists(p.key("lock", gid))
            wanted = self._redis.exists(p.key("sent", gid)) and not self._redis.exists(
                p.key("done", gid)
            )
            if not held and not wanted:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(gid)
        if removed:
            log.info("removed %d task folder(s) of ended tasks: %s", len(removed), removed)
        return removed

    def stop(self) -> None:
        """Interrupt running tasks (their messages are requeued) and stop the heartbeat."""
        if self._manager is not None:
            self._manager.shutdown()
        self._stop.set()

    # -- the Celery task body -------------------------------------------------------------

    def run(self, retry: Any, gid: str, sealed: dict[str, Any]) -> str:
        """Run one task to its end; ``retry`` is the bound Celery task's ``retry``."""
        if self._redis.exists(p.key("done", gid)):
            log.info("task %s already ended; dropping the redelivered copy", gid)
            return "duplicate"
        run = Run(gid, f"{self._name}:{uuid.uuid4().hex}")
        if not self._redis.set(p.key("lock", gid), run.token, nx=True, px=self._lock_ttl_ms):
            log.info("task %s runs elsewhere; retrying this copy later", gid)
            raise retry(countdown=self._config.worker_lock_ttl, max_retries=None)
        try:
            return self._run_locked(run, sealed)
        finally:
            with self._guard:
                self._runs.pop(gid, None)
            self._redis.eval(_RELEASE, 1, p.key("lock", gid), run.token)

    def _run_locked(self, run: Run, sealed: dict[str, Any]) -> str:
        assert self._manager is not None
        gid = run.gid
        reason = self._redis.get(p.key("cancel", gid))
        if reason is not None:  # cancelled while it waited in the broker
            shutil.rmtree(self._manager.download_dir / gid, ignore_errors=True)
            report = _ended_report(gid, State.CANCELLED, cancel_reason=str(reason))
            self._publish(gid, report, run)
            return State.CANCELLED.value
        try:
            spec = p.open_spec(self._box, gid, sealed)
        except (Unsealable, ValueError) as exc:
            error = f"this worker cannot read the task ({exc}); is its BOT_TOKEN the front's?"
            self._publish(gid, _ended_report(gid, State.FAILED, error=error), run)
            return State.FAILED.value
        with self._guard:
            self._runs[gid] = run
        try:
            self._manager.submit(spec, gid=gid)
        except Exception as exc:  # shutting down: back to the queue for another worker
            raise Reject(str(exc), requeue=True) from exc
        run.ended.wait()
        if run.interrupted:
            raise Reject(SHUTDOWN_REASON, requeue=True)
        return "ended"

    # -- TaskListener ---------------------------------------------------------------------

    def on_submitted(self, task: Task) -> None:
        pass

    def on_resumed(self, task: Task) -> None:
        pass

    def on_restore_failed(
        self, chat_id: int, message_id: int | None, gid: str, reason: str
    ) -> None:
        pass

    def on_finished(self, task: Task) -> None:
        with self._guard:
            run = self._runs.get(task.gid)
        if run is None:
            return
        if task.state is State.CANCELLED and task.cancel_reason == SHUTDOWN_REASON:
            run.interrupted = True  # the folder stays; the message goes back to the queue
        else:
            elapsed = time.monotonic() - run.started
            self._publish(task.gid, p.finish_report(task, self._name, elapsed), run)
        run.ended.set()

    def _publish(self, gid: str, report: dict[str, Any], run: Run) -> None:
        """Put the finish report in the stream, retrying while Redis is away (the message
        stays unacknowledged meanwhile, so nothing is lost if this worker dies)."""
        fields = p.seal_report(self._box, gid, report)
        while True:
            try:
                pipe = self._redis.pipeline(transaction=True)
                pipe.xadd(p.EVENTS, fields)  # type: ignore[arg-type]
                pipe.set(p.key("done", gid), run.token, ex=p.MARKER_TTL)
                pipe.execute()
                return
            except redis.RedisError as exc:
                log.warning("cannot report task %s yet (%s); retrying", gid, exc)
                if self._stop.wait(RETRY_PAUSE):
                    return

    # -- heartbeat ------------------------------------------------------------------------

    def _beat(self) -> None:
        ticks = 0
        renew_every = max(1, int(self._lock_ttl_ms / 3000 / p.CANCEL_POLL))
        progress_every = max(1, round(p.PROGRESS_EVERY / p.CANCEL_POLL))
        while not self._stop.wait(p.CANCEL_POLL):
            ticks += 1
            with self._guard:
                runs = [r for r in self._runs.values() if not r.ended.is_set()]
            if not runs:
                continue
            try:
                self._watch_cancels(runs)
                if ticks % progress_every == 0:
                    self._write_progress(runs)
                if ticks % renew_every == 0:
                    self._renew(runs)
            except redis.RedisError as exc:
                log.debug("heartbeat: Redis unreachable (%s)", exc)

    def _watch_cancels(self, runs: list[Run]) -> None:
        assert self._manager is not None
        reasons = self._redis.mget([p.key("cancel", r.gid) for r in runs])
        for run, reason in zip(runs, reasons, strict=True):
            if reason is not None and not run.cancelled:
                run.cancelled = True
                log.info("task %s: cancel flag seen", run.gid)
                self._manager.cancel(run.gid, str(reason))

    def _write_progress(self, runs: list[Run]) -> None:
        assert self._manager is not None
        pipe = self._redis.pipeline(transaction=False)
        for run in runs:
            task = self._manager.get(run.gid)
            if task is None:
                continue
            name = p.key("progress", run.gid)
            fields: dict[Any, Any] = p.progress_fields(task.snapshot(), self._name)
            pipe.hset(name, mapping=fields)
            pipe.expire(name, p.PROGRESS_TTL)
        pipe.execute()

    def _renew(self, runs: list[Run]) -> None:
        for run in runs:
            self._redis.eval(_RENEW, 1, p.key("lock", run.gid), run.token, self._lock_ttl_ms)


def _ended_report(
    gid: str, state: State, *, error: str | None = None, cancel_reason: str | None = None
) -> dict[str, Any]:
    """A finish report for a task that never started on this worker."""
    del gid  # the report travels with its gid beside it
    return {
        "state": state.value,
        "name": "",
        "error": error,
        "cancel_reason": cancel_reason,
        "warnings": [],
        "result": None,
        "elapsed": 0.0,
        "worker": "",
    }
