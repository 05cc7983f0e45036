"""The front's runner: tasks run on Celery workers; this process keeps the journal and the chat.

Three threads, none of them on the event loop:

* ``scale-outbox`` performs every Redis write of the front (send a task, cancel one) in order,
  retrying while Redis is unreachable, so neither a handler nor the engine lock waits on it and
  an outage loses nothing: what is not sent yet is still in the journal on a restart;
* ``scale-progress`` reads each remote task's progress hash every half second into the front's
  copy of the task, which the status board reads as it reads a local task;
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
from collections.abc import Callable
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

log = logging.getLogger(__name__)

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


def connect(config: Config) -> redis.Redis:
    # A socket timeout, so a stopped Redis makes calls fail and retry instead of hang forever.
    return redis.Redis.from_url(
        config.celery_broker_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
    )


class CeleryRunner:
    """:class:`~telebot.engine.runner.Runner` that sends each task to Celery workers."""

    remote = True
    capacity: int | None = None

    def __init__(self, config: Config, client: redis.Redis | None = None) -> None:
        self._config = config
        self._app = make_app(config)
        self._redis = client or connect(config)
        self._box = SecretBox.from_token(config.bot_token)
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
        self._redis.set(sent, PENDING, ex=p.MARKER_TTL)
        queue_name = p.queue_for(task.spec, bot_api_local=self._config.bot_api_local)
        self._app.send_task(
            p.TASK_NAME,
            args=[gid, p.seal_spec(self._box, gid, task.spec)],
            task_id=gid,
            queue=queue_name,
        )
        self._redis.set(sent, QUEUED, ex=p.MARKER_TTL)
        log.info("task %s sent to queue %s", gid, queue_name)

    def _cancel(self, task: Task) -> None:
        """Raise the flag the worker watches; a task no worker has taken yet is revoked and
        ends here. (The worker sets its lock before it reads the flag, and this sets the flag
        before it reads the lock, so one of the two always sees the other.)"""
        gid = task.gid
        self._redis.set(p.key("cancel", gid), task.cancel_reason or "cancelled", ex=p.MARKER_TTL)
        if self._redis.exists(p.key("lock", gid)):
            return  # running: its worker stops it and reports
        self._app.control.revoke(gid)
        if self._forget(gid) is not None:
            self._redis.delete(p.key("sent", gid))
            assert self._host is not None
            self._host.ended(task, State.CANCELLED)

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
            except redis.RedisError as exc:
                log.debug("progress read failed: %s", exc)
                continue
            with self._lock:  # a task whose report was read meanwhile is no longer touched
                for task, fields in zip(tasks, hashes, strict=True):
                    if self._tasks.get(task.gid) is task:
                        _show(task, fields)

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
