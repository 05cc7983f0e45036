"""What the test's real child processes share: ``python -m telebot`` (the bot, the scale-out
front) and ``python -m telebot.worker`` each run in a home folder of their own (config.env,
database, downloads, mirror, telebot.log, stderr.txt) and are stopped the same two ways."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

#: The two ways a test stops a process it means to start again: a graceful SIGTERM (the
#: process saves what it must and exits 0) and ``kill -9`` (only what is on disk survives).
STOP_WAYS = ("sigterm", "kill9")

#: ``@each_stop`` runs a test once per way in :data:`STOP_WAYS`, as its ``how`` argument.
each_stop = pytest.mark.parametrize("how", STOP_WAYS)


class ChildProcess:
    """A real process of ours in ``home``; ``proc`` is None until it is started.

    A mixin for the dataclasses that declare ``home`` and ``proc`` and know how to start
    their process (tests/conftest.py BotProcess, tests/scale/conftest.py WorkerProcess).
    """

    home: Path
    proc: subprocess.Popen[bytes] | None
    #: How long a SIGTERM'd process may take to exit.
    terminate_timeout: ClassVar[float] = 15.0

    @property
    def mirror_dir(self) -> Path:
        return self.home / "mirror"

    @property
    def download_dir(self) -> Path:
        return self.home / "downloads"

    @property
    def stderr_path(self) -> Path:
        return self.home / "stderr.txt"

    def log_text(self) -> str:
        log = self.home / "telebot.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stderr(self) -> str:
        path = self.stderr_path
        return path.read_text(errors="replace") if path.exists() else ""

    def terminate(self, timeout: float | None = None) -> int:
        """SIGTERM, then the exit code (0 for a clean stop)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=self.terminate_timeout if timeout is None else timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, how: str) -> None:
        """Stop it one of the :data:`STOP_WAYS`; a SIGTERM must end in a clean exit."""
        if how == "sigterm":
            code = self.terminate(timeout=30)
            assert code == 0, f"exit {code} after SIGTERM: {self.stderr()[-2000:]}"
        elif how == "kill9":
            self.kill9()
        else:
            raise ValueError(f"not a way to stop: {how!r}")

    def stop_quietly(self) -> None:
        """Kill it if it still runs (a test's clean-up)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
