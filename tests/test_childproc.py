"""Managed children (telebot/childproc.py): output, cancel, and death with the parent."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psutil
import pytest

from telebot.childproc import run_tool
from telebot.errors import TaskCancelled
from tests.conftest import ROOT
from tests.polling import wait_until


def test_output_and_status() -> None:
    done = run_tool([sys.executable, "-c", "import sys; print('out'); sys.exit('bad thing')"])
    assert (done.returncode, done.stdout.strip(), done.error_line()) == (1, b"out", "bad thing")


def test_cancel_kills_the_child_within_a_second() -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(TaskCancelled):
        run_tool(["sleep", "30"], cancel=cancel)
    assert time.monotonic() - started < 1.5


def test_the_child_dies_with_the_bot() -> None:
    """kill -9 of the parent: PR_SET_PDEATHSIG makes the kernel kill the tool too."""
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "from telebot.childproc import run_tool; run_tool(['sleep', '60'])"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        proc = psutil.Process(parent.pid)
        wait_until(lambda: proc.children(), 30, "the tool to start")
        [child] = proc.children()
        parent.kill()
        parent.wait(10)
        wait_until(lambda: not _alive(child), 10, "the orphaned tool to die")
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
