"""copy_range: byte-exact slices on both backends, every level, safety on errors and cancel."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from telebot import fileio
from telebot.errors import TaskCancelled
from telebot.fileio import ShortCopyError, _backend, _job
from telebot.fileio.ranges import copy_range
from tests.fileio.conftest import leftovers, pattern, write

PAGE = 4096
SMALL_CHUNK = 64 * 1024  # the small_chunk fixture's value
SIZE = 3 * SMALL_CHUNK + 5
# (offset, length) pairs around the interesting boundaries of a SIZE-byte source.
RANGES = [
    (0, 0), (0, 1), (7, 1), (0, PAGE - 1), (1, PAGE), (PAGE - 1, PAGE + 1),
    (0, SMALL_CHUNK - 1), (3, SMALL_CHUNK), (PAGE, SMALL_CHUNK + 1), (0, SIZE),
    (SIZE - 1, 1), (SIZE - PAGE - 1, PAGE + 1),
]


@pytest.mark.parametrize(("offset", "length"), RANGES)
def test_range_is_byte_exact(backend: str, shm_dir: Path, small_chunk: int, offset: int,
                             length: int) -> None:
    data = pattern(SIZE, seed=3)
    src = write(shm_dir / "src", data)
    assert copy_range(src, shm_dir / "part", offset, length) == length
    assert (shm_dir / "part").read_bytes() == data[offset:offset + length]
    assert leftovers(shm_dir) == []


@pytest.mark.parametrize(("offset", "length"), [
    (SIZE - 10, 100),   # runs past the end: 10 of 100 bytes
    (SIZE, 100),        # starts at the end: none
    (SIZE + PAGE, 5),   # starts beyond EOF: none
])
def test_range_past_the_end_is_a_short_copy(backend: str, shm_dir: Path, offset: int,
                                            length: int) -> None:
    src = write(shm_dir / "src", pattern(SIZE))
    with pytest.raises(ShortCopyError, match="short copy"):
        copy_range(src, shm_dir / "part", offset, length)
    assert not (shm_dir / "part").exists()
    assert leftovers(shm_dir) == []


@pytest.mark.parametrize("prefix", ["", "python:"])
@pytest.mark.parametrize("level", ["clone", "copy_file_range", "sendfile", "rw"])
def test_each_level_forced(shm_dir: Path, small_chunk: int, prefix: str, level: str) -> None:
    if not prefix and _backend.NATIVE_MODULE is None:
        pytest.skip("native core not built")
    data = pattern(2 * 1024 * 1024 + 11, seed=5)
    src = write(shm_dir / "s", data)
    fileio.force_strategy(prefix + level)
    backend, first = _backend.current()
    job = _job.Job(first)
    try:
        with open(src, "rb") as fin, open(shm_dir / "d", "wb") as fout:
            copied = backend.copy_range(fin.fileno(), fout.fileno(), 4097, 1024 * 1024 + 3, job)
    finally:
        fileio.force_strategy(None)
    assert copied == 1024 * 1024 + 3
    assert (shm_dir / "d").read_bytes() == data[4097:4097 + 1024 * 1024 + 3]
    # A range never clones; every other level works on tmpfs, so it stays put.
    assert job.level == max(first, _job.COPY_RANGE)


def test_cross_filesystem_range(backend: str, shm_dir: Path, tmp_path: Path) -> None:
    data = pattern(1024 * 1024 + 77, seed=9)
    src = write(shm_dir / "s", data)
    assert copy_range(src, tmp_path / "part", 5000, 600_000) == 600_000
    assert (tmp_path / "part").read_bytes() == data[5000:605_000]


def test_replaces_existing_part(backend: str, shm_dir: Path) -> None:
    write(shm_dir / "part", b"old old old")
    src = write(shm_dir / "s", b"0123456789")
    assert copy_range(src, shm_dir / "part", 2, 3) == 3
    assert (shm_dir / "part").read_bytes() == b"234"


def test_enospc_leaves_nothing(backend: str, tmp_path: Path, tiny_fs: Path) -> None:
    src = write(tmp_path / "big", pattern(3 * 1024 * 1024))
    with pytest.raises(OSError) as info:
        copy_range(src, tiny_fs / "p.001", 1000, 2 * 1024 * 1024)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(src)
    assert info.value.filename2 == str(tiny_fs / "p.001")
    assert list(tiny_fs.iterdir()) == []


def test_missing_source_names_both_files(backend: str, shm_dir: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        copy_range(shm_dir / "nope", shm_dir / "p.001", 0, 10)
    assert (info.value.filename, info.value.filename2) == (
        str(shm_dir / "nope"), str(shm_dir / "p.001"))
    assert list(shm_dir.iterdir()) == []


def test_cancel_before_start(backend: str, shm_dir: Path) -> None:
    src = write(shm_dir / "s", pattern(1000))
    stop = threading.Event()
    stop.set()
    with pytest.raises(TaskCancelled):
        copy_range(src, shm_dir / "p", 0, 1000, cancel=stop)
    assert sorted(p.name for p in shm_dir.iterdir()) == ["s"]


def test_cancel_mid_copy_removes_temp(backend: str, shm_dir: Path, small_chunk: int) -> None:
    src = write(shm_dir / "s", pattern(20 * small_chunk))
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 3 * small_chunk:
            stop.set()

    with pytest.raises(TaskCancelled):
        copy_range(src, shm_dir / "p", 100, 19 * small_chunk, cancel=stop, progress=progress)
    assert seen[0] == (small_chunk, 19 * small_chunk)  # chunked, total = the range
    assert max(done for done, _ in seen) < 19 * small_chunk
    assert sorted(p.name for p in shm_dir.iterdir()) == ["s"]


def test_progress_ends_at_length(backend: str, shm_dir: Path, small_chunk: int) -> None:
    src = write(shm_dir / "s", pattern(5 * small_chunk))
    seen: list[int] = []
    copy_range(src, shm_dir / "p", 1, 4 * small_chunk + 1, progress=lambda d, t: seen.append(d))
    assert seen == sorted(seen) and seen[-1] == 4 * small_chunk + 1


def test_negative_arguments_are_refused(shm_dir: Path) -> None:
    src = write(shm_dir / "s", b"abc")
    for offset, length in ((-1, 1), (0, -1)):
        with pytest.raises(ValueError, match=">= 0"):
            copy_range(src, shm_dir / "p", offset, length)
    assert sorted(p.name for p in shm_dir.iterdir()) == ["s"]


def test_exported_from_package() -> None:
    assert fileio.copy_range is copy_range
