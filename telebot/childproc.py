"""Managed child processes (ffmpeg, ffprobe, rclone, 7-Zip): they die with the bot and stop on
cancel.

* :func:`die_with` makes the ``preexec_fn`` that asks Linux to SIGKILL the child when the
  bot dies (``prctl(PR_SET_PDEATHSIG)``), so a ``kill -9`` of the bot leaves no orphan writing
  into a task folder that a resumed run is about to use.
* :func:`stop_process` stops a child started with ``start_new_session=True`` (SIGTERM to its
  process group, SIGKILL after a grace period) and reaps it.
* :func:`spawn` starts a long-running child with pipes (its own session, dying with the bot);
  :func:`wait` waits for it while watching a cancel event.
* ``box=`` (a :class:`~telebot.sandbox.Box`) starts the child inside the sandbox: the tool is
  ``exec`` ed by :mod:`telebot.sandbox.enter` after Landlock and the rlimits are applied, with a
  minimal environment. Every tool that reads untrusted bytes (7-Zip, unar, ffmpeg, ffprobe, the
  tar extractor) must be started with one.
* :func:`run_tool` runs a short-lived tool to the end and returns its output, watching a cancel
  event: a cancel kills the child and raises :class:`~telebot.errors.TaskCancelled` within
  :data:`POLL_INTERVAL` plus the stop grace.

Commands are argument lists, never a shell.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from telebot import sandbox
from telebot.errors import TaskCancelled
from telebot.sandbox import Box

# Linux <sys/prctl.h>: PR_SET_PDEATHSIG = 1.
PR_SET_PDEATHSIG = 1
# After SIGTERM, how long a child gets to close its files before SIGKILL.
STOP_GRACE = 0.5
# How often a waiting thread looks at the cancel event: cancel acts within this.
POLL_INTERVAL = 0.1


def die_with(parent: int) -> Callable[[], None]:
    """The ``preexec_fn`` of a child of ``parent`` (``os.getpid()`` before the fork): in the
    child, before exec, it asks for SIGKILL when the parent dies. A parent killed between the
    fork and that request sends no signal, so the child then checks it still has its parent
    and exits at once if not (it would otherwise run on as an orphan)."""

    def preexec() -> None:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def stop_process(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """SIGTERM to the child's process group, SIGKILL after ``grace``; reaps it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def spawn(
    argv: Sequence[str],
    *,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    box: Box | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with pipes for stdout and stderr, in its own session, dying with the bot
    (inside ``box`` when given: ``env`` then adds to the box's minimal environment).
    ``stdout`` may be another file descriptor instead (unar's password prompt needs a terminal
    on stdin and stdout: :mod:`telebot.processing.unar`)."""
    return _popen(argv, box, stdin=stdin, stdout=stdout, env=env, cwd=cwd)


def _popen(
    argv: Sequence[str],
    box: Box | None,
    *,
    stdin: int | None,
    stdout: int | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.Popen[bytes]:
    if box is None:
        return subprocess.Popen(
            list(argv), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None, cwd=cwd,
            start_new_session=True, preexec_fn=die_with(os.getpid()),
        )  # fmt: skip
    # No preexec_fn: the sandbox's enter step sets the parent-death signal itself.
    wrapped, box_env = sandbox.command(argv, box)
    return subprocess.Popen(
        wrapped, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
        env={**box_env, **(env or {})}, cwd=cwd, start_new_session=True,
    )  # fmt: skip


def wait(
    proc: subprocess.Popen[bytes], cancel: threading.Event | None, *, grace: float = STOP_GRACE
) -> int:
    """Wait for a :func:`spawn` ed child to exit and return its status; on ``cancel`` stop it
    and raise :class:`TaskCancelled`."""
    while True:
        try:
            return proc.wait(POLL_INTERVAL)
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            stop_process(proc, grace)
            raise TaskCancelled("cancelled")


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: bytes
    stderr: bytes
    box: Box | None = None

    def error_line(self) -> str:
        """The box limit that stopped the tool, else the last non-empty line of stderr (what
        ffmpeg and friends put the reason in)."""
        if self.box is not None:
            reason = sandbox.limit_reason(
                self.returncode, self.stderr.decode("utf-8", "replace"), self.box
            )
            if reason is not None:
                return reason
        lines = [ln for ln in self.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1].strip()[:300] if lines else f"exit status {self.returncode}"


class ToolTimeout(Exception):
    """The tool ran longer than its timeout (it was killed)."""


def run_tool(
    argv: Sequence[str],
    *,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    box: Box | None = None,
) -> ToolResult:
    """Run ``argv`` to the end and return its exit status and output.

    Raises :class:`TaskCancelled` when ``cancel`` is set (the child is killed first),
    :class:`ToolTimeout` after ``timeout`` seconds, and ``OSError`` when it cannot start.
    Inside ``box``, a limit that killed the tool is named by :meth:`ToolResult.error_line`.
    """
    proc = _popen(argv, box, stdin=subprocess.DEVNULL)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                # communicate() keeps what it read when it times out: nothing is lost.
                out, err = proc.communicate(timeout=POLL_INTERVAL)
                return ToolResult(proc.returncode, out, err, box)
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                raise TaskCancelled("cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise ToolTimeout(f"{argv[0]} took longer than {timeout:.0f} s")
    finally:
        if proc.poll() is None:
            stop_process(proc)
            with contextlib.suppress(Exception):  # closes the pipes of the killed child
                proc.communicate(timeout=1.0)
