"""Test doubles shared by the monitor tests: a settable clock and a fake psutil."""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import Any

Mem = namedtuple("Mem", "total available")
Disk = namedtuple("Disk", "total used free")
Net = namedtuple("Net", "bytes_recv bytes_sent")
MemInfo = namedtuple("MemInfo", "rss vms")


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeProcess:
    def __init__(self, ps: FakePsutil) -> None:
        self._ps = ps

    def oneshot(self) -> Any:
        return self._ps.check("process", _Null())

    def cpu_percent(self, interval: float | None = None) -> float:
        return self._ps.check("process", 12.5)

    def memory_info(self) -> MemInfo:
        return self._ps.check("process", MemInfo(50 * 2**20, 100 * 2**20))

    def num_threads(self) -> int:
        return 7

    def num_fds(self) -> int:
        return 9


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class FakePsutil:
    """Enough of the psutil module for the Sampler, with failures on demand.

    ``fail`` holds the groups that raise: "process", "host", "disk", "net".
    ``rx``/``tx`` are the network counters; tests move them.
    """

    def __init__(self) -> None:
        self.fail: set[str] = set()
        self.rx = 1_000_000
        self.tx = 500_000
        self.net_called = threading.Event()
        self.disk_paths: list[str] = []

    def check(self, group: str, value: Any) -> Any:
        if group in self.fail:
            raise OSError(f"injected {group} failure")
        return value

    def Process(self) -> FakeProcess:  # the name psutil uses
        return FakeProcess(self)

    def cpu_percent(self, interval: float | None = None) -> float:
        return self.check("host", 40.0)

    def virtual_memory(self) -> Mem:
        return self.check("host", Mem(8 * 2**30, 6 * 2**30))

    def disk_usage(self, path: str) -> Disk:
        self.disk_paths.append(path)
        return self.check("disk", Disk(100 * 2**30, 60 * 2**30, 40 * 2**30))

    def net_io_counters(self) -> Net:
        self.net_called.set()
        return self.check("net", Net(self.rx, self.tx))
