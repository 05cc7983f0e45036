"""/metrics: the collector's families and label rules, the event counters, the HTTP endpoint."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from telebot.config import Config, load_config
from telebot.engine.diskguard import DiskGuard
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import ConfigError
from telebot.monitor import metrics
from telebot.monitor.counters import DURATION_BUCKETS, Counters, HistogramData
from telebot.monitor.looplag import LagSummary
from telebot.monitor.sampler import Sample
from telebot.resilience.breaker import BreakerConfig, BreakerRegistry
from tests.fakes.ports import reserved_port

USER_ID = 424242424  # a user id that must not appear unless METRICS_USER_LABELS is on
SECRET_LINK = "https://alice:hunter2@files.example.org/movie.mkv?token=s3cr3t"


class FakeManager:
    def __init__(self, tasks: list[Task]) -> None:
        self._tasks = tasks
        self.limits = None

    def tasks(self) -> list[Task]:
        return list(self._tasks)


class FakeSampler:
    def __init__(self, sample: Sample | None) -> None:
        self._sample = sample

    def latest(self) -> Sample | None:
        return self._sample


def task(gid: str, *, user: int = USER_ID, kind: str = "mirror") -> Task:
    spec = TaskSpec(kind=kind, source=SECRET_LINK, chat_id=-100777, user_id=user)
    return Task(gid, spec, Path("/nonexistent") / gid)


def scrape(sources: metrics.Sources) -> tuple[str, dict[str, Any]]:
    text = generate_latest(metrics.registry_for(sources)).decode()
    return text, {family.name: family for family in text_string_to_metric_families(text)}


def values(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for sample in family.samples
        if name is None or sample.name == name
    }


def test_tasks_by_state_and_kind_queue_depth_and_users_without_ids() -> None:
    running = task("a1")
    running.begin(State.DOWNLOADING, "http", 100)
    also_running = task("a2", kind="leech")
    also_running.begin(State.UPLOADING, "telegram", 10)
    queued = task("a3", user=7)
    manager = FakeManager([running, also_running, queued])
    text, families = scrape(metrics.Sources(role="front", manager=manager))  # type: ignore[arg-type]

    tasks = values(families["telebot_tasks"])
    assert tasks == {
        (("kind", "mirror"), ("role", "front"), ("state", "downloading")): 1,
        (("kind", "leech"), ("role", "front"), ("state", "uploading")): 1,
        (("kind", "mirror"), ("role", "front"), ("state", "queued")): 1,
    }
    assert values(families["telebot_queue_depth"]) == {(("role", "front"),): 1}
    # Two running tasks, both of one user; the queued one's user has none running.
    assert values(families["telebot_users_with_running_tasks"]) == {(("role", "front"),): 1}
    assert values(families["telebot_user_running_tasks_max"]) == {(("role", "front"),): 2}
    # The default hides who: no user label, no id, and none of the link's parts.
    assert "telebot_user_running_tasks" not in families
    assert all("user" not in s.labels for f in families.values() for s in f.samples)
    for secret in (str(USER_ID), "hunter2", "s3cr3t", "alice", "files.example.org", "777"):
        assert secret not in text


def test_user_labels_only_when_the_owner_turns_them_on() -> None:
    first, second = task("b1"), task("b2", user=5)
    first.begin(State.DOWNLOADING, "http")
    second.begin(State.PROCESSING, "extract")
    manager = FakeManager([first, second, task("b3", user=6)])  # b3 queued: not running
    _, families = scrape(metrics.Sources(role="worker", manager=manager,  # type: ignore[arg-type]
                                         user_labels=True))
    assert values(families["telebot_user_running_tasks"]) == {
        (("role", "worker"), ("user", str(USER_ID))): 1,
        (("role", "worker"), ("user", "5")): 1,
    }


def test_breakers_by_host_class_never_by_host() -> None:
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1))
    failing = registry.get("secret-tracker.example.net")
    with pytest.raises(OSError):
        failing.call(lambda: (_ for _ in ()).throw(ConnectionResetError("reset")))
    registry.get("Telegram Bot API")
    registry.get("rclone:gdrive")
    text, families = scrape(metrics.Sources(role="front", breakers=registry))
    got = values(families["telebot_breakers"])
    assert got[(("host_class", "http"), ("role", "front"), ("state", "open"))] == 1
    assert got[(("host_class", "telegram"), ("role", "front"), ("state", "closed"))] == 1
    assert got[(("host_class", "rclone"), ("role", "front"), ("state", "closed"))] == 1
    assert got[(("host_class", "telegram"), ("role", "front"), ("state", "open"))] == 0
    assert len(got) == 9  # every class and state, zeros included
    assert "secret-tracker" not in text and "gdrive" not in text


def test_host_class() -> None:
    assert metrics.host_class("Telegram Bot API") == "telegram"
    assert metrics.host_class("rclone:remote") == "rclone"
    assert metrics.host_class("example.org") == "http"


def test_loop_lag_sandbox_disk_and_process_readings() -> None:
    sample = Sample(at=1_700_000_000.0, proc_cpu=12.5, proc_rss=123_456_789, proc_threads=9,
                    proc_open_files=33)
    disk = DiskGuard(2_000_000_000, lambda: 5_000_000_000)
    _, families = scrape(metrics.Sources(
        role="front", sampler=FakeSampler(sample),  # type: ignore[arg-type]
        loop_lag=lambda: LagSummary(count=10, p95=0.25, max=1.5, window=300.0),
        disk=disk, sandbox_on=lambda: False,
    ))
    role = (("role", "front"),)
    assert values(families["telebot_event_loop_lag_p95_seconds"]) == {role: 0.25}
    assert values(families["telebot_event_loop_lag_max_seconds"]) == {role: 1.5}
    assert values(families["telebot_sandbox_enabled"]) == {role: 0.0}
    assert values(families["telebot_disk_free_bytes"]) == {role: 5_000_000_000}
    assert values(families["telebot_storage_threshold_bytes"]) == {role: 2_000_000_000}
    assert values(families["telebot_process_cpu_percent"]) == {role: 12.5}
    assert values(families["telebot_process_resident_memory_bytes"]) == {role: 123_456_789}
    disk.set_threshold(0)  # /bsetting STORAGE_THRESHOLD 0: the next scrape says so
    _, families = scrape(metrics.Sources(role="front", disk=disk))
    assert values(families["telebot_storage_threshold_bytes"]) == {role: 0}


def test_no_sample_yet_means_no_process_values() -> None:
    _, families = scrape(metrics.Sources(role="front", sampler=FakeSampler(None)))  # type: ignore[arg-type]
    assert "telebot_process_cpu_percent" not in families
    assert values(families["telebot_info"])[(("role", "front"), ("version", metrics.__version__))]


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role"):
        metrics.Sources(role="frontend")


# -- the event counters -----------------------------------------------------------------------


def test_bytes_count_live_per_engine_and_across_stages() -> None:
    counters = Counters()
    t = task("c1", kind="leech")
    t.begin(State.DOWNLOADING, "http", 1000)
    t.progress(400, 1000)
    counters.credit(t)  # a scrape mid-download
    assert counters.bytes_by() == {("download", "http"): 400}
    t.progress(1000, 1000)
    counters.credit(t)
    counters.credit(t)  # a second scrape with no progress adds nothing
    assert counters.bytes_by() == {("download", "http"): 1000}
    counters.stage_started(t)
    t.begin(State.UPLOADING, "telegram", 1000)
    t.progress(300, 1000)
    counters.task_ended(t, "leech", "done", 12.0)
    assert counters.bytes_by() == {("download", "http"): 1000, ("upload", "telegram"): 300}


def test_a_stage_that_starts_over_counts_its_new_bytes() -> None:
    counters = Counters()
    t = task("c2")
    t.begin(State.DOWNLOADING, "http")
    t.progress(500, None)
    counters.credit(t)
    t.progress(200, None)  # the source started over: 200 new bytes moved since
    counters.credit(t)
    assert counters.bytes_by() == {("download", "http"): 700}


def test_processing_moves_no_bytes() -> None:
    counters = Counters()
    t = task("c3")
    t.begin(State.PROCESSING, "extract", 50)
    t.progress(50, 50)
    counters.credit(t)
    assert counters.bytes_by() == {}


def test_task_begin_credits_the_stage_it_leaves() -> None:
    # The hook in Task.begin: a download's tail between the last scrape and the upload counts.
    from telebot.monitor.counters import COUNTERS

    t = task("c4")
    before = COUNTERS.bytes_by().get(("download", "hooktest"), 0)
    t.begin(State.DOWNLOADING, "hooktest")
    t.progress(4321, 4321)
    t.begin(State.UPLOADING, "local")
    assert COUNTERS.bytes_by()[("download", "hooktest")] - before == 4321


def test_duration_histogram_buckets_are_cumulative_and_le_inclusive() -> None:
    data = HistogramData()
    for seconds in (0.5, 1.0, 4.0, 100_000.0):
        data.observe(seconds)
    pairs = dict(data.cumulative())
    assert pairs["1.0"] == 2  # 1.0 falls in le="1.0"
    assert pairs["5.0"] == 3
    assert pairs[str(DURATION_BUCKETS[-1])] == 3
    assert pairs["+Inf"] == 4 and data.count == 4
    assert data.total == pytest.approx(100_005.5)


def test_durations_and_flood_waits_reach_the_page() -> None:
    counters = Counters()
    done = task("d1")
    counters.task_ended(done, "mirror", "done", 3.0)
    counters.task_ended(task("d2"), "mirror", "failed", 7.0)
    counters.flood_wait(12.0)
    counters.flood_wait(3.0)
    _, families = scrape(metrics.Sources(role="front", counters=counters))
    duration = families["telebot_task_duration_seconds"]
    counts = values(duration, "telebot_task_duration_seconds_count")
    assert counts == {
        (("kind", "mirror"), ("outcome", "done"), ("role", "front")): 1,
        (("kind", "mirror"), ("outcome", "failed"), ("role", "front")): 1,
    }
    le5 = values(duration, "telebot_task_duration_seconds_bucket")
    assert le5[(("kind", "mirror"), ("le", "5.0"), ("outcome", "failed"), ("role", "front"))] == 0
    assert le5[(("kind", "mirror"), ("le", "5.0"), ("outcome", "done"), ("role", "front"))] == 1
    role = (("role", "front"),)
    assert values(families["telebot_telegram_flood_waits"]) == {role: 2}
    assert values(families["telebot_telegram_flood_wait_seconds"]) == {role: 15.0}


def test_host_resolve_failures_are_counted_per_resolver() -> None:
    counters = Counters()
    counters.host_failure("MediaFire")
    counters.host_failure("MediaFire")
    counters.host_failure("GoFile")
    _, families = scrape(metrics.Sources(role="front", counters=counters))
    assert values(families["telebot_host_resolve_failures"]) == {
        (("host", "GoFile"), ("role", "front")): 1,
        (("host", "MediaFire"), ("role", "front")): 2,
    }


# -- configuration and the endpoint -----------------------------------------------------------


def env(**extra: str) -> dict[str, str]:
    return {"BOT_TOKEN": "123:abc", "OWNER_ID": "1", **extra}


def test_metrics_are_off_by_default_and_bind_to_loopback(tmp_path: Path) -> None:
    cfg = load_config(env(), cwd=tmp_path)
    assert (cfg.metrics_port, cfg.metrics_bind, cfg.metrics_user_labels) == (0, "127.0.0.1", False)
    cfg = load_config(env(METRICS_PORT="9464", METRICS_BIND="[::]", METRICS_USER_LABELS="true"),
                      cwd=tmp_path)
    assert (cfg.metrics_port, cfg.metrics_bind, cfg.metrics_user_labels) == (9464, "::", True)


@pytest.mark.parametrize(("key", "value"), [
    ("METRICS_PORT", "70000"), ("METRICS_PORT", "http"), ("METRICS_BIND", "localhost:9464"),
    ("METRICS_BIND", "999.1.1.1"), ("METRICS_USER_LABELS", "maybe"),
])
def test_bad_metrics_settings_name_the_variable(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(env(**{key: value}), cwd=tmp_path)


def test_the_server_serves_the_text_format_and_stops(tmp_path: Path) -> None:
    port = reserved_port()
    cfg = Config(bot_token="123:abc", owner_id=1, metrics_port=port)
    server = metrics.start(cfg, metrics.Sources(role="worker"))
    assert server is not None and server.port == port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode()
    finally:
        server.stop()
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"telebot_info", "telebot_downloaded_bytes", "telebot_task_duration_seconds"} <= names
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_a_taken_port_is_an_error_line_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = Config(bot_token="123:abc", owner_id=1, metrics_port=port)
        assert metrics.start(cfg, metrics.Sources(role="front")) is None
    assert "cannot listen" in caplog.text


def test_off_starts_nothing() -> None:
    assert metrics.start(Config(bot_token="123:abc", owner_id=1), metrics.Sources("front")) is None


def test_engine_labels_are_lower_case_slugs() -> None:
    from telebot.monitor.counters import engine_label

    assert [engine_label(e) for e in ("HTTP", "yt-dlp", "Telegram", "", "a b/c")] == [
        "http", "yt-dlp", "telegram", "unknown", "a_b_c",
    ]


def test_a_worker_serves_role_worker_with_its_own_sampler(tmp_path: Path) -> None:
    from telebot.worker import worker_metrics
    from tests import polling

    port = reserved_port()
    cfg = Config(bot_token="123:abc", owner_id=1, metrics_port=port, sampler_interval=0.05,
                 download_dir=tmp_path)
    manager = FakeManager([])
    manager.limits = type("L", (), {"disk": DiskGuard(0, lambda: 1)})()  # type: ignore[assignment]
    stop = worker_metrics(cfg, manager)  # type: ignore[arg-type]
    assert stop is not None
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        def rss_seen() -> bool:
            with urllib.request.urlopen(url, timeout=10) as resp:
                text = resp.read().decode()
            return 'telebot_process_resident_memory_bytes{role="worker"}' in text
        polling.wait_until(rss_seen, 10, "the worker's sampler reading on /metrics")
    finally:
        stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)
    assert worker_metrics(Config(bot_token="123:abc", owner_id=1), manager) is None  # type: ignore[arg-type]
