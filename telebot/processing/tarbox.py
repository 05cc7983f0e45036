"""Tar extraction from the bot's side: the boxed child :mod:`telebot.processing.tarchild` does
the reading and writing; this module starts it, follows its lines and turns its end into ours.

* The child runs as ``python -I -S tarchild.py`` (standard library only) through
  :mod:`telebot.childproc`, boxed by :func:`telebot.sandbox.for_stage`: it reads the archive and
  writes beneath the stage's output folder, nothing else. The archive reaches it on standard
  input (an open file, or ``zstd -dcq``'s output for ``.tar.zst``, zstd boxed too), so no name
  of the bot's disk is ever on its command line but the output folder.
* The bot keeps its limits: the child gets what the :class:`~.archivecheck.Budget` still allows
  (entries, bytes) and stops itself before passing it; :class:`~.archivecheck.OutputWatch`
  watches the disk reserve live; a cancel stops the child within a second.
* Every way the child can end is one readable line: a refused entry name is a
  :class:`~telebot.errors.SecurityError`; a limit is :class:`~.archivecheck.LimitExceeded` naming
  it; a damaged archive, an over-long header, a box limit (``memory limit SANDBOX_MEMORY``,
  ``file size limit``) or a crash is a :class:`~telebot.errors.ProcessingError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telebot import childproc, sandbox
from telebot.errors import ProcessingError, TaskCancelled
from telebot.processing import archivecheck, tarchild
from telebot.processing.archivecheck import Budget, LimitExceeded, OutputWatch

log = logging.getLogger(__name__)

CHILD = Path(tarchild.__file__).resolve()
_LINE_MAX = 64 * 1024  # the child's lines are short (names cut to 100 characters)
_STDERR_KEPT = 20


@dataclass
class _State:
    """What the child said so far (written by the reader thread, read after it ends)."""

    read: int = 0
    entries: int = 0
    bytes: int = 0
    done: bool = False
    notes: list[str] = field(default_factory=list)
    skipped: int = 0
    end: dict[str, Any] | None = None  # the "limit" or "refuse" line
    garbled: bool = False
    peak_kib: int | None = None  # the child's VmHWM, from its last line


def extract(
    archive: Path,
    dest: Path,
    *,
    zstd: bool,
    stage_out: Path,
    budget: Budget,
    cancel: threading.Event,
    on_read: Callable[[int], None],
) -> tuple[list[str], int]:
    """Extract the tar ``archive`` into the new folder ``dest`` (inside ``stage_out``, the
    stage's folder, which is all the child may write); returns the notes of skipped entries
    (the first 20) and how many more were skipped.
    ``on_read`` gets the bytes of the archive read so far. Charges ``budget`` with what was
    written. Raises as the module docstring says; on any failure ``dest`` may hold part of the
    output (the caller removes it)."""
    if cancel.is_set():
        raise TaskCancelled("cancelled")
    dest.mkdir(mode=0o700)
    argv = [
        sys.executable, "-I", "-S", str(CHILD), "--dest", str(dest.absolute()),
        "--max-entries", str(budget.files_left()), "--max-bytes", str(budget.bytes_left()),
    ]  # fmt: skip
    # The child's own file too: Landlock lets the tool's prefix (the Python installation) be
    # read, and the script lives in the bot's package.
    box = sandbox.Box(writable=(stage_out.absolute(),), readable=(archive.absolute(), CHILD))
    state = _State()
    feed_errors: list[str] = []
    with open(archive, "rb") as raw, _feed(archive, raw.fileno(), zstd, feed_errors) as stdin:
        # The child's reads move the file offset we share with it (one open file description):
        # with zstd in between that offset, not the child's count, is the archive read.
        def position() -> int:
            return os.lseek(raw.fileno(), 0, os.SEEK_CUR) if zstd else state.read

        try:
            proc = childproc.spawn(argv, stdin=stdin, box=box)
        except OSError as exc:
            raise ProcessingError(f"cannot start the tar extractor: {exc.strerror}") from None
        errors: list[str] = []
        code = _follow(proc, state, errors, lambda: on_read(position()),
                       lambda: _wait(proc, dest, budget, cancel, state))
    _log_end(code, state)
    if cancel.is_set():  # it finished between two looks of the watch: still cancelled
        raise TaskCancelled("cancelled")
    if feed_errors and not _ended_by_us(state):  # a damaged .zst: zstd's words, not "truncated"
        raise ProcessingError(feed_errors[0])
    _raise_for(code, state, errors, budget)
    budget.charge(state.bytes, state.entries)
    budget.check(0, 0)  # the disk reserve, after the watch's last look
    return state.notes, state.skipped - len(state.notes)


@contextlib.contextmanager
def _feed(archive: Path, fd: int, zstd: bool, failed: list[str]) -> Iterator[int]:
    """The fd the child reads the tar stream from: the archive itself, or zstd's output. A zstd
    failure is appended to ``failed`` (the child's own end may explain it better)."""
    if not zstd:
        yield fd
        return
    if shutil.which("zstd") is None:
        raise ProcessingError("zstd is not installed on the bot's host (Debian: apt install zstd)")
    # The name stays off zstd's command line: it reads the file on its standard input.
    proc = childproc.spawn(
        ["zstd", "-dcq", "-"], stdin=fd, box=sandbox.Box(readable=(archive.absolute(),))
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout.fileno()
    finally:
        proc.stdout.close()  # the child has its own copy; zstd gets EPIPE once it is gone
        if proc.poll() is None:
            childproc.stop_process(proc, grace=1.0)
        errors = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.returncode not in (0, None, -signal.SIGTERM, -signal.SIGKILL, -signal.SIGPIPE):
        failed.append(f"zstd could not read the archive: {errors.strip()[:200]}")


def _ended_by_us(state: _State) -> bool:
    """The child stopped on a limit or a refused entry: that, not zstd's broken pipe, is why."""
    end = state.end or {}
    return end.get("ev") == "limit" or bool(end.get("security"))


def _follow(proc: subprocess.Popen[bytes], state: _State, errors: list[str],
            on_progress: Callable[[], None], wait: Callable[[], int]) -> int:
    """Read the child's lines and errors while ``wait`` waits for it; stop it if that raises."""
    threads = [
        threading.Thread(target=_read_lines, args=(proc, state, on_progress), daemon=True),
        threading.Thread(target=_read_errors, args=(proc, errors), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        return wait()
    finally:
        if proc.poll() is None:
            childproc.stop_process(proc)
        for thread in threads:
            thread.join(5.0)


def _wait(proc: subprocess.Popen[bytes], dest: Path, budget: Budget,
          cancel: threading.Event, state: _State) -> int:
    # The watch takes the child's own counts: walking 100,000 small files ten times a second
    # cost more than extracting them (35 s instead of 4 s for 20,000); the disk reserve is
    # what it still has to judge live.
    with OutputWatch(dest, budget, cancel, usage=lambda: (state.bytes, state.entries)) as watch:
        try:
            return childproc.wait(proc, watch.stop)
        except TaskCancelled:
            if watch.reason is not None:
                raise LimitExceeded(f"extraction stopped: {watch.reason}") from None
            raise


def _read_lines(
    proc: subprocess.Popen[bytes], state: _State, on_progress: Callable[[], None]
) -> None:
    assert proc.stdout is not None
    while line := proc.stdout.readline(_LINE_MAX):
        try:
            event = json.loads(line)
            kind = event["ev"]
        except (ValueError, KeyError, TypeError):
            state.garbled = True
            continue
        if kind in ("progress", "done"):
            state.read, state.entries, state.bytes = event["read"], event["entries"], event["bytes"]
            state.done = state.done or kind == "done"
            if kind == "done":
                state.peak_kib = event.get("peak_kib")
            on_progress()
        elif kind == "skip":
            state.skipped += 1
            if len(state.notes) < 20:
                name = archivecheck.shown(str(event.get("name", "")))
                state.notes.append(f"skipped {event.get('why', 'an entry')}: {name}")
        elif kind in ("limit", "refuse"):
            state.end = event


def _read_errors(proc: subprocess.Popen[bytes], errors: list[str]) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace").strip()
        if line:
            errors.append(line[:300])
            del errors[:-_STDERR_KEPT]


def _log_end(code: int, state: _State) -> None:
    """One line per run: how it ended and the child's peak memory (what SANDBOX_MEMORY must
    leave room for)."""
    end = state.end or {}
    peak = end.get("peak_kib", state.peak_kib)
    log.info("tar extractor: exit %s, %d entries, %d bytes, %d skipped, peak RSS %s",
             code, state.entries, state.bytes, state.skipped,
             f"{int(peak) >> 10} MiB" if isinstance(peak, int) else "unknown")


def _raise_for(code: int, state: _State, errors: list[str], budget: Budget) -> None:
    """Nothing when the child finished; else the one error that says why it did not."""
    end = state.end
    if code == 0 and state.done and end is None:
        return
    if end is not None and end.get("ev") == "limit":
        reason = budget.exceeded(int(end.get("bytes", 0)), int(end.get("entries", 0)))
        what = "EXTRACT_MAX_FILES" if end.get("what") == "entries" else "its size limit"
        raise LimitExceeded(f"extraction stopped: {reason or f'the archive passes {what}'}")
    if end is not None:
        why = str(end.get("why", "refused"))[:300]
        if end.get("security") and end.get("name") is not None:
            raise archivecheck.refuse(str(end["name"]), why)
        raise ProcessingError(why)
    raise ProcessingError(_crash(code, errors))


def _crash(code: int, errors: list[str]) -> str:
    if code == -signal.SIGKILL:
        return "the tar extractor was killed: memory limit SANDBOX_MEMORY (or out of memory)"
    if code == -signal.SIGXFSZ:
        return "the tar extractor stopped at the file size limit (the disk reserve)"
    if code < 0:
        return f"the tar extractor died of signal {-code}"
    last = errors[-1] if errors else f"exit status {code}"
    if "MemoryError" in last:
        return "the tar extractor stopped at the memory limit SANDBOX_MEMORY"
    return f"the tar extractor failed: {last}"
