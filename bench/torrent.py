"""Torrent benchmark: the bot's /mirror of a magnet, end to end, against aria2c.

    python bench/torrent.py                    # 512 MiB file and 2,000 x 32 KiB files, 3 reps
    python bench/torrent.py --size-mib 128 --reps 1   # a quick look

One libtorrent seeder runs in this process on 127.0.0.1, with a tiny HTTP tracker
(tests/fakes/swarm.py): aria2c ignores a magnet's ``x.pe`` peer hint, so both clients get the
same magnet with a ``tr=`` tracker that names the seeder. Torrents are v1-only, because aria2c
1.36 does not know v2/hybrid pad files and would write them out.

ours: the real bot (``python -m telebot``) against the fake Bot API; the clock runs from the
/mirror message to the ✅ message, so it includes metadata, the download, the move into
MIRROR_DIR and the bot's own status messages. aria2c: ``aria2c --seed-time=0`` (DHT, LPD and PEX
off, no preallocation), from exec to exit. CPU seconds per GB: the bot process's user+sys time
over the same span (psutil); aria2c's from RUSAGE_CHILDREN. The seeder's CPU counts for no one.
Runs alternate between the tools; outputs are deleted and ``sync`` runs between runs, untimed.
"""

# ruff: noqa: E402  (sys.path must be fixed before the other imports, see bench/download.py)
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.swarm import Seeder, Tracker, magnet, make_torrent

MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]
OWNER = 1
RUN_TIMEOUT = 600.0  # s for one download: far above a loopback run, fails a hung one


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        left = size
        while left:
            chunk = min(left, 8 * MiB)
            handle.write(os.urandom(chunk))
            left -= chunk


def make_cases(seed: Path, size_mib: int, files: int, file_kib: int) -> dict[str, Path]:
    big = seed / "big"
    write_random(big / "big.bin", size_mib * MiB)
    small = seed / "small"
    for i in range(files):
        write_random(small / f"d{i // 100:02d}" / f"f{i:04d}.bin", file_kib * 1024)
    return {f"1 x {size_mib} MiB": big, f"{files} x {file_kib} KiB": small}


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def same_tree(got: Path, want: Path) -> None:
    mine = sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(want) for p in want.rglob("*") if p.is_file())
    if mine != theirs or tree_size(got) != tree_size(want):
        raise RuntimeError(f"{got} differs from {want}")


class Bot:
    """The real bot process with a fake Bot API, started once for every run."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.api = FakeBotAPI(workdir=home / "botapi").start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEBOT_"))}
        env.update(
            BOT_TOKEN=self.api.token,
            OWNER_ID=str(OWNER),
            BOT_API_URL=self.api.url,
            PTB_TIMEDELTA="1",
            PYTHONPATH=str(ROOT),
            ALLOW_PRIVATE_LINKS="true",
            TORRENT_PORT="0",
            TORRENT_LISTEN="127.0.0.1",
            TORRENT_DHT="false",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "telebot"],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(home / "stderr.txt").open("wb"),
        )
        self.api.wait_polling(timeout=60)
        self.ps = psutil.Process(self.proc.pid)

    def mirror(self, uri: str) -> Run:
        since = self.api.mark()
        cpu0, t0 = self._cpu(), time.monotonic()
        self.api.push_message(f"/mirror {uri}", chat_id=OWNER, user_id=OWNER)
        done = self.api.wait_for(
            "sendMessage",
            lambda c: (
                "✅" in str(c.params.get("text", "")) or "❌" in str(c.params.get("text", ""))
            ),
            since=since,
            timeout=RUN_TIMEOUT,
        )
        seconds, cpu = done.at - t0, self._cpu() - cpu0
        if "✅" not in str(done.params.get("text")):
            raise RuntimeError(f"the bot failed: {done.params.get('text')}")
        return Run(seconds, cpu)

    def _cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.api.stop()


def aria2c(uri: str, out: Path) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(
        [
            "aria2c",
            "--seed-time=0",
            f"--dir={out}",
            "--enable-dht=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--file-allocation=none",
            "--bt-save-metadata=false",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--listen-port=6891-6999",
            uri,
        ],
        check=True,
        timeout=RUN_TIMEOUT,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu)


def measure(name: str, runs: dict[str, Callable[[], Run]], reps: int, size: int) -> None:
    got: dict[str, list[Run]] = {tool: [] for tool in runs}
    for _ in range(reps):
        for tool, run in runs.items():
            got[tool].append(run())
    print(f"\n{name} ({size / MiB:.0f} MiB), median of {reps}")
    print(f"{'tool':<8} {'seconds':>8} {'MB/s':>8} {'CPU s/GB':>9}")
    medians = {}
    for tool, results in got.items():
        secs = statistics.median(r.seconds for r in results)
        cpu = statistics.median(r.cpu for r in results) / (size / 1e9)
        medians[tool] = (secs, cpu)
        print(f"{tool:<8} {secs:8.2f} {size / secs / 1e6:8.1f} {cpu:9.2f}")
    (ours_s, ours_cpu), (aria_s, aria_cpu) = medians["ours"], medians["aria2c"]
    print(
        f"speed ours/aria2c: {aria_s / ours_s:.2f}x · CPU per GB ours/aria2c: "
        f"{ours_cpu / aria_cpu:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-kib", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-torrent-") as tmp:
        home = Path(tmp)
        cases = make_cases(home / "seed", args.size_mib, args.files, args.file_kib)
        seeder = Seeder()
        bot = Bot(home / "bot")
        try:
            for name, folder in cases.items():
                torrent = make_torrent(folder, v1_only=True)
                seeder.seed(torrent, folder.parent)
                tracker = Tracker([seeder.port])
                uri = magnet(torrent) + "&tr=" + tracker.url
                out = home / "aria2c"
                mirrored = home / "bot" / "mirror" / folder.name

                def ours(uri: str = uri, folder: Path = folder, mirrored: Path = mirrored) -> Run:
                    run = bot.mirror(uri)
                    same_tree(mirrored, folder)
                    shutil.rmtree(mirrored)
                    os.sync()
                    return run

                def theirs(uri: str = uri, folder: Path = folder, out: Path = out) -> Run:
                    run = aria2c(uri, out)
                    same_tree(out / folder.name, folder)
                    shutil.rmtree(out)
                    os.sync()
                    return run

                measure(name, {"ours": ours, "aria2c": theirs}, args.reps, tree_size(folder))
                tracker.close()
        finally:
            bot.close()
            seeder.close()


if __name__ == "__main__":
    main()
