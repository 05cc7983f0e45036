"""Store or compress: by extension, by sample, weighted by bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telebot.processing import storemode
from telebot.processing.storemode import (
    FAST_LEVEL,
    STORE_LEVEL,
    choose_level,
    incompressible_share,
)


def test_known_compressed_extensions_count_without_reading(tmp_path: Path) -> None:
    (tmp_path / "clip.MP4").write_bytes(b"\0" * 100_000)  # zeros, but named as video
    (tmp_path / "notes.txt").write_bytes(b"\0" * 100_000)
    assert incompressible_share(tmp_path) == pytest.approx(0.5)


def test_random_bytes_are_found_by_sampling(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(os.urandom(1_000_000))
    (tmp_path / "zeros").write_bytes(b"\0" * 250_000)
    assert incompressible_share(tmp_path) == pytest.approx(0.8)
    assert choose_level(tmp_path) == STORE_LEVEL
    assert choose_level(tmp_path / "zeros") == FAST_LEVEL


def test_a_compressible_header_does_not_hide_random_content(tmp_path: Path) -> None:
    data = b"\0" * storemode.SAMPLE_BYTES + os.urandom(2_000_000)
    (tmp_path / "container.bin").write_bytes(data)
    assert choose_level(tmp_path / "container.bin") == STORE_LEVEL  # 2 of 3 slices are random


def test_most_bytes_decide(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x" * 400)
    (tmp_path / "b.log").write_bytes(b"x" * 600)
    assert choose_level(tmp_path) == FAST_LEVEL
    (tmp_path / "c.mkv").write_bytes(b"x" * 300)
    assert choose_level(tmp_path) == STORE_LEVEL
    empty = tmp_path / "empty"
    empty.mkdir()
    assert choose_level(empty) == FAST_LEVEL


def test_sampling_stops_at_the_budget_largest_files_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storemode, "SAMPLE_BUDGET", storemode.SAMPLE_BYTES * 3)
    (tmp_path / "big").write_bytes(os.urandom(600_000))  # sampled: uses the whole budget
    (tmp_path / "small").write_bytes(os.urandom(400_000))  # past the budget: ordinary data
    assert incompressible_share(tmp_path) == pytest.approx(0.6)


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mkv"
    outside.write_bytes(b"v" * 1000)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "link.mkv").symlink_to(outside)
    (folder / "t.txt").write_bytes(b"t" * 10)
    assert incompressible_share(folder) == 0.0
