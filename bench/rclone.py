"""rclone benchmark: the bot's rclone sink against ``rclone copy`` run by hand, same data, same run.

    python bench/rclone.py                          # 1 GiB file and 2,000 x 32 KiB files, 3 reps
    python bench/rclone.py --size-mib 128 --reps 1  # a quick look

One ``rclone serve webdav`` on 127.0.0.1 over a temporary folder; an rclone.conf names it.

ours: ``RcloneSink.deliver`` as the bot runs it for a /mirror with ``-up wd:...`` (reads and
checks the config, one ``rclone copyto``/``copy`` child with ``--use-json-log --stats 1s -v``
whose stats lines are parsed into the task's progress, the retry/breaker wrapper, and the
``rclone link`` attempt for the done message). by hand: ``rclone copyto|copy SRC wd:DST`` with the
same config and no flags. Wall time from start to return/exit. Runs alternate between the two;
the destination folder is emptied between runs, untimed. The result: medians and the overhead
of ours over by hand (goal ≤ 10 %).
"""

# ruff: noqa: E402  (sys.path must be fixed before the other imports, see bench/download.py)
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from telebot.engine.task import State, Task, TaskSpec
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sinks.rclone.settings import RcloneSettings
from telebot.sinks.rclone.sink import RcloneSink
from tests.fakes.rclone_serve import RcloneServer, write_config

MiB = 1 << 20
SMALL_FILE = 32 * 1024  # bytes per small file, as in bench/torrent.py
SINKS: dict[Path, RcloneSink] = {}


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            handle.write(block)
            left -= len(block)


def by_hand(config: Path, src: Path, dest: str) -> None:
    verb = "copy" if src.is_dir() else "copyto"
    subprocess.run(["rclone", "--config", str(config), verb, str(src), dest], check=True)


def ours(config: Path, src: Path, dest: str) -> None:
    remote, _, folder = dest.partition(":")
    spec = TaskSpec(kind="mirror", source="x", chat_id=1, user_id=1,
                    upload=f"{remote}:{folder.rsplit('/', 1)[0]}", name=src.name)
    task = Task("00000bench", spec, src.parent / ".task")
    task.begin(State.UPLOADING, "rclone")
    sink = SINKS.get(config)
    if sink is None:  # one sink per config, as the bot keeps one
        sink = SINKS[config] = RcloneSink(
            RcloneSettings(config), breakers=BreakerRegistry(), errors=ErrorTracker()
        )
    sink.deliver(task, src)


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(config: Path, root: Path, src: Path, reps: int) -> tuple[float, float]:
    tools = {"ours": ours, "by hand": by_hand}
    times: dict[str, list[float]] = {name: [] for name in tools}
    for rep in range(reps):
        for number, (name, tool) in enumerate(tools.items()):
            # A fresh folder per run: the server's directory cache would otherwise still list
            # an earlier run's files after they were removed underneath it, and rclone skips.
            dest = f"wd:out{rep}-{number}/{src.name}"
            times[name].append(timed(lambda t=tool, d=dest: t(config, src, d)))  # type: ignore[misc]
            shutil.rmtree(root / f"out{rep}-{number}", ignore_errors=True)
    return statistics.median(times["ours"]), statistics.median(times["by hand"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rclone-") as tmp:
        base = Path(tmp)
        server = RcloneServer("webdav", base / "remote", base / "cache").start()
        try:
            config = write_config(base / "rclone.conf", {"wd": server})
            big = base / "data" / "big.bin"
            write_random(big, args.size_mib * MiB)
            small = base / "data" / "small"
            for n in range(args.files):
                write_random(small / f"{n // 100:02}" / f"f{n:05}.bin", SMALL_FILE)
            print("| data | ours (s) | rclone copy (s) | overhead |\n|---|---|---|---|")
            for label, src in ((f"{args.size_mib} MiB file", big),
                               (f"{args.files} x 32 KiB files", small)):
                mine, hand = measure(config, server.root, src, args.reps)
                print(f"| {label} | {mine:.2f} | {hand:.2f} | {100 * (mine / hand - 1):+.1f} % |")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
