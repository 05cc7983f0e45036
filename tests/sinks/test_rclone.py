"""RcloneSink against real ``rclone serve webdav|sftp`` servers on loopback."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import TaskCancelled, TransientError, UploadError
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.resilience.retry import RetryPolicy
from telebot.sinks.rclone import sink as rclone_mod
from telebot.sinks.rclone.remotes import Destination
from telebot.sinks.rclone.settings import RcloneSettings
from telebot.sinks.rclone.sink import RcloneSink, index_link, run_rclone
from tests import polling
from tests.fakes.rclone_serve import Remotes, start_remotes

MiB = 1 << 20
FAST_RETRY = RetryPolicy(attempts=10, base_delay=0.2, max_delay=1.0, deadline=120.0)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Remotes]:
    remotes = start_remotes(tmp_path)
    yield remotes
    remotes.webdav.stop()
    remotes.sftp.stop()


def make_task(tmp_path: Path, upload: str, name: str | None = None) -> Task:
    spec = TaskSpec(kind="mirror", source="x", chat_id=1, user_id=1, upload=upload, name=name)
    task = Task("00000000r1", spec, tmp_path / "task")
    task.begin(State.UPLOADING, "rclone")
    return task


def sink_for(servers: Remotes, *flags: str, errors: ErrorTracker | None = None) -> RcloneSink:
    return RcloneSink(RcloneSettings(servers.config), policy=FAST_RETRY, breakers=BreakerRegistry(),
                      errors=errors or ErrorTracker(), extra_flags=flags)


def wait_until(check: Callable[[], object], timeout: float = 30.0) -> None:
    polling.wait_until(check, timeout)


def payload(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("remote", ["wd", "sf"])
def test_mirror_a_file_and_a_folder(tmp_path: Path, servers: Remotes, remote: str) -> None:
    root = servers.webdav.root if remote == "wd" else servers.sftp.root
    src = payload(tmp_path / "in" / "clip.bin", 3 * MiB)
    task = make_task(tmp_path, f"{remote}:up/dir")
    delivery = sink_for(servers).deliver(task, src)
    assert (root / "up/dir/clip.bin").read_bytes() == src.read_bytes()
    assert delivery.location == f"{remote}:up/dir/clip.bin" and delivery.size == 3 * MiB
    assert task.done == task.total == 3 * MiB

    folder = tmp_path / "in" / "album"
    payload(folder / "a.txt", 1000)
    payload(folder / "sub" / "b.txt", 2000)
    delivery = sink_for(servers).deliver(make_task(tmp_path, f"{remote}:"), folder)
    assert (root / "album/sub/b.txt").read_bytes() == (folder / "sub/b.txt").read_bytes()
    assert (root / "album/a.txt").stat().st_size == 1000
    assert delivery.files == 2 and delivery.size == 3000


def test_progress_is_reported_while_copying(tmp_path: Path, servers: Remotes) -> None:
    src = payload(tmp_path / "in" / "big.bin", 6 * MiB)
    task = make_task(tmp_path, "wd:p")
    sink = sink_for(servers, "--bwlimit", "2M")
    worker = threading.Thread(target=sink.deliver, args=(task, src))
    worker.start()
    wait_until(lambda: 0 < task.done < 6 * MiB and task.total == 6 * MiB)
    worker.join(60)
    assert task.done == 6 * MiB


def test_cancel_stops_rclone_within_a_second(tmp_path: Path, servers: Remotes) -> None:
    src = payload(tmp_path / "in" / "big.bin", 20 * MiB)
    task = make_task(tmp_path, "wd:c")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            sink_for(servers, "--bwlimit", "1M").deliver(task, src)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_until(lambda: task.done > 0)
    started = time.monotonic()
    task.cancel("user")
    worker.join(10)
    assert time.monotonic() - started < 1.0
    assert failure and isinstance(failure[0], TaskCancelled)
    out = subprocess.run(["pgrep", "-f", f"rclone --config {servers.config}"],
                         capture_output=True, text=True).stdout
    assert out == "", "an rclone child survived the cancel"


def test_server_down_mid_upload_is_retried(tmp_path: Path, servers: Remotes) -> None:
    src = payload(tmp_path / "in" / "big.bin", 8 * MiB)
    task = make_task(tmp_path, "wd:r")
    errors = ErrorTracker()
    result: list[object] = []
    sink = sink_for(servers, "--bwlimit", "2M", errors=errors)
    worker = threading.Thread(target=lambda: result.append(sink.deliver(task, src)))
    worker.start()
    wait_until(lambda: task.done > MiB)
    servers.webdav.stop()
    wait_until(lambda: errors.counts())  # at least one attempt failed against the dead server
    servers.webdav.start()
    worker.join(120)
    assert result, "the upload did not finish after the server came back"
    assert (servers.webdav.root / "r/big.bin").read_bytes() == src.read_bytes()
    assert "TransientError" in "".join(k for k, _ in errors.counts())


def test_rerun_skips_what_arrived(tmp_path: Path, servers: Remotes) -> None:
    src = payload(tmp_path / "in" / "once.bin", 2 * MiB)
    sink_for(servers).deliver(make_task(tmp_path, "wd:s"), src)
    stats: list[dict[str, object]] = []
    run_rclone(["copyto", *rclone_mod.TRANSFER_FLAGS, "--", str(src), "wd:s/once.bin"],
               config=servers.config, on_stats=stats.append)
    assert stats and stats[-1]["bytes"] == 0 and stats[-1]["checks"] == 1


def test_failures_are_classified(tmp_path: Path, servers: Remotes) -> None:
    src = payload(tmp_path / "in" / "f.bin", 10)
    servers.webdav.stop()
    with pytest.raises(TransientError):
        run_rclone(["copyto", *rclone_mod.TRANSFER_FLAGS, "--", str(src), "wd:x/f.bin"],
                   config=servers.config)
    with pytest.raises(UploadError):
        run_rclone(["copyto", "--", str(tmp_path / "absent"), "sf:x/f.bin"],
                   config=servers.config)


def test_links_fall_back_to_index_url(tmp_path: Path, servers: Remotes) -> None:
    src = payload(tmp_path / "in" / "a b#1.bin", 10)
    settings = RcloneSettings(servers.config, "https://index.example/files")
    sink = RcloneSink(settings, breakers=BreakerRegistry())
    delivery = sink.deliver(make_task(tmp_path, "wd:dir x"), src)
    assert delivery.links == ("https://index.example/files/dir%20x/a%20b%231.bin",)
    assert index_link("https://i/", Destination("wd", "/a/b")) == "https://i/a/b"


def test_an_existing_name_is_never_replaced(tmp_path: Path, servers: Remotes) -> None:
    root = servers.sftp.root / "keep"
    root.mkdir(parents=True)
    (root / "db.sqlite").write_bytes(b"the first one")
    (root / "album").mkdir()
    (root / "album" / "a.txt").write_bytes(b"old a")
    src = payload(tmp_path / "in" / "db.sqlite", 1000)
    delivery = sink_for(servers).deliver(make_task(tmp_path / "1", "sf:keep"), src)
    assert delivery.location == "sf:keep/db (1).sqlite" and delivery.name == "db (1).sqlite"
    delivery = sink_for(servers).deliver(make_task(tmp_path / "2", "sf:keep"), src)
    assert delivery.location == "sf:keep/db (2).sqlite"
    assert (root / "db.sqlite").read_bytes() == b"the first one"
    assert (root / "db (2).sqlite").read_bytes() == src.read_bytes()
    folder = tmp_path / "in" / "album"
    payload(folder / "a.txt", 10)
    delivery = sink_for(servers).deliver(make_task(tmp_path / "3", "sf:keep"), folder)
    assert delivery.location == "sf:keep/album (1)"
    assert (root / "album" / "a.txt").read_bytes() == b"old a"  # no merge into the old folder


def test_a_rerun_of_the_same_task_keeps_its_chosen_name(tmp_path: Path, servers: Remotes) -> None:
    (servers.webdav.root / "r").mkdir()
    (servers.webdav.root / "r" / "f.bin").write_bytes(b"someone else's")
    src = payload(tmp_path / "in" / "f.bin", 2 * MiB)
    task = make_task(tmp_path, "wd:r")
    first = sink_for(servers).deliver(task, src)
    # The same task again (a retry, a restart after a kill before the report): same name, and
    # rclone finds its bytes there; it does not move on to "f (2).bin".
    again = sink_for(servers).deliver(make_task(tmp_path, "wd:r"), src)
    assert first.location == again.location == "wd:r/f (1).bin"
    assert sorted(p.name for p in (servers.webdav.root / "r").iterdir()) == ["f (1).bin", "f.bin"]


def test_overwrite_replaces(tmp_path: Path, servers: Remotes) -> None:
    (servers.webdav.root / "o").mkdir()
    (servers.webdav.root / "o" / "f.bin").write_bytes(b"old")
    src = payload(tmp_path / "in" / "f.bin", 100)
    spec = TaskSpec(kind="mirror", source="x", chat_id=1, user_id=1, upload="wd:o", overwrite=True)
    task = Task("00000000r2", spec, tmp_path / "task")
    task.begin(State.UPLOADING, "rclone")
    assert sink_for(servers).deliver(task, src).location == "wd:o/f.bin"
    assert (servers.webdav.root / "o" / "f.bin").read_bytes() == src.read_bytes()


def test_concurrent_uploads_of_one_name_take_different_names(
    tmp_path: Path, servers: Remotes
) -> None:
    src = payload(tmp_path / "in" / "same.bin", 300_000)
    found: list[str] = []
    workers = [
        threading.Thread(target=lambda n=n: found.append(
            sink_for(servers).deliver(make_task(tmp_path / str(n), "wd:c"), src).location))
        for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(found) == ["wd:c/same (1).bin", "wd:c/same (2).bin", "wd:c/same.bin"]


def test_a_note_only_ever_names_a_file_inside_the_destination(tmp_path: Path) -> None:
    import json

    dest = Destination("wd", "r")
    note = tmp_path / rclone_mod.TARGET_NOTE
    for target, expected in [("wd:r/a (1).bin", "wd:r/a (1).bin"), ("wd:r/x:y.bin", "wd:r/x:y.bin"),
                             ("wd:other/a.bin", None), ("wd:r/../a.bin", None), ("sf:r/a", None),
                             ("wd:r/", None), (7, None)]:
        note.write_text(json.dumps({"dest": "wd:r", "name": "a.bin", "target": target}))
        found = rclone_mod._read_note(note, dest, "a.bin")
        assert (str(found) if found else None) == expected, target
    note.write_text(json.dumps({"dest": "wd:q", "name": "a.bin", "target": "wd:q/a.bin"}))
    assert rclone_mod._read_note(note, dest, "a.bin") is None  # another destination now
