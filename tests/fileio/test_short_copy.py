"""A copy that ends with fewer (or more) bytes than the source had is an error, never a result.

The source is changed *during* the copy by the progress callback, which both backends call
between chunks (64 KiB with the ``small_chunk`` fixture): a real, deterministic way to make the
file shrink or grow under a running copy. The contract checked on both backends: the error is a
:class:`ShortCopyError` (an OSError) naming both files, no file appears under the final name, no
temporary is left, and a move keeps its source.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from telebot import fileio
from telebot.fileio import ShortCopyError
from telebot.fileio.ranges import copy_range
from telebot.processing.media.split import part_name, plan_parts, write_part
from tests.fileio.conftest import leftovers, pattern, write

SIZE = 1024 * 1024 + 3  # 16 chunks of the small_chunk fixture, plus a tail


def change_once(path: Path, how: str) -> Callable[[int, int], None]:
    """A progress callback that shrinks or grows ``path`` at its first call (mid-copy)."""
    state = {"done": False}

    def progress(done: int, total: int) -> None:
        if state["done"] or done >= SIZE:
            return
        state["done"] = True
        if how == "shrink":
            os.truncate(path, 100_000)
        else:
            with path.open("ab") as handle:
                handle.write(b"appended while copying")

    return progress


@pytest.mark.parametrize("how", ["shrink", "grow"])
def test_copy_file_of_a_changing_source_fails(
    backend: str, shm_dir: Path, small_chunk: int, how: str
) -> None:
    src = write(shm_dir / "src.bin", pattern(SIZE))
    dst = shm_dir / "dst.bin"
    with pytest.raises(ShortCopyError) as caught:
        fileio.copy_file(src, dst, progress=change_once(src, how))
    assert isinstance(caught.value, OSError)
    assert (caught.value.filename, caught.value.filename2) == (str(src), str(dst))
    assert not dst.exists()
    assert leftovers(shm_dir) == []


@pytest.mark.parametrize("how", ["shrink", "grow"])
def test_cross_filesystem_move_keeps_a_source_that_changed(
    backend: str, shm_dir: Path, tmp_path: Path, small_chunk: int, how: str
) -> None:
    src = write(shm_dir / "src.bin", pattern(SIZE))
    dst = tmp_path / "dst.bin"  # tmp_path is on disk, shm_dir on tmpfs: a copy, not a rename
    with pytest.raises(ShortCopyError):
        fileio.move(src, dst, progress=change_once(src, how))
    assert src.exists()
    assert not dst.exists()
    assert leftovers(tmp_path) == []


def test_move_of_a_tree_keeps_it_when_a_file_shrank(
    backend: str, shm_dir: Path, tmp_path: Path, small_chunk: int
) -> None:
    tree = shm_dir / "tree"
    tree.mkdir()
    src = write(tree / "big.bin", pattern(SIZE))
    with pytest.raises(ShortCopyError):
        fileio.move(tree, tmp_path / "tree", progress=change_once(src, "shrink"))
    assert src.exists()
    assert not (tmp_path / "tree").exists()


def test_range_of_a_source_that_shrank_fails(
    backend: str, shm_dir: Path, small_chunk: int
) -> None:
    src = write(shm_dir / "src.bin", pattern(SIZE))
    part = shm_dir / "part"
    with pytest.raises(ShortCopyError) as caught:
        copy_range(src, part, 0, SIZE, progress=change_once(src, "shrink"))
    assert (caught.value.filename, caught.value.filename2) == (str(src), str(part))
    assert not part.exists()
    assert leftovers(shm_dir) == []


def test_split_part_of_a_source_that_shrank_is_an_error(backend: str, shm_dir: Path) -> None:
    src = write(shm_dir / "movie.mkv", pattern(SIZE))
    plan = plan_parts(SIZE, 400_000)
    os.truncate(src, SIZE - 1000)  # planned from the old size: the last part is now short
    out = shm_dir / "parts"
    first = write_part(src, out, 1, *plan[0])
    assert first.stat().st_size == 400_000
    with pytest.raises(ShortCopyError):
        write_part(src, out, 3, *plan[2])
    assert not (out / part_name(src.name, 3)).exists()
    assert leftovers(out) == []
