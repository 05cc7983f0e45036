"""A cross-filesystem move of a big file frees the source's blocks on the
reaper thread: the name is gone when move() returns, the space soon after."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot import fileio
from telebot.fileio.reaper import REAP_MIN, Reaper, reaper
from tests.fileio.conftest import pattern, write


def open_targets() -> set[str]:
    """What this process's descriptors point at (readlink of /proc/self/fd/*)."""
    targets = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed while listing
            continue
    return targets


def held_deleted(path: Path) -> bool:
    """True while a descriptor of this process still holds ``path`` after its unlink."""
    return f"{path} (deleted)" in open_targets()


def test_big_move_frees_the_source_after_returning(backend: str, shm_dir: Path,
                                                   tmp_path: Path) -> None:
    data = pattern(REAP_MIN + 4097)
    src = write(shm_dir / "big", data)
    fileio.move(src, tmp_path / "d")
    assert not src.exists()  # the name is gone at once
    assert (tmp_path / "d").read_bytes() == data
    assert reaper.drain(timeout=30)
    assert not held_deleted(src)  # and the blocks are released


def test_big_move_through_a_symlink_removes_the_link(backend: str, shm_dir: Path,
                                                     tmp_path: Path) -> None:
    data = pattern(REAP_MIN)
    target = write(shm_dir / "target", data)
    (shm_dir / "link").symlink_to(target)
    fileio.move(shm_dir / "link", tmp_path / "d")
    assert not os.path.lexists(shm_dir / "link")
    assert target.read_bytes() == data and (tmp_path / "d").read_bytes() == data
    assert reaper.drain(timeout=30)


def test_small_move_unlinks_in_place(backend: str, shm_dir: Path, tmp_path: Path) -> None:
    src = write(shm_dir / "small", b"tiny")
    assert reaper.drain(timeout=30)
    fileio.move(src, tmp_path / "d")
    assert not src.exists() and not held_deleted(src)  # no drain needed


@pytest.fixture
def own_fs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A tmpfs of this test's own, so tests writing side by side do not move its free-block
    count; the shared /dev/shm where mounting is not allowed (not root)."""
    mnt = tmp_path / "own-fs"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        yield request.getfixturevalue("shm_dir")
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_space_comes_back(own_fs: Path, tmp_path: Path) -> None:
    own = Reaper()
    src = write(own_fs / "big", pattern(REAP_MIN))
    blocks = os.stat(src).st_blocks
    before = os.statvfs(own_fs)
    own.unlink_later(str(src))
    assert own.drain(timeout=30)
    after = os.statvfs(own_fs)
    # On the shared /dev/shm other tests may write meanwhile; most of the blocks must be back.
    freed = (after.f_bfree - before.f_bfree) * after.f_frsize
    assert freed >= blocks * 512 // 2


def test_unlink_error_queues_nothing(tmp_path: Path) -> None:
    own = Reaper()
    with pytest.raises(FileNotFoundError):
        own.unlink_later(str(tmp_path / "missing"))
    assert own.drain(timeout=0)


def test_failed_unlink_closes_its_descriptor(tmp_path: Path) -> None:
    own = Reaper()
    src = write(tmp_path / "f", b"x")
    # An immutable file cannot be unlinked, even by root (ext4 supports the flag).
    if subprocess.run(["chattr", "+i", str(src)], capture_output=True, check=False).returncode:
        pytest.skip("chattr +i is not supported here")
    try:
        with pytest.raises(PermissionError):
            own.unlink_later(str(src))
        assert src.exists()
        assert str(src) not in open_targets()
    finally:
        subprocess.run(["chattr", "-i", str(src)], check=False)
    assert own.drain(timeout=0)

