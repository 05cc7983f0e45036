"""What front and workers exchange (telebot/scale/protocol.py), without a Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from telebot.config import load_config
from telebot.engine.pipeline import Delivery
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import ConfigError
from telebot.secretbox import SecretBox
from tests.conftest import ROOT

pytest.importorskip("celery")

from telebot.scale import protocol as p

TOKEN = "123:secret-token"


def spec(**kw: object) -> TaskSpec:
    base: dict[str, object] = {
        "kind": "mirror",
        "source": "https://user:pa55word@example.com/f.bin?key=k3y",
        "chat_id": 1,
        "user_id": 1,
        "headers": (("Authorization", "Bearer t0ken"),),
        "auth": ("alice", "hunter2"),
    }
    base.update(kw)
    return TaskSpec(**base)  # type: ignore[arg-type]


def test_the_task_message_carries_no_credential_in_the_clear() -> None:
    box = SecretBox.from_token(TOKEN)
    sealed = p.seal_task(box, "0123456789", 1, spec(), now=1000.0)
    for secret in ("pa55word", "k3y", "t0ken", "hunter2", "example.com", "mirror", "chat_id"):
        assert secret not in sealed
    message = p.open_task(SecretBox.from_token(TOKEN), sealed, now=1001.0)
    assert (message.gid, message.attempt, message.spec) == ("0123456789", 1, spec())
    with pytest.raises(p.BadMessage):  # another bot's worker
        p.open_task(SecretBox.from_token("999:other"), sealed, now=1001.0)


def test_every_field_of_a_task_message_is_authenticated() -> None:
    box = SecretBox.from_token(TOKEN)
    sealed = p.seal_task(box, "0123456789", 1, spec(), now=1000.0)
    # Any change anywhere in the envelope, a foreign shape, or no envelope at all.
    middle = len(sealed) // 2
    flipped = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]
    for forged in (flipped, sealed[:-4], {"gid": "0123456789", "kind": "mirror"}, None, ""):
        with pytest.raises(p.BadMessage):
            p.open_task(box, forged, now=1001.0)
    # A gid the bot never makes is refused even in a genuinely sealed body (and never sealed).
    body = json.dumps({"v": 2, "gid": "../x", "attempt": 1, "issued": 1000.0,
                       "expires": 2000.0, "spec": spec().to_json()})
    with pytest.raises(p.BadMessage, match="valid task id"):
        p.open_task(box, box.seal(body, context=p.TASK_CONTEXT), now=1001.0)
    with pytest.raises(ValueError):
        p.seal_task(box, "../x", 1, spec(), now=1000.0)
    with pytest.raises(ValueError):
        p.key("lock", "../x")


def test_a_task_message_expires() -> None:
    box = SecretBox.from_token(TOKEN)
    sealed = p.seal_task(box, "0123456789", 1, spec(), now=1000.0, ttl=60)
    assert p.open_task(box, sealed, now=1059.0).expires == 1060.0
    with pytest.raises(p.BadMessage, match="expired"):
        p.open_task(box, sealed, now=1061.0)
    with pytest.raises(p.BadMessage, match="future"):  # not issued by a sane clock
        p.open_task(box, sealed, now=1000.0 - p.CLOCK_SKEW - 1)


def test_queues_by_capability() -> None:
    assert p.queue_for(spec(), bot_api_local=False) == "default"
    assert p.queue_for(spec(source="magnet:?xt=urn:btih:" + "a" * 40), bot_api_local=False) == (
        "torrent"
    )
    assert p.queue_for(spec(kind="leech"), bot_api_local=True) == "leech-local"
    assert p.queue_for(spec(kind="leech"), bot_api_local=False) == "default"


def test_a_finish_report_rebuilds_the_result_on_the_front() -> None:
    box = SecretBox.from_token(TOKEN)
    task = Task("g1", spec(), Path("/nonexistent"))
    task.state = State.DONE
    task.result = Delivery("f.bin", 10, "/m/f.bin", links=("https://x/f",), notes=("n",))
    task.warnings = ["w"]
    fields = p.seal_report(box, "0123456789", p.finish_report(task, "w1@h", 4.0))
    assert "f.bin" not in json.dumps(fields)
    gid, report = p.open_report(box, fields)
    front = Task("g1", spec(), Path("/nonexistent"), clock=lambda: 100.0)
    assert gid == "0123456789" and p.apply_report(front, report, now=100.0) is State.DONE
    assert front.result == task.result and front.warnings == ["w"]
    assert front.snapshot().elapsed == 4.0


def test_progress_from_a_worker_shows_on_the_front_copy() -> None:
    worker = Task("g1", spec(), Path("/nonexistent"))
    worker.begin(State.DOWNLOADING, "HTTP")
    worker.progress(512, 1024)
    worker.note = "waiting for example.org"
    front = Task("g1", spec(), Path("/nonexistent"))
    p.apply_progress(front, p.progress_fields(worker.snapshot(), "w1@h"))
    snap = front.snapshot()
    assert (snap.state, snap.engine) == (State.DOWNLOADING, "HTTP")
    assert (snap.done, snap.total) == (512, 1024)
    assert snap.note == "waiting for example.org"
    p.apply_progress(front, {"state": "done", "done": "1024"})  # the finish report decides
    assert front.state is State.DOWNLOADING


def test_scale_config_names() -> None:
    env = {"BOT_TOKEN": TOKEN, "OWNER_ID": "1"}
    cfg = load_config({**env, "CELERY_BROKER_URL": "redis://:pw@redis:6379/0",
                       "WORKER_QUEUES": "torrent, default", "CELERY_VISIBILITY_TIMEOUT": "7200",
                       "WORKER_LOCK_TTL": "10"}, cwd=Path("/nonexistent"))
    assert cfg.worker_queues == ("torrent", "default")
    assert cfg.celery_visibility_timeout == 7200 and cfg.worker_lock_ttl == 10
    assert "pw" in cfg.secrets and "pw" not in repr(cfg)
    bad = (
        ("CELERY_BROKER_URL", "http://x"),
        ("WORKER_QUEUES", "gpu"),
        ("WORKER_LOCK_TTL", "50000"),  # over the visibility timeout
    )
    for key, value in bad:
        with pytest.raises(ConfigError, match=key):
            load_config({**env, key: value}, cwd=Path("/nonexistent"))


def test_one_process_mode_imports_neither_celery_nor_redis() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from telebot.config import load_config\n"
        "from telebot import app, wiring\n"
        "cfg = load_config({'BOT_TOKEN': '1:a', 'OWNER_ID': '1'}, cwd=Path('/nonexistent'))\n"
        "assert wiring.front_runner(cfg) is None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu', 'redis')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_compose_scale_profile_runs_redis_a_front_and_two_workers() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    scale = {name for name, svc in services.items() if "scale" in svc.get("profiles", ())}
    assert scale == {"redis", "front", "worker-1", "worker-2"}
    workers = [services["worker-1"], services["worker-2"]]
    assert all(w["command"][:3] == ["python", "-m", "telebot.worker"] for w in workers)
    for svc in (services["front"], *workers):
        assert svc["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    # Each worker has its own disk unless the operator mounts a shared volume.
    assert workers[0]["volumes"] != workers[1]["volumes"]
    assert "ports" not in services["redis"]  # Redis is not published on the host
