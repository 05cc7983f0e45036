"""batch(): many copies/moves in parallel, one result per operation.

The C core releases the GIL while it copies, so a small thread pool overlaps
the per-file syscalls of several files.  Results keep the input order; one
failure does not stop the others (a cancel does: the remaining ones report
TaskCancelled).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from telebot.errors import BadInputError, TaskCancelled
from telebot.fileio._job import CancelArg, is_cancelled
from telebot.fileio.ops import copy_file, copy_tree, move

Op = Literal["copy", "move"]
# Two workers per core: while one waits in the kernel the other prepares the
# next file; more only adds contention on this 2-core class of machine.
DEFAULT_WORKERS = 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class BatchResult:
    """Outcome of one operation: ``error`` is None when it succeeded."""

    op: str
    src: str
    dst: str
    nbytes: int = 0
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _run_one(op: str, src: str, dst: str, cancel: CancelArg) -> BatchResult:
    try:
        if is_cancelled(cancel):
            raise TaskCancelled("batch cancelled")
        if op == "copy":
            copier = copy_tree if os.path.isdir(src) else copy_file
            return BatchResult(op, src, dst, copier(src, dst, cancel=cancel))
        if op == "move":
            move(src, dst, cancel=cancel)
            return BatchResult(op, src, dst)
        raise BadInputError(f"unknown batch operation {op!r} (use 'copy' or 'move')")
    except Exception as exc:  # reported per item, by contract
        return BatchResult(op, src, dst, error=exc)


def batch(operations: Iterable[tuple[str, str | os.PathLike[str], str | os.PathLike[str]]],
          workers: int = DEFAULT_WORKERS, *, cancel: CancelArg = None) -> list[BatchResult]:
    """Run ("copy"|"move", src, dst) operations on ``workers`` threads.

    A directory src is copied with copy_tree.  Returns one BatchResult per
    operation, in input order; never raises for a failed item.
    """
    ops = [(op, os.fspath(s), os.fspath(d)) for op, s, d in operations]
    if workers <= 1 or len(ops) <= 1:
        return [_run_one(op, s, d, cancel) for op, s, d in ops]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fileio") as pool:
        futures = [pool.submit(_run_one, op, s, d, cancel) for op, s, d in ops]
        return [f.result() for f in futures]
