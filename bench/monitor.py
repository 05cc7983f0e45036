"""Cost of the always-on monitoring: sampler CPU share and decorator overhead.

Run: python bench/monitor.py [--runs 5] [--samples 200] [--calls 100000]

Prints medians of several runs (the machine is shared and has 2 cores, so
single runs are noisy; medians are what to compare) and ratios against the
usual ways of doing the same job in the same run:

* sampler: our ``Sampler.sample_once`` vs a naive psutil sample that lists
  open files with ``Process.open_files()``, vs shelling out to ``ps`` and
  ``df`` like a shell-script monitor. CPU time includes child processes.
  Targets: < 0.5 % of one core at the default 5 s interval.
* timings: per-call overhead of ``@monitor_performance`` and ``timed()`` over
  a bare call, vs a ``contextlib.contextmanager`` timer and vs running under
  ``cProfile`` (which times every call in the process, not just hot spots).
  Target: < 2 µs per call.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Replace this script's folder on the path by the repository root: bench/ holds
# scripts named like standard modules (copy.py) that would shadow them.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import psutil  # noqa: E402

from telebot.monitor.chart import render_chart  # noqa: E402
from telebot.monitor.perf import PerfRegistry, monitor_performance, timed  # noqa: E402
from telebot.monitor.sampler import Sample, Sampler  # noqa: E402

DEFAULT_INTERVAL = 5.0  # SAMPLER_INTERVAL default (docs/ARCHITECTURE.md §4)


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (user + system).

    ``process_time`` has nanosecond resolution; ``os.times`` (clock ticks,
    10 ms) is only used for the children, which are slow anyway.
    """
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def median_cost(fn: Callable[[], object], n: int, runs: int) -> float:
    """Median over ``runs`` of the CPU seconds per call of ``fn`` (``n`` calls a run)."""
    costs = []
    for _ in range(runs):
        start = cpu_seconds()
        for _ in range(n):
            fn()
        costs.append((cpu_seconds() - start) / n)
    return statistics.median(costs)


# -- sampler ------------------------------------------------------------------


def naive_sample(proc: psutil.Process, disk: str) -> None:
    with proc.oneshot():
        proc.cpu_percent(None)
        proc.memory_info()
        proc.num_threads()
        len(proc.open_files())
    psutil.cpu_percent(None)
    psutil.virtual_memory()
    psutil.disk_usage(disk)
    psutil.net_io_counters()


def shell_sample(disk: str) -> None:
    pid = str(os.getpid())
    subprocess.run(["ps", "-o", "%cpu=,rss=,nlwp=", "-p", pid], capture_output=True, check=False)
    subprocess.run(["df", "-k", disk], capture_output=True, check=False)
    Path("/proc/net/dev").read_bytes()


def bench_sampler(runs: int, n: int, open_files: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        for i in range(open_files):  # a busy bot holds many files open
            stack.enter_context(open(Path(tmp) / f"f{i}", "wb"))
        sampler = Sampler(disk_path=Path(tmp), heartbeat_path=Path(tmp) / "hb")
        proc = psutil.Process()
        ours = median_cost(sampler.sample_once, n, runs)
        naive = median_cost(lambda: naive_sample(proc, tmp), max(5, n // 4), runs)
        shell = median_cost(lambda: shell_sample(tmp), max(5, n // 10), runs)
        assert sampler.errors.count == 0, sampler.errors
    print(f"\nsampler, {open_files} files open, {n} samples x {runs} runs (median CPU per sample)")
    for label, cost in [
        ("telebot Sampler.sample_once", ours),
        ("psutil with open_files()", naive),
        ("ps + df subprocesses", shell),
    ]:
        share = 100 * cost / DEFAULT_INTERVAL
        print(
            f"  {label:30} {cost * 1e3:8.3f} ms  = {share:6.3f} % of one core at "
            f"{DEFAULT_INTERVAL:.0f} s   x{cost / ours:6.1f}"
        )


# -- timings ------------------------------------------------------------------


_lock = threading.Lock()
_naive: dict[str, list[float]] = {}


@contextlib.contextmanager
def naive_timer(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        with _lock:
            _naive.setdefault(name, []).append(time.perf_counter() - start)


def profiled_cost(fn: Callable[[], object], n: int, runs: int) -> float:
    """Cost per call of ``fn`` while cProfile is profiling everything."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return median_cost(fn, n, runs)
    finally:
        profiler.disable()


def bench_timings(runs: int, n: int) -> None:
    registry = PerfRegistry()

    def bare() -> None:
        return None

    decorated = monitor_performance("bench.decorated", registry=registry)(bare)

    def with_timed() -> None:
        with timed("bench.timed", registry=registry):
            pass

    def with_naive() -> None:
        with naive_timer("bench.naive"):
            pass

    base = median_cost(bare, n, runs)
    rows = [
        ("@monitor_performance", median_cost(decorated, n, runs)),
        ("with timed()", median_cost(with_timed, n, runs)),
        ("contextmanager timer + list", median_cost(with_naive, n, runs)),
        ("bare call under cProfile", profiled_cost(bare, n, runs)),
    ]
    ours = rows[0][1] - base
    print(f"\ntimings, {n} calls x {runs} runs (median overhead per call over a bare call)")
    for label, cost in rows:
        over = cost - base
        print(f"  {label:30} {over * 1e6:8.3f} µs   x{over / ours:6.2f}")
    _naive.clear()


# -- rendering ------------------------------------------------------------------


def bench_chart(runs: int) -> None:
    history = [
        Sample(at=5.0 * i, host_cpu=i % 100, mem_used=i, mem_total=720, net_rx_rate=float(i))
        for i in range(720)  # one hour at the default interval
    ]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        png = render_chart(history)
        times.append(time.perf_counter() - start)
    size = len(png or b"")
    print(f"\nchart, 720 samples: {statistics.median(times) * 1e3:.1f} ms median, {size} bytes PNG")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, psutil {psutil.__version__}, {os.cpu_count()} cores")
    print("numbers are medians; the machine is shared, so expect noise between runs")
    bench_sampler(args.runs, args.samples, open_files=10)
    bench_sampler(args.runs, args.samples, open_files=500)
    bench_timings(args.runs, args.calls)
    bench_chart(args.runs)


if __name__ == "__main__":
    main()
