"""LocalSink: a final name appears only with complete bytes; a resumed run never delivers twice.

Kills are real: a child process runs the sink and SIGKILLs itself at the chosen moment (in the
middle of the copy, or right after the result got its final name but before the delivery was
recorded); the test then resumes the task in this process, as a restarted bot would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot.engine import taskstate
from telebot.engine.task import Task, TaskSpec
from telebot.sinks.local import LocalSink, numbered
from telebot.sources.names import MAX_NAME_BYTES

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20
GID = "00000000a1"

CHILD = """
import json, os, signal, sys
from pathlib import Path
from telebot.engine.task import Task, TaskSpec
from telebot.sinks.local import LocalSink
import telebot.sinks.local as local

args = json.loads(sys.argv[1])
def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)
if args["kill"] == "record":
    local.record_delivered = die  # the sink records its delivery: killed right before
if args.get("no_links"):
    def refuse(*_a, **_k):
        raise PermissionError(1, "Operation not permitted")
    os.link = refuse
task = Task(args["gid"], TaskSpec(kind="mirror", source="x", chat_id=1, user_id=1),
            Path(args["workdir"]))
if args["kill"] == "copy":
    def progress(self, done, total):
        if 0 < done < (total or 0):
            die()
    Task.progress = progress
LocalSink(Path(args["root"])).deliver(task, Path(args["path"]))
"""


def make_task(workdir: Path, name: str | None = None) -> Task:
    spec = TaskSpec(kind="mirror", source="x", chat_id=1, user_id=1, name=name)
    task = Task(GID, spec, workdir)
    taskstate.create(workdir, GID)
    return task


def run_child(workdir: Path, root: Path, path: Path, kill: str, no_links: bool = False) -> None:
    args = {"gid": GID, "workdir": str(workdir), "root": str(root), "path": str(path),
            "kill": kill, "no_links": no_links}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A folder on its own tmpfs: another filesystem than tmp_path (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(params=["same-fs", "cross-fs"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "same-fs":
        return tmp_path / "mirror"
    mount: Path = request.getfixturevalue("tmpfs")
    return mount / "mirror"


def fetched(workdir: Path, name: str = "film.mkv", size: int = 3 * MiB) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = workdir / name
    path.write_bytes(data)
    return path, data


def listing(root: Path) -> list[str]:
    return sorted(os.listdir(root))


def test_delivers_and_numbers_only_on_a_clash(tmp_path: Path, root: Path) -> None:
    task = make_task(tmp_path / "work")
    path, data = fetched(task.workdir)
    root.mkdir()
    (root / "film.mkv").write_bytes(b"someone else's film")

    delivery = LocalSink(root).deliver(task, path)

    assert delivery.name == "film (1).mkv" and delivery.size == len(data)
    assert (root / "film (1).mkv").read_bytes() == data
    assert (root / "film.mkv").read_bytes() == b"someone else's film"
    assert listing(root) == ["film (1).mkv", "film.mkv"]  # no temp left behind
    state = taskstate.load(task.workdir)
    assert state is not None and state.delivered is not None
    assert state.delivered["name"] == "film (1).mkv"


def test_a_kill_mid_copy_leaves_no_final_name_and_the_resume_saves_it_once(
    tmp_path: Path, tmpfs: Path
) -> None:
    root = tmpfs / "mirror"
    task = make_task(tmp_path / "work")
    path, data = fetched(task.workdir, size=48 * MiB)  # several 16 MiB copy chunks

    run_child(task.workdir, root, path, kill="copy")
    assert "film.mkv" not in listing(root), "a final name appeared before its bytes were there"

    delivery = LocalSink(root).deliver(task, path)
    assert delivery.name == "film.mkv"
    assert (root / "film.mkv").read_bytes() == data
    assert listing(root) == ["film.mkv"]


def test_a_kill_after_placing_before_recording_does_not_deliver_twice(
    tmp_path: Path, root: Path
) -> None:
    task = make_task(tmp_path / "work")
    path, data = fetched(task.workdir)

    run_child(task.workdir, root, path, kill="record")
    assert (root / "film.mkv").read_bytes() == data

    delivery = LocalSink(root).deliver(task, path)
    assert delivery.name == "film.mkv" and delivery.size == len(data)
    assert listing(root) == ["film.mkv"]


def test_a_folder_killed_after_its_rename_is_found_again(tmp_path: Path, root: Path) -> None:
    task = make_task(tmp_path / "work")
    folder = task.workdir / "album"
    folder.mkdir()
    for n in range(3):
        (folder / f"{n}.flac").write_bytes(bytes([n]) * 1000)

    run_child(task.workdir, root, folder, kill="record")
    assert sorted(os.listdir(root / "album")) == ["0.flac", "1.flac", "2.flac"]

    delivery = LocalSink(root).deliver(task, folder)
    assert (delivery.name, delivery.files, delivery.size) == ("album", 3, 3000)
    assert listing(root) == ["album"]


def test_a_folder_is_numbered_on_a_clash(tmp_path: Path, root: Path) -> None:
    task = make_task(tmp_path / "work")
    folder = task.workdir / "album"
    folder.mkdir()
    (folder / "a.flac").write_bytes(b"new")
    root.mkdir()
    (root / "album").mkdir()
    (root / "album" / "a.flac").write_bytes(b"old")

    delivery = LocalSink(root).deliver(task, folder)

    assert delivery.name == "album (1)"
    assert (root / "album" / "a.flac").read_bytes() == b"old"
    assert (root / "album (1)" / "a.flac").read_bytes() == b"new"


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])  # 1-, 2-, 3- and 4-byte UTF-8
def test_numbered_names_fit_name_max(char: str) -> None:
    stem = char * (MAX_NAME_BYTES // len(char.encode()))
    name = stem.encode()[: MAX_NAME_BYTES - 4].decode("utf-8", "ignore") + ".mkv"
    for number in (1, 12, 9999):
        result = numbered(name, number)
        assert len(result.encode()) <= MAX_NAME_BYTES
        assert result.endswith(f" ({number}).mkv") and result.startswith(char)


def test_a_255_byte_result_name_is_saved_and_numbered(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    for _ in range(2):
        task = make_task(tmp_path / "work")
        name = "€" * 83 + ".mkv"  # 253 bytes; sanitizing keeps 240, numbering fits in 255
        task = make_task(tmp_path / "work", name=name)
        path, _ = fetched(task.workdir, name="x.bin", size=10)
        LocalSink(root).deliver(task, path)
        path.unlink()
    names = listing(root)
    assert len(names) == 2 and all(n.endswith(".mkv") for n in names)
    assert all(len(n.encode()) <= MAX_NAME_BYTES for n in names)


def test_without_hard_links_a_file_is_renamed_and_still_found_after_a_kill(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A MIRROR_DIR on exFAT or a FUSE mount: link(2) fails with EPERM.
    task = make_task(tmp_path / "work")
    path, data = fetched(task.workdir)
    run_child(task.workdir, root, path, kill="record", no_links=True)
    assert (root / "film.mkv").read_bytes() == data

    def refuse(*_a: object, **_k: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    delivery = LocalSink(root).deliver(task, path)
    assert delivery.name == "film.mkv" and listing(root) == ["film.mkv"]

    other = make_task(tmp_path / "work2")
    other_path, _ = fetched(other.workdir)
    assert LocalSink(root).deliver(other, other_path).name == "film (1).mkv"
