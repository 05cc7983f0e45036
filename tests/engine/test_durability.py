"""Durability by boot id, not payload fsync (docs/ARCHITECTURE.md §2; engine/taskstate.py).

Real parts: the HTTP downloader against a loopback origin, the task manager with its journal,
the local sink. ``os.fsync``/``os.fdatasync`` are wrapped to record which files they flush; a
reboot is simulated by pointing :data:`telebot.fileio.durable.BOOT_ID_PATH` at a file of the
test's own.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telebot.config import Config, load_config
from telebot.engine import taskstate
from telebot.engine.manager import TaskManager
from telebot.engine.pipeline import Delivery, Pipeline, Sink
from telebot.engine.task import Task, TaskSpec
from telebot.fileio import durable
from telebot.plugins import local_sink_factory
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sinks.local import LocalSink
from telebot.sources.http.downloader import HttpSource
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import DirectLinkSource
from telebot.store import Store
from tests.engine.fakes import FakeSink, Recorder
from tests.fakes.origin import FakeOrigin

MiB = 1 << 20
SIZE = 3 * MiB  # several segments, and big enough to tell a refetch from a probe
ENV = {"BOT_TOKEN": "123456:ABC-def_ghi", "OWNER_ID": "42", "ALLOW_PRIVATE_LINKS": "true"}


@pytest.fixture
def origin() -> Iterator[FakeOrigin]:
    with FakeOrigin() as server:
        yield server


@pytest.fixture
def boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``boot("b")``: from now on the kernel's boot id reads ``b`` (a simulated reboot)."""
    path = tmp_path / "boot_id"
    path.write_text("first-boot\n")
    monkeypatch.setattr(durable, "BOOT_ID_PATH", path)
    return lambda value: path.write_text(value + "\n")


@pytest.fixture
def flushed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every file ``os.fsync`` or ``os.fdatasync`` is called on, in order."""
    seen: list[str] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def wrapper(fd: int, real: Any = real) -> None:
            seen.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, name, wrapper)
    return seen


def config(tmp_path: Path, **env: str) -> Config:
    return load_config({**ENV, "MIRROR_DIR": str(tmp_path / "mirror"), **env}, cwd=tmp_path)


def source_for(cfg: Config) -> DirectLinkSource:
    http = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker())
    return DirectLinkSource(HttpSettings.from_config(cfg), http)


def manager_for(
    cfg: Config, downloads: Path, store: Store, recorder: Recorder, sink: Sink, **kw: Any
) -> TaskManager:
    source = source_for(cfg)
    return TaskManager(
        download_dir=downloads,
        pipeline=Pipeline([lambda _spec: source], [lambda _spec: sink]),
        listener=recorder,
        store=store,
        **kw,
    )


def spec(url: str) -> TaskSpec:
    return TaskSpec(kind="mirror", source=url, chat_id=100, user_id=42)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mirror_once(cfg: Config, tmp_path: Path, store: Store, url: str, **kw: Any) -> Path:
    """One /mirror through the real manager, downloader and configured local sink."""
    sink = local_sink_factory(cfg)(spec(url))
    assert sink is not None
    recorder = Recorder()
    manager = manager_for(cfg, tmp_path / "downloads", store, recorder, sink, **kw)
    try:
        task = manager.submit(spec(url))
        assert recorder.wait_finished(task.gid) == "done", task.error
    finally:
        manager.shutdown(timeout=5)
    return cfg.mirror_dir / "big.bin"


def test_the_default_path_flushes_no_payload(
    tmp_path: Path, origin: FakeOrigin, store: Store, flushed: list[str]
) -> None:
    res = origin.add("/big.bin", size=SIZE, seed=1)
    result = mirror_once(config(tmp_path), tmp_path, store, f"{origin.url}/big.bin")
    assert sha256(result) == res.sha256()
    payload = [p for p in flushed if Path(p).name in ("big.bin", "big.bin.part")]
    assert payload == [], f"payload flushed on the default path: {payload}"
    # Metadata stays durable: the task's state file and the journal are flushed as before.
    assert any(Path(p).name.startswith(taskstate.STATE_FILE) for p in flushed)


def test_durable_writes_flush_the_payload(
    tmp_path: Path, origin: FakeOrigin, store: Store, flushed: list[str]
) -> None:
    origin.add("/big.bin", size=SIZE, seed=1)
    cfg = config(tmp_path, DURABLE_WRITES="true")
    assert cfg.durable_writes
    mirror_once(cfg, tmp_path, store, f"{origin.url}/big.bin", durable_writes=cfg.durable_writes)
    assert any(Path(p).name == "big.bin" for p in flushed), flushed


class TimedSink:
    """The real local sink, noting when delivery began (to order it against the probe)."""

    engine = "Local"

    def __init__(self, root: Path) -> None:
        self.sink = LocalSink(root)
        self.began: float | None = None

    def deliver(self, task: Task, path: Path) -> Delivery:
        self.began = time.monotonic()
        return self.sink.deliver(task, path)


def fetched_then_stopped(
    tmp_path: Path, origin: FakeOrigin, store: Store, url: str
) -> tuple[str, Path]:
    """A run that downloads and records the file, then stops during delivery (kept for
    resume, as on SIGTERM): the gid and the recorded download."""
    cfg = config(tmp_path)
    sink = FakeSink()
    recorder = Recorder()
    manager = manager_for(cfg, tmp_path / "downloads", store, recorder, sink)
    task = manager.submit(spec(url))
    sink.gates.wait_started(task.gid)
    manager.shutdown(timeout=5)
    fetched = taskstate.fetched_path(task.workdir)
    assert fetched is not None and fetched.stat().st_size == SIZE
    state = taskstate.load(task.workdir)
    assert state is not None and getattr(state, "boot", None) == "first-boot"  # unflushed
    return task.gid, fetched


def resume(tmp_path: Path, store: Store, sink: Sink) -> str:
    """The next start: restore the journal's task and run it to its end."""
    recorder = Recorder()
    manager = manager_for(config(tmp_path), tmp_path / "downloads", store, recorder, sink)
    try:
        [task] = manager.restore()
        assert recorder.wait_finished(task.gid) == "done", task.error
    finally:
        manager.shutdown(timeout=5)
    return task.gid


def body_gets(origin: FakeOrigin, since: int) -> list[int]:
    """Bytes sent by each body GET after request number ``since`` (the probe's 1-byte GET
    fallback aside)."""
    return [r.bytes_sent for r in origin.requests[since:] if r.method == "GET"
            and r.bytes_sent > 1]


def test_after_a_reboot_an_intact_record_is_verified_before_delivery(
    tmp_path: Path, origin: FakeOrigin, store: Store, boot: Callable[[str], None]
) -> None:
    res = origin.add("/big.bin", size=SIZE, seed=2)
    fetched_then_stopped(tmp_path, origin, store, f"{origin.url}/big.bin")
    boot("second-boot")
    since = len(origin.requests)
    sink = TimedSink(tmp_path / "mirror")
    resume(tmp_path, store, sink)
    probes = [r for r in origin.requests[since:] if r.method == "HEAD"]
    assert probes, "the server was not asked whether the file is still the same"
    assert sink.began is not None and probes[0].at < sink.began
    assert body_gets(origin, since) == []  # intact and unchanged: not fetched again
    assert sha256(tmp_path / "mirror" / "big.bin") == res.sha256()


def test_after_a_reboot_a_torn_download_is_fetched_again(
    tmp_path: Path, origin: FakeOrigin, store: Store, boot: Callable[[str], None]
) -> None:
    res = origin.add("/big.bin", size=SIZE, seed=3)
    _gid, fetched = fetched_then_stopped(tmp_path, origin, store, f"{origin.url}/big.bin")
    # What a power cut leaves of pages that never reached the disk: a hole of the same size.
    os.truncate(fetched, SIZE // 2)
    os.truncate(fetched, SIZE)
    boot("second-boot")
    since = len(origin.requests)
    resume(tmp_path, store, LocalSink(tmp_path / "mirror"))
    assert sum(body_gets(origin, since)) >= SIZE
    assert sha256(tmp_path / "mirror" / "big.bin") == res.sha256()


def test_after_a_reboot_a_file_changed_on_the_server_is_fetched_again(
    tmp_path: Path, origin: FakeOrigin, store: Store, boot: Callable[[str], None]
) -> None:
    origin.add("/big.bin", size=SIZE, seed=4)
    fetched_then_stopped(tmp_path, origin, store, f"{origin.url}/big.bin")
    new = origin.add("/big.bin", size=SIZE, seed=5)  # same size, new ETag
    boot("second-boot")
    since = len(origin.requests)
    resume(tmp_path, store, LocalSink(tmp_path / "mirror"))
    assert sum(body_gets(origin, since)) >= SIZE
    assert sha256(tmp_path / "mirror" / "big.bin") == new.sha256()


def test_within_one_boot_the_record_holds_without_asking(
    tmp_path: Path, origin: FakeOrigin, store: Store, boot: Callable[[str], None]
) -> None:
    res = origin.add("/big.bin", size=SIZE, seed=6)
    fetched_then_stopped(tmp_path, origin, store, f"{origin.url}/big.bin")
    since = len(origin.requests)  # a process restart: the page cache survived
    resume(tmp_path, store, LocalSink(tmp_path / "mirror"))
    assert origin.requests[since:] == []
    assert sha256(tmp_path / "mirror" / "big.bin") == res.sha256()


def test_after_a_reboot_a_torn_placed_result_is_removed_and_fetched_again(
    tmp_path: Path, origin: FakeOrigin, store: Store, boot: Callable[[str], None]
) -> None:
    """A result renamed into MIRROR_DIR (a file system without hard links) just before a
    reboot: found by its inode, it must pass the same check, or go."""
    res = origin.add("/big.bin", size=SIZE, seed=7)
    gid, fetched = fetched_then_stopped(tmp_path, origin, store, f"{origin.url}/big.bin")
    workdir = fetched.parent
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    taskstate.record_placing(workdir, gid, fetched.stat(), size=durable.measure(fetched))
    placed = mirror / "big.bin"
    os.rename(fetched, placed)  # killed right after the rename, then the power went
    os.truncate(placed, SIZE // 2)
    os.truncate(placed, SIZE)
    boot("second-boot")
    since = len(origin.requests)
    resume(tmp_path, store, LocalSink(mirror))
    assert sum(body_gets(origin, since)) >= SIZE
    assert [p.name for p in mirror.iterdir()] == ["big.bin"]
    assert sha256(placed) == res.sha256()
