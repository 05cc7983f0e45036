"""A burst of tiny mirrors from one chat: how long until all land, and how many chat messages.

Run: python bench/burst.py [--tasks 60] [--size 65536] [--runs 3]

Each run starts the real bot (``python -m telebot``) in a fresh temporary folder against a fresh
loopback fake Bot API (``tests/fakes/bot_api.py``) and fake origin (``tests/fakes/origin.py``),
with the default queue limits and the bot's real per-chat send limit (1 message a second in a
private chat, ``telebot/resilience/ratelimit.py``). It pushes ``--tasks`` ``/mirror`` commands
at once from one private chat and times, from the first push, until every result is in
``MIRROR_DIR`` (the files are checked by size) and until the last completion message was sent.
It also counts the chat messages the bot sent (sendMessage) and edited (editMessageText)
meanwhile. Medians over ``--runs``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # bench/ holds scripts named like standard modules (copy.py)

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from tests.fakes.bot_api import Call, FakeBotAPI  # noqa: E402
from tests.fakes.origin import FakeOrigin  # noqa: E402

OWNER = 1000
TIMEOUT = 300.0  # seconds; the old code needed ~66 s for 60 tasks


@dataclass(frozen=True)
class Run:
    landed: float  # first push → every file in MIRROR_DIR
    announced: float  # first push → the last completion naming a task was sent
    sends: int  # sendMessage calls after the first push
    edits: int  # editMessageText calls after the first push


def env_for(api: FakeBotAPI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEBOT_"))}
    env.update(
        BOT_TOKEN=api.token,
        OWNER_ID=str(OWNER),
        BOT_API_URL=api.url,
        PTB_TIMEDELTA="1",
        PYTHONPATH=str(ROOT),
        ALLOW_PRIVATE_LINKS="true",
    )
    return env


def wait(condition: object, timeout: float) -> None:
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        pause.wait(0.02)


def one_run(tasks: int, size: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="burst-") as tmp, FakeOrigin() as origin:
        home = Path(tmp)
        with FakeBotAPI(workdir=home / "botapi") as api:
            for n in range(tasks):
                origin.add(f"/f{n:03d}.bin", size=size, seed=n)
            with (home / "stderr.txt").open("wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "telebot"], cwd=home, env=env_for(api),
                    stdout=subprocess.DEVNULL, stderr=err,
                )
            try:
                api.wait_polling(timeout=60)
                return measure(api, origin, home / "mirror", tasks, size)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


def measure(api: FakeBotAPI, origin: FakeOrigin, mirror: Path, tasks: int, size: int) -> Run:
    since = api.mark()
    start = time.monotonic()
    for n in range(tasks):
        api.push_message(f"/mirror {origin.url}/f{n:03d}.bin", chat_id=OWNER, user_id=OWNER)

    def landed() -> bool:
        if not mirror.is_dir():
            return False
        done = [p for p in mirror.iterdir() if p.is_file() and p.stat().st_size == size]
        return len(done) == tasks

    wait(landed, TIMEOUT)
    landed_at = time.monotonic() - start

    def done_calls() -> list[Call]:
        # The status message ("<b>Tasks</b>: ...") shows ✅ too, for a moment: not a completion.
        return [
            c for c in api.calls[since:]
            if c.method == "sendMessage" and "✅" in str(c.params.get("text", ""))
            and not str(c.params["text"]).startswith("<b>Tasks</b>")
        ]  # fmt: skip

    def named() -> set[str]:
        texts = [str(c.params["text"]) for c in done_calls()]
        return {f"f{n:03d}.bin" for n in range(tasks) if any(f"f{n:03d}.bin" in t for t in texts)}

    wait(lambda: len(named()) == tasks, TIMEOUT)
    announced = max(c.at for c in done_calls()) - start
    calls = api.calls[since:]
    return Run(
        landed=landed_at,
        announced=announced,
        sends=sum(c.method == "sendMessage" for c in calls),
        edits=sum(c.method == "editMessageText" for c in calls),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for index in range(args.runs):
        run = one_run(args.tasks, args.size)
        runs.append(run)
        print(
            f"run {index + 1}: landed {run.landed:.2f} s · announced {run.announced:.2f} s · "
            f"{run.sends} sendMessage · {run.edits} editMessageText",
            flush=True,
        )
    print(
        f"median of {len(runs)}: landed {statistics.median(r.landed for r in runs):.2f} s · "
        f"announced {statistics.median(r.announced for r in runs):.2f} s · "
        f"{statistics.median(r.sends for r in runs):.0f} sendMessage · "
        f"{statistics.median(r.edits for r in runs):.0f} editMessageText"
    )


if __name__ == "__main__":
    main()
