"""Mirror destinations on rclone remotes: one managed ``rclone`` child process per attempt.

Why one ``rclone copyto``/``copy`` per task rather than ``rclone rcd`` with async jobs: a child
per task is stopped in well under a second by signalling its process group (``job/stop`` took
about 1.2 s, docs/ENGINES.md, rclone), it needs no listening daemon with an rc password
(``options/get``
shows that password in clear and ``core/command`` runs any rclone command), and a crash of one
transfer cannot take the others with it. Its cost is one process start (tens of ms) per task.

Progress comes from ``--use-json-log --stats 1s`` lines on stderr. rclone's own whole-run
retries are off (``--retries 1``): a failed attempt reaches our resilience layer, which retries
it under :data:`RCLONE_POLICY` through one breaker per remote. A retry, and a run after a
restart, re-runs the same copy to the same name, and rclone skips what already arrived (its
default size/modification-time check), so nothing is uploaded twice and no name is duplicated.

An upload never replaces what is already on the remote (rclone's ``copyto`` would): before the
first copy the sink takes the first free name of ``name``, ``name (1)``, ... (one ``lsjson
--stat`` each, like the local sink's numbering) and notes it in the task's folder, so the
retries and the run after a restart go to that same name. Only ``-overwrite`` (sudo) keeps the
replacing copy. Another writer that creates the name between the look and the copy is not
seen: remotes offer no "create only if absent".
The child dies with the bot (``PR_SET_PDEATHSIG``), so a ``kill -9`` leaves no orphan writing
next to the resumed run.

User text only reaches rclone as separate argv items after ``--``, never a shell; the config
file is passed by path (``--config``), its contents never leave it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from telebot import childproc
from telebot.engine.pipeline import Delivery
from telebot.engine.task import Task
from telebot.errors import TaskCancelled, TransientError, UploadError
from telebot.fileio.durable import fsync_dir
from telebot.fileio.walk import regular_files, tree_size
from telebot.processing.rename import delivered_name
from telebot.redact import redact
from telebot.resilience import BREAKERS, ERRORS, BreakerRegistry, ErrorTracker, guarded_call
from telebot.resilience.retry import RetryPolicy
from telebot.sinks.local import numbered
from telebot.sinks.rclone.remotes import Destination, Remotes, child_env
from telebot.sinks.rclone.settings import RcloneSettings
from telebot.sinks.ticket import read_ticket
from telebot.sources.names import sanitize_filename

log = logging.getLogger(__name__)

RCLONE = "rclone"  # Debian's package puts it on PATH (/usr/bin/rclone)
# After SIGTERM, how long rclone gets to close its connections before SIGKILL.
STOP_GRACE = 0.5
# How often the waiting thread looks at the cancel event: cancel acts within this.
POLL_INTERVAL = 0.1
# `rclone link` is a nicety: never let a slow remote hold the done message longer.
LINK_TIMEOUT = 10.0
# Error lines kept for the message of a failed run.
KEEP_ERRORS = 3
MAX_OUTPUT_BYTES = 16 * 1024 * 1024  # stdout of lsjson/size; more is refused, not buffered

# Flags for transfers: JSON stats every second on stderr; one try per run (we retry);
# a few low-level retries ride over a dropped connection inside one run; never prompt.
TRANSFER_FLAGS = (
    "--use-json-log", "--stats", "1s", "-v", "--retries", "1", "--low-level-retries", "3",
    "--ask-password=false",
)

#: Uploads re-run the copy, which skips what arrived: retrying is cheap, and a remote that is
#: briefly down deserves a few minutes.
RCLONE_POLICY = RetryPolicy(attempts=6, base_delay=1.0, max_delay=30.0, deadline=900.0)

# rclone exit codes (docs "Exit Code"): 5 = temporary error, more retries might fix it.
EXIT_TEMPORARY = 5
# Texts of network failures that rclone reports with the generic exit codes 1 and 2.
_NETWORK = re.compile(
    r"connection refused|connection reset|i/o timeout|timeout|no route to host|"
    r"broken pipe|unexpected EOF|\bEOF\b|50[0-4] ", re.I
)
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:[A-Z]+\s*:\s*)?")

StatsHook = Callable[[dict[str, Any]], None]
#: Gets each line rclone prints on stdout; returns False to stop it (see :func:`stream_rclone`).
LineHook = Callable[[str], bool]


def run_rclone(
    args: Sequence[str],
    *,
    config: Path,
    cancel: threading.Event | None = None,
    on_stats: StatsHook | None = None,
    timeout: float | None = None,
) -> str:
    """Run ``rclone --config CONFIG ARGS`` and return its stdout.

    Raises :class:`TaskCancelled` within about a second of ``cancel`` being set (the process
    group gets SIGTERM, then SIGKILL after :data:`STOP_GRACE`), :class:`TransientError` for
    failures worth another try, :class:`UploadError` otherwise (messages redacted)."""
    argv = [RCLONE, "--config", str(config), *args]
    proc = childproc.spawn(argv, env=child_env())
    errors: list[str] = []
    out: list[bytes] = []
    seen = [0]  # bytes rclone printed, kept or not
    readers = [
        threading.Thread(target=_read_stderr, args=(proc, errors, on_stats), daemon=True),
        threading.Thread(target=_read_stdout, args=(proc, out, seen), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        _wait(proc, cancel, timeout)
    finally:
        if proc.poll() is None:
            stop_process(proc)
        for reader in readers:
            reader.join(5.0)
    if proc.returncode != 0:
        raise _error_of(proc.returncode, errors)
    if seen[0] > MAX_OUTPUT_BYTES:
        # Say so rather than hand back a cut JSON document; long listings use stream_rclone.
        raise UploadError(f"rclone printed more than {MAX_OUTPUT_BYTES} bytes; not read")
    return b"".join(out).decode("utf-8", "replace")


def stream_rclone(
    args: Sequence[str],
    *,
    config: Path,
    on_line: LineHook,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> bool:
    """Run ``rclone --config CONFIG ARGS`` and give ``on_line`` each stdout line as it comes,
    so a listing of any length is never held whole. When ``on_line`` returns False the child
    is stopped (as on cancel) and this returns False; it returns True when rclone finished by
    itself. Failures, ``cancel`` and ``timeout`` raise as in :func:`run_rclone`."""
    argv = [RCLONE, "--config", str(config), *args]
    proc = childproc.spawn(argv, env=child_env())
    errors: list[str] = []
    enough = threading.Event()
    readers = [
        threading.Thread(target=_read_stderr, args=(proc, errors, None), daemon=True),
        threading.Thread(target=_feed_lines, args=(proc, on_line, enough), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        _wait(proc, cancel, timeout, enough)
    finally:
        if proc.poll() is None:
            stop_process(proc)
        for reader in readers:
            reader.join(5.0)
    if enough.is_set():
        return False
    if proc.returncode != 0:
        raise _error_of(proc.returncode, errors)
    return True


def _feed_lines(proc: subprocess.Popen[bytes], on_line: LineHook, enough: threading.Event) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        if enough.is_set():
            continue  # drain until the child is gone, so it never blocks on a full pipe
        try:
            more = on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except Exception:
            log.exception("an rclone output line could not be handled")
            more = False
        if not more:
            enough.set()


def _wait(
    proc: subprocess.Popen[bytes],
    cancel: threading.Event | None,
    timeout: float | None,
    enough: threading.Event | None = None,
) -> None:
    waited = 0.0
    while True:
        try:
            proc.wait(POLL_INTERVAL)
            return
        except subprocess.TimeoutExpired:
            waited += POLL_INTERVAL
        if enough is not None and enough.is_set():  # the reader has what it wanted
            stop_process(proc)
            return
        if cancel is not None and cancel.is_set():
            stop_process(proc)
            raise TaskCancelled("cancelled")
        if timeout is not None and waited >= timeout:
            stop_process(proc)
            raise TransientError(f"rclone took longer than {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's process group, SIGKILL after :data:`STOP_GRACE`; reaps it."""
    childproc.stop_process(proc, STOP_GRACE)


def _read_stderr(
    proc: subprocess.Popen[bytes], errors: list[str], on_stats: StatsHook | None
) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace").strip()
        try:
            record = json.loads(line) if line.startswith("{") else None
        except ValueError:
            record = None
        if record is None:
            if line:
                _keep(errors, _LOG_PREFIX.sub("", line))
            continue
        stats = record.get("stats")
        if isinstance(stats, dict) and on_stats is not None:
            on_stats(stats)
        if record.get("level") in ("error", "critical"):
            _keep(errors, str(record.get("msg", "")))


def _read_stdout(proc: subprocess.Popen[bytes], out: list[bytes], seen: list[int]) -> None:
    assert proc.stdout is not None
    size = 0
    for chunk in iter(lambda: proc.stdout.read(65536) if proc.stdout else b"", b""):
        size += len(chunk)
        seen[0] = size
        if size <= MAX_OUTPUT_BYTES:
            out.append(chunk)


def _keep(errors: list[str], text: str) -> None:
    errors.append(redact(" ".join(text.split()))[:300])
    del errors[:-KEEP_ERRORS]


class RcloneFailed(UploadError):
    """rclone ended with a non-temporary error; ``code`` is its exit code (docs "Exit Code":
    3 = directory not found, 4 = file not found)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


EXIT_NOT_FOUND = frozenset({3, 4})


def _error_of(code: int | None, errors: list[str]) -> Exception:
    detail = errors[-1] if errors else f"rclone exited with code {code}"
    if code == EXIT_TEMPORARY or (code in (1, 2) and _NETWORK.search(detail)):
        return TransientError(f"rclone: {detail}")
    if code is not None and code < 0:  # killed by a signal that was not ours
        return TransientError(f"rclone was stopped by signal {-code}")
    return RcloneFailed(f"rclone: {detail}", code)


def remote_exists(target: Destination, config: Path, cancel: threading.Event | None = None,
                  timeout: float = LINK_TIMEOUT * 6) -> bool:
    """Whether a file or folder is at ``target`` (one ``rclone lsjson --stat``). A missing
    parent folder counts as "no"; any other failure raises, so a remote that cannot answer is
    never taken to be empty (that would be the overwrite this check exists to prevent)."""
    try:
        run_rclone(["lsjson", "--stat", "--no-mimetype", "--", str(target)], config=config,
                   cancel=cancel, timeout=timeout)
    except RcloneFailed as exc:
        if exc.code in EXIT_NOT_FOUND:
            return False
        raise
    return True


# Names this process is uploading to right now, so two tasks that look at the same folder at the
# same moment do not both take the same free name (rclone has no "create only if absent").
_CLAIMED: set[str] = set()
_CLAIMED_LOCK = threading.Lock()
#: Where a task's chosen remote name is kept (in the task's folder), so that a retry or a run
#: after a restart copies to the same name again, and rclone skips what arrived, instead of
#: finding its own half upload there and moving on to "name (1)".
TARGET_NOTE = ".telebot-rclone-target"
MAX_CLASH_NUMBER = 1000


class RcloneSink:
    """Copies a finished file or folder to ``task.spec.upload`` (``remote:path``)."""

    engine = "rclone"

    def __init__(
        self,
        settings: RcloneSettings,
        *,
        policy: RetryPolicy = RCLONE_POLICY,
        breakers: BreakerRegistry = BREAKERS,
        errors: ErrorTracker = ERRORS,
        extra_flags: Sequence[str] = (),
    ) -> None:
        self.config_path = settings.config_path
        self.index_url = settings.index_url
        self.allowed_roots = tuple(settings.allowed_roots)  # RCLONE_ALLOWED_ROOTS (remotes.py)
        self.policy = policy
        self._breakers = breakers
        self._errors = errors
        self._extra = tuple(extra_flags)  # operator/bench flags, e.g. --bwlimit (never user text)
        # Remotes whose backend said it makes no public links (webdav, sftp...): the done
        # message skips the `rclone link` call for them (it costs a process and a round trip).
        self._no_links: set[str] = set()

    def deliver(self, task: Task, path: Path) -> Delivery:
        # Checked again: the file may have changed since the command.
        remotes = Remotes.load(self.config_path, self.allowed_roots)
        dest = remotes.check(task.spec.upload or "")
        name = sanitize_filename(delivered_name(task.spec, path), fallback=path.name)
        if task.spec.kind == "clone":  # path is the ticket of sinks/rclone/clone.py
            ticket = read_ticket(path)
            source = str(remotes.check(ticket.source))
            folder, size, files = ticket.folder, ticket.size, ticket.files
        else:
            source, folder = str(path), path.is_dir()
            size = tree_size(path) if folder else path.stat().st_size
            files = sum(1 for _ in regular_files(path)) if folder else 1
        target = self._target(task, remotes, dest, name)
        try:
            return self._copy(task, remotes, dest, source, target, folder, size, files)
        finally:
            with _CLAIMED_LOCK:
                _CLAIMED.discard(str(target))

    def _target(self, task: Task, remotes: Remotes, dest: Destination, name: str) -> Destination:
        """Where the result goes: ``name`` in ``dest``, or with ``-overwrite`` (sudo) the same
        name whatever is there; otherwise the first of ``name``, ``name (1)``, ``name (2)``...
        that nothing on the remote (and no other upload of this bot) holds, kept in the task's
        folder for the retries and restarts of this task."""
        if task.spec.overwrite:
            return dest.child(name)
        note = task.workdir / TARGET_NOTE
        chosen = _read_note(note, dest, name)
        if chosen is not None:
            with _CLAIMED_LOCK:
                _CLAIMED.add(str(chosen))
            return chosen
        for number in range(MAX_CLASH_NUMBER):
            candidate = dest.child(name if number == 0 else numbered(name, number))
            with _CLAIMED_LOCK:
                if str(candidate) in _CLAIMED:
                    continue
            if self._exists(task, remotes, candidate):
                continue
            with _CLAIMED_LOCK:
                if str(candidate) in _CLAIMED:  # another task took it while we looked
                    continue
                _CLAIMED.add(str(candidate))
            try:
                _write_note(note, dest, name, candidate)
            except BaseException:
                with _CLAIMED_LOCK:
                    _CLAIMED.discard(str(candidate))
                raise
            return candidate
        raise UploadError(f"{dest} already holds {name} and {MAX_CLASH_NUMBER - 1} numbered "
                          "copies of it; choose another name with -n.")

    def _exists(self, task: Task, remotes: Remotes, candidate: Destination) -> bool:
        """:func:`remote_exists` under the same retries and breaker as the copy itself."""
        return guarded_call(
            f"rclone:{candidate.remote}",
            lambda: remote_exists(candidate, remotes.config_path, task.cancel_event),
            policy=self.policy, breakers=self._breakers, tracker=self._errors,
            cancel=task.cancel_event,
        )

    def _copy(self, task: Task, remotes: Remotes, dest: Destination, source: str,
              target: Destination, folder: bool, size: int, files: int) -> Delivery:
        task.progress(0, size)
        verb = "copy" if folder else "copyto"
        argv = [verb, *TRANSFER_FLAGS, *self._extra, "--", source, str(target)]

        def on_stats(stats: dict[str, Any]) -> None:
            run_total = int(stats.get("totalBytes") or 0)
            done = max(0, size - run_total) + int(stats.get("bytes") or 0)
            task.progress(min(done, size), size)

        def attempt() -> str:
            return run_rclone(argv, config=remotes.config_path, cancel=task.cancel_event,
                              on_stats=on_stats)

        guarded_call(f"rclone:{dest.remote}", attempt, policy=self.policy,
                     breakers=self._breakers, tracker=self._errors, cancel=task.cancel_event)
        task.progress(size, size)
        name = target.path.rstrip("/").rsplit("/", 1)[-1]
        task.name = name
        return Delivery(name=name, size=size, location=str(target), files=files,
                        links=self.links(remotes, target))

    def links(self, remotes: Remotes, target: Destination) -> tuple[str, ...]:
        """A public link if the remote makes one, else an ``INDEX_URL`` link, else none."""
        try:
            if target.remote in self._no_links:
                raise UploadError("the remote made no public link before")
            out = run_rclone(["link", "--", str(target)], config=remotes.config_path,
                             timeout=LINK_TIMEOUT)
        except (TransientError, UploadError) as exc:
            if "support public links" in str(exc):  # the backend cannot: ask no more
                self._no_links.add(target.remote)
            log.info("no public link for %s: %s", target.remote, exc)
        else:
            link = out.strip().splitlines()[-1:] if out.strip() else []
            if link and link[0].startswith(("http://", "https://")):
                return (link[0],)
        if self.index_url:
            return (index_link(self.index_url, target),)
        return ()


def _read_note(note: Path, dest: Destination, name: str) -> Destination | None:
    """The target an earlier run of this task chose for ``name`` in ``dest``, if any."""
    try:
        data = json.loads(note.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("dest") != str(dest) or data.get("name") != name:
        return None  # a different destination or name now (a setting changed): choose again
    chosen, prefix = data.get("target"), f"{dest.remote}:"
    ok = isinstance(chosen, str) and chosen.startswith(prefix)
    leaf = chosen[len(prefix):].rsplit("/", 1)[-1] if ok and isinstance(chosen, str) else ""
    if leaf in ("", ".", "..") or chosen != str(dest.child(leaf)):
        return None  # only ever a name inside dest, whatever the file says
    return dest.child(leaf)


def _write_note(note: Path, dest: Destination, name: str, target: Destination) -> None:
    """Keep the chosen target durably before the copy starts (temp file, fsync, rename, fsync
    of the folder): after a crash the resumed copy must go to the same name."""
    note.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the manager made it already
    temp = note.with_name(note.name + ".tmp")
    data = json.dumps({"dest": str(dest), "name": name, "target": str(target)})
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, note)
    fsync_dir(note.parent)


def index_link(index_url: str, target: Destination) -> str:
    """``INDEX_URL`` + the path inside the remote, URL-quoted per segment."""
    return f"{index_url.rstrip('/')}/{quote(target.path.lstrip('/'))}"
