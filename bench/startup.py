"""Start-up time: process start → first getUpdates of the real bot, against a bare PTB import.

Run: python bench/startup.py [--runs 10]

Each run starts ``python -m telebot`` in a fresh temporary folder (its own config-free env,
database, log) against a fresh loopback fake Bot API (``tests/fakes/bot_api.py``), then stops it
with SIGTERM and waits for it to exit. Runs of the bot and of the bare import alternate, so
background load on the shared 2-core machine hits both alike; medians are what to compare.

How "first getUpdates" is timed, three ways:

* **ours** (the headline): ``time.monotonic()`` just before ``Popen`` to the moment
  ``FakeBotAPI.wait_polling()`` returns. The fake's getUpdates handler counts itself as
  "polling" and notifies its Condition as soon as it has parsed the request and starts the
  long wait, so ``wait_polling`` wakes within one thread switch of the request's arrival.
  The recorded ``Call.at`` cannot be used for it: the fake records getUpdates when it
  *returns*, i.e. after the 10 s long poll or at shutdown. PTB 22's first getUpdates is the
  long poll itself; should a short poll ever come first, it returns at once, so its
  ``Call.at`` is its arrival and ``run_bot`` takes that instead. Both ends are read in this
  process on the same monotonic clock.
* **log**: the bot's own line ``startup: first getUpdates N ms after process start``. It
  starts from psutil's process creation time and stops just before PTB sends the request,
  so it should read a little lower than *ours*. It reads higher: psutil adds the start ticks
  to ``btime`` from /proc/stat, which is truncated to whole seconds, so the line overstates
  by the boot time's fraction of a second (0-1000 ms, fixed until the next reboot). The
  "corrected" row subtracts that fraction (true boot epoch from ``CLOCK_BOOTTIME``).
* **deleteWebhook**: when the fake answered PTB's deleteWebhook (``Call.at``, taken as the
  answer is recorded), the last Bot API call before polling starts.

The reference is ``python -c "import telegram.ext"`` from Popen to exit: the floor any PTB
bot pays (interpreter start, PTB and httpx imports, interpreter exit).

Both start from cached bytecode, as an installed or once-run bot does: the children get
``PYTHONPYCACHEPREFIX`` (a temporary folder, so the checkout stays clean) without
``PYTHONDONTWRITEBYTECODE``, and one uncounted warm-up run of each fills it. Without that, an
environment with ``PYTHONDONTWRITEBYTECODE=1`` (this project's shared machine sets it) compiles
all ~150 telebot modules on every start while PTB's come precompiled from site-packages: a
cost no user pays. ``--compile`` measures that case anyway.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Replace this script's folder on the path by the repository root: bench/ holds
# scripts named like standard modules (copy.py) that would shadow them.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from tests.fakes.bot_api import FakeBotAPI  # noqa: E402

LOG_LINE = re.compile(r"startup: first getUpdates (\d+) ms after process start")
START_TIMEOUT = 60.0  # seconds; a healthy start takes ~1-2 s even on a busy machine
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class BotRun:
    first_poll_ms: float  # ours: Popen → the fake holds the first getUpdates
    log_ms: float | None  # the bot's own log line
    delete_webhook_ms: float | None  # Popen → the fake answered deleteWebhook
    stop_ms: float  # SIGTERM → exit
    exit_code: int


# Set by main(): where the children keep their bytecode (None: as the environment says).
PYCACHE: str | None = None


def python_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEBOT_"))}
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def child_env(api: FakeBotAPI) -> dict[str, str]:
    env = python_env()
    env.update(
        BOT_TOKEN=api.token,
        OWNER_ID="1",
        BOT_API_URL=api.url,
        PTB_TIMEDELTA="1",
        PYTHONPATH=str(ROOT),  # cwd is a temp folder: python -m telebot must find the package
    )
    return env


def run_bot() -> BotRun:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        home = Path(tmp)
        api = FakeBotAPI(workdir=home / "botapi").start()
        try:
            with (home / "stderr.txt").open("wb") as err:
                started = time.monotonic()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "telebot"],
                    cwd=home,
                    env=child_env(api),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            try:
                api.wait_polling(timeout=START_TIMEOUT)
                polled = time.monotonic()
                # A getUpdates already answered came before the held one (a short poll returns
                # at once, so its Call.at is its arrival); PTB 22 sends none, but be exact.
                earlier = api.calls_of("getUpdates")
                if earlier:
                    polled = min(polled, earlier[0].at)
            finally:
                stop_ms, code = stop(proc)
            hooks = api.calls_of("deleteWebhook")
        finally:
            api.stop()
        if code != 0:
            raise RuntimeError(f"the bot exited with {code}: {(home / 'stderr.txt').read_text()}")
        match = LOG_LINE.search(read(home / "telebot.log"))
        return BotRun(
            first_poll_ms=(polled - started) * 1000,
            log_ms=float(match.group(1)) if match else None,
            delete_webhook_ms=(hooks[0].at - started) * 1000 if hooks else None,
            stop_ms=stop_ms,
            exit_code=code,
        )


def stop(proc: subprocess.Popen[bytes]) -> tuple[float, int]:
    """SIGTERM, then wait; kill only if it hangs (and say so through the exit code)."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -9
    return (time.monotonic() - sent) * 1000, code


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def run_bare_import() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", "import telegram.ext"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
            env=python_env(),
        )
        return (time.monotonic() - started) * 1000


def btime_truncation_ms() -> float:
    """How much earlier psutil puts process creation than it was (see the module docstring)."""
    import psutil

    true_boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return (true_boot - psutil.boot_time()) * 1000


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compile", action="store_true",
                        help="no bytecode cache: the children compile telebot on every start "
                             "when the environment sets PYTHONDONTWRITEBYTECODE")
    args = parser.parse_args()
    global PYCACHE
    if not args.compile:
        PYCACHE = tempfile.mkdtemp(prefix="bench-startup-pycache-")
        run_bot()  # warm-up, not counted: fills the bytecode cache
        run_bare_import()
    bots: list[BotRun] = []
    bare: list[float] = []
    for _ in range(args.runs):
        bots.append(run_bot())
        bare.append(run_bare_import())
    skew = btime_truncation_ms()
    ours = statistics.median(b.first_poll_ms for b in bots)
    floor = statistics.median(bare)
    rows: list[tuple[str, float | None]] = [
        ("telebot: Popen -> first getUpdates (fake)", ours),
        ("telebot: its log line (from process creation)", median_of([b.log_ms for b in bots])),
        (
            "telebot: its log line, corrected",
            median_of([b.log_ms - skew if b.log_ms is not None else None for b in bots]),
        ),
        (
            "telebot: Popen -> deleteWebhook answered",
            median_of([b.delete_webhook_ms for b in bots]),
        ),
        ('bare: python -c "import telegram.ext"', floor),
        ("telebot: SIGTERM -> exit", statistics.median(b.stop_ms for b in bots)),
    ]
    cache = "no bytecode cache (--compile)" if args.compile else "bytecode cached"
    print(f"start-up, median of {args.runs} runs each, {cache} (shared 2-core machine: noisy)")
    print(f"  (psutil's btime truncation on this boot: {skew:.0f} ms)")
    for label, value in rows:
        shown = f"{value:8.0f} ms" if value is not None else "     n/a"
        print(f"  {label:<50}{shown}")
    print(f"  {'ratio telebot first getUpdates / bare import':<50}{ours / floor:8.2f} x")
    print(
        f"  spread of ours: {min(b.first_poll_ms for b in bots):.0f}"
        f"-{max(b.first_poll_ms for b in bots):.0f} ms; bare: {min(bare):.0f}-{max(bare):.0f} ms"
    )


if __name__ == "__main__":
    main()
