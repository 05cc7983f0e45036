"""The processes a test started: this test process's descendants, never the whole machine.

Tests that watch command lines (a password must never reach one, 7-Zip must have exited) look
only at their own process tree, so tests running side by side (pytest-xdist workers, other
people's runs on the same machine) neither hide nor fake what a test is looking for. The bot
and the tools it runs are children (or grandchildren) of the test process, so nothing a test
is meant to catch escapes this scope.
"""

from __future__ import annotations

import os
from pathlib import Path


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (/proc/<pid>/task/<tid>/children)."""
    kids: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:  # it has exited
        return kids
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as listing:
                kids.extend(int(kid) for kid in listing.read().split())
        except OSError:
            continue
    return kids


def descendants(root: int | None = None) -> list[int]:
    """Every live process below ``root`` (default: this process), children first."""
    found: list[int] = []
    todo = [os.getpid() if root is None else root]
    while todo:
        for kid in _children(todo.pop()):
            found.append(kid)
            todo.append(kid)
    return found


def cmdlines(root: int | None = None) -> list[bytes]:
    """The NUL-separated command line of each descendant of ``root`` (default: this process)."""
    lines = []
    for pid in descendants(root):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:  # exited since it was listed
            continue
    return lines


def _identity(pid: int) -> tuple[int, str] | None:
    """(start time, state) from /proc/<pid>/stat; None once the pid is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()  # after "pid (comm) "
    return int(fields[19]), fields[0].decode()  # starttime is field 22, state field 3


def matching(needle: bytes, root: int | None = None) -> dict[int, int]:
    """The descendants of ``root`` whose command line contains ``needle``: {pid: start time}.

    Remember them while their parent lives: once it is killed they are orphans (no longer in
    this tree), and :func:`running` still follows each of them by pid and start time."""
    found = {}
    for pid in descendants(root):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        ident = _identity(pid)
        if needle in line and ident is not None:
            found[pid] = ident[0]
    return found


def running(procs: dict[int, int]) -> bool:
    """Whether any process of :func:`matching`'s answer still runs (not exited, not a zombie;
    a recycled pid has another start time)."""
    for pid, started in procs.items():
        ident = _identity(pid)
        if ident is not None and ident[0] == started and ident[1] != "Z":
            return True
    return False
