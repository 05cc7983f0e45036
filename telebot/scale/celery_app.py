"""The Celery application both sides build from the same config (docs/ENGINES.md, Celery).

Crash safety comes from the settings, not from code:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only when its
  run has ended, so a worker killed mid-task leaves it unacknowledged in Redis;
* that message is not what moves a dead worker's task: its lease expires within
  ``WORKER_LOCK_TTL`` and the front sends the task again as a new attempt (front.py). The Redis
  transport redelivers the old message after ``visibility_timeout``
  (``CELERY_VISIBILITY_TIMEOUT``), and also the messages of tasks still running that long
  (celery/celery#5935); workers drop such copies (superseded attempt, lease held, or done), so
  the timeout only needs to exceed the longest task to keep the logs quiet;
* ``unacked_restore_interval`` 1 and ``unacked_restore_throttle`` 1: kombu 5.7 otherwise scans
  for expired messages only every 10 x 10 s, which adds up to 100 s to a redelivery;
* ``worker_prefetch_multiplier`` 1: a worker reserves no more messages than it has threads, so
  a queue is spread over every worker instead of piling onto the first;
* no result backend: finish reports travel in the ``events`` stream (:mod:`.protocol`).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from telebot.config import Config
from telebot.scale.protocol import DEFAULT_QUEUE


def make_app(config: Config) -> Celery:
    app = Celery("telebot", broker=config.celery_broker_url, set_as_current=False)
    app.conf.update(_settings(config))
    return app


def _settings(config: Config) -> dict[str, Any]:
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_default_queue": DEFAULT_QUEUE,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        # Keep running tasks when the broker connection drops: their messages stay unacked and
        # the per-gid lock keeps any redelivered copy from running beside them (docs/ENGINES.md,
        # Celery:
        # cancelling them on the threads pool does not work anyway).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_transport_options": {
            "visibility_timeout": int(config.celery_visibility_timeout),
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
    }
