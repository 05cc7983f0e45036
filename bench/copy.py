#!/usr/bin/env python
"""Benchmark telebot.fileio against cp and shutil, in one run, on disk and tmpfs.

    python bench/copy.py            # full table (~3-5 min on 2 busy cores)
    python bench/copy.py --quick    # skips the 1 GiB case, fewer repetitions
    TELEBOT_FORCE_COPY=python python bench/copy.py   # the pure-Python fallback

Every case is repeated (tools interleaved within each repetition, so a burst
of load from other work hits all of them) and the median is printed with the
ratios ours/cp and ours/shutil (< 1.0 means we are faster).  The machine is
shared and has 2 cores: single runs are noisy, compare medians only.
Sources are warm in the page cache; every destination is a new file.  Small
files stay until their case ends (see bench_files); big ones are removed,
untimed, before the next repetition.
"""

# ruff: noqa: E402  (sys.path must be fixed before the other imports, see below)
from __future__ import annotations

import os
import sys

# Run as a script, this file's folder is sys.path[0] and "copy.py" would
# shadow the stdlib module copy (imported by dataclasses/argparse): swap in
# the repository root instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import functools
import mmap
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from telebot import fileio
from telebot.fileio.reaper import reaper

KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024
# Files per timed run for small sizes: enough to make one run ~50-200 ms.
FILES_PER_RUN = {4 * KIB: 1000, 1 * MIB: 40, 64 * MIB: 1, 1 * GIB: 1}
TREE_FILES = 10_000
T = TypeVar("T")


@dataclass
class Case:
    """One row: the times (seconds per file or per tree) of each tool."""

    label: str
    per: str
    times: dict[str, list[float]] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)  # our CPU seconds per GB

    def add(self, tool: str, seconds: float) -> None:
        self.times.setdefault(tool, []).append(seconds)

    def median(self, tool: str) -> float:
        return statistics.median(self.times[tool])


def rm(path: Path) -> None:
    subprocess.run(["rm", "-rf", str(path)], check=True)


def drop_dir(path: Path) -> Path:
    rm(path)
    path.mkdir(parents=True)
    return path


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def make_file(path: Path, size: int) -> Path:
    block = os.urandom(MIB)
    with open(path, "wb") as fh:
        for _ in range(size // MIB):
            fh.write(block)
        fh.write(block[: size % MIB])
    return path


def page_write_ceiling(base: Path, size: int = 256 * MIB) -> float:
    """GB/s of writing new page-cache pages from an aligned buffer (no copy
    can beat allocating and filling the destination's pages)."""
    buf = mmap.mmap(-1, 4 * MIB)
    buf.write(os.urandom(4 * MIB))
    speeds = []
    for _ in range(3):
        target = base / "ceiling.bin"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        start = time.perf_counter()
        for _ in range(size // len(buf)):
            os.write(fd, buf)
        speeds.append(size / (time.perf_counter() - start) / 1e9)
        os.close(fd)
        os.unlink(target)
    return statistics.median(speeds)


def bench_files(base: Path, size: int, reps: int, *, batched: bool = False) -> Case:
    """Per-file times of n files of ``size``; ``batched``: ours is one
    fileio.batch() call over all of them (against the same shutil loop and cp)."""
    n = FILES_PER_RUN[size]
    src_dir = drop_dir(base / "src")
    sources = [make_file(src_dir / f"s{i}", size) for i in range(min(n, 50))]
    sources = [sources[i % len(sources)] for i in range(n)]
    case = Case(f"{human(size)} file" + (", batch()" if batched else ""), "file")
    out = base / "out"
    ours = batch_all if batched else functools.partial(copy_all, fileio.copy_file)
    tools: list[tuple[str, Callable[[Path], float]]] = [
        ("ours", lambda dst: ours(sources, dst)),
        ("shutil", lambda dst: copy_all(shutil.copyfile, sources, dst)),
        ("cp", lambda dst: time_cp_files(sources, dst)),
    ]
    # Repetition 0 is a discarded warm-up: in this VM the first touch of
    # guest memory the kernel has not used yet costs ~3x (host page faults),
    # and whichever tool runs first would pay it.  The order also rotates.
    for rep in range(reps + 1):
        for tool, run in rotate(tools, rep):
            # Small files: every run writes into a folder of its own, all
            # removed after the case.  Removing them between runs made the
            # next run pay for it: on ext4 without a journal (this VM's
            # disk) the inode allocator skips every inode freed in the last
            # 60-360 s (recently_deleted(), 56-75 % of a perf profile of
            # the copies), a cost the bench itself caused for every tool.
            target = out / f"{rep}-{tool}" if size < 64 * MIB else out / "big"
            if size >= 64 * MIB:
                rm(target)
            target.mkdir(parents=True)
            before = cpu_seconds()
            seconds = run(target) / n
            if rep == 0:
                continue
            case.add(tool, seconds)
            if tool == "ours" and size >= 64 * MIB:
                case.cpu.append((cpu_seconds() - before) / (size * n / 1e9))
    rm(out)
    rm(src_dir)
    return case


def rotate(items: list[T], shift: int) -> list[T]:
    shift %= len(items)
    return items[shift:] + items[:shift]


def copy_all(copier: Callable[[str, str], object], sources: list[Path], dst: Path) -> float:
    """Time copier over all (source, destination) pairs.  The names are built
    as str before the clock starts: making a Path and its first fspath cost
    ~8 us per file here, the harness's cost, not the copier's."""
    pairs = [(str(src), str(dst / f"{i}")) for i, src in enumerate(sources)]
    start = time.perf_counter()
    for src, target in pairs:
        copier(src, target)
    return time.perf_counter() - start


def batch_all(sources: list[Path], dst: Path) -> float:
    """Time one fileio.batch() over all pairs (names built before the clock)."""
    ops = [("copy", str(src), str(dst / f"{i}")) for i, src in enumerate(sources)]
    start = time.perf_counter()
    results = fileio.batch(ops)
    seconds = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"batch failed: {failed[0].error}")
    return seconds


def time_cp_files(sources: list[Path], dst: Path) -> float:
    """cp with all distinct sources in one process (no per-file spawn cost)."""
    unique = list(dict.fromkeys(sources))
    if len(unique) == 1:
        return timed(lambda: subprocess.run(["cp", str(unique[0]), str(dst / "0")], check=True))
    # cp refuses duplicate names into one directory: copy each distinct source
    # into as many numbered directories as needed and scale by file count.
    rounds = len(sources) // len(unique)
    dirs = [dst / f"r{r}" for r in range(rounds)]
    for d in dirs:
        d.mkdir()
    cmd = ["sh", "-c", " ; ".join(
        "cp " + " ".join(str(s) for s in unique) + f" {d}" for d in dirs)]
    return timed(lambda: subprocess.run(cmd, check=True)) * len(sources) / (rounds * len(unique))


def make_tree(root: Path, files: int) -> None:
    payload = os.urandom(8 * KIB)
    for i in range(files):
        folder = root / f"d{i // 100:03d}"
        if i % 100 == 0:
            folder.mkdir(parents=True)
        # 512 B - 8 KiB: the spread of small files in a typical download.
        (folder / f"f{i:05d}").write_bytes(payload[: 512 + (i * 977) % (8 * KIB - 512)])


def bench_tree(base: Path, reps: int) -> Case:
    src = drop_dir(base / "tree")
    rm(src)
    make_tree(src, TREE_FILES)
    case = Case(f"tree {TREE_FILES} files", "tree")
    tools: list[tuple[str, Callable[[Path], object]]] = [
        ("ours", lambda d: fileio.copy_tree(src, d)),
        ("shutil", lambda d: shutil.copytree(src, d)),
        ("cp", lambda d: subprocess.run(["cp", "-r", str(src), str(d)], check=True)),
    ]
    for rep in range(reps):
        for tool, run in rotate(tools, rep):
            dst = base / "tree-copy"
            rm(dst)
            case.add(tool, timed(lambda run=run, dst=dst: run(dst)))  # type: ignore[misc]
            rm(dst)
    rm(src)
    return case


def bench_move(shm: Path, disk: Path, size: int, reps: int) -> Case:
    """Per-file times of moving n files of ``size`` from tmpfs to the disk."""
    n = 500 if size < MIB else 1
    template = make_file(shm / "move-template", size)
    case = Case(f"move tmpfs->disk {human(size)}", "file")
    tools: list[tuple[str, Callable[[str, str], object]]] = [
        ("ours", fileio.move), ("shutil", shutil.move)]
    for rep in range(reps):
        for tool, run in rotate(tools, rep):
            pairs = [(str(shm / f"move-src{i}"), str(disk / f"moved-{rep}-{tool}-{i}"))
                     for i in range(n)]
            for src, _ in pairs:
                shutil.copyfile(template, src)
            start = time.perf_counter()
            for src, dst in pairs:
                run(src, dst)
            case.add(tool, (time.perf_counter() - start) / n)
            # Ours frees a big source's pages on a background thread after
            # returning; let that finish, untimed, before the next run.
            reaper.drain(10)
            for _, dst in pairs:
                os.unlink(dst)
    os.unlink(template)
    return case


def human(size: int) -> str:
    for unit, n in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= n:
            return f"{size // n} {unit}"
    return f"{size} B"


def report(where: str, cases: list[Case], ceiling: float) -> None:
    print(f"\n== {where}  (page-write ceiling {ceiling:.2f} GB/s; medians)")
    print(f"{'case':24} {'ours':>11} {'shutil':>11} {'cp':>11} {'ours/shutil':>11} "
          f"{'ours/cp':>8}  notes")
    for c in cases:
        ours = c.median("ours")
        row = f"{c.label:24} {fmt(ours):>11} {fmt(c.median('shutil')):>11} "
        row += f"{fmt(c.median('cp')) if 'cp' in c.times else '-':>11} "
        row += f"{ours / c.median('shutil'):>11.2f} "
        row += f"{ours / c.median('cp'):>8.2f}" if "cp" in c.times else f"{'-':>8}"
        size = parse_size(c.label)
        if size >= 64 * MIB and c.per == "file" and not c.label.startswith("move"):
            speed = size / ours / 1e9
            row += f"  {speed:.2f} GB/s = {speed / ceiling:.0%} of ceiling"
            row += f", {statistics.median(c.cpu):.2f} CPU-s/GB"
        print(row)


def parse_size(label: str) -> int:
    parts = label.split()
    for i, p in enumerate(parts[:-1]):
        if p.isdigit() and parts[i + 1] in ("KiB", "MiB", "GiB"):
            return int(p) * {"KiB": KIB, "MiB": MIB, "GiB": GIB}[parts[i + 1]]
    return 0


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


@contextmanager
def fresh_ext4(size: int = 4 * GIB) -> Iterator[Path | None]:
    """A new ext4 made with mkfs's defaults (so with a journal, as most disks
    are), loop-mounted from an image in /var/tmp; None without root or loop
    devices.  A fresh filesystem keeps the disk rows comparable between
    runs: this VM's root is ext4 *without* a journal, where every create
    scans past the inodes anyone freed in the last minutes, so its small-file
    times swing 5x with whatever ran before (see bench/README.md)."""
    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        yield None
        return
    work = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="telebot-bench-ext4-"))
    image, mnt = work / "fs.img", work / "mnt"
    mounted = False
    try:
        with open(image, "wb") as fh:
            fh.truncate(size)
        # Inode tables and journal written now, not by a kernel thread during the runs.
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        str(image)], check=True, capture_output=True)
        mnt.mkdir()
        mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)],
                                 capture_output=True, check=False).returncode == 0
        yield mnt if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], check=False)
        rm(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="no 1 GiB case, 3 repetitions")
    parser.add_argument("--reps", type=int, default=0,
                        help="repetitions of big cases (default 5, quick 3); small files, "
                             "trees and the move get 2 * reps + 1")
    parser.add_argument("--disk", default="fresh",
                        help="scratch dir on a disk, or 'fresh' (default): a new ext4 image "
                             "loop-mounted for the run (falls back to /var/tmp)")
    parser.add_argument("--tmpfs", default="/dev/shm/telebot-bench-copy", help="scratch on tmpfs")
    args = parser.parse_args()
    reps = args.reps or (3 if args.quick else 5)
    sizes = [4 * KIB, 1 * MIB, 64 * MIB] + ([] if args.quick else [1 * GIB])
    print(f"telebot.fileio path: {fileio.active_path()} (NATIVE={fileio.NATIVE}); "
          f"{reps} repetitions ({2 * reps + 1} for small files); {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.2f}")
    with fresh_ext4() if args.disk == "fresh" else nullcontext(Path(args.disk)) as disk_root:
        if disk_root is None:
            print("no loop-mounted ext4 (needs root and mkfs.ext4): disk rows use /var/tmp")
        disk_dir = str(disk_root or "/var/tmp/telebot-bench-copy")
        disk_label = "disk (fresh ext4 image)" if args.disk == "fresh" and disk_root else (
            f"disk ({disk_dir})")
        run_all(Path(tempfile.mkdtemp(dir=disk_dir if mk(disk_dir) else None)),
                Path(tempfile.mkdtemp(dir=args.tmpfs if mk(args.tmpfs) else None)),
                disk_label, sizes, reps)


def run_all(disk: Path, shm: Path, disk_label: str, sizes: list[int], reps: int) -> None:
    many = 2 * reps + 1  # small cases are cheap and the noisiest: more runs
    try:
        for where, base in ((disk_label, disk), ("tmpfs", shm)):
            ceiling = page_write_ceiling(base)
            cases = [bench_files(base, s, many if s < 64 * MIB else reps if s < GIB else 3)
                     for s in sizes]
            cases.insert(1, bench_files(base, 4 * KIB, many, batched=True))
            cases.append(bench_tree(base, max(2, reps - 2)))
            report(where, cases, ceiling)
        moves = [bench_move(shm, disk, size, many) for size in (4 * KIB, 64 * MIB)]
        report("cross-filesystem move (ours fsyncs only when the source survives a crash)",
               moves, page_write_ceiling(disk))
    finally:
        rm(disk)
        rm(shm)


def mk(path: str) -> bool:
    os.makedirs(path, exist_ok=True)
    return True


if __name__ == "__main__":
    main()
