"""batch() results per item, the stat cache, the volatile-fs check."""

from __future__ import annotations

import importlib
import subprocess
import threading
from pathlib import Path

import pytest

from telebot import fileio
from telebot.errors import BadInputError, TaskCancelled
from telebot.fileio import StatCache, _fsinfo, ops
from telebot.fileio._fsinfo import fs_type, is_volatile
from tests.fileio.conftest import pattern, write

# The module, not the function telebot.fileio re-exports under the same name.
batch_module = importlib.import_module("telebot.fileio.batch")


def test_batch_runs_everything_and_keeps_order(backend: str, tmp_path: Path,
                                               shm_dir: Path) -> None:
    ops = []
    for i in range(12):
        write(tmp_path / f"s{i}", pattern(i * 1000 + 1, seed=i))
        ops.append(("copy" if i % 2 else "move", tmp_path / f"s{i}", shm_dir / f"d{i}"))
    ops.append(("copy", tmp_path / "missing", shm_dir / "never"))
    ops.append(("zip", tmp_path / "s1", shm_dir / "x"))
    results = fileio.batch(ops, workers=3)
    assert [r.dst for r in results] == [str(d) for _, _, d in ops]
    for i in range(12):
        assert results[i].ok, results[i].error
        assert (shm_dir / f"d{i}").read_bytes() == pattern(i * 1000 + 1, seed=i)
        assert (tmp_path / f"s{i}").exists() == bool(i % 2)
    assert results[1].nbytes == 1001
    assert isinstance(results[12].error, FileNotFoundError)
    assert isinstance(results[13].error, BadInputError)


def test_batch_cancelled(backend: str, tmp_path: Path) -> None:
    write(tmp_path / "s", b"x")
    stop = threading.Event()
    stop.set()
    results = fileio.batch([("copy", tmp_path / "s", tmp_path / "d")] * 2, workers=2,
                           cancel=stop)
    assert all(isinstance(r.error, TaskCancelled) for r in results)


def test_batch_copies_directories(backend: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    write(tmp_path / "a" / "f", b"12345")
    [result] = fileio.batch([("copy", tmp_path / "a", tmp_path / "b")], workers=1)
    assert result.ok and result.nbytes == 5 and (tmp_path / "b" / "f").read_bytes() == b"12345"


def test_batch_workers_run_at_the_same_time(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "s", b"x")
    both_inside = threading.Barrier(2, timeout=10)  # broken unless two items overlap
    real = batch_module._run_one

    def meet_then_run(op: str, src: str, dst: str, cancel: object) -> fileio.BatchResult:
        if dst.endswith(("d0", "d1")):
            both_inside.wait()
        return real(op, src, dst, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_module, "_run_one", meet_then_run)
    results = fileio.batch([("copy", tmp_path / "s", tmp_path / f"d{i}") for i in range(50)],
                           workers=2)
    assert all(r.ok for r in results) and len(results) == 50


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_batch_reports_items_of_a_worker_that_died(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "s", b"x")
    real = batch_module._run_one
    caller = threading.current_thread()

    def die_off_the_caller(op: str, src: str, dst: str, cancel: object) -> fileio.BatchResult:
        if threading.current_thread() is not caller:
            raise SystemExit  # a BaseException: not an item's failure, the worker's end
        return real(op, src, dst, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(batch_module, "_run_one", die_off_the_caller)
    ops = [("copy", tmp_path / "s", tmp_path / f"d{i}") for i in range(40)]
    results = fileio.batch(ops, workers=3)
    assert [r.dst for r in results] == [str(d) for _, _, d in ops]
    stopped = [r for r in results if r.error is not None]
    assert all(str(r.error) == "batch worker stopped" for r in stopped)
    assert all((tmp_path / Path(r.dst).name).exists() for r in results if r.ok)
    assert len(stopped) <= 2  # at most the one item each dying worker had claimed


def test_stat_cache_serves_and_invalidates(tmp_path: Path) -> None:
    cache = StatCache()
    path = write(tmp_path / "f", b"abc")
    assert cache.size(path) == 3
    path.write_bytes(b"abcdef")  # changed behind the cache's back: still cached
    assert cache.size(path) == 3
    cache.invalidate(path)
    assert cache.size(path) == 6
    cache.invalidate_tree(tmp_path)
    path.write_bytes(b"")
    assert cache.size(path) == 0


def test_fileio_writes_invalidate_the_shared_cache(backend: str, tmp_path: Path) -> None:
    dst = write(tmp_path / "d", b"old")
    assert fileio.stat_cache.size(dst) == 3
    fileio.copy_file(write(tmp_path / "s", b"longer data"), dst)
    assert fileio.stat_cache.size(dst) == 11
    fileio.move(tmp_path / "s", dst)
    assert fileio.stat_cache.size(dst) == 11
    with pytest.raises(FileNotFoundError):
        fileio.stat_cache.size(tmp_path / "s")


def test_stat_cache_is_bounded(tmp_path: Path) -> None:
    cache = StatCache(max_entries=2)
    files = [write(tmp_path / f"f{i}", b"x" * i) for i in range(3)]
    for f in files:
        cache.size(f)
    files[0].write_bytes(b"changed")
    assert cache.size(files[0]) == 7  # evicted, so re-read


@pytest.mark.parametrize("native", [True, False])
def test_volatile_detection(tmp_path: Path, shm_dir: Path, native: bool,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    if native and _fsinfo.NATIVE_MODULE is None:
        pytest.skip("native core not built")
    if not native:  # the /proc/self/mounts path of a build without the C core
        monkeypatch.setattr(_fsinfo, "NATIVE_MODULE", None)
    assert fs_type(str(shm_dir)) == "tmpfs" and is_volatile(str(shm_dir))
    assert fs_type("/proc/self") == "proc" and not is_volatile("/proc/self")
    assert is_volatile(str(tmp_path)) == (fs_type(str(tmp_path)) in {"tmpfs", "ramfs"})
    ramfs = tmp_path / "ram"
    ramfs.mkdir()
    if subprocess.run(["mount", "-t", "ramfs", "ramfs", str(ramfs)],
                      capture_output=True, check=False).returncode == 0:
        try:
            assert is_volatile(str(ramfs))
        finally:
            subprocess.run(["umount", str(ramfs)], check=False)


def test_move_flushes_only_when_the_source_survives_a_crash(tmp_path: Path,
                                                           shm_dir: Path) -> None:
    disk_is_volatile = is_volatile(str(tmp_path))
    assert ops._durable(str(shm_dir), None) is False
    assert ops._durable(str(tmp_path), None) is (not disk_is_volatile)
    assert ops._durable(str(shm_dir), True) is True
    assert ops._durable(str(tmp_path), False) is False
