"""batch(): many copies/moves in parallel, one result per operation.

The C core releases the GIL while it copies, so a small thread pool overlaps
the per-file syscalls of several files.  Results keep the input order; one
failure does not stop the others (a cancel does: the remaining ones report
TaskCancelled).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable
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
            try:
                return BatchResult(op, src, dst, copy_file(src, dst, cancel=cancel))
            except IsADirectoryError:  # cheaper than a stat of every source up front
                return BatchResult(op, src, dst, copy_tree(src, dst, cancel=cancel))
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
    results: list[BatchResult | None] = [None] * len(ops)
    # Each worker takes the next index until none is left: no future, queue
    # or lock per item.  A pool future per item cost more than a 4 KiB copy
    # (batch ran at 105 us per file on tmpfs where a plain loop took 33).
    claim = itertools.count()  # next() on a count is atomic under the GIL

    def work() -> None:
        while (i := next(claim)) < len(ops):
            op, s, d = ops[i]
            results[i] = _run_one(op, s, d, cancel)

    threads = [threading.Thread(target=work, name=f"fileio-batch-{n}", daemon=True)
               for n in range(min(workers, len(ops)) - 1)]
    for thread in threads:
        thread.start()
    try:
        work()  # the caller is one of the workers
    finally:
        for thread in threads:
            thread.join()
    # An item is None only if a worker died of a BaseException (e.g. SystemExit).
    return [r or BatchResult(op, s, d, error=RuntimeError("batch worker stopped"))
            for r, (op, s, d) in zip(results, ops, strict=True)]
