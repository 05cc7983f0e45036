"""Container health check: ``python -m telebot.health``.

Reads the heartbeat file the sampler writes next to the database
(``DATABASE_PATH + ".heartbeat"``, JSON ``{"pid", "sample_at", "poll_at",
"interval"}``) and exits 0 when the bot is alive and talking to Telegram,
1 otherwise, printing one line that says why. 1 is the only failure code
Docker's HEALTHCHECK defines (2 is reserved).

Healthy means all of:

* the bot process (``pid``) is alive and not a zombie;
* the last sample is fresher than ``max(3 * interval, 30)`` seconds - three
  missed samples rule out a single slow one, 30 s covers short intervals;
* the last successful getUpdates is fresher than 120 s - a long poll returns
  at least every ``timeout`` seconds (PTB's default is 10), so 120 s of silence
  means polling is stuck, not just idle.

Docker runs this every 30 s, so it imports nothing heavy: no telegram, no psutil,
no httpx; of telebot only the config parser (standard library only), so that it finds
the heartbeat exactly where the bot writes it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from telebot.config import database_path_of, heartbeat_file, read_raw
from telebot.errors import ConfigError

__all__ = ["POLL_MAX_AGE", "check", "heartbeat_path", "main"]

POLL_MAX_AGE = 120.0
SAMPLE_MIN_AGE_LIMIT = 30.0


def heartbeat_path(environ: Mapping[str, str] = os.environ, cwd: Path | None = None) -> Path:
    """Where the bot writes its heartbeat: from DATABASE_PATH as the bot reads it (the
    environment over ``./config.env``, else the default), by the bot's own parser and rule."""
    try:
        raw = read_raw(environ, cwd)
    except ConfigError:  # a malformed config.env: the bot did not start either
        raw = {}
    return heartbeat_file(database_path_of(raw))


def check(path: Path, now: float) -> tuple[bool, str]:
    """Judge the heartbeat at ``path`` at time ``now`` (epoch s): (healthy, one line)."""
    try:
        beat = json.loads(path.read_text())
        pid = int(beat["pid"])
        sample_at = float(beat["sample_at"])
        interval = float(beat.get("interval") or 5.0)
        poll_at = beat.get("poll_at")
    except FileNotFoundError:
        return False, f"no heartbeat file at {path}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"unreadable heartbeat {path}: {type(exc).__name__}"
    if not _pid_alive(pid):
        return False, f"bot process {pid} is not running"
    sample_age = now - sample_at
    sample_limit = max(3 * interval, SAMPLE_MIN_AGE_LIMIT)
    if sample_age > sample_limit:
        return False, f"last sample {sample_age:.0f} s ago (limit {sample_limit:.0f} s)"
    if poll_at is None:
        return False, "no successful getUpdates yet"
    poll_age = now - float(poll_at)
    if poll_age > POLL_MAX_AGE:
        limit = f"(limit {POLL_MAX_AGE:.0f} s)"
        return False, f"last successful getUpdates {poll_age:.0f} s ago {limit}"
    return True, f"ok: sample {sample_age:.0f} s ago, getUpdates {poll_age:.0f} s ago"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; an optional single argument overrides the heartbeat path."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else heartbeat_path()
    healthy, line = check(path, time.time())
    print(line, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence and permission check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A killed but unreaped child is a zombie: kill(0) succeeds, yet it is dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (not Linux): trust kill()
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


if __name__ == "__main__":
    sys.exit(main())
