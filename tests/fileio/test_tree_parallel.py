"""The tree walker with several workers: wide and deep trees, errors and cancel in subfolders.

The C walker hands directories to up to one thread per CPU; these trees have many folders so
the work really is shared, and the checks hold on the single-threaded Python mirror too.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from telebot import fileio
from telebot.errors import TaskCancelled
from tests.fileio.conftest import leftovers, pattern, write
from tests.fileio.test_tree import _snapshot


def _wide_tree(root: Path, folders: int = 24, files: int = 12) -> int:
    """folders x files small files, every other folder nested one level; returns the bytes."""
    total = 0
    for d in range(folders):
        folder = root / f"d{d:02d}" / ("inner" if d % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(files):
            size = (d * 131 + f * 977) % 9000
            write(folder / f"f{f}", pattern(size, seed=d + f), mode=0o600 + (f % 2) * 0o44)
            total += size
        os.chmod(folder, 0o700 + (d % 3) * 0o50)
        os.utime(folder, ns=(1_400_000_000_000_000_000 + d, 1_400_000_000_000_000_000 + d))
    return total


def test_wide_tree_is_reproduced(backend: str, shm_dir: Path) -> None:
    total = _wide_tree(shm_dir / "a")
    assert fileio.copy_tree(shm_dir / "a", shm_dir / "b") == total
    assert _snapshot(shm_dir / "b") == _snapshot(shm_dir / "a")
    assert leftovers(shm_dir) == []


def test_progress_is_monotonic_and_complete(backend: str, shm_dir: Path) -> None:
    total = _wide_tree(shm_dir / "a", folders=40, files=20)  # 800 files: several reports
    seen: list[tuple[int, int]] = []
    fileio.copy_tree(shm_dir / "a", shm_dir / "b", progress=lambda d, t: seen.append((d, t)))
    assert len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (total, total)


def test_error_in_a_subfolder_removes_everything(backend: str, tmp_path: Path,
                                                 tiny_fs: Path) -> None:
    (tmp_path / "a").mkdir()
    for d in range(8):
        (tmp_path / "a" / f"d{d}").mkdir()
        for f in range(3):
            write(tmp_path / "a" / f"d{d}" / f"f{f}", pattern(100_000, seed=d * 3 + f))
    with pytest.raises(OSError) as info:
        fileio.copy_tree(tmp_path / "a", tiny_fs / "b")
    assert info.value.errno == errno.ENOSPC
    assert str(info.value.filename).startswith(str(tmp_path / "a" / "d"))
    assert list(tiny_fs.iterdir()) == []


def test_directory_symlink_is_copied_not_followed(backend: str, shm_dir: Path) -> None:
    _wide_tree(shm_dir / "a", folders=6, files=2)
    # A loop through a link to a parent would never end if a worker followed it.
    os.symlink("..", shm_dir / "a" / "d03" / "inner" / "up")
    fileio.copy_tree(shm_dir / "a", shm_dir / "b")
    assert os.readlink(shm_dir / "b" / "d03" / "inner" / "up") == ".."


def test_cancel_stops_all_workers(backend: str, shm_dir: Path) -> None:
    _wide_tree(shm_dir / "a", folders=40, files=20)
    stop = threading.Event()
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        stop.set()  # at the first report (after 256 files)

    with pytest.raises(TaskCancelled):
        fileio.copy_tree(shm_dir / "a", shm_dir / "b", progress=progress, cancel=stop)
    # Another worker may pass its own 256-file mark before it sees the stop.
    assert 1 <= len(calls) <= 2
    assert not (shm_dir / "b").exists() and leftovers(shm_dir) == []


def test_big_files_in_several_folders_report_chunks(backend: str, shm_dir: Path,
                                                    small_chunk: int) -> None:
    for d in range(3):
        (shm_dir / "a" / f"d{d}").mkdir(parents=True)
        write(shm_dir / "a" / f"d{d}" / "big", pattern(6 * small_chunk, seed=d))
    seen: list[int] = []
    fileio.copy_tree(shm_dir / "a", shm_dir / "b", progress=lambda d, t: seen.append(d))
    assert len(seen) >= 6 and seen == sorted(seen) and seen[-1] == 18 * small_chunk
    for d in range(3):
        assert (shm_dir / "b" / f"d{d}" / "big").read_bytes() == pattern(6 * small_chunk, seed=d)
