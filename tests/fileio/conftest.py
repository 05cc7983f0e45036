"""Fixtures for the fileio tests: backend selection, filesystems, helpers."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot import fileio
from telebot.fileio import _backend, _job

BACKENDS = ["auto", "python"]
if _backend.NATIVE_MODULE is None:  # the suite still runs on the fallback
    BACKENDS = ["python"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once on the native core and once on the pure-Python path."""
    fileio.force_strategy(request.param)
    yield request.param
    fileio.force_strategy(None)


@pytest.fixture
def small_chunk(monkeypatch: pytest.MonkeyPatch) -> int:
    """Shrink the progress chunk so multi-chunk behaviour needs small files."""
    monkeypatch.setattr(_job, "CHUNK", 64 * 1024)
    return 64 * 1024


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A fresh directory on tmpfs (/dev/shm), a different fs from tmp_path."""
    base = Path("/dev/shm")
    if not base.is_dir():
        pytest.skip("/dev/shm is not available")
    path = base / f"telebot-test-{uuid.uuid4().hex}"
    path.mkdir()
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (ENOSPC on demand)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs for ENOSPC tests: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-per-page content of ``size`` bytes."""
    block = bytes((i * 31 + seed) & 0xFF for i in range(4093))
    reps = size // len(block) + 1
    return (block * reps)[:size]


def write(path: Path, data: bytes, mode: int = 0o640, mtime_ns: int = 1_600_000_000_123_456_789
          ) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def leftovers(folder: Path) -> list[str]:
    """Temporary names left in a folder (there must be none)."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".tbpart-")]
