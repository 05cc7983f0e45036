"""DiskGuard: refusal of a known size, pausing of an unknown one, with injected free space."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from telebot.engine.diskguard import DiskGuard, NoRoom
from telebot.errors import TaskCancelled
from tests import polling

MB = 1_000_000


class Disk:
    def __init__(self, free: int) -> None:
        self.free = free
        self.looks = 0

    def __call__(self) -> int:
        self.looks += 1
        return self.free


def test_check_refuses_what_would_cross_the_threshold_and_names_it() -> None:
    guard = DiskGuard(2000 * MB, Disk(2500 * MB))
    guard.check(500 * MB)  # exactly down to the threshold: allowed
    with pytest.raises(NoRoom, match=r"needs 501 MB, 2.5 GB free, and 2 GB must stay free "
                                     r"\(STORAGE_THRESHOLD\)"):
        guard.check(501 * MB)
    guard.set_threshold(0)  # off
    guard.check(10_000 * MB)


def test_a_gate_looks_at_the_disk_only_when_its_allowance_runs_out() -> None:
    disk, now = Disk(100 * MB), [0.0]
    gate = DiskGuard(50 * MB, disk, clock=lambda: now[0]).gate(lambda text: None)
    stop = threading.Event()
    for _ in range(40):
        gate.wait(MB, stop)
    assert disk.looks == 1  # 40 MB of a 50 MB allowance, within one second
    now[0] += 5.0  # other tasks may have written meanwhile: look again
    gate.wait(MB, stop)
    assert disk.looks == 2


def test_a_gate_pauses_with_a_status_line_until_space_returns() -> None:
    disk = Disk(10 * MB)
    notes: list[str | None] = []
    gate = DiskGuard(8 * MB, disk, poll=0.01).gate(notes.append)
    stop, passed = threading.Event(), threading.Event()

    def writer() -> None:
        gate.wait(4 * MB, stop)
        passed.set()

    thread = threading.Thread(target=writer)
    thread.start()
    polling.wait_until(lambda: notes, 10, "the waiting line")
    assert notes[0] == "⏸ waiting for disk space: 10 MB free, keeping 8 MB"
    assert not passed.is_set()
    disk.free = 20 * MB
    assert passed.wait(10)
    thread.join(10)
    assert notes[-1] is None  # the line is cleared when the writer goes on


def test_a_paused_gate_stops_on_cancel() -> None:
    gate = DiskGuard(8 * MB, Disk(1 * MB), poll=0.01).gate(lambda text: None)
    stop = threading.Event()
    stop.set()
    with pytest.raises(TaskCancelled):
        gate.wait(1, stop)


def test_a_reservation_is_seen_by_later_checks_and_freed_at_release(tmp_path: Path) -> None:
    """Two sizes known at the same moment: the second sees what the first was promised."""
    guard = DiskGuard(1000 * MB, Disk(2000 * MB))
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    guard.check(800 * MB, key="a")
    guard.reserve("a", 800 * MB, first)
    with pytest.raises(NoRoom, match=r"800 MB of it promised to other tasks"):
        guard.check(800 * MB, key="b")
    guard.check(800 * MB, key="a")  # its own reservation is not counted against itself
    assert guard.room() == 200 * MB
    guard.release("a")
    guard.check(800 * MB, key="b")
    assert guard.room() == 1000 * MB


def test_what_is_on_disk_already_leaves_the_reservation(tmp_path: Path) -> None:
    disk = Disk(2000 * MB)
    guard = DiskGuard(1000 * MB, disk, clock=lambda: 0.0)
    folder = tmp_path / "a"
    folder.mkdir()
    guard.reserve("a", 3 * MB, folder)
    assert guard.outstanding(fresh=True) == 3 * MB
    (folder / "part").write_bytes(b"x" * MB)
    assert 1 * MB < guard.outstanding(fresh=True) <= 2 * MB  # 1 MB of the 3 is written


def test_a_gate_counts_other_tasks_reservations(tmp_path: Path) -> None:
    guard = DiskGuard(1000 * MB, Disk(1500 * MB), poll=0.01)
    folder = tmp_path / "a"
    folder.mkdir()
    guard.reserve("a", 600 * MB, folder)
    notes: list[str | None] = []
    gate = guard.gate(notes.append)
    stop = threading.Event()
    threading.Timer(0.2, lambda: guard.release("a")).start()
    gate.wait(MB, stop)  # paused until the reservation was released
    assert notes and notes[0] is not None and notes[-1] is None
