"""The boxed child's first step: apply the box, then ``exec`` the tool.

Run by :func:`telebot.sandbox.command` as ``python -E -s -S enter.py SPEC -- TOOL ARGS...``
(standard library only: ``-S`` leaves site-packages out, and the only import beyond the
standard library is :mod:`landlock`, found beside this file). SPEC is JSON: Landlock ABI (0 =
off), (path, rights) rules, network flag, rlimits and the bot's pid.

Doing this in a fresh interpreter rather than in a ``preexec_fn`` keeps Python code out of the
window between ``fork`` and ``exec`` of a threaded bot (where a lock held by another thread can
deadlock the child), and lets the kernel's rules be built by the process they bind.

Anything that goes wrong exits 126 with one ``telebot-sandbox:`` line on stderr, before the
tool runs: a box that cannot be built is never skipped.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

import landlock  # beside this file: sys.path[0] when run as a script

PR_SET_PDEATHSIG = 1
EXIT_BOX_FAILED = 126


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        _fail("usage: enter.py SPEC -- TOOL [ARGS...]")
    spec = json.loads(argv[1])
    tool = argv[3:]
    # Die with the bot (a kill -9 of the bot must leave no orphan writing into a task folder),
    # and do not run at all if the bot already died while this interpreter started.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != spec["parent"]:
        _fail("the bot is gone")
    try:
        landlock.set_limits(
            memory=spec["memory"], file_size=spec["file_size"],
            open_files=spec["open_files"], processes=spec["processes"],
        )  # fmt: skip
        if spec["abi"]:
            landlock.restrict(
                spec["abi"], [(p, r) for p, r in spec["rules"]], network=spec["network"]
            )
    except (OSError, ValueError) as exc:
        _fail(f"cannot build the box: {exc}")
    try:
        os.execv(spec["exe"], tool)
    except OSError as exc:
        _fail(f"cannot start {tool[0]}: {exc.strerror}")


def _fail(message: str) -> None:
    sys.stderr.write(f"telebot-sandbox: {message}\n")
    sys.stderr.flush()
    os._exit(EXIT_BOX_FAILED)


if __name__ == "__main__":
    main(sys.argv)
