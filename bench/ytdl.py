#!/usr/bin/env python
"""Benchmark the bot's yt-dlp engine against the ``yt-dlp`` command line, in one run.

    python bench/ytdl.py              # 200 MB HLS stream, medians of 3 (~2-4 min)
    python bench/ytdl.py --mb 50 --runs 3

A ~200 MB HLS stream (one 720p MPEG-2 video variant with AAC audio, 4 s segments, made once
with ffmpeg and cached in the temp folder) is served by ``python -m http.server`` in its own
process on 127.0.0.1. Each repetition downloads it twice, order alternating: with
``YtdlSource.fetch`` (the bot's engine: guarded networking, progress hooks, cancel watcher,
name checks) and with the ``yt-dlp`` CLI given the same options (format, native HLS
downloader, same output template and folder layout). Each download goes to a fresh folder.
The table shows medians and the overhead ``(bot - cli) / cli``; the goal is ≤ 5 %.
The CLI pays its own start-up (imports, ~0.5 s) — that is part of what a user of the CLI pays.

Then /cancel's latency: the engine downloads the same stream, is cancelled once its first
bytes are on disk, and the time until ``fetch`` has returned (yt-dlp stopped, its connection
closed) is measured; the goal is ≤ 1 s (the e2e test only checks that cancel stops it).
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as a script, bench/ is sys.path[0] and bench/copy.py would shadow the stdlib copy module
# (dataclasses imports it): put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from telebot.config import Config
from telebot.engine.task import Task, TaskSpec
from telebot.errors import TaskCancelled
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.sources.ytdl.source import BEST, OUTTMPL, YtdlSource

BITRATE_MBIT = 40  # MPEG-2 at 40 Mbit/s: 200 MB is 40 s of video


def make_stream(folder: Path, mb: int) -> Path:
    master = folder / "master.m3u8"
    if master.exists():
        return master
    folder.mkdir(parents=True, exist_ok=True)
    seconds = max(4, round(mb * 8 / BITRATE_MBIT))
    rate = f"{BITRATE_MBIT}M"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "mpeg2video", "-b:v", rate, "-minrate", rate, "-maxrate", rate,
         "-bufsize", rate, "-c:a", "aac", "-b:a", "128k", "-map", "0:v", "-map", "1:a",
         "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
         "-master_pl_name", "master.m3u8", "-hls_segment_filename",
         str(folder / "seg_%04d.ts"), str(folder / "v.m3u8")],
        check=True,
    )  # fmt: skip
    return master


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_bot(url: str, out: Path) -> float:
    out.mkdir()
    cfg = Config(bot_token="1:a", owner_id=1, allow_private_links=True)
    spec = TaskSpec(kind="mirror", source=url, chat_id=1, user_id=1, tool="ytdl", ytdl_format=BEST)
    task = Task("0123456789", spec, out)
    start = time.perf_counter()
    path = YtdlSource(YtdlSettings.from_config(cfg)).fetch(task)
    took = time.perf_counter() - start
    assert path.stat().st_size > 0
    return took


def cancel_latency(url: str, out: Path, size: int) -> float:
    """Seconds from ``task.cancel`` (first bytes on disk) until the engine's fetch returned;
    ``size``: the stream's bytes, to check the cancel came mid-download."""
    out.mkdir()
    cfg = Config(bot_token="1:a", owner_id=1, allow_private_links=True)
    spec = TaskSpec(kind="mirror", source=url, chat_id=1, user_id=1, tool="ytdl", ytdl_format=BEST)
    task = Task("0123456789", spec, out)
    outcome: list[BaseException | None] = []

    def fetch() -> None:
        try:
            YtdlSource(YtdlSettings.from_config(cfg)).fetch(task)
            outcome.append(None)
        except BaseException as exc:  # reported by the caller
            outcome.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    deadline = time.monotonic() + 60
    while not any(f.is_file() and f.stat().st_size for f in out.rglob("*")):
        if time.monotonic() > deadline or not worker.is_alive():
            raise SystemExit("the download never started")
        time.sleep(0.01)  # a benchmark script, not a test: polling the folder is fine
    start = time.perf_counter()
    task.cancel("bench")
    worker.join(60)
    took = time.perf_counter() - start
    if sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) >= size:
        raise SystemExit("the download finished before the cancel: use a larger --mb")
    if not outcome or not isinstance(outcome[0], TaskCancelled):
        raise SystemExit(f"cancel did not stop the download: {outcome}")
    return took


def run_cli(url: str, out: Path) -> float:
    home = out / "media"
    home.mkdir(parents=True)
    argv = [
        "yt-dlp", "-q", "--no-warnings", "--no-progress", "-f", BEST,
        "-P", f"home:{home}", "-P", f"temp:{home}", "-o", OUTTMPL,
        "--downloader", "native", "--hls-prefer-native", "--proxy", "", "--no-cache-dir",
        "--continue", url,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    took = time.perf_counter() - start
    assert any(p.stat().st_size > 0 for p in home.iterdir())
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / f"telebot-bench-ytdl-{args.mb}"
    master = make_stream(cache, args.mb)
    size = sum(p.stat().st_size for p in cache.glob("*.ts"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=cache, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/{master.name}"
    times: dict[str, list[float]] = {"bot": [], "cli": []}
    cancels: list[float] = []
    try:
        _wait_port(port)
        for i in range(args.runs):
            order = ("bot", "cli") if i % 2 == 0 else ("cli", "bot")
            for who in order:
                work = Path(tempfile.mkdtemp(prefix=f"bench-ytdl-{who}-"))
                try:
                    fn = run_bot if who == "bot" else run_cli
                    times[who].append(fn(url, work / "t"))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        for _ in range(args.runs):
            work = Path(tempfile.mkdtemp(prefix="bench-ytdl-cancel-"))
            try:
                cancels.append(cancel_latency(url, work / "t", size))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        server.terminate()
        server.wait(10)
    bot, cli = statistics.median(times["bot"]), statistics.median(times["cli"])
    print(f"HLS stream: {size / 1e6:.0f} MB in {len(list(cache.glob('*.ts')))} segments, "
          f"{args.runs} runs, {os.cpu_count()} cores")  # fmt: skip
    print("| tool | median wall time | runs |")
    print("|---|---|---|")
    print(
        f"| bot engine (YtdlSource) | {bot:.2f} s | {', '.join(f'{t:.2f}' for t in times['bot'])} |"
    )
    print(f"| yt-dlp CLI | {cli:.2f} s | {', '.join(f'{t:.2f}' for t in times['cli'])} |")
    print(f"overhead: {100 * (bot - cli) / cli:+.1f} % (goal ≤ 5 %)")
    boot = statistics.median(_startup() for _ in range(args.runs))
    print(
        f"yt-dlp CLI start-up (yt-dlp --version): {boot:.2f} s; without it the CLI took "
        f"{cli - boot:.2f} s and the overhead is {100 * (bot - cli + boot) / (cli - boot):+.1f} %"
    )
    print(
        f"cancel → fetch returned: median {statistics.median(cancels):.2f} s "
        f"({', '.join(f'{t:.2f}' for t in cancels)}; goal ≤ 1 s)"
    )


def _startup() -> float:
    start = time.perf_counter()
    subprocess.run(["yt-dlp", "--version"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)  # a benchmark script, not a test: polling the port is fine
    raise SystemExit("the HTTP server did not start")


if __name__ == "__main__":
    main()
