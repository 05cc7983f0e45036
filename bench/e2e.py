"""End-to-end /mirror benchmark: the real bot against curl and aria2c on the same nginx file.

    python bench/e2e.py                    # 512 MiB, medians of 3 (~2-4 min on 2 busy cores)
    python bench/e2e.py --reps 5           # steadier medians
    python bench/e2e.py --size-mib 128 --reps 1   # a quick look
    python bench/e2e.py --env DURABLE_WRITES=true # the bot with extra settings
    python bench/e2e.py --also /tmp/old           # also another checkout's bot, interleaved

What users wait for is not the downloader alone (``bench/download.py``) but the whole path:
command → probe → download → stages → delivery into ``MIRROR_DIR`` → ✅. So this starts
nginx on loopback (the same config as ``bench/download.py``) serving one random file, and the
real bot (``python -m telebot``) against the loopback fake Bot API (``tests/fakes/bot_api.py``),
once for all runs; each bot run pushes ``/mirror <url>`` and times, from the push:

* **file**: until the file is under its final name in ``MIRROR_DIR`` (a name appears there only
  when complete; polled every 2 ms by this process, whose CPU counts for no one);
* **✅**: until the completion message reached the fake Bot API.

The bot's CPU is its process's user+sys time (``/proc`` via psutil, all threads) from the push
to the ✅. curl (``-o``) and ``aria2c -x8 -s8`` download the same URL to the same disk, timed from
exec to exit, CPU from ``RUSAGE_CHILDREN``. Runs interleave, in an order shuffled each round
(seeded, ``--seed``): on the shared VM a run's cost depends on what ran just before it (a run
right after aria2c is often slower, whoever it is), so no tool may keep one predecessor.
Outputs are deleted and ``sync``
runs between runs, untimed, so one run's writeback does not land in the next. The first bot
result is checked against the source's SHA-256. Printed: medians, ranges, and ratios against
curl and aria2c computed from the same run's medians.
"""

# ruff: noqa: E402  (sys.path must be fixed before the other imports, see bench/download.py)
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import glob
import hashlib
import random
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psutil

from bench.download import MiB, make_file, ours_run, start_nginx
from telebot.sources.http.downloader import DEFAULT_SEGMENTS
from tests.fakes.bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[1]
OWNER = 1
RUN_TIMEOUT = 600.0  # s for one run: far above a loopback run, fails a hung one
POLL = 0.002  # s between looks for the file in MIRROR_DIR
BOT = "bot /mirror"


@dataclass(frozen=True)
class Run:
    seconds: float  # until the complete file is there (for the bot: in MIRROR_DIR)
    cpu: float  # user+sys of the tool's process over the run
    done: float | None = None  # the bot only: until the ✅ message
    user: float | None = None  # the bot only: the user-space part of cpu
    # the bot only: phase -> (seconds, CPU seconds) from the command to its start (--phases)
    phases: dict[str, tuple[float, float]] | None = None


class Bot:
    """The real bot process with a fake Bot API, started once for every run."""

    def __init__(self, home: Path, extra_env: dict[str, str], root: Path = ROOT) -> None:
        self.home = home
        self.mirror_dir = home / "mirror"
        self.api = FakeBotAPI(workdir=home / "botapi").start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEBOT_"))}
        env.update(
            BOT_TOKEN=self.api.token,
            OWNER_ID=str(OWNER),
            BOT_API_URL=self.api.url,
            PTB_TIMEDELTA="1",
            PYTHONPATH=str(root),
            ALLOW_PRIVATE_LINKS="true",
            **extra_env,
        )
        home.mkdir(parents=True, exist_ok=True)
        with (home / "stderr.txt").open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "telebot"], cwd=home, env=env,
                stdout=subprocess.DEVNULL, stderr=err,
            )
        self.api.wait_polling(timeout=60)
        self.ps = psutil.Process(self.proc.pid)
        self.verified = False  # the first result is checked against the source's SHA-256

    def mirror(self, url: str, name: str) -> Run:
        target = self.mirror_dir / name
        since = self.api.mark()
        # Phase marks, seen from outside: the .part appears (probe done), the finished download
        # is under its name in the task folder, the result is in MIRROR_DIR.
        marks: dict[str, tuple[float, float]] = {}
        tasks = self.home / "downloads" / "*"
        looks = {
            "download": lambda: bool(glob.glob(str(tasks / f"{name}.part"))),
            "fetched": lambda: bool(glob.glob(str(tasks / name))),
            "landed": lambda: os.path.lexists(target),
        }
        stop = threading.Event()

        def watch() -> None:  # in this process: its CPU is not the bot's
            while len(marks) < len(looks):
                # One full look after the ✅ too: on a loaded host this thread may sleep
                # through the moment the file landed just before it (a late mark only
                # overstates the bot's time).
                stopping = stop.is_set()
                for phase, look in looks.items():
                    if phase not in marks and look():
                        marks[phase] = (time.monotonic(), self._cpu())
                if stopping:
                    return
                time.sleep(POLL)

        watcher = threading.Thread(target=watch, daemon=True)
        before, t0 = self.ps.cpu_times(), time.monotonic()
        cpu0 = before.user + before.system
        watcher.start()
        self.api.push_message(f"/mirror {url}", chat_id=OWNER, user_id=OWNER)
        done = self.api.wait_for(
            "sendMessage",
            lambda c: _final(str(c.params.get("text", ""))),
            since=since,
            timeout=RUN_TIMEOUT,
        )
        after = self.ps.cpu_times()
        user = after.user - before.user
        cpu = user + after.system - before.system
        stop.set()
        watcher.join()
        if "✅" not in str(done.params.get("text")):
            raise SystemExit(f"the bot failed: {done.params.get('text')}")
        if "landed" not in marks:
            raise SystemExit(f"the ✅ came but {target} is not there")
        phases = {phase: (at - t0, used - cpu0) for phase, (at, used) in marks.items()}
        return Run(marks["landed"][0] - t0, cpu, done.at - t0, user, phases)

    def _cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.api.stop()


def _final(text: str) -> bool:
    # The status message ("<b>Tasks</b>: ...") shows ✅ for a moment: not the completion.
    return ("✅" in text or "❌" in text) and not text.startswith("<b>Tasks</b>")


def child_run(cmd: list[str]) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Run(seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def downloader(url: str, out: Path) -> Run:
    """HttpSource.download in this process, as ``bench/download.py`` times it."""
    run = ours_run(url, out, DEFAULT_SEGMENTS)
    return Run(run.seconds, run.cpu)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(16 * MiB):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the bot (repeatable)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="run the bot from this checkout (default: this one)")
    parser.add_argument("--also", type=Path, action="append", default=[], metavar="ROOT",
                        help="also time the bot of another checkout, interleaved (A/B)")
    parser.add_argument("--downloader", action="store_true",
                        help="also time HttpSource alone in this process (bench/download.py)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the run order")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds to wait after sync before each run")
    parser.add_argument("--phases", action="store_true",
                        help="print when each bot run's download started, finished, landed")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    for tool in ("nginx", "curl", "aria2c"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (apt-get install -y nginx curl aria2)")
    extra = dict(item.split("=", 1) for item in args.env)
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    tmp.chmod(0o755)  # nginx workers run as "nobody" when started by root
    www, out = tmp / "www", tmp / "out"
    www.mkdir()
    size = args.size_mib * MiB
    print(f"making a {args.size_mib} MiB file in {tmp} ...", flush=True)
    digest = make_file(www / "big.bin", size)
    nginx, port = start_nginx(tmp, www, 20_000_000)
    bots: dict[str, Bot] = {}
    try:
        url = f"http://127.0.0.1:{port}/fast/big.bin"
        subprocess.run(["curl", "-fsS", "-o", "/dev/null", url], check=True)  # warm page cache
        roots = {BOT: args.root, **{f"bot @{p.name}": p for p in args.also}}
        for index, (name, root) in enumerate(roots.items()):
            bots[name] = Bot(tmp / f"bot{index}", extra, root.resolve())
            print(f"{name}: pid {bots[name].proc.pid}, code from {root.resolve()}", flush=True)
        aria = ["aria2c", "-q", "--allow-overwrite=true", "--auto-file-renaming=false",
                "--file-allocation=falloc", "--summary-interval=0", "-d", str(out),
                "-o", "big.bin", "-x8", "-s8", url]
        tools: dict[str, Callable[[], Run]] = {
            name: partial(mirror_once, bot, url, size, None if args.no_verify else digest)
            for name, bot in bots.items()
        }
        tools["curl"] = lambda: child_run(["curl", "-fsS", "-o", str(out / "big.bin"), url])
        tools["aria2c -x8 -s8"] = lambda: child_run(aria)
        if args.downloader:
            tools["downloader alone"] = lambda: downloader(url, out)
        got: dict[str, list[Run]] = {name: [] for name in tools}
        names = list(tools)
        order = random.Random(args.seed)
        for rep in range(args.reps):
            # Shuffled each round (seeded): on this VM a run's cost depends on what ran just
            # before it (a run right after aria2c is often slower, whoever it is), so no tool
            # may keep one predecessor, as a plain rotation would give it.
            order.shuffle(names)
            for name in names:
                fn = tools[name]
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                os.sync()
                time.sleep(args.settle)
                got[name].append(fn())
                r = got[name][-1]
                done_s = f", ✅ {r.done:.2f} s" if r.done is not None else ""
                user_s = f" (user {r.user:.2f} s)" if r.user is not None else ""
                print(f"  run {rep + 1} {name:<16} {r.seconds:6.2f} s{done_s}, "
                      f"CPU {r.cpu:.2f} s{user_s}", flush=True)
                if args.phases and r.phases:
                    print("      " + ", ".join(f"{p} at {t:.2f} s (CPU {c:.2f})"
                                               for p, (t, c) in r.phases.items()), flush=True)
        report(got, size, args.reps)
    finally:
        for bot in bots.values():
            bot.close()
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def mirror_once(bot: Bot, url: str, size: int, digest: str | None) -> Run:
    """One /mirror; the result is checked (size, and SHA-256 the first time) and removed."""
    run = bot.mirror(url, "big.bin")
    mirrored = bot.mirror_dir / "big.bin"
    if mirrored.stat().st_size != size:
        raise SystemExit("the bot delivered a file of the wrong size")
    if digest is not None and not bot.verified:
        if sha256(mirrored) != digest:
            raise SystemExit("the bot delivered a wrong file")
        bot.verified = True
    mirrored.unlink()
    return run


def report(got: dict[str, list[Run]], size: int, reps: int) -> None:
    gb = size / 1e9

    def med(values: list[float]) -> float:
        return statistics.median(values)

    curl_s = med([r.seconds for r in got["curl"]])
    curl_cpu = med([r.cpu for r in got["curl"]])
    aria_s = med([r.seconds for r in got["aria2c -x8 -s8"]])
    print(f"\n{size // MiB} MiB, nginx on loopback, to disk, medians of {reps} "
          f"({os.cpu_count()} cores); ratios from this run's medians")
    print("| tool | MB/s (range) | CPU-s/GB | throughput × curl | × aria2c -x8 | CPU × curl |")  # noqa: RUF001
    print("|---|---|---|---|---|---|")
    rows: list[tuple[str, list[float], list[float]]] = []
    for name, runs in got.items():
        rows.append((name, [r.seconds for r in runs], [r.cpu for r in runs]))
        if name.startswith("bot"):
            rows.append((f"{name}, to ✅", [r.done or 0.0 for r in runs],
                         [r.cpu for r in runs]))
    for name, secs, cpus in rows:
        s, c = med(secs), med(cpus)
        lo, hi = size / max(secs) / 1e6, size / min(secs) / 1e6
        print(f"| {name} | {size / s / 1e6:,.0f} ({lo:,.0f}–{hi:,.0f}) | {c / gb:.2f} | "  # noqa: RUF001
              f"{curl_s / s:.2f} | {aria_s / s:.2f} | {c / curl_cpu:.2f} |")


if __name__ == "__main__":
    main()
