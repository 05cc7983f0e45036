"""Child processes of the bot (rclone, 7-Zip, ffmpeg): started so they can never outlive it or be
left running by a cancel.

* Each child leads its own process group (``start_new_session``), so a stop reaches whatever it
  started too, and a Ctrl-C in the bot's terminal is not delivered to it twice.
* Each child gets ``SIGKILL`` when the bot dies (``PR_SET_PDEATHSIG``), so a ``kill -9`` of the
  bot leaves no orphan writing into a task folder that the next start resumes or removes.
* :func:`wait` polls the task's cancel event, so a cancel stops the child within about
  :data:`POLL_INTERVAL` plus its stop grace.

Commands are argument lists, never a shell: user text can only ever be one argument.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence

from telebot.errors import TaskCancelled

POLL_INTERVAL = 0.2  # seconds between looks at the cancel event: well inside "within a second"
STOP_GRACE = 3.0  # seconds a child gets after SIGTERM to remove its own temporary files
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the bot dies (Linux ``prctl``)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: Sequence[str],
    *,
    stdin: int | None = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with pipes for stdout and stderr, in its own session, dying with the bot."""
    return subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def stop(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """SIGTERM to the child's process group, SIGKILL after ``grace`` seconds; reaps it."""
    for sig, wait_for in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_for)
            return
        except subprocess.TimeoutExpired:
            continue


def wait(
    proc: subprocess.Popen[bytes],
    cancel: threading.Event | None,
    *,
    grace: float = STOP_GRACE,
) -> int:
    """Wait for the child to exit and return its status; on ``cancel`` stop it and raise
    :class:`TaskCancelled`."""
    while True:
        try:
            return proc.wait(POLL_INTERVAL)
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            stop(proc, grace)
            raise TaskCancelled("cancelled")
