"""Scale-out: throughput of one Celery worker against two, in the same run.

Run: python bench/scale.py [--runs 3] [--tasks 8] [--size-mib 8] [--rate-kib 1024]

Each round starts a fresh ``redis-server`` (loopback, no persistence), the loopback fake Bot API
and fake origin, the real bot as front (``CELERY_BROKER_URL``) and 1, then 2, real
``python -m telebot.worker`` processes (the order alternates between rounds, so background load
hits both alike). Every worker has ``QUEUE_ALL=2``: it stands for a host whose disk or link is
full at two tasks. The origin throttles every connection (``--rate-kib``), so a task's speed is
the origin's, not the CPU's, as with remote servers. ``--tasks`` mirrors of ``--size-mib`` MiB
each are sent at once; the time runs from the first /mirror (workers are started and ready
before) to the last finish report in Redis (the work is done: the headline), and to the last ✅
message. The second includes Telegram's one message per second per chat: tasks that end
together announce one after another, which costs two workers more than one. Throughput =
bytes / time. Printed: each round, the medians and the ratio of the medians (goal: at least
1.8x with two workers).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Replace this script's folder on the path by the repository root: bench/ holds
# scripts named like standard modules (copy.py) that would shadow them.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from tests import polling  # noqa: E402
from tests.conftest import OWNER, BotProcess  # noqa: E402
from tests.e2e.helpers import text_of  # noqa: E402
from tests.fakes.bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.origin import FakeOrigin  # noqa: E402
from tests.scale.conftest import RedisServer, WorkerProcess, scale_env  # noqa: E402

MiB = 1024 * 1024
TIMEOUT = 600.0  # seconds for one round's tasks; a healthy round takes well under a minute


def one_round(workers: int, args: argparse.Namespace) -> tuple[float, float]:
    """Bytes per second for ``args.tasks`` mirrors with ``workers`` workers: until every
    finish report is in Redis, and until every ✅ is in the chat."""
    with tempfile.TemporaryDirectory(prefix="telebot-scale-") as tmp:
        home = Path(tmp)
        redis = RedisServer(home / "redis").start()
        procs: list[BotProcess | WorkerProcess] = []
        try:
            with FakeBotAPI(workdir=home / "botapi") as api, FakeOrigin() as origin:
                for i in range(workers):
                    env = scale_env(api, redis, QUEUE_ALL="2")
                    worker = WorkerProcess(f"w{i}", home / f"w{i}", env, pool=args.pool)
                    procs.append(worker.start())
                (home / "front").mkdir()
                # The default status interval: edits every 0.3 s (the tests' value) would hold
                # the ✅ messages back in the chat's rate limit and time the chat, not the work.
                env = scale_env(api, redis, STATUS_UPDATE_INTERVAL="10")
                front = BotProcess(api, home / "front", env)
                procs.append(front.start())
                return _measure(api, origin, redis, args)
        finally:
            for proc in procs:
                proc.stop_quietly()
            redis.stop()


def _measure(
    api: FakeBotAPI, origin: FakeOrigin, redis: RedisServer, args: argparse.Namespace
) -> tuple[float, float]:
    size = args.size_mib * MiB
    for i in range(args.tasks):
        origin.add(f"/s{i}.bin", size=size, seed=i)
        origin.fault(f"/s{i}.bin", throttle=args.rate_kib * 1024)
    since = api.mark()
    started = time.monotonic()
    for i in range(args.tasks):
        api.push_message(f"/mirror {origin.url}/s{i}.bin", chat_id=OWNER, user_id=OWNER)

    def done() -> int:
        # Completions that end together share one message (bot/announce.py): count the ✅ marks,
        # outside the status message (it shows a finished task's ✅ for a moment).
        texts = [text_of(c) for c in api.calls_of("sendMessage") if c.index >= since]
        return sum(t.count("✅") for t in texts if not t.startswith("<b>Tasks</b>"))

    client = redis.client()
    try:
        reported = lambda: len(client.keys("telebot:done:*"))  # noqa: E731
        polling.wait_until(lambda: reported() >= args.tasks, TIMEOUT, "every report", poll=0.02)
        work = time.monotonic() - started
    finally:
        client.close()
    polling.wait_until(lambda: done() >= args.tasks, TIMEOUT, "every ✅", poll=0.02)
    told = time.monotonic() - started
    return args.tasks * size / work, args.tasks * size / told


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=8)
    parser.add_argument("--rate-kib", type=int, default=1024, help="per-connection limit")
    parser.add_argument("--pool", choices=("threads", "solo"), default="threads")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the redis-server and bot processes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    work: dict[int, list[float]] = {1: [], 2: []}
    told: dict[int, list[float]] = {1: [], 2: []}
    for run in range(args.runs):
        for workers in (1, 2) if run % 2 == 0 else (2, 1):
            rate, chat = one_round(workers, args)
            work[workers].append(rate)
            told[workers].append(chat)
            print(
                f"round {run + 1}: {workers} worker(s): {rate / MiB:6.2f} MiB/s done, "
                f"{chat / MiB:6.2f} MiB/s until the last ✅",
                flush=True,
            )
    print(f"\n{args.tasks} tasks x {args.size_mib} MiB, {args.rate_kib} KiB/s per connection, "
          f"QUEUE_ALL=2 per worker, {args.pool} pool, median of {args.runs}")
    for label, results in (("work done (reports in Redis)", work), ("last ✅ in the chat", told)):
        one, two = (statistics.median(results[n]) for n in (1, 2))
        print(f"{label}: 1 worker {one / MiB:.2f} MiB/s, 2 workers {two / MiB:.2f} MiB/s, "
              f"ratio {two / one:.2f}x (goal >= 1.8x)")


if __name__ == "__main__":
    main()
