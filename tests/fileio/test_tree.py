"""copy_tree / move_tree / move: structure, attributes, safety, cross-fs."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from telebot import fileio
from telebot.errors import TaskCancelled
from tests.fileio.conftest import leftovers, pattern, write


def _make_tree(root: Path, files: int = 30) -> None:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    for i in range(files):
        folder = [root, root / "sub", root / "sub" / "deep"][i % 3]
        write(folder / f"f{i}.bin", pattern(i * 997, seed=i), mode=0o600 + (i % 2) * 0o44)
    write(root / "big.bin", pattern(300_000))
    os.symlink("sub/f1.bin", root / "link")
    os.chmod(root / "sub", 0o750)
    os.utime(root / "sub", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))


def _snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Relative path -> (kind, mode, mtime (files/dirs), content or link target)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", st.st_mode, st.st_mtime_ns)
            else:
                out[rel] = ("file", st.st_mode, st.st_mtime_ns, path.read_bytes())
    return out


def test_copy_tree_reproduces_everything(backend: str, tmp_path: Path) -> None:
    _make_tree(tmp_path / "a")
    copied = fileio.copy_tree(tmp_path / "a", tmp_path / "b")
    assert _snapshot(tmp_path / "b") == _snapshot(tmp_path / "a")
    assert copied == sum(p.stat().st_size for p in (tmp_path / "a").rglob("*.bin"))
    assert leftovers(tmp_path) == []


def test_copy_tree_refuses_existing_destination(backend: str, tmp_path: Path) -> None:
    _make_tree(tmp_path / "a", files=3)
    (tmp_path / "b").mkdir()
    with pytest.raises(FileExistsError) as info:
        fileio.copy_tree(tmp_path / "a", tmp_path / "b")
    assert info.value.filename2 == str(tmp_path / "b")


def test_copy_tree_across_filesystems(backend: str, tmp_path: Path, shm_dir: Path) -> None:
    _make_tree(shm_dir / "a")
    fileio.copy_tree(shm_dir / "a", tmp_path / "b")
    assert _snapshot(tmp_path / "b") == _snapshot(shm_dir / "a")


def test_tree_enospc_leaves_nothing(backend: str, tmp_path: Path, tiny_fs: Path) -> None:
    (tmp_path / "a").mkdir()
    for i in range(6):
        write(tmp_path / "a" / f"f{i}", pattern(300_000, seed=i))
    with pytest.raises(OSError) as info:
        fileio.copy_tree(tmp_path / "a", tiny_fs / "b")
    assert info.value.errno == errno.ENOSPC
    assert str(info.value.filename).startswith(str(tmp_path / "a") + "/")
    assert str(info.value.filename2).startswith(str(tiny_fs / "b") + "/")
    assert list(tiny_fs.iterdir()) == []


def test_tree_progress_and_cancel(backend: str, tmp_path: Path, small_chunk: int) -> None:
    (tmp_path / "a").mkdir()
    for i in range(4):
        write(tmp_path / "a" / f"f{i}", pattern(8 * small_chunk, seed=i))
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 10 * small_chunk:
            stop.set()

    with pytest.raises(TaskCancelled):
        fileio.copy_tree(tmp_path / "a", tmp_path / "b", progress=progress, cancel=stop)
    assert seen and all(t == 32 * small_chunk for _, t in seen)
    assert not (tmp_path / "b").exists()
    assert leftovers(tmp_path) == []


def test_tree_copies_links_and_skips_special_files(backend: str, tmp_path: Path) -> None:
    (tmp_path / "a" / "s").mkdir(parents=True)
    write(tmp_path / "a" / "s" / "x", b"data")
    os.symlink("/nonexistent/target", tmp_path / "a" / "dangling")  # copied as a link: fine
    os.mkfifo(tmp_path / "a" / "fifo")  # skipped, never opened
    fileio.copy_tree(tmp_path / "a", tmp_path / "b")
    assert os.readlink(tmp_path / "b" / "dangling") == "/nonexistent/target"
    assert not (tmp_path / "b" / "fifo").exists()


def test_move_within_filesystem_is_a_rename(backend: str, tmp_path: Path) -> None:
    src = write(tmp_path / "s", b"abc")
    inode = src.stat().st_ino
    fileio.move(src, tmp_path / "d")
    assert not src.exists() and (tmp_path / "d").stat().st_ino == inode


@pytest.mark.parametrize("direction", ["shm_to_disk", "disk_to_shm"])
def test_move_across_filesystems(backend: str, tmp_path: Path, shm_dir: Path,
                                 direction: str) -> None:
    a, b = (shm_dir, tmp_path) if direction == "shm_to_disk" else (tmp_path, shm_dir)
    data = pattern(1_000_003)
    src = write(a / "s", data, mode=0o604, mtime_ns=1_300_000_000_000_000_000)
    fileio.move(src, b / "d")
    assert not src.exists()
    assert (b / "d").read_bytes() == data
    st = (b / "d").stat()
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o604, 1_300_000_000_000_000_000)


def test_move_tree_across_filesystems(backend: str, tmp_path: Path, shm_dir: Path) -> None:
    _make_tree(shm_dir / "a")
    before = _snapshot(shm_dir / "a")
    fileio.move_tree(shm_dir / "a", tmp_path / "b")
    assert not (shm_dir / "a").exists()
    assert _snapshot(tmp_path / "b") == before


def test_move_of_directory_across_filesystems(backend: str, tmp_path: Path,
                                              shm_dir: Path) -> None:
    _make_tree(tmp_path / "a", files=4)
    before = _snapshot(tmp_path / "a")
    fileio.move(tmp_path / "a", shm_dir / "b")
    assert _snapshot(shm_dir / "b") == before and not (tmp_path / "a").exists()


def test_failed_cross_fs_move_keeps_source(backend: str, tmp_path: Path, tiny_fs: Path) -> None:
    src = write(tmp_path / "s", pattern(2 * 1024 * 1024))
    with pytest.raises(OSError):
        fileio.move(src, tiny_fs / "d")
    assert src.exists() and list(tiny_fs.iterdir()) == []


def test_move_missing_source_names_both(backend: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        fileio.move(tmp_path / "nope", tmp_path / "d")
    assert (info.value.filename, info.value.filename2) == (str(tmp_path / "nope"),
                                                           str(tmp_path / "d"))
