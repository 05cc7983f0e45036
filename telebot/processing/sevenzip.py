"""7-Zip, the one archiver binary of the bot: found by either name, run with argument lists,
passwords on its standard input.

Facts this relies on (checked with 7-Zip 26.02, docs/ENGINES.md, 7-Zip):

* Debian's ``7zip`` package installs ``7zz``; ``p7zip-full`` and upstream builds call it ``7z``.
  Both behave the same, so either name will do.
* Without ``-p<value>`` 7-Zip reads a needed password from stdin, so a password never appears on
  a command line (``/proc/*/cmdline`` is world-readable). With stdin at EOF it stops with
  "Break signaled" (exit 255) instead of hanging: that is how "this archive needs a password" is
  told apart.
* A wrong password is exit 2 with "Wrong password" in the error stream.
* ``-spd`` turns off wildcard matching, so a file named ``a*.zip`` is only ever itself; ``--``
  ends the switches, so a name starting with ``-`` is only ever a name.
* ``-bsp1`` writes progress percentages to stdout, separated by backspaces.
* ``l -slt`` prints the archive's own record, a ``----------`` line, then one ``Key = value``
  block per member, blocks separated by an empty line: :func:`iter_entries` parses it as it
  arrives, so a listing of millions of entries never sits in the bot's memory.

Every run is boxed (:mod:`telebot.sandbox`): callers pass what 7-Zip may read and write. A box's
limit kills or stops 7-Zip; the error then names the limit (exit 8 or ``SIGKILL``: memory,
``SIGXFSZ``: file size).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from telebot import childproc
from telebot.errors import ProcessingError, TaskCancelled
from telebot.sandbox import Box

BINARIES = ("7zz", "7z")
# 7-Zip's exit codes (its documentation, "Exit codes"): 0 ok, 1 warning, 2 fatal error,
# 7 command line error, 8 not enough memory, 255 stopped by the user (here: stdin at EOF).
EXIT_WARNING = 1
EXIT_MEMORY = 8
EXIT_BREAK = 255
MAX_LINE = 64 * 1024  # a listed path is at most PATH_MAX (4 KiB); more is an attack
_PERCENT = re.compile(rb"(\d{1,3})%")
_ERRORS_KEPT = 20  # last lines of the error stream kept for the message

Percent = Callable[[int], None]


class WrongPassword(ProcessingError):
    """The password given does not open the archive."""

    def __init__(self) -> None:
        super().__init__("wrong password")


class PasswordNeeded(ProcessingError):
    """The archive is encrypted and no password was given."""

    def __init__(self) -> None:
        super().__init__("the archive is encrypted: give its password (-e PASSWORD)")


def find() -> str | None:
    """Path of the 7-Zip binary, by either of its names, or None."""
    for name in BINARIES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def require() -> str:
    binary = find()
    if binary is None:
        raise ProcessingError("7-Zip is not installed on the bot's host (Debian: apt install 7zip)")
    return binary


@dataclass(frozen=True)
class Entry:
    """One member as ``7z l -slt`` describes it (raw: nothing is normalised or trusted)."""

    path: str
    size: int
    is_dir: bool
    attributes: str
    link: str | None  # "Symbolic Link" (tar) target, if any
    hard_link: str | None  # "Hard Link" (tar) target, if any
    encrypted: bool

    @property
    def is_symlink(self) -> bool:
        # Zip and 7z show unix attributes as their last word ("lrwxrwxrwx" for a link); tar
        # gives "Symbolic Link = target" instead.
        words = self.attributes.split()
        return self.link is not None or bool(words and words[-1].startswith("l"))


def run(
    args: Sequence[str],
    *,
    password: str | None,
    cancel: threading.Event | None,
    on_percent: Percent | None = None,
    cwd: Path | None = None,
    box: Box | None = None,
) -> tuple[bytes, list[str]]:
    """Run ``7z ARGS`` (``-spd`` and the output switches added); returns (stdout, error lines).

    Raises :class:`WrongPassword`, :class:`PasswordNeeded`, :class:`ProcessingError` for any other
    failure (naming 7-Zip's own last error line), ``TaskCancelled`` within a second of
    ``cancel``. Exit 1 (a warning, e.g. a file that could not be opened) counts as success; the
    error lines then say what happened."""
    argv = [require(), *args[:1], "-spd", "-bso1", "-bse2", "-bsp1" if on_percent else "-bsp0"]
    argv += list(args[1:])
    stdin = subprocess.PIPE if password is not None else subprocess.DEVNULL
    proc = childproc.spawn(argv, stdin=stdin, cwd=str(cwd) if cwd else None, box=box)
    if password is not None:
        _feed_password(proc, password)
    out: list[bytes] = []
    errors: list[str] = []
    readers = [
        threading.Thread(target=_read_out, args=(proc, out, on_percent), daemon=True),
        threading.Thread(target=_read_errors, args=(proc, errors), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        code = childproc.wait(proc, cancel)
    finally:
        if proc.poll() is None:
            childproc.stop_process(proc)
        for reader in readers:
            reader.join(5.0)
    if code in (0, EXIT_WARNING):
        return b"".join(out), errors
    raise _failure(code, errors, password)


def _feed_password(proc: subprocess.Popen[bytes], password: str) -> None:
    """Write the password and close stdin (EOF: a second prompt gets "Break", not a hang)."""
    assert proc.stdin is not None
    try:
        # One line answers both of 7-Zip's prompts on a pipe ("Enter password", and it does not
        # ask to verify when stdin is not a terminal). Far below a pipe's buffer: never blocks.
        proc.stdin.write(password.encode("utf-8") + b"\n")
        proc.stdin.close()
    except BrokenPipeError:  # it never asked (not encrypted) and already exited
        pass


def _read_out(proc: subprocess.Popen[bytes], out: list[bytes], on_percent: Percent | None) -> None:
    assert proc.stdout is not None
    last = -1
    # os.read returns what is there: progress arrives in small pieces, never a full buffer.
    while chunk := os.read(proc.stdout.fileno(), 65536):
        if on_percent is None:
            out.append(chunk)
            continue
        for match in _PERCENT.finditer(chunk):
            percent = int(match.group(1))
            if percent != last and percent <= 100:
                last = percent
                on_percent(percent)


def _read_errors(proc: subprocess.Popen[bytes], errors: list[str]) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace").strip()
        if line:
            errors.append(line)
            del errors[:-_ERRORS_KEPT]


def _failure(code: int, errors: list[str], password: str | None) -> ProcessingError:
    text = "\n".join(errors)
    if "Wrong password" in text:
        return WrongPassword()
    if code == EXIT_BREAK and password is None:
        return PasswordNeeded()
    if code in (EXIT_MEMORY, -signal.SIGKILL) or "Can't allocate" in text:
        return ProcessingError("7-Zip stopped at the memory limit SANDBOX_MEMORY")
    if code == -signal.SIGXFSZ:
        return ProcessingError("7-Zip stopped at the file size limit (the disk reserve)")
    detail = next((line for line in reversed(errors) if "ERROR" in line.upper()), None)
    detail = detail or (errors[-1] if errors else f"exit status {code}")
    if password:
        detail = detail.replace(password, "***")
    return ProcessingError(f"7-Zip failed: {detail[:300]}")


def list_entries(
    archive: Path, *, password: str | None, cancel: threading.Event | None,
    box: Box | None = None,
) -> list[Entry]:
    """Every member of ``archive`` (the first volume of a set), as 7-Zip lists it. For small
    archives and tests; the extract stage streams :func:`iter_entries`."""
    with contextlib.closing(iter_entries(archive, password=password, cancel=cancel,
                                         box=box)) as entries:
        return list(entries)


def iter_entries(
    archive: Path, *, password: str | None, cancel: threading.Event | None,
    box: Box | None = None,
) -> Generator[Entry, None, None]:
    """The members of ``archive`` one by one, as 7-Zip prints them: memory stays bounded
    whatever the archive holds. Closing the generator early (``contextlib.closing``, or a
    consumer that raises) stops 7-Zip. Raises like :func:`run`, and :class:`ProcessingError`
    for a line longer than :data:`MAX_LINE` or a listing without its ``----------`` line."""
    argv = [require(), "l", "-spd", "-bso1", "-bse2", "-bsp0", "-slt", "--", str(archive)]
    stdin = subprocess.PIPE if password is not None else subprocess.DEVNULL
    proc = childproc.spawn(argv, stdin=stdin, box=box)
    if password is not None:
        _feed_password(proc, password)
    errors: list[str] = []
    reader = threading.Thread(target=_read_errors, args=(proc, errors), daemon=True)
    reader.start()
    try:
        listed = yield from _parse_listing(_lines(proc, cancel))
        code = childproc.wait(proc, cancel)
        reader.join(5.0)  # every error line read before they are judged
        if code not in (0, EXIT_WARNING):
            raise _failure(code, errors, password)
        if not listed:
            raise ProcessingError("7-Zip could not read the archive's list of files")
    finally:
        if proc.poll() is None:
            childproc.stop_process(proc)
        reader.join(5.0)
        if proc.stdout is not None:
            proc.stdout.close()


def _lines(proc: subprocess.Popen[bytes], cancel: threading.Event | None) -> Iterator[str]:
    """The lines of the child's stdout as they come, watching ``cancel`` while it is silent."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if cancel is not None and cancel.is_set():
                raise TaskCancelled("cancelled")
            if not selector.select(childproc.POLL_INTERVAL):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > MAX_LINE:
                raise ProcessingError("7-Zip listed a name longer than 64 KiB: not a real path")
            for line in lines:
                yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


def _parse_listing(lines: Iterator[str]) -> Generator[Entry, None, bool]:
    """``Entry`` per block after the ``----------`` line; returns whether that line came."""
    started = False
    fields: dict[str, str] = {}
    for line in lines:
        if not started:
            started = line == "----------"
            continue
        if line.strip():
            key, sep, value = line.partition(" = ")
            if sep:
                fields.setdefault(key.strip(), value)
            continue
        if "Path" in fields:
            yield _entry(fields)
        fields = {}
    if "Path" in fields:
        yield _entry(fields)
    return started


def _entry(fields: dict[str, str]) -> Entry:
    attributes = fields.get("Attributes", "")
    return Entry(
        path=fields.get("Path", ""),
        size=_int(fields.get("Size")),
        is_dir=fields.get("Folder") == "+" or attributes.startswith("D"),
        attributes=attributes,
        link=fields.get("Symbolic Link") or None,
        hard_link=fields.get("Hard Link") or None,
        encrypted=fields.get("Encrypted") == "+",
    )


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
