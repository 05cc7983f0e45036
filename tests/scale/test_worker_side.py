"""The worker's guards (which message runs, and only once), against a real redis-server."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

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
GID = "00000000a1"


def side_for(redis_server: RedisServer, tmp_path: Path) -> WorkerSide:
    env = {"BOT_TOKEN": TOKEN, "OWNER_ID": "1", "CELERY_BROKER_URL": redis_server.url,
           "WORKER_LOCK_TTL": "7"}
    return WorkerSide(load_config(env, cwd=tmp_path), redis_server.client(), "w@test")


def sealed(gid: str, attempt: int = 1) -> str:
    spec = TaskSpec(kind="mirror", source="http://127.0.0.1:9/x", chat_id=1, user_id=1)
    return p.seal_task(SecretBox.from_token(TOKEN), gid, attempt, spec, now=time.time())


def test_a_copy_whose_gid_is_locked_is_dropped_instead_of_running(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    side = side_for(redis_server, tmp_path)  # no manager: running it would fail loudly
    client = redis_server.client()
    client.set(p.key("attempt", GID), "1")
    client.set(p.key("lock", GID), "other-worker:run", px=60_000)
    assert side.run(sealed(GID)) == "duplicate"
    assert client.get(p.key("lock", GID)) == "other-worker:run"  # not taken, not released


def test_a_copy_of_a_task_that_already_ended_is_dropped(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    side = side_for(redis_server, tmp_path)
    client = redis_server.client()
    client.set(p.key("attempt", GID), "1")
    client.set(p.key("done", GID), "w@test:run")
    assert side.run(sealed(GID)) == "duplicate"
    assert client.get(p.key("lock", GID)) is None


def test_a_superseded_attempt_or_an_unknown_task_is_refused(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    side = side_for(redis_server, tmp_path)
    client = redis_server.client()
    client.set(p.key("attempt", GID), "2")  # the front sent the task again after a lease expired
    with caplog.at_level(logging.WARNING):
        assert side.run(sealed(GID, attempt=1)) == "refused"
        assert side.run(sealed("00000000b2")) == "refused"  # no front sent it: a replay
    assert "superseded" in caplog.text and "replay" in caplog.text
    assert client.get(p.key("lock", GID)) is None and client.get(p.key("taken", GID)) is None


def test_a_forged_message_touches_nothing_and_is_logged(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    side = side_for(redis_server, tmp_path)
    victim = tmp_path / "x"
    victim.mkdir()
    client = redis_server.client()
    client.set("telebot:cancel:../x", "cancelled")  # what made the old worker rmtree "../x"
    box = SecretBox.from_token(TOKEN)
    now = time.time()
    body = json.dumps({"v": 2, "gid": "../x", "attempt": 1, "issued": now, "expires": now + 60,
                       "spec": {}})
    forged = [
        ("../x", {"kind": "mirror", "source": "http://x", "chat_id": 1, "user_id": 1}),
        (box.seal(body, context=p.TASK_CONTEXT),),  # even sealed with the token: no such gid
        ("tbs1:" + "A" * 80,),
    ]
    with caplog.at_level(logging.WARNING):
        for args in forged:
            assert side.run(*args) == "refused"
    assert victim.is_dir()
    assert caplog.text.count("refused a task message") == len(forged)
    assert client.keys("telebot:lock:*") == [] and client.keys("telebot:taken:*") == []


def test_a_report_survives_a_lock_that_merely_expired_but_not_a_new_attempt(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from telebot.engine.task import State
    from telebot.scale.worker_side import Run

    side = side_for(redis_server, tmp_path)
    client = redis_server.client()
    report = {"state": State.DONE.value, "name": "x", "error": None, "cancel_reason": None,
              "warnings": [], "result": None, "elapsed": 1.0, "worker": "w@test"}
    # Its heartbeat was starved past the TTL, and the front has not sent the task again.
    client.set(p.key("attempt", GID), "1")
    client.set(p.key("taken", GID), "1")
    side._publish(GID, report, Run(GID, "w@test:1", 1))
    assert client.xlen(p.EVENTS) == 1 and client.get(p.key("done", GID)) == "w@test:1"
    # The front sent attempt 2 (the lease check cleared "taken"): attempt 1 reports nothing.
    other = "00000000c3"
    client.set(p.key("attempt", other), "2")
    side._publish(other, report, Run(other, "w@test:2", 1))
    assert client.xlen(p.EVENTS) == 1 and client.get(p.key("done", other)) is None
