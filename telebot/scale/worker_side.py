"""A worker's half: run a Celery task body through this process's own :class:`TaskManager`.

The Celery task (threads pool) only hands the task to the local manager and waits for its end,
so the pipeline code runs exactly as in one process (``LocalRunner`` threads, the download and
upload slots), knowing nothing of Celery. Around it:

* every message is opened and checked whole first (:func:`protocol.open_task`): a forged,
  damaged, expired or replayed one is refused and logged before any key or path is built
  from it, and the worker serves on;
* a lease per running task: the gid's lock (``SET NX`` with a TTL, renewed while the task
  runs), taken in one script with the check that the message is the task's current attempt
  and that the task has not ended. A copy the broker redelivers while the first still runs
  (celery/celery#5935) is dropped; when a worker dies, its lease expires, the front sends
  the task again as a new attempt, and the old message, redelivered later, is stale. A run
  that finds its lease taken from it (its renewals stopped for a whole TTL) stops and never
  reports;
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery.exceptions import Reject

from telebot.config import Config
from telebot.engine import taskstate
from telebot.engine.manager import SHUTDOWN_REASON, TaskManager
from telebot.engine.task import State, Task, TaskSpec
from telebot.scale import protocol as p
from telebot.secretbox import SecretBox, Unsealable

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.5  # between attempts to publish a finish report while Redis is unreachable

# Release the lock only if it is still ours (it may have expired and been taken meanwhile).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

# Take the lease: one script, so the front's re-publish (which needs the lock free) and this
# (which needs the attempt current) can never both succeed. KEYS: done, attempt, lock, taken;
# ARGV: attempt, token, lock TTL (ms), marker TTL (s).
_START = """
if redis.call('exists', KEYS[1]) == 1 then return 'done' end
local current = redis.call('get', KEYS[2])
if not current then return 'unknown' end
if current ~= ARGV[1] then return 'stale' end
if not redis.call('set', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return 'busy' end
redis.call('set', KEYS[4], ARGV[1], 'EX', ARGV[4])
return 'ok'
"""

# Whether this run still holds its lease, taking back a lock that merely expired (this
# heartbeat was starved, or Redis restarted empty) as long as the front has not sent a new
# attempt meanwhile. KEYS: lock, attempt, taken; ARGV: token, lock TTL (ms), attempt, marker
# TTL (s). Shared by the renewal and the report, so a report is never lost to a late renewal.
_HOLDS = """
local function holds()
  local holder = redis.call('get', KEYS[1])
  if holder then
    if holder ~= ARGV[1] then return false end
  else
    local a, t = redis.call('get', KEYS[2]), redis.call('get', KEYS[3])
    if not ((a == ARGV[3] and t == ARGV[3]) or (not a and not t)) then return false end
    redis.call('set', KEYS[2], ARGV[3], 'EX', ARGV[4])
    redis.call('set', KEYS[3], ARGV[3], 'EX', ARGV[4])
  end
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return true
end
"""

# Renew the lease; 0 when it is lost. KEYS and ARGV: as _HOLDS.
_RENEW = _HOLDS + "if holds() then return 1 end return 0"

# The finish report and the done marker, only while the lease is this run's: a run that lost
# it never reports beside the attempt that replaced it. KEYS: as _HOLDS, then events, done;
# ARGV: as _HOLDS, then gid, sealed report.
_PUBLISH = _HOLDS + """
if not holds() then return 0 end
redis.call('xadd', KEYS[4], '*', 'gid', ARGV[5], 'body', ARGV[6])
redis.call('set', KEYS[5], ARGV[1], 'EX', ARGV[4])
return 1
"""

# Give the task back on a warm shutdown: the lease is released and "taken" cleared, so the
# front does not send a new attempt while the requeued message waits for another worker.
# KEYS: lock, taken; ARGV: token, attempt.
_YIELD = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  if redis.call('get', KEYS[2]) == ARGV[2] then redis.call('del', KEYS[2]) end
end
return 1
"""
LEASE_LOST = "its worker lost the task's lease (another worker runs it now)"


@dataclass
class Run:
    """One task this worker is running."""

    gid: str
    token: str  # the lock's value: this run, on this worker
    attempt: int  # the front's attempt number this run serves
    started: float = field(default_factory=time.monotonic)
    ended: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False
    cancelled: bool = False
    lost: bool = False  # its lease was taken over: it stops and never reports


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
        # The front's word on each user it sent a task for: exempt from the per-kind limits.
        self._exempt: dict[int, bool] = {}
        self._apply_settings: Callable[[dict[str, str]], None] | None = None
        self._settings_seen: str | None = None  # the sealed overrides last applied
        self._heartbeat = threading.Thread(target=self._beat, name="scale-heartbeat", daemon=True)

    def attach(
        self,
        manager: TaskManager,
        apply_settings: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        """Start serving ``manager``; ``apply_settings`` takes the front's /bsetting overrides
        (name -> text), read from Redis as each task starts."""
        self._manager = manager
        self._apply_settings = apply_settings
        self._heartbeat.start()

    def is_exempt(self, user_id: int) -> bool:
        """What the front said of ``user_id`` in its latest task message (sudo and owner are
        exempt from the per-kind size limits); the limits' ``exempt``."""
        with self._guard:
            return self._exempt.get(user_id, False)

    def refresh_settings(self) -> None:
        """Apply the front's /bsetting overrides if they changed since the last task. Ones
        that do not open (not sealed by this bot's front) are logged and ignored."""
        if self._apply_settings is None:
            return
        sealed = self._redis.get(p.SETTINGS)
        if sealed is None or sealed == self._settings_seen:
            return
        try:
            stored = p.open_settings(self._box, str(sealed))
        except (Unsealable, ValueError) as exc:
            log.warning("ignored the bot settings in Redis: %s", exc)
            return
        self._settings_seen = str(sealed)
        self._apply_settings(stored)
        log.info("bot settings from the front: %s", stored or "none (config.env)")

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

    def run(self, *args: Any, **kwargs: Any) -> str:
        """Run one task message to its end. The message is one sealed envelope
        (:func:`protocol.seal_task`); anything else, or an envelope that does not open, is
        refused and logged, and the message is acknowledged: the worker serves on."""
        try:
            if kwargs or len(args) != 1:
                raise p.BadMessage("not a telebot task message (unexpected arguments)")
            message = p.open_task(self._box, args[0], now=time.time())
        except p.BadMessage as exc:
            log.warning("refused a task message: %s", exc)
            return "refused"
        gid = message.gid
        run = Run(gid, f"{self._name}:{uuid.uuid4().hex}", message.attempt)
        verdict = self._redis.eval(
            _START, 4, p.key("done", gid), p.key("attempt", gid), p.key("lock", gid),
            p.key("taken", gid), str(run.attempt), run.token, self._lock_ttl_ms, p.MARKER_TTL,
        )
        if verdict == "done":
            log.info("task %s already ended; dropping the redelivered copy", gid)
            return "duplicate"
        if verdict == "busy":
            # Its holder reports, or its lease expires and the front sends a new attempt.
            log.info("task %s runs elsewhere; dropping this copy", gid)
            return "duplicate"
        if verdict != "ok":  # unknown: no front sent it (or long ago); stale: superseded
            log.warning("refused task %s attempt %d: %s", gid, run.attempt,
                        "superseded by a later attempt" if verdict == "stale"
                        else "no front is waiting for it (a replay, or its markers expired)")
            return "refused"
        with self._guard:  # the front's latest word on this user, from the current attempt
            self._exempt[message.spec.user_id] = message.exempt
        try:
            return self._run_locked(run, message.spec)
        finally:
            with self._guard:
                self._runs.pop(gid, None)
            self._redis.eval(_RELEASE, 1, p.key("lock", gid), run.token)

    def _run_locked(self, run: Run, spec: TaskSpec) -> str:
        assert self._manager is not None
        gid = run.gid  # checked by open_task: ten hex digits, never a path
        reason = self._redis.get(p.key("cancel", gid))
        if reason is not None:  # cancelled while it waited in the broker
            shutil.rmtree(self._manager.download_dir / gid, ignore_errors=True)
            report = _ended_report(State.CANCELLED, cancel_reason=str(reason))
            self._publish(gid, report, run)
            return State.CANCELLED.value
        self.refresh_settings()  # /bsetting changes made since the last task apply to this one
        with self._guard:
            self._runs[gid] = run
        try:
            self._manager.submit(spec, gid=gid)
        except Exception as exc:  # shutting down: back to the queue for another worker
            self._give_back(run)
            raise Reject(str(exc), requeue=True) from exc
        run.ended.wait()
        if run.interrupted:
            self._give_back(run)
            raise Reject(SHUTDOWN_REASON, requeue=True)
        return "lease lost" if run.lost else "ended"

    def _give_back(self, run: Run) -> None:
        self._redis.eval(
            _YIELD, 2, p.key("lock", run.gid), p.key("taken", run.gid), run.token,
            str(run.attempt),
        )

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
        if run.lost:
            log.warning("task %s stopped here: %s", task.gid, LEASE_LOST)
        elif task.state is State.CANCELLED and task.cancel_reason == SHUTDOWN_REASON:
            run.interrupted = True  # the folder stays; the message goes back to the queue
        else:
            elapsed = time.monotonic() - run.started
            self._publish(task.gid, p.finish_report(task, self._name, elapsed), run)
        run.ended.set()

    def _publish(self, gid: str, report: dict[str, Any], run: Run) -> None:
        """Put the finish report in the stream, retrying while Redis is away (the message
        stays unacknowledged meanwhile, so nothing is lost if this worker dies). Only while
        the lease is this run's: one that lost it says so in the log and reports nothing."""
        fields = p.seal_report(self._box, gid, report)
        while True:
            try:
                published = self._redis.eval(
                    _PUBLISH, 5, *self._lease_keys(gid), p.EVENTS, p.key("done", gid),
                    *self._lease_args(run), fields["gid"], fields["body"],
                )
                if not published:
                    log.warning("task %s: no report from this run: %s", gid, LEASE_LOST)
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

    @staticmethod
    def _lease_keys(gid: str) -> tuple[str, str, str]:
        return p.key("lock", gid), p.key("attempt", gid), p.key("taken", gid)

    def _lease_args(self, run: Run) -> tuple[str, int, str, int]:
        return run.token, self._lock_ttl_ms, str(run.attempt), p.MARKER_TTL

    def _renew(self, runs: list[Run]) -> None:
        assert self._manager is not None
        for run in runs:
            kept = self._redis.eval(
                _RENEW, 3, *self._lease_keys(run.gid), *self._lease_args(run)
            )
            if not kept and not run.lost:
                # The front gave the task to another worker: stop, so it never runs twice.
                run.lost = True
                self._manager.cancel(run.gid, LEASE_LOST)


def _ended_report(
    state: State, *, error: str | None = None, cancel_reason: str | None = None
) -> dict[str, Any]:
    """A finish report for a task that never started on this worker."""
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
