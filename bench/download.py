"""Download benchmark: telebot's HttpSource vs curl and aria2c, against nginx on loopback.

    python bench/download.py                 # default run (~3-5 min on 2 busy cores)
    python bench/download.py --reps 5        # more repetitions, steadier medians
    python bench/download.py --sweep         # also try 1/2/4/8/16 segments (picks defaults)
    python bench/download.py --size-mib 256  # smaller file for a quick look

It starts its own nginx (config written to a temp dir, listening on a free
127.0.0.1 port), serving one file of --size-mib MiB (default 1 GiB) twice: at
``/fast/`` unthrottled and at ``/slow/`` with ``limit_rate`` per connection
(--rate-mb MB/s), where opening more connections is what matters. Every tool
writes the file to disk (page cache) in the same temp dir; the output is
deleted and ``sync`` runs between runs, untimed, so writeback of one run does
not land in the next. Each configuration runs --reps times and the *median*
is printed: the machine has 2 cores that other work shares, so single numbers
are noisy.

CPU seconds per GB: for curl and aria2c the child's user+sys time
(``RUSAGE_CHILDREN``); for ours the process CPU time of this process during the
download (all its threads; the interpreter start-up is not counted, as curl's
is tiny). nginx's own CPU is not counted for anyone.
"""

# ruff: noqa: E402  (sys.path must be fixed before the other imports, see below)
from __future__ import annotations

import os
import sys

# Run as a script, this folder is sys.path[0], and bench/copy.py would shadow
# the standard library's copy module: drop the folder, add the repository root.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import hashlib
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import DEFAULT_SEGMENTS, HttpOptions, HttpSource

MiB = 1 << 20
NGINX_CONF = """\
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        location /fast/ {{ alias {www}/; }}
        location /slow/ {{ alias {www}/; limit_rate {rate}; }}
    }}
}}
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_file(path: Path, size: int) -> str:
    """Write *size* bytes of random-looking data (a 16 MiB random block repeated)."""
    block = os.urandom(16 * MiB)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def start_nginx(tmp: Path, www: Path, rate_bytes: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, www=www, port=port, rate=rate_bytes))
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"nginx did not start; see {tmp}/error.log")


def child_run(cmd: list[str]) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu)


def ours_run(url: str, out: Path, segments: int) -> Run:
    source = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker())
    options = replace(HttpOptions(allow_private=True), segments=segments, name="out.bin")
    cpu0, began = time.process_time(), time.perf_counter()
    source.download(url, out, options, progress=lambda d, t: None, cancel=threading.Event())
    return Run(time.perf_counter() - began, time.process_time() - cpu0)


def tools(base: str, out: Path) -> dict[str, Callable[[], Run]]:
    target = out / "out.bin"
    aria = ["aria2c", "-q", "--allow-overwrite=true", "--auto-file-renaming=false",
            "--file-allocation=falloc", "--summary-interval=0", "-d", str(out), "-o", "out.bin"]
    return {
        "curl": lambda: child_run(["curl", "-fsS", "-o", str(target), base]),
        "aria2c -x1": lambda: child_run([*aria, "-x1", "-s1", base]),
        "aria2c -x8 -s8": lambda: child_run([*aria, "-x8", "-s8", base]),
        "ours single": lambda: ours_run(base, out, 1),
        f"ours segmented ({DEFAULT_SEGMENTS})": lambda: ours_run(base, out, DEFAULT_SEGMENTS),
    }


def measure(name: str, fn: Callable[[], Run], out: Path, reps: int, size: int,
            expect: str | None) -> tuple[float, float]:
    runs = []
    for _ in range(reps):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        os.sync()
        runs.append(fn())
        if expect is not None and len(runs) == 1:
            check(out / "out.bin", size, expect, name)
    shutil.rmtree(out, ignore_errors=True)
    secs = statistics.median(r.seconds for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    mbps = size / secs / 1e6
    print(f"  {name:<24} {mbps:9.0f} MB/s  {cpu / (size / 1e9):6.2f} CPU-s/GB  "
          f"(median of {reps}: {', '.join(f'{r.seconds:.2f}s' for r in runs)})", flush=True)
    return secs, cpu


def check(path: Path, size: int, expect: str, name: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(16 * MiB):
            digest.update(block)
    if path.stat().st_size != size or digest.hexdigest() != expect:
        raise SystemExit(f"{name}: wrong result")


def report(results: dict[str, tuple[float, float]], title: str) -> None:
    curl = results.get("curl")
    aria8 = results.get("aria2c -x8 -s8")
    print(f"\n  {title}: time ratios (lower is better), CPU ratio vs curl")
    for name, (secs, cpu) in results.items():
        parts = []
        if curl:
            parts.append(f"{secs / curl[0]:.2f} x curl time, {cpu / curl[1]:.2f} x curl CPU")
        if aria8:
            parts.append(f"{secs / aria8[0]:.2f} x aria2c-x8 time "
                         f"({aria8[0] / secs:.2f} x its throughput)")
        print(f"  {name:<24} " + "; ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rate-mb", type=float, default=20.0, help="per-connection limit, MB/s")
    parser.add_argument("--slow-size-mib", type=int, default=256)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args()
    for tool in ("nginx", "curl", "aria2c"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (apt-get install -y nginx curl aria2)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-download-"))
    tmp.chmod(0o755)  # nginx workers run as "nobody" when started by root
    www, out = tmp / "www", tmp / "out"
    www.mkdir()
    size, slow_size = args.size_mib * MiB, args.slow_size_mib * MiB
    print(f"making {args.size_mib} MiB and {args.slow_size_mib} MiB files in {tmp} ...", flush=True)
    digest = make_file(www / "big.bin", size)
    slow_digest = make_file(www / "slow.bin", slow_size)
    nginx, port = start_nginx(tmp, www, int(args.rate_mb * 1e6))
    try:
        fast = f"http://127.0.0.1:{port}/fast/big.bin"
        slow = f"http://127.0.0.1:{port}/slow/slow.bin"
        subprocess.run(["curl", "-fsS", "-o", "/dev/null", fast], check=True)  # warm page cache
        print(f"\nunthrottled, {args.size_mib} MiB, to disk ({os.cpu_count()} cores, "
              f"medians of {args.reps}):")
        fast_results = {name: measure(name, fn, out, args.reps, size,
                                      None if args.no_verify else digest)
                        for name, fn in tools(fast, out).items()}
        report(fast_results, "unthrottled")
        if args.sweep:
            print("\nsegment sweep, unthrottled:")
            for n in (1, 2, 4, 8, 16):
                measure(f"ours {n} segments", lambda n=n: ours_run(fast, out, n), out,
                        args.reps, size, None)
        print(f"\nthrottled to {args.rate_mb:g} MB/s per connection, {args.slow_size_mib} MiB "
              f"(single-stream tools: 1 run, they only measure limit_rate):")
        slow_results = {}
        for name, fn in tools(slow, out).items():
            single = name in ("curl", "aria2c -x1", "ours single")
            slow_results[name] = measure(name, fn, out, 1 if single else args.reps, slow_size,
                                         None if args.no_verify else slow_digest)
        report(slow_results, "throttled")
    finally:
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
