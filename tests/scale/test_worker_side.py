"""The worker's guard against running one task twice at once, against a real redis-server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from telebot.config import load_config
from telebot.engine.task import TaskSpec
from telebot.secretbox import SecretBox
from tests.scale.conftest import RedisServer, requires_redis

pytestmark = requires_redis
pytest.importorskip("celery")

from telebot.scale import protocol as p  # noqa: E402
from telebot.scale.worker_side import WorkerSide  # noqa: E402

TOKEN = "123:worker-side"


class Retry(Exception):
    """Stands for celery.exceptions.Retry, which the bound task's retry() returns."""


def side_for(redis_server: RedisServer, tmp_path: Path) -> WorkerSide:
    env = {"BOT_TOKEN": TOKEN, "OWNER_ID": "1", "CELERY_BROKER_URL": redis_server.url,
           "WORKER_LOCK_TTL": "7"}
    return WorkerSide(load_config(env, cwd=tmp_path), redis_server.client(), "w@test")


def sealed(gid: str) -> dict[str, Any]:
    spec = TaskSpec(kind="mirror", source="http://127.0.0.1:9/x", chat_id=1, user_id=1)
    return p.seal_spec(SecretBox.from_token(TOKEN), gid, spec)


def test_a_copy_whose_gid_is_locked_retries_later_instead_of_running(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    side = side_for(redis_server, tmp_path)  # no manager: running it would fail loudly
    client = redis_server.client()
    client.set(p.key("lock", "g1"), "other-worker:run", px=60_000)
    retries: list[dict[str, Any]] = []

    def retry(**kwargs: Any) -> Exception:
        retries.append(kwargs)
        return Retry()

    with pytest.raises(Retry):
        side.run(retry, "g1", sealed("g1"))
    assert retries == [{"countdown": 7.0, "max_retries": None}]
    assert client.get(p.key("lock", "g1")) == "other-worker:run"  # not taken, not released


def test_a_copy_of_a_task_that_already_ended_is_dropped(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    side = side_for(redis_server, tmp_path)
    client = redis_server.client()
    client.set(p.key("done", "g2"), "w@test:run")
    assert side.run(lambda **_: Retry(), "g2", sealed("g2")) == "duplicate"
    assert client.get(p.key("lock", "g2")) is None
