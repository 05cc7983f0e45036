"""Per-function timings: ``@monitor_performance``, ``timed()`` and a registry.

Every timed call costs two clock reads, one uncontended lock and a few stores
(measured in ``bench/monitor.py``; the target is under 2 µs per call), so the
decorator can stay on hot paths permanently.

Statistics per name:

* ``calls``, ``errors``, ``total``, ``mean`` and ``max`` cover every call since
  the last :meth:`PerfRegistry.reset`;
* ``p50`` and ``p95`` come from a bounded reservoir holding the most recent
  ``reservoir`` durations. Recent calls are what an owner asks about ("why is it
  slow *now*"), and a ring of fixed size keeps memory flat however long the bot
  runs.

Only synchronous callables are supported: timing a coroutine function would
measure how long it takes to *create* the coroutine, so decorating one raises
``TypeError``.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import ParamSpec, TypeVar, overload

__all__ = [
    "REGISTRY",
    "FunctionStats",
    "PerfRegistry",
    "monitor_performance",
    "timed",
]

P = ParamSpec("P")
R = TypeVar("R")

# 512 recent durations give a p95 resting on ~25 samples above it: stable enough
# for a report, and 512 floats per timed function is ~4 KiB.
DEFAULT_RESERVOIR = 512


@dataclass(frozen=True)
class FunctionStats:
    """A snapshot of one timed name. Durations are in seconds."""

    name: str
    calls: int
    errors: int
    total: float
    mean: float
    p50: float
    p95: float
    max: float


class _Entry:
    """Mutable counters of one name, guarded by their own lock."""

    __slots__ = ("calls", "errors", "lock", "max", "next", "ring", "size", "total")

    def __init__(self, size: int) -> None:
        self.size = size  # reservoir capacity
        self.lock = threading.Lock()
        self.calls = 0
        self.errors = 0
        self.total = 0.0
        self.max = 0.0
        self.ring: list[float] = []
        self.next = 0  # slot to overwrite once the ring is full

    def add(self, seconds: float, error: bool) -> None:
        size = self.size
        with self.lock:
            self.calls += 1
            self.total += seconds
            if error:
                self.errors += 1
            if seconds > self.max:
                self.max = seconds
            if len(self.ring) < size:
                self.ring.append(seconds)
            else:
                self.ring[self.next] = seconds
                self.next = (self.next + 1) % size

    def clear(self) -> None:
        with self.lock:
            self.calls = self.errors = self.next = 0
            self.total = self.max = 0.0
            self.ring = []

    def snapshot(self, name: str) -> FunctionStats:
        with self.lock:
            calls, errors, total, top = self.calls, self.errors, self.total, self.max
            ring = sorted(self.ring)
        mean = total / calls if calls else 0.0
        return FunctionStats(
            name, calls, errors, total, mean, _quantile(ring, 0.50), _quantile(ring, 0.95), top
        )


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list; 0.0 when empty."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n*q), at least the first element
    return ordered[int(rank) - 1]


class PerfRegistry:
    """Thread-safe timing statistics keyed by name.

    ``clock`` returns seconds (monotonic); it is what the decorator and
    :func:`timed` read, so tests inject a fake one. ``reservoir`` bounds the
    durations kept per name for the percentiles.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.perf_counter, reservoir: int = DEFAULT_RESERVOIR
    ) -> None:
        if reservoir < 1:
            raise ValueError("reservoir must be at least 1")
        self.clock = clock
        self._size = reservoir
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # guards creation of entries only

    def record(self, name: str, seconds: float, error: bool = False) -> None:
        """Add one call of ``name`` that took ``seconds`` (and failed if ``error``)."""
        entry = self._entries.get(name)
        if entry is None:
            entry = self._create(name)
        entry.add(seconds, error)

    def recorder(self, name: str) -> Callable[[float, bool], None]:
        """A fast ``(seconds, error)`` recorder bound to ``name``.

        The decorator resolves this once, at decoration time, which saves a
        dictionary lookup per call; it stays valid across :meth:`reset`.
        """
        entry = self._entries.get(name)
        if entry is None:
            entry = self._create(name)
        return entry.add

    def _create(self, name: str) -> _Entry:
        with self._lock:
            return self._entries.setdefault(name, _Entry(self._size))

    def stats(self) -> list[FunctionStats]:
        """Snapshots of every name called since the last reset, sorted by name."""
        with self._lock:
            items = sorted(self._entries.items())
        snapshots = (entry.snapshot(name) for name, entry in items)
        return [s for s in snapshots if s.calls]

    def slowest(self, n: int = 5) -> list[FunctionStats]:
        """The ``n`` names with the highest p95 (ties broken by mean)."""
        ranked = sorted(self.stats(), key=lambda s: (s.p95, s.mean), reverse=True)
        return ranked[: max(0, n)]

    def reset(self) -> None:
        """Forget every statistic (names stay known, so recorders stay valid)."""
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            entry.clear()


REGISTRY = PerfRegistry()
"""The process-wide registry used by default by the decorator and :func:`timed`."""


class timed:  # lower-case: it is used like a function, `with timed("x"):`
    """Context manager recording the duration of its block under ``name``.

    An exception leaving the block counts as an error and is re-raised.
    A class with ``__slots__`` rather than ``contextlib.contextmanager``: the
    generator machinery would triple the per-use cost.
    """

    __slots__ = ("_name", "_registry", "_start")

    def __init__(self, name: str, *, registry: PerfRegistry | None = None) -> None:
        self._name = name
        self._registry = registry or REGISTRY
        self._start = 0.0

    def __enter__(self) -> timed:
        self._start = self._registry.clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        registry = self._registry
        elapsed = registry.clock() - self._start
        # registry.record() inlined: one Python frame less per use (bench/monitor.py).
        entry = registry._entries.get(self._name) or registry._create(self._name)
        entry.add(elapsed, exc_type is not None)


@overload
def monitor_performance(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def monitor_performance(
    name: str | None = None, /, *, registry: PerfRegistry | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def monitor_performance(
    target: Callable[P, R] | str | None = None, /, *, registry: PerfRegistry | None = None
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Time every call of a synchronous function.

    Usable bare (``@monitor_performance``, named ``module.qualname``) or with a
    name (``@monitor_performance("upload.telegram")``). Calls that raise count
    as errors; the exception propagates unchanged.
    """
    if callable(target):
        return _wrap(target, None, registry or REGISTRY)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        return _wrap(func, target, registry or REGISTRY)

    return decorate


def _wrap(func: Callable[P, R], name: str | None, registry: PerfRegistry) -> Callable[P, R]:
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(f"monitor_performance times synchronous functions only: {func!r}")
    label = name or f"{func.__module__}.{func.__qualname__}"
    clock = registry.clock
    record = registry.recorder(label)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        start = clock()
        try:
            result = func(*args, **kwargs)
        except BaseException:
            record(clock() - start, True)
            raise
        record(clock() - start, False)
        return result

    return wrapper
