from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebot.errors import BadInputError, TaskCancelled
from telebot.fileio.ranges import copy_range
from telebot.processing.media.split import MAX_PARTS, iter_split, part_name, plan_parts, split_file


def make(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize(("size", "part"), [(0, 10), (1, 10), (10, 10), (11, 10), (4097, 4096)])
def test_parts_concatenate_to_the_original(tmp_path: Path, size: int, part: int) -> None:
    data = make(tmp_path / "f.bin", size)
    parts = split_file(tmp_path / "f.bin", part, tmp_path / "out")
    assert [p.name for p in parts] == [part_name("f.bin", i + 1) for i in range(len(parts))]
    assert all(p.stat().st_size <= part for p in parts)
    assert b"".join(p.read_bytes() for p in parts) == data


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 300_000), part=st.integers(1, 120_000))
def test_plan_covers_the_file_exactly(size: int, part: int) -> None:
    if -(-size // part) > MAX_PARTS:
        with pytest.raises(BadInputError):
            plan_parts(size, part)
        return
    plan = plan_parts(size, part)
    assert sum(length for _, length in plan) == size
    assert all(0 < length <= part for _, length in plan) or size == 0
    assert [offset for offset, _ in plan] == [i * part for i in range(len(plan))]


def test_split_is_lazy(tmp_path: Path) -> None:
    make(tmp_path / "f.bin", 30)
    parts = iter_split(tmp_path / "f.bin", 10, tmp_path / "out")
    first = next(parts)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [first.name]


def test_cancel_leaves_no_partial_part(tmp_path: Path) -> None:
    make(tmp_path / "f.bin", 1000)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TaskCancelled):
        copy_range(tmp_path / "f.bin", tmp_path / "p.001", 0, 1000, cancel=cancel)
    assert list(tmp_path.iterdir()) == [tmp_path / "f.bin"]


def test_error_names_both_files(tmp_path: Path) -> None:
    make(tmp_path / "f.bin", 10)
    with pytest.raises(FileNotFoundError) as info:
        copy_range(tmp_path / "f.bin", tmp_path / "missing" / "p.001", 0, 10)
    assert info.value.filename == str(tmp_path / "f.bin")
    assert info.value.filename2 == str(tmp_path / "missing" / "p.001")


def test_equal_part_size_makes_as_many_parts_of_one_size() -> None:
    from telebot.processing.media.split import equal_part_size

    size, limit = 10_000_001, 4_000_000  # greedy: 4 + 4 + 2 MB
    equal = equal_part_size(size, limit)
    parts = plan_parts(size, equal)
    assert len(parts) == 3 == len(plan_parts(size, limit))
    lengths = [length for _offset, length in parts]
    assert max(lengths) <= limit and max(lengths) - min(lengths) <= 2
    assert sum(lengths) == size
