from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from telebot import health
from telebot.monitor.sampler import Sampler
from tests.monitor.helpers import FakeClock, FakePsutil

NOW = 1_800_000_000.0
ROOT = Path(__file__).resolve().parents[2]


def beat(path: Path, **fields: object) -> Path:
    body = {"pid": os.getpid(), "sample_at": NOW - 2, "poll_at": NOW - 10, "interval": 5.0}
    body.update(fields)
    path.write_text(json.dumps(body))
    return path


def run_health(cwd: Path, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_PATH"}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "telebot.health", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_fresh_heartbeat_is_healthy(tmp_path: Path):
    ok, line = health.check(beat(tmp_path / "hb"), NOW)
    assert ok, line
    assert line == "ok: sample 2 s ago, getUpdates 10 s ago"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sample_at": NOW - 31}, "last sample 31 s ago (limit 30 s)"),
        ({"sample_at": NOW - 61, "interval": 20.0}, "last sample 61 s ago (limit 60 s)"),
        ({"poll_at": NOW - 121}, "last successful getUpdates 121 s ago (limit 120 s)"),
        ({"poll_at": None}, "no successful getUpdates yet"),
    ],
)
def test_stale_heartbeats(tmp_path: Path, fields: dict[str, object], reason: str):
    assert health.check(beat(tmp_path / "hb", **fields), NOW) == (False, reason)


def test_long_interval_widens_the_sample_limit(tmp_path: Path):
    assert health.check(beat(tmp_path / "hb", sample_at=NOW - 50, interval=20.0), NOW)[0]


def test_missing_and_garbage_files(tmp_path: Path):
    ok, line = health.check(tmp_path / "nope", NOW)
    assert not ok and line.startswith("no heartbeat file at ")
    (tmp_path / "bad").write_text("{not json")
    ok, line = health.check(tmp_path / "bad", NOW)
    assert not ok and line.startswith("unreadable heartbeat")
    (tmp_path / "partial").write_text('{"pid": 1}')
    assert health.check(tmp_path / "partial", NOW) == (
        False, f"unreadable heartbeat {tmp_path / 'partial'}: KeyError"
    )  # fmt: skip


def spawn_child() -> subprocess.Popen[bytes]:
    # Blocks reading stdin until killed: no sleeping involved.
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )


def test_killed_bot_process_is_unhealthy(tmp_path: Path):
    child = spawn_child()
    try:
        path = beat(tmp_path / "hb", pid=child.pid)
        assert health.check(path, NOW)[0]  # alive
        child.kill()
        # Not reaped yet: a zombie still answers kill(pid, 0) but is dead.
        if sys.platform.startswith("linux"):
            _wait_for_zombie(child.pid)
            assert health.check(path, NOW) == (False, f"bot process {child.pid} is not running")
        child.wait(10)
        assert health.check(path, NOW) == (False, f"bot process {child.pid} is not running")
    finally:
        child.kill()
        child.wait(10)


def _wait_for_zombie(pid: int) -> None:
    """Block until `pid` has exited, leaving it unreaped (a zombie): WNOWAIT."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def test_module_exit_codes(tmp_path: Path):
    now = time.time()
    db = tmp_path / "data" / "bot.db"
    db.parent.mkdir()
    hb = Path(str(db) + ".heartbeat")
    hb.write_text(json.dumps({"pid": os.getpid(), "sample_at": now, "poll_at": now, "interval": 5}))
    done = run_health(tmp_path, {"DATABASE_PATH": str(db)})
    assert (done.returncode, done.stdout.startswith("ok: "), done.stderr) == (0, True, "")

    # The age counts from when the check runs: a loaded machine (tests side by side) takes
    # a second or two to start python, so the age is 3600 s plus that, never less.
    written = time.time()
    hb.write_text(json.dumps({"pid": os.getpid(), "sample_at": written - 3600, "poll_at": written}))
    done = run_health(tmp_path, {"DATABASE_PATH": str(db)})
    took = time.time() - written
    assert done.returncode == 1
    age = re.match(r"last sample (\d+) s ago", done.stderr)
    assert age and 3600 <= int(age.group(1)) <= 3600 + math.ceil(took), done.stderr
    assert done.stderr.count("\n") == 1

    done = run_health(tmp_path, {}, str(tmp_path / "elsewhere"))  # explicit path argument
    assert done.returncode == 1 and "no heartbeat file" in done.stderr


def test_database_path_from_config_env(tmp_path: Path):
    (tmp_path / "config.env").write_text(
        "# comment\nBOT_TOKEN=x\nexport DATABASE_PATH = '/srv/bot/t.db'\n"
    )
    assert health.heartbeat_path({}, tmp_path) == Path("/srv/bot/t.db.heartbeat")
    assert health.heartbeat_path({"DATABASE_PATH": "/e.db"}, tmp_path) == Path("/e.db.heartbeat")
    assert health.heartbeat_path({}, tmp_path / "empty") == Path("./telebot.db.heartbeat")


def test_sampler_heartbeat_satisfies_health(tmp_path: Path):
    clock = FakeClock(NOW)
    hb = tmp_path / "telebot.db.heartbeat"
    sampler = Sampler(
        disk_path=tmp_path, heartbeat_path=hb, clock=clock, psutil_module=FakePsutil()
    )
    sampler.sample_once()
    assert health.check(hb, NOW) == (False, "no successful getUpdates yet")
    sampler.note_poll()
    sampler.sample_once()
    assert health.check(hb, NOW + 5)[0]
    assert not health.check(hb, NOW + 200)[0]


def test_health_imports_stay_tiny():
    code = (
        "import sys, telebot.health; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in {'telegram', 'psutil', 'httpx', 'telebot'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, check=True)  # fmt: skip
    # Of telebot, only the config parser and its size units (standard library only) besides the
    # module itself.
    assert done.stdout.strip() == (
        "['telebot', 'telebot.config', 'telebot.errors', 'telebot.health', 'telebot.units']"
    )


@pytest.mark.parametrize(
    ("config_env", "environ"),
    [
        ("DATABASE_PATH=/srv/a.db\n", {}),
        ("DATABASE_PATH=/srv/a.db\n", {"DATABASE_PATH": "/env/b.db"}),
        # An empty variable in the environment wins over config.env: the bot uses the default.
        ("DATABASE_PATH=/srv/a.db\n", {"DATABASE_PATH": ""}),
        # Only a matching pair of quotes is a quoted value.
        ("DATABASE_PATH=/srv/odd.db'\n", {}),
        ("export DATABASE_PATH = \"/srv/q.db\"\n", {}),
        ("", {}),
    ],
)
def test_health_reads_the_heartbeat_where_the_bot_writes_it(
    tmp_path: Path, config_env: str, environ: dict[str, str]
):
    from telebot.bot.handlers.monitoring import Monitoring
    from telebot.config import load_config

    (tmp_path / "config.env").write_text(config_env)
    env = {"BOT_TOKEN": "123:abc", "OWNER_ID": "1", **environ}
    config = load_config(env, tmp_path)
    written = Monitoring.create(config, manager=None).sampler.heartbeat_path  # type: ignore[arg-type]
    assert health.heartbeat_path(env, tmp_path) == written
