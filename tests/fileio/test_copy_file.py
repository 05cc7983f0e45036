"""copy_file: byte-exact, attributes, sparse files, levels, safety."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telebot import fileio
from telebot.errors import TaskCancelled
from telebot.fileio import _backend, _job
from tests.fileio.conftest import leftovers, pattern, write

PAGE = 4096
CHUNK = _job.CHUNK
SIZES = [0, 1, PAGE - 1, PAGE, PAGE + 1, CHUNK - 1, CHUNK + 1, 5 * 1024 * 1024 + 7]


@pytest.mark.parametrize("size", SIZES)
def test_copy_is_byte_exact(backend: str, shm_dir: Path, size: int) -> None:
    data = pattern(size)
    src = write(shm_dir / "src.bin", data)
    assert fileio.copy_file(src, shm_dir / "dst.bin") == size
    assert (shm_dir / "dst.bin").read_bytes() == data
    assert leftovers(shm_dir) == []


@pytest.mark.parametrize("mode", [0o751, 0o666, 0o4755, 0o400])
def test_copy_to_disk_keeps_mode_and_mtime(backend: str, shm_dir: Path, tmp_path: Path,
                                           mode: int) -> None:
    src = write(shm_dir / "a", pattern(10_000), mode=mode, mtime_ns=1_234_567_890_000_000_001)
    fileio.copy_file(src, tmp_path / "b")
    st = os.stat(tmp_path / "b")
    assert st.st_mode & 0o7777 == mode
    assert st.st_mtime_ns == 1_234_567_890_000_000_001
    assert (tmp_path / "b").read_bytes() == src.read_bytes()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=0, max_value=3 * 256 * 1024 + 5))
def test_any_size_round_trips(shm_dir: Path, size: int) -> None:
    data = pattern(size, seed=size)
    write(shm_dir / "h", data)
    for mode in _backend_names():
        fileio.force_strategy(mode)
        try:
            fileio.copy_file(shm_dir / "h", shm_dir / f"h-{mode}")
        finally:
            fileio.force_strategy(None)
        assert (shm_dir / f"h-{mode}").read_bytes() == data


def _backend_names() -> list[str]:
    return ["auto", "python:rw"] if _backend.NATIVE_MODULE else ["python", "python:rw"]


@pytest.mark.parametrize("prefix", ["", "python:"])
@pytest.mark.parametrize("level", ["clone", "copy_file_range", "sendfile", "rw"])
def test_each_level_forced(tmp_path: Path, prefix: str, level: str) -> None:
    if not prefix and _backend.NATIVE_MODULE is None:
        pytest.skip("native core not built")
    data = pattern(3 * 1024 * 1024 + 11)
    src = write(tmp_path / "s", data)
    fileio.force_strategy(prefix + level)
    try:
        job = _job.Job(_backend.current()[1])
        backend = _backend.current()[0]
        copied = backend.copy_path(str(src), str(tmp_path / "t"), str(tmp_path / "d"), job)
        assert copied == len(data)
    finally:
        fileio.force_strategy(None)
    assert (tmp_path / "d").read_bytes() == data
    # Forcing a level starts there; only "not supported" errors move down.
    forced = {name: number for number, name in _job.LEVEL_NAMES.items()}[level]
    assert job.level >= forced
    if level != "clone":  # ext4/tmpfs here support every other level
        assert job.level == forced


def test_cross_filesystem_falls_back_from_copy_file_range(tmp_path: Path, shm_dir: Path) -> None:
    data = pattern(2 * 1024 * 1024)
    src = write(tmp_path / "s", data)
    for mode in _backend_names():
        fileio.force_strategy(mode.replace("auto", "copy_file_range").replace(":rw", ""))
        job = _job.Job(_backend.current()[1])
        try:
            _backend.current()[0].copy_path(str(src), str(shm_dir / "t"), str(shm_dir / "d"), job)
        finally:
            fileio.force_strategy(None)
        assert (shm_dir / "d").read_bytes() == data
        assert job.level >= _job.COPY_RANGE


def _make_sparse(path: Path, size: int, extents: list[tuple[int, bytes]]) -> None:
    with open(path, "wb") as fh:
        for off, chunk in extents:
            fh.seek(off)
            fh.write(chunk)
        fh.truncate(size)


@pytest.mark.parametrize("size", [8 * 1024 * 1024, 8 * 1024 * 1024 + 100])
def test_sparse_file_keeps_holes(backend: str, tmp_path: Path, size: int) -> None:
    src = tmp_path / "sparse"
    _make_sparse(src, size, [(0, b"a" * 5000), (3 * 1024 * 1024, b"b" * 70_000)])
    if os.stat(src).st_blocks * 512 >= size:
        pytest.skip("this filesystem does not make sparse files")
    fileio.copy_file(src, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == src.read_bytes()
    # Data: ~75 KB in two extents; allow block rounding, forbid a dense copy.
    assert os.stat(tmp_path / "copy").st_blocks * 512 < 1024 * 1024


def test_progress_reports_chunks_and_total(backend: str, shm_dir: Path, small_chunk: int) -> None:
    size = 10 * small_chunk + 3
    src = write(shm_dir / "p", pattern(size))
    calls: list[tuple[int, int]] = []
    fileio.copy_file(src, shm_dir / "q", progress=lambda d, t: calls.append((d, t)))
    assert len(calls) >= 10
    assert all(t == size for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == size


def test_cancel_mid_copy_removes_temp(backend: str, shm_dir: Path, small_chunk: int) -> None:
    src = write(shm_dir / "c", pattern(20 * small_chunk))
    stop = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 3 * small_chunk:
            stop.set()

    with pytest.raises(TaskCancelled):
        fileio.copy_file(src, shm_dir / "out", progress=progress, cancel=stop)
    assert max(seen) < 20 * small_chunk  # stopped before the end
    assert not (shm_dir / "out").exists()
    assert leftovers(shm_dir) == []


def test_cancel_predicate_before_start(backend: str, shm_dir: Path) -> None:
    src = write(shm_dir / "c", b"x")
    with pytest.raises(TaskCancelled):
        fileio.copy_file(src, shm_dir / "out", cancel=lambda: True)
    assert not (shm_dir / "out").exists()


def test_progress_error_propagates_and_cleans(backend: str, shm_dir: Path,
                                              small_chunk: int) -> None:
    src = write(shm_dir / "c", pattern(5 * small_chunk))

    def boom(done: int, total: int) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        fileio.copy_file(src, shm_dir / "out", progress=boom)
    assert leftovers(shm_dir) == [] and not (shm_dir / "out").exists()


def test_enospc_leaves_no_partial_file(backend: str, tmp_path: Path, tiny_fs: Path) -> None:
    src = write(tmp_path / "big", pattern(2 * 1024 * 1024))
    with pytest.raises(OSError) as info:
        fileio.copy_file(src, tiny_fs / "big")
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(src)
    assert info.value.filename2 == str(tiny_fs / "big")
    assert list(tiny_fs.iterdir()) == []


def test_replaces_existing_destination_atomically(backend: str, shm_dir: Path) -> None:
    write(shm_dir / "dst", b"old contents")
    src = write(shm_dir / "src", b"new")
    fileio.copy_file(src, shm_dir / "dst")
    assert (shm_dir / "dst").read_bytes() == b"new"


def test_missing_source_names_both_files(backend: str, shm_dir: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        fileio.copy_file(shm_dir / "nope", shm_dir / "dst")
    assert info.value.filename == str(shm_dir / "nope")
    assert info.value.filename2 == str(shm_dir / "dst")


def test_directory_source_is_refused(backend: str, shm_dir: Path) -> None:
    (shm_dir / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        fileio.copy_file(shm_dir / "d", shm_dir / "x")
    assert leftovers(shm_dir) == []


def test_fsync_copy(backend: str, tmp_path: Path) -> None:
    src = write(tmp_path / "s", pattern(70_000))
    assert fileio.copy_file(src, tmp_path / "d", fsync=True) == 70_000
    assert (tmp_path / "d").read_bytes() == src.read_bytes()


def test_native_flag_matches_backend() -> None:
    assert fileio.NATIVE is (_backend.NATIVE_MODULE is not None
                             and os.environ.get(_backend.FORCE_ENV, "") != "python")
    assert fileio.active_path().split("/")[0] in {"native", "python"}
