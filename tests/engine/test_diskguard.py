"""DiskGuard: refusal of a known size, pausing of an unknown one, with injected free space."""

from __future__ import annotations

import threading

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
