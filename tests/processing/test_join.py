"""The -j stage: split sets joined into their file, gaps refused, other files untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telebot.engine.task import Task
from telebot.errors import ProcessingError, TaskCancelled
from telebot.processing import join
from telebot.processing.join import JoinStage, find_sets
from tests.processing.archive_helpers import make_task, tree


def split(folder: Path, name: str, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        (folder / f"{name}.{i // size + 1:03d}").write_bytes(data[i:i + size])


def run(tmp_path: Path, path: Path, task_cancelled: bool = False):
    task = make_task(tmp_path, join=True, extract=False)
    if task_cancelled:
        task.cancel("cancelled by the user")
    out = task.workdir / ".stage-0-join"
    out.mkdir()
    return task, out, JoinStage().process(task, path, out)


def test_sets_are_joined_and_other_files_pass_through(tmp_path: Path) -> None:
    folder = tmp_path / "dl"
    (folder / "sub").mkdir(parents=True)
    movie, disk = os.urandom(250_000), os.urandom(70_000)
    split(folder, "movie.mkv", movie, 100_000)
    split(folder / "sub", "disk.img", disk, 30_000)
    (folder / "alone.001").write_bytes(b"one part is not a set")
    (folder / "photo.100").write_bytes(b"numbered, but no .001")
    (folder / "photo.101").write_bytes(b"numbered too")
    (folder / "notes.txt").write_bytes(b"n")
    task, out, result = run(tmp_path, folder)
    assert result == out / "dl"
    assert tree(result) == {
        "alone.001": b"one part is not a set", "movie.mkv": movie, "notes.txt": b"n",
        "photo.100": b"numbered, but no .001", "photo.101": b"numbered too",
        "sub": None, "sub/disk.img": disk,
    }
    assert task.done == task.total == len(movie) + len(disk)
    assert task.warnings == ["joined 2 split sets"]


def test_a_gap_is_an_error_naming_the_missing_part(tmp_path: Path) -> None:
    folder = tmp_path / "dl"
    folder.mkdir()
    split(folder, "movie.mkv", os.urandom(400), 100)
    (folder / "movie.mkv.003").unlink()
    with pytest.raises(ProcessingError, match=r"part movie\.mkv\.003 is missing"):
        run(tmp_path, folder)


def test_a_single_file_has_nothing_to_join(tmp_path: Path) -> None:
    (tmp_path / "a.001").write_bytes(b"x")
    _task, out, result = run(tmp_path, tmp_path / "a.001")
    assert result == out / "a.001" and result.read_bytes() == b"x"


def test_a_joined_name_never_replaces_an_existing_file(tmp_path: Path) -> None:
    folder = tmp_path / "dl"
    folder.mkdir()
    split(folder, "f", b"abcdef", 3)
    (folder / "f").write_bytes(b"already here")
    _task, _out, result = run(tmp_path, folder)
    assert (result / "f").read_bytes() == b"already here"
    assert (result / "f.joined").read_bytes() == b"abcdef"


class CancelsAt(Task):
    """A task whose user cancels once ``at`` bytes are reported."""

    at = 5000

    def progress(self, done: int, total: int | None) -> None:
        super().progress(done, total)
        if done >= self.at:
            self.cancel("cancelled by the user")


def test_cancel_stops_between_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(join, "CHUNK", 1000)
    folder = tmp_path / "dl"
    folder.mkdir()
    split(folder, "f", os.urandom(100_000), 50_000)
    plain = make_task(tmp_path, join=True)
    task = CancelsAt(plain.gid, plain.spec, plain.workdir)
    out = task.workdir / ".stage-0-join"
    out.mkdir()
    with pytest.raises(TaskCancelled):
        JoinStage().process(task, folder, out)
    assert task.done == CancelsAt.at  # the next chunk saw the cancel


def test_find_sets_orders_parts_by_number() -> None:
    names = ["x.010", *(f"x.{i:03d}" for i in range(1, 10)), "y.txt"]
    assert find_sets(names) == {"x": [f"x.{i:03d}" for i in range(1, 11)]}
