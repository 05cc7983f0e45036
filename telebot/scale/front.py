"""The front's runner: tasks run on Celery workers; this process keeps the journal and the chat.

Three threads, none of them on the event loop:

* ``scale-outbox`` performs every Redis write of the front (send a task, cancel one) in order,
  retrying while Redis is unreachable, so neither a handler nor the engine lock waits on it and
  an outage loses nothing: what is not sent yet is still in the journal on a restart;
* ``scale-progress`` reads each remote task's progress hash every half second into the front's
  copy of the task, which the status board reads as it reads a local task, and checks each
  task's lease: a task a worker took whose lock expired without a finish report (its worker
  died) is sent again as the next attempt, so it runs elsewhere within about
  ``WORKER_LOCK_TTL`` whatever ``CELERY_VISIBILITY_TIMEOUT`` is, and the old message, should
  Redis redeliver it, is stale (protocol.py, ``attempt:``);
* ``scale-events`` consumes finish reports (a Redis stream with a consumer group, so a report
  written while no front ran is read by the next one) and finishes the task: journal, chat.
  It starts once the journal has been read back (:meth:`restored`), so every report finds its
  task.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from kombu.exceptions import OperationalError

from telebot.config import Config
from telebot.engine.runner import RunnerHost
from telebot.engine.task import State, Task
from telebot.scale import protocol as p
from telebot.scale.celery_app import make_app
from telebot.secretbox import SecretBox, Unsealable
from telebot.settings import overrides

log = logging.getLogger(__name__)

#: A /bsetting applier (bot/menus/bsettings.py ``Applier``): takes the value, True when fully
#: applied.
Applier = Callable[[Any], bool]

# How long the front waits between attempts while Redis is unreachable.
RETRY_PAUSE = 1.0
# XREADGROUP block time: also how soon the events thread notices a shutdown.
EVENTS_BLOCK_MS = 1000
CONSUMER = "front"  # one front per bot: its pending reports survive its restart by name
# Marker values: "pending" is written before the broker has the message, "queued" after, so a
# front that died in between sends it again on its restart (the lock stops a double run).
PENDING, QUEUED = "pending", "queued"
WAITING_NOTE = "waiting for a worker"
# Threads that finish remote tasks (journal, announcement) side by side: like the task threads
# of one process, each waits its turn in the chat's rate limit.
FINISHERS = 8


# The attempt to send: the current one when a send was interrupted (``sent`` pending: a front
# that died mid-send, or a re-publish), else the first. KEYS: sent, attempt; ARGV: pending, TTL.
_ATTEMPT = """
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
local current = redis.call('get', KEYS[2])
if current then return tonumber(current) end
redis.call('set', KEYS[2], '1', 'EX', ARGV[2])
return 1
"""

# A lease check: a task a worker took ("taken"), whose lock is gone, with no done marker, lost
# its worker. Then "taken" is cleared and, unless it was cancelled, the attempt is advanced and
# the send marked pending, in one script: a worker can take the old attempt no more (its start
# script needs the attempt current) and the front, even restarted, sends the new one.
# KEYS: attempt, taken, lock, done, cancel, sent; ARGV: marker TTL, pending.
_LEASE = """
if redis.call('exists', KEYS[2]) == 0 or redis.call('exists', KEYS[3]) == 1
    or redis.call('exists', KEYS[4]) == 1 then return 'ok' end
redis.call('del', KEYS[2])
if redis.call('exists', KEYS[5]) == 1 then return 'cancelled' end
redis.call('incr', KEYS[1])
redis.call('expire', KEYS[1], ARGV[1])
redis.call('set', KEYS[6], ARGV[2], 'EX', ARGV[1])
return 'expired'
"""


def connect(config: Config) -> redis.Redis:
    # A socket timeout, so a stopped Redis makes calls fail and retry instead of hang forever.
    return redis.Redis.from_url(
        config.celery_broker_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
    )


class CeleryRunner:
    """:class:`~telebot.engine.runner.Runner` that sends each task to Celery workers."""

    remote = True
    capacity: int | None = None

    def __init__(
        self,
        config: Config,
        client: redis.Redis | None = None,
        *,
        exempt: Callable[[int], bool] = lambda user_id: False,
    ) -> None:
        self._config = config
        self._exempt = exempt  # the bot's auth: who is exempt from the size limits
        self._app = make_app(config)
        self._redis = client or connect(config)
        self._box = SecretBox.from_token(config.bot_token)
        # Run by hash (EVALSHA): it is checked for every task twice a second.
        self._lease = self._redis.register_script(_LEASE)
        self._host: RunnerHost | None = None
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._stop = threading.Event()
        self._outbox: queue.Queue[Callable[[], None]] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._send_loop, name="scale-outbox", daemon=True),
            threading.Thread(target=self._progress_loop, name="scale-progress", daemon=True),
        ]
        self._events = threading.Thread(target=self._events_loop, name="scale-events", daemon=True)
        self._finishers = ThreadPoolExecutor(FINISHERS, thread_name_prefix="scale-finish")

    def attach(self, host: RunnerHost) -> None:
        self._host = host
        for thread in self._threads:
            thread.start()

    # -- Runner ---------------------------------------------------------------------------

    def start(self, task: Task) -> None:
        with self._lock:
            self._tasks[task.gid] = task
        self._outbox.put(lambda: self._send(task))

    def cancel(self, task: Task) -> None:
        self._outbox.put(lambda: self._cancel(task))

    def publish_settings(self, stored: Mapping[str, str]) -> None:
        """Hand the /bsetting overrides to the workers (sealed, :data:`protocol.SETTINGS`);
        through the outbox, so a task sent after a change is read after it."""
        sealed = p.seal_settings(self._box, dict(stored))

        def publish() -> None:
            self._redis.set(p.SETTINGS, sealed)

        self._outbox.put(publish)

    def sharing(
        self, live: Mapping[str, Applier], stored: Callable[[], Mapping[str, str]]
    ) -> dict[str, Applier]:
        """``live`` (the /bsetting appliers, bot/menus/bsettings.py) with each change also published
        to the workers: ``stored`` reads the overrides after the change was saved."""

        def shared(apply: Applier | None) -> Applier:
            def apply_and_publish(value: Any) -> bool:
                now = apply(value) if apply is not None else False
                self.publish_settings(stored())
                return now

            return apply_and_publish

        return {name: shared(live.get(name)) for name in {*live, *overrides.SETTINGS}}

    def flush(self, timeout: float) -> bool:
        """Wait until every broker operation queued before this call has run (or been given
        up); False after ``timeout`` seconds. The outbox runs them in order."""
        done = threading.Event()
        self._outbox.put(done.set)
        return done.wait(timeout)

    def restored(self) -> None:
        if not self._events.is_alive() and not self._stop.is_set():
            self._events.start()

    def shutdown(self, deadline: float) -> None:
        """Leave the tasks to their workers; a new front adopts them from the journal."""
        self._stop.set()
        for thread in (*self._threads, self._events):
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._finishers.shutdown(wait=False, cancel_futures=True)
        self._redis.close()

    # -- outbox: sending and cancelling ---------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._outbox.get(timeout=0.5)
            except queue.Empty:
                continue
            while not self._stop.is_set():
                try:
                    job()
                    break
                except (redis.RedisError, OperationalError) as exc:
                    log.warning("Redis unreachable (%s); retrying in %.0f s", exc, RETRY_PAUSE)
                    self._stop.wait(RETRY_PAUSE)
                except Exception:
                    log.exception("scale-out: a broker operation failed")
                    break

    def _send(self, task: Task) -> None:
        """Hand ``task`` to Celery once: a task already sent (a restarted front restoring its
        journal) is followed, not sent again."""
        gid, sent = task.gid, p.key("sent", task.gid)
        if self._redis.get(sent) == QUEUED:
            log.info("task %s is already with the workers; following it", gid)
            return
        attempt = int(
            self._redis.eval(_ATTEMPT, 2, sent, p.key("attempt", gid), PENDING, p.MARKER_TTL)
        )
        queue_name = p.queue_for(task.spec, bot_api_local=self._config.bot_api_local)
        message = p.seal_task(
            self._box, gid, attempt, task.spec, now=time.time(),
            exempt=self._exempt(task.spec.user_id),
        )
        self._app.send_task(p.TASK_NAME, args=[message], task_id=gid, queue=queue_name)
        self._redis.set(sent, QUEUED, ex=p.MARKER_TTL)
        log.info("task %s sent to queue %s (attempt %d)", gid, queue_name, attempt)

    def _cancel(self, task: Task) -> None:
        """Raise the flag the worker watches; a task no worker holds and no worker finished is
        revoked and ends here. (The worker sets its lock before it reads the flag, and this sets
        the flag before it reads the lock, so one of the two always sees the other; and a
        worker sets ``done`` before it releases its lock, so a finish report already written
        is seen here and decides: the user gets its links, not "cancelled".)"""
        gid = task.gid
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(p.key("cancel", gid), task.cancel_reason or "cancelled", ex=p.MARKER_TTL)
        pipe.exists(p.key("lock", gid))
        pipe.exists(p.key("done", gid))
        _, running, finished = pipe.execute()
        if running:
            return  # its worker stops it and reports
        if finished:
            log.info("task %s: cancelled after its finish report was written; the report "
                     "decides", gid)
            return
        self._app.control.revoke(gid)
        self._end_here(task, State.CANCELLED)

    def _end_here(self, task: Task, state: State) -> None:
        """End a task no worker will report on (unless it was read meanwhile)."""
        if self._forget(task.gid) is not None:
            self._redis.delete(p.key("sent", task.gid))
            assert self._host is not None
            self._host.ended(task, state)

    def _forget(self, gid: str) -> Task | None:
        with self._lock:
            return self._tasks.pop(gid, None)

    # -- progress -------------------------------------------------------------------------

    def _progress_loop(self) -> None:
        while not self._stop.wait(p.PROGRESS_EVERY):
            with self._lock:
                tasks = list(self._tasks.values())
            if not tasks:
                continue
            try:
                pipe = self._redis.pipeline(transaction=False)
                for task in tasks:
                    pipe.hgetall(p.key("progress", task.gid))
                hashes = pipe.execute()
                leases = self._check_leases(tasks)
            except redis.RedisError as exc:
                log.debug("progress read failed: %s", exc)
                continue
            with self._lock:  # a task whose report was read meanwhile is no longer touched
                for task, fields in zip(tasks, hashes, strict=True):
                    if self._tasks.get(task.gid) is task:
                        _show(task, fields)
            for task, lease in zip(tasks, leases, strict=True):
                self._on_lease(task, str(lease))

    def _check_leases(self, tasks: list[Task]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for task in tasks:
            gid = task.gid
            self._lease(
                keys=[p.key("attempt", gid), p.key("taken", gid), p.key("lock", gid),
                      p.key("done", gid), p.key("cancel", gid), p.key("sent", gid)],
                args=[p.MARKER_TTL, PENDING],
                client=pipe,
            )
        return list(pipe.execute())

    def _on_lease(self, task: Task, lease: str) -> None:
        if lease == "expired":
            log.warning("task %s: its worker stopped renewing its lease (it died?); sending "
                        "the task again", task.gid)
            self._outbox.put(lambda: self._send_again(task))
        elif lease == "cancelled":  # cancelled, then its worker died before it could report
            log.info("task %s: its worker is gone and it was cancelled; it ends here", task.gid)
            # On the finishers: announcing waits for the chat's rate limit, progress must not.
            self._finishers.submit(self._end_here, task, State.CANCELLED)

    def _send_again(self, task: Task) -> None:
        with self._lock:
            current = self._tasks.get(task.gid) is task
        if current:  # not ended meanwhile (a /cancel that found no lease)
            self._send(task)

    # -- finish reports -------------------------------------------------------------------

    def _events_loop(self) -> None:
        cursor = "0"  # first the reports this consumer read but never acknowledged
        while not self._stop.is_set():
            try:
                self._ensure_group()
                cursor = self._read_events(cursor)
            except (redis.RedisError, OperationalError) as exc:
                log.warning("reading finish reports failed (%s); retrying", exc)
                self._stop.wait(RETRY_PAUSE)

    def _ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(p.EVENTS, p.FRONT_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read_events(self, cursor: str) -> str:
        while not self._stop.is_set():
            answer: Any = self._redis.xreadgroup(
                p.FRONT_GROUP, CONSUMER, {p.EVENTS: cursor}, count=50, block=EVENTS_BLOCK_MS
            )
            entries = answer[0][1] if answer else []
            if cursor != ">":  # the backlog: read on after the last one, until it is done
                cursor = entries[-1][0] if entries else ">"
            for entry_id, fields in entries:
                self._finishers.submit(self._finish_one, entry_id, fields)
        return cursor

    def _finish_one(self, entry_id: str, fields: dict[str, str]) -> None:
        """Finish one task (journal, chat) and acknowledge its report. On a pool: the chat's
        rate limit makes each announcement wait, and reports must not queue behind it."""
        try:
            self._on_report(fields)
            self._redis.xack(p.EVENTS, p.FRONT_GROUP, entry_id)
            self._redis.xdel(p.EVENTS, entry_id)
        except (redis.RedisError, OperationalError) as exc:
            # Unacknowledged: the next front start reads it again (its task is gone by then
            # if it was finished here, and the report is then dropped).
            log.warning("could not acknowledge a finish report: %s", exc)
        except Exception:
            log.exception("finishing a remote task failed")

    def _on_report(self, fields: dict[str, str]) -> None:
        try:
            gid, report = p.open_report(self._box, fields)
        except (Unsealable, ValueError, KeyError) as exc:
            log.warning("dropped a finish report that cannot be read: %s", exc)
            return
        task = self._forget(gid)
        if task is None:
            log.info("finish report for task %s, which this front no longer runs", gid)
            return
        try:
            state = p.apply_report(task, report, time.monotonic())
        except (ValueError, KeyError, TypeError) as exc:
            task.error, state = f"unreadable finish report ({exc})", State.FAILED
        log.info("task %s ended on worker %s", gid, report.get("worker", "?"))
        assert self._host is not None
        self._host.ended(task, state)
        self._redis.delete(p.key("sent", gid))


def _show(task: Task, fields: dict[str, str]) -> None:
    if fields:
        p.apply_progress(task, fields)
    elif task.state is not State.QUEUED:  # its worker went quiet (died): it waits again
        task.state = State.QUEUED
        task.note = WAITING_NOTE
