"""A psutil sampler thread: process and host health every few seconds.

One daemon thread calls :meth:`Sampler.sample_once` every ``interval`` seconds
and keeps the last ``history`` seconds of :class:`Sample` values in a ring
buffer (``collections.deque`` with ``maxlen``), so memory stays flat forever.
After each sample it rewrites the heartbeat file that ``python -m
telebot.health`` reads.

The sampler must outlive anything psutil throws at it: each group of readings
(process, host CPU/memory, disk, network) is guarded on its own, so a missing
download disk does not blank the CPU graph. A failed group keeps its previous
values, and the failure is counted in :attr:`Sampler.errors`.

The cost of one sample is measured by ``bench/monitor.py``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["Sample", "Sampler", "SamplerErrors"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading. ``at`` is epoch seconds; sizes are bytes; rates are bytes/s.

    ``proc_cpu`` is percent of one core (can exceed 100 with threads);
    ``host_cpu`` is percent of all cores. ``mem_used`` is total minus available
    memory, which is what an owner means by "used". ``net_*_total`` are the
    host's counters since boot. CPU percentages and network rates compare with
    the previous sample, so the first sample reports them as 0 (psutil's rule
    for ``cpu_percent(None)``).
    """

    at: float
    proc_cpu: float = 0.0
    proc_rss: int = 0
    proc_threads: int = 0
    proc_open_files: int = 0
    host_cpu: float = 0.0
    mem_used: int = 0
    mem_total: int = 0
    disk_free: int = 0
    disk_total: int = 0
    net_rx_rate: float = 0.0
    net_tx_rate: float = 0.0
    net_rx_total: int = 0
    net_tx_total: int = 0


@dataclass(frozen=True, slots=True)
class SamplerErrors:
    """How many readings failed and the text of the last failure."""

    count: int = 0
    last: str | None = None


class Sampler:
    """Samples psutil readings on a daemon thread; see the module docstring.

    ``clock`` gives epoch seconds (sample times, rates, heartbeat). ``wait``
    is called between samples with the seconds to wait and returns True when
    the thread should stop; by default it waits on the stop event, which is
    what makes :meth:`stop` prompt. ``psutil_module`` is injectable so tests
    can make it fail; by default psutil is imported by the first sample, on the sampler's
    thread (~15 ms that the bot's start-up does not wait for).
    """

    def __init__(
        self,
        *,
        interval: float = 5.0,
        disk_path: Path,
        history: float = 3600.0,
        heartbeat_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        wait: Callable[[float], bool] | None = None,
        psutil_module: ModuleType | Any | None = None,
    ) -> None:
        if interval <= 0 or history < interval:
            raise ValueError("need interval > 0 and history >= interval")
        self.interval = interval
        self.disk_path = Path(disk_path)
        self.heartbeat_path = heartbeat_path
        self._clock = clock
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._ps = psutil_module
        self._ring: collections.deque[Sample] = collections.deque(
            maxlen=math.ceil(history / interval)
        )
        self._lock = threading.Lock()  # guards _ring, _errors, _poll_at
        self._errors = SamplerErrors()
        self._last_error_of: dict[str, str] = {}  # group -> last failure text
        self._poll_at: float | None = None
        self._proc: Any = None
        self._last_net: tuple[float, int, int] | None = None  # (at, rx, tx)
        self._thread: threading.Thread | None = None
        self._tried = threading.Event()  # the thread's first sample_once has returned

    # -- public API ---------------------------------------------------------

    def start(self) -> None:
        """Start the sampling thread (once)."""
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._thread = threading.Thread(target=self._run, name="telebot-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def errors(self) -> SamplerErrors:
        with self._lock:
            return self._errors

    def latest(self, wait: float = 0.0) -> Sample | None:
        """The newest sample. ``wait``: while the thread runs but has not finished its first
        sample (it starts with polling, bot/handlers/monitoring.py), wait up to that many
        seconds for it, so a /stats sent right after start still gets numbers."""
        if wait > 0 and self.running and not self._tried.is_set():
            self._tried.wait(wait)
        with self._lock:
            return self._ring[-1] if self._ring else None

    def history(self) -> list[Sample]:
        """The buffered samples, oldest first."""
        with self._lock:
            return list(self._ring)

    def note_poll(self, at: float | None = None) -> None:
        """Record a successful getUpdates; it goes into the next heartbeat."""
        with self._lock:
            self._poll_at = self._clock() if at is None else at

    def sample_once(self) -> Sample | None:
        """Take one sample, buffer it and write the heartbeat.

        Returns None only when every group of readings failed.
        """
        at = self._clock()
        previous = self.latest() or Sample(at=at)
        fields: dict[str, Any] = {}
        for reader in (self._read_process, self._read_host, self._read_disk, self._read_net):
            try:
                fields.update(reader(at))
            except Exception as exc:  # psutil.Error, OSError, anything: never die
                self._note_error(reader.__name__, exc)
        if not fields:
            return None
        sample = replace(previous, at=at, **fields)
        with self._lock:
            self._ring.append(sample)
        self._write_heartbeat(at)
        return sample

    # -- readings -------------------------------------------------------------

    def _psutil(self) -> Any:
        if self._ps is None:
            import psutil

            self._ps = psutil
        return self._ps

    def _read_process(self, at: float) -> dict[str, Any]:
        if self._proc is None:
            self._proc = self._psutil().Process()
        proc = self._proc
        with proc.oneshot():
            return {
                "proc_cpu": proc.cpu_percent(None),
                "proc_rss": proc.memory_info().rss,
                "proc_threads": proc.num_threads(),
                "proc_open_files": _open_files(proc),
            }

    def _read_host(self, at: float) -> dict[str, Any]:
        mem = self._psutil().virtual_memory()
        return {
            "host_cpu": self._psutil().cpu_percent(None),
            "mem_used": mem.total - mem.available,
            "mem_total": mem.total,
        }

    def _read_disk(self, at: float) -> dict[str, Any]:
        usage = self._psutil().disk_usage(str(_existing_ancestor(self.disk_path)))
        return {"disk_free": usage.free, "disk_total": usage.total}

    def _read_net(self, at: float) -> dict[str, Any]:
        counters = self._psutil().net_io_counters()
        rx, tx = counters.bytes_recv, counters.bytes_sent
        rx_rate = tx_rate = 0.0
        if self._last_net is not None:
            then, rx0, tx0 = self._last_net
            span = at - then
            if span > 0:
                # A counter reset (interface re-created) gives a negative delta: report 0.
                rx_rate = max(0, rx - rx0) / span
                tx_rate = max(0, tx - tx0) / span
        self._last_net = (at, rx, tx)
        return {
            "net_rx_rate": rx_rate,
            "net_tx_rate": tx_rate,
            "net_rx_total": rx,
            "net_tx_total": tx,
        }

    # -- internals -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            began = self._clock()
            try:
                self.sample_once()
            finally:
                self._tried.set()
            # Keep the cadence: subtract the time the sample took (clamped: wall clocks jump).
            pause = min(self.interval, max(0.0, self.interval - (self._clock() - began)))
            if self._wait(pause):
                break

    def _note_error(self, where: str, exc: BaseException) -> None:
        group = where.removeprefix("_read_")
        text = f"{group}: {type(exc).__name__}: {exc}"
        with self._lock:
            changed = self._last_error_of.get(group) != text
            self._last_error_of[group] = text
            self._errors = SamplerErrors(self._errors.count + 1, text)
        # A broken reading repeats every interval: warn when it changes, not each time.
        log.log(logging.WARNING if changed else logging.DEBUG, "sampler: %s", text)

    def _write_heartbeat(self, at: float) -> None:
        if self.heartbeat_path is None:
            return
        with self._lock:
            poll_at = self._poll_at
        body = {"pid": os.getpid(), "sample_at": at, "poll_at": poll_at, "interval": self.interval}
        try:
            write_atomic(self.heartbeat_path, json.dumps(body).encode())
        except OSError as exc:
            self._note_error("heartbeat", exc)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half.

    A temporary file in the same directory is renamed over the target
    (``os.replace`` is atomic within one filesystem on POSIX and Windows).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _open_files(proc: Any) -> int:
    # num_fds() counts descriptors with one listdir of /proc/<pid>/fd; open_files()
    # readlinks and stats every descriptor, which grows with each torrent file open.
    num_fds = getattr(proc, "num_fds", None)
    if num_fds is not None:
        return int(num_fds())
    return len(proc.open_files())  # Windows: no num_fds()


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest existing parent: DOWNLOAD_DIR may not exist yet."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
