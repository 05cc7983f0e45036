"""RAR through The Unarchiver's command-line tools (``lsar`` lists, ``unar`` extracts; Debian
package ``unar``): the RAR boundary of the extract stage.

Why not 7-Zip: Debian's ``7zip`` (``7zz``) cannot open RAR at all ("Cannot open the file as
archive" for a valid RAR5 file) and ``p7zip-full`` opens stored RAR only (its RAR codec is
non-free). ``bsdtar`` (libarchive 3.6) reads RAR4/RAR5 but no encrypted RAR at all. ``unar``
1.10 reads RAR 2.9-5, stored and compressed, solid, volume sets, and RAR5 passwords.

Facts this relies on (checked with Debian's unar 1.10.1, the fixtures in tests/fixtures/rar/):

* ``lsar -ja`` prints a JSON listing (ASCII, names ``\\u`` escaped) whose entries arrive one by
  one: it is parsed as it streams, each entry checked (:func:`list_entries`) and lsar stopped
  once more than the allowed number arrived, so a listing of millions of entries never sits in
  memory. Names are listed raw (``../x``, ``/abs``), so the same policy as 7-Zip's listings
  (:func:`telebot.processing.archivecheck.plan_entries`) refuses them before anything is written.
* **No password on a command line** (``/proc/*/cmdline`` is world-readable): unar's only password
  option is ``-p``. When stdin *and* stdout are terminals unar asks instead, with glibc's
  ``getpass()``, which (the child has no controlling terminal: its own session) prints
  ``Password (will not be shown): `` on stderr and reads a line from stdin. So a password run
  gets a pseudo-terminal as stdin and stdout; the password is written to it after the prompt
  (``getpass`` flushes pending input before it prompts). Without a terminal unar says "This
  archive requires a password to unpack" and exits 2: that is how "password needed" is told.
* A wrong RAR5 password: exit 1, "Failed! (Missing or wrong password)" for each file, and
  0-byte files left (the stage removes its folder on failure). unar 1.10.1 cannot decrypt RAR4
  encryption at all: exit 1, "Attempted to read more data than was available".
* Names hidden behind the password (``rar -hp``): ``lsar -j`` cannot list them without ``-p``,
  so the entry checks cannot run first: such archives are refused with that reason.
* ``-i`` takes the indexes of the entries to extract: links and special files the policy skips
  are left out that way. ``-D`` no extra folder, ``-f`` overwrite (the folder is new, so only
  duplicate names in the archive meet), ``-nr`` no recursion (the stage does one nested pass
  itself), ``-k skip`` no AppleDouble files for Mac resource forks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import re
import select
import shutil
import stat
import subprocess
import tempfile
import termios
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from telebot import childproc, sandbox
from telebot.errors import ProcessingError, TaskCancelled
from telebot.processing import archivecheck
from telebot.processing.archivecheck import Budget, LimitExceeded, OutputWatch
from telebot.processing.archives import volumes_of
from telebot.processing.sevenzip import Entry, PasswordNeeded, WrongPassword

PROMPT = b"Password (will not be shown): "  # glibc getpass(), as unar calls it
NEEDS_PASSWORD = "requires a password"  # "This archive requires a password to unpack."
WRONG_PASSWORD = "Missing or wrong password"  # XADException's text for XADBadPasswordError
MAX_ENTRY_JSON = 256 * 1024  # one entry's JSON (a RAR name is at most 64 KiB, then metadata)
_READ = 65536
_LINES_KEPT = 20
_FAILED = re.compile(r"Failed! \((.{1,120}?)\)")

Percent = Callable[[int], None]


class HiddenNames(ProcessingError):
    """The RAR encrypts its file names too: they cannot be checked before extraction."""

    def __init__(self) -> None:
        super().__init__(
            "this RAR hides its file names behind the password (RAR's -hp), so they cannot be "
            "checked before extracting: refused (re-pack it without name encryption)"
        )


def handles(name: str) -> bool:
    """True for the archives this module reads (``x.rar``, ``x.part1.rar``)."""
    return name.lower().endswith(".rar")


def find() -> tuple[str, str] | None:
    """Paths of (lsar, unar), or None when either is missing."""
    lsar, unar = shutil.which("lsar"), shutil.which("unar")
    return (lsar, unar) if lsar and unar else None


def require() -> tuple[str, str]:
    tools = find()
    if tools is None:
        raise ProcessingError("RAR needs unar on the bot's host (Debian: apt install unar)")
    return tools


# -- listing ------------------------------------------------------------------------------


@dataclass
class Listing:
    """What :func:`list_entries` saw besides the entries (filled in as they stream)."""

    indexes: array[int]  # XADIndex of every entry, in order
    special: dict[str, int]  # path → index of the links and special files (the policy may skip)


def list_entries(
    archive: Path, *, max_entries: int, cancel: threading.Event | None, box: sandbox.Box,
    listing: Listing | None = None,
) -> Iterator[Entry]:
    """The members of ``archive`` (its first volume), streamed from ``lsar -ja``.

    Raises :class:`LimitExceeded` past ``max_entries`` (lsar is stopped at once),
    :class:`HiddenNames` for encrypted names, :class:`ProcessingError` when lsar cannot read it,
    ``TaskCancelled`` on ``cancel``."""
    lsar, _ = require()
    # Run in the archive's folder on its bare name: lsar's volume guess reads the whole path,
    # and digits in folder names defeat it (see _alone).
    proc = childproc.spawn([lsar, "-ja", archive.name], cwd=str(archive.parent), box=box)
    errors: list[str] = []
    err_reader = threading.Thread(target=_keep_lines, args=(proc.stderr, errors), daemon=True)
    err_reader.start()
    parser = _StreamedArray("lsarContents")
    count = 0
    try:
        assert proc.stdout is not None
        while chunk := _read_cancellable(proc, cancel):
            for item in parser.feed(chunk):
                count += 1
                if count > max_entries:
                    raise LimitExceeded(
                        f"extraction stopped: the archive holds more than EXTRACT_MAX_FILES "
                        f"({max_entries:,})"
                    )
                entry = _entry(item)
                if listing is not None:
                    index = _int(item.get("XADIndex"), count - 1)
                    listing.indexes.append(index)
                    if entry.is_symlink or entry.hard_link is not None or _special(entry):
                        listing.special[entry.path] = index
                yield entry
        code = childproc.wait(proc, cancel)
    finally:
        if proc.poll() is None:
            childproc.stop_process(proc)
        err_reader.join(5.0)
    text = "\n".join(errors)
    if NEEDS_PASSWORD in text:
        raise HiddenNames()
    lsar_error = parser.trailer_int("lsarError")
    if code != 0 or lsar_error or not parser.complete:
        detail = (sandbox.limit_reason(code, text, box) or (errors[-1] if errors else None)
                  or f"lsar error {lsar_error or code}")
        raise ProcessingError(f"unar could not read the RAR archive: {detail[:200]}")


def _read_cancellable(proc: subprocess.Popen[bytes], cancel: threading.Event | None) -> bytes:
    """The next piece of lsar's output (b"" at its end); a cancel stops lsar first."""
    assert proc.stdout is not None
    while True:
        if cancel is not None and cancel.is_set():
            childproc.stop_process(proc)
            raise TaskCancelled("cancelled")
        # Wait in short steps: lsar may think a long while (a big volume set) before it writes.
        ready, _, _ = select.select([proc.stdout], [], [], childproc.POLL_INTERVAL)
        if ready:
            return os.read(proc.stdout.fileno(), _READ)


class _StreamedArray:
    """Yields the objects of one top-level JSON array (``"key": [ {...}, ... ]``) as bytes
    arrive, never holding more than one object's text (bounded by :data:`MAX_ENTRY_JSON`)."""

    def __init__(self, key: str) -> None:
        self._opening = re.compile(rf'"{re.escape(key)}"\s*:\s*\[')
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._state = "before"  # before → inside → after
        self._trailer = ""  # what follows the array (lsarError and friends), kept short

    @property
    def complete(self) -> bool:
        return self._state == "after"

    def feed(self, chunk: bytes) -> Iterator[dict[str, object]]:
        text = chunk.decode("ascii", "replace")  # -ja: pure ASCII
        if self._state == "after":
            self._trailer = (self._trailer + text)[:65536]
            return
        self._buffer += text
        if self._state == "before":
            match = self._opening.search(self._buffer)
            if match is None:
                if len(self._buffer) > MAX_ENTRY_JSON:
                    raise ProcessingError("unar's listing of the RAR archive is not readable")
                return
            self._buffer = self._buffer[match.end():]
            self._state = "inside"
        yield from self._objects()

    def _objects(self) -> Iterator[dict[str, object]]:
        pos = 0
        buffer = self._buffer
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                pos += 1
            if pos == len(buffer):
                break
            if buffer[pos] == "]":
                self._state = "after"
                self._trailer = buffer[pos + 1:][:65536]
                pos = len(buffer)
                break
            try:
                item, end = self._decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError:
                if len(buffer) - pos > MAX_ENTRY_JSON:
                    raise ProcessingError(
                        "an entry of the RAR archive is too large to list") from None
                break  # incomplete: wait for more
            if not isinstance(item, dict):
                raise ProcessingError("unar's listing of the RAR archive is not readable")
            pos = end
            yield item
        self._buffer = buffer[pos:]

    def trailer_int(self, key: str) -> int:
        match = re.search(rf'"{re.escape(key)}"\s*:\s*(\d+)', self._trailer)
        return int(match.group(1)) if match else 0


def _entry(item: dict[str, object]) -> Entry:
    """An lsar entry as the Entry the 7-Zip policy reads (raw: nothing normalised)."""
    mode = _int(item.get("XADPosixPermissions"), 0)
    is_dir = bool(item.get("XADIsDirectory"))
    is_link = bool(item.get("XADIsLink"))
    hard = bool(item.get("XADIsHardLink"))
    target = item.get("XADLinkDestination")
    target_text = target if isinstance(target, str) else ""
    # Windows-made RARs carry no unix mode: then say what lsar's flags say.
    attributes = stat.filemode(mode) if mode else ("d" if is_dir else "-")
    if is_link and not hard and not attributes.startswith("l"):
        attributes = "l" + attributes[1:]
    for flag, letter in (("XADIsCharacterDevice", "c"), ("XADIsBlockDevice", "b"),
                         ("XADIsFIFO", "p")):
        if item.get(flag):
            attributes = letter + attributes[1:]
    name = item.get("XADFileName")
    return Entry(
        path=name if isinstance(name, str) else "",
        size=_int(item.get("XADFileSize"), 0),
        is_dir=is_dir,
        attributes=attributes,
        link=target_text if is_link and not hard else None,
        hard_link=target_text if hard else None,
        encrypted=bool(item.get("XADIsEncrypted")),
    )


def _special(entry: Entry) -> bool:
    return entry.attributes[:1] not in ("-", "d", "")


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# -- extraction ---------------------------------------------------------------------------


def extract(
    archive: Path, dest: Path, *, budget: Budget, password: str | None,
    cancel: threading.Event, on_percent: Percent | None = None,
) -> list[str]:
    """List and check ``archive``, then extract it into ``dest`` (created here), boxed and
    watched against ``budget``; returns the notes (skipped entries). Raises what
    :func:`list_entries` raises, :class:`PasswordNeeded`, :class:`WrongPassword`,
    :class:`LimitExceeded`, :class:`ProcessingError`."""
    # Absolute: the tools run in the archive's folder, and a relative path in their box (the
    # bot's folders are relative to its working folder by default) would mean another place.
    archive, dest = archive.absolute(), dest.absolute()
    with _alone(archive, dest) as private:
        return _extract(private, dest, budget=budget, password=password, cancel=cancel,
                        on_percent=on_percent)


def _extract(
    archive: Path, dest: Path, *, budget: Budget, password: str | None,
    cancel: threading.Event, on_percent: Percent | None,
) -> list[str]:
    listing = Listing(array("q"), {})
    # Listing writes nothing: its box has no writable folder at all (and so no HOME to litter).
    # The skipped paths come back one a line (archivecheck writes 7-Zip's -x@ list that way);
    # the listing stops at EXTRACT_MAX_FILES, so this stays bounded.
    skipped_paths = io.StringIO()
    plan = archivecheck.plan_entries(list_entries(
        archive, max_entries=budget.limits.max_files, cancel=cancel, listing=listing,
        box=sandbox.Box(readable=(archive.parent,)),
    ), budget, skipped_paths)
    if plan.encrypted and password is None:
        raise PasswordNeeded()
    budget.check(plan.size, plan.files)
    dest.mkdir(mode=0o700)
    box = sandbox.for_stage(archive.parent, dest)  # read the archive alone, write its folder
    _, unar = require()
    argv = [unar, "-D", "-f", "-nr", "-k", "skip", "-o", str(dest.absolute()),
            archive.name]
    skipped = {
        listing.special[path]
        for path in skipped_paths.getvalue().splitlines()
        if path in listing.special
    }
    if skipped:
        argv[1:1] = ["-i"]
        argv += [str(i) for i in listing.indexes if i not in skipped]
    with OutputWatch(dest, budget, cancel) as watch:
        run = _UnarRun(argv, password, box, plan.files, on_percent, cwd=archive.parent)
        try:
            code = run.wait(watch.stop)
        except TaskCancelled:
            if watch.reason is not None:
                raise LimitExceeded(f"extraction stopped: {watch.reason}") from None
            if run.asked_twice:
                raise WrongPassword() from None
            raise
    if code != 0:
        limit = sandbox.limit_reason(code, "\n".join(run.lines + run.errors), box)
        raise ProcessingError(f"unar stopped: {limit}") if limit else run.failure(
            code, plan.encrypted)
    used, entries, _files = archivecheck.tree_usage(dest)
    budget.charge(used, entries)
    budget.check(0, 0)  # what it wrote after the watch's last look
    return plan.notes


NEUTRAL = "archive"  # the stem every archive gets in its own folder (see _alone)
_NEW_VOLUME = re.compile(r"\.part(\d+)\.rar$", re.I)
_OLD_VOLUME = re.compile(r"\.r(\d{2,})$", re.I)


@contextlib.contextmanager
def _alone(archive: Path, dest: Path) -> Iterator[Path]:
    """``archive`` (with its own volumes) linked into a folder of its own, beside ``dest``, under
    digit-free names; lsar and unar then run in that folder on the relative name.

    Why: lsar/unar guess volume sets from names alone, and digits confuse the guess. Beside
    ``show.s01e01.rar``, ``show.s01e02.rar`` was read as the second volume of one set and listed
    (and extracted) **the first file's content**; an old-style set (``x.rar``, ``x.r00``) was
    not found as a set when the base name or any folder of the path held a digit (the task
    folders do). Alone and renamed (``archive.rar``, ``archive.r00`` or ``archive.part01.rar``),
    each archive is only itself; and the box reads only that folder."""
    alone = Path(tempfile.mkdtemp(prefix=".unar-input-", dir=dest.parent))
    try:
        names = _set_of(archive)
        for name in names:
            _pass_through(archive.parent / name, alone / _neutral(name))
        yield alone / _neutral(names[0])
    finally:
        shutil.rmtree(alone, ignore_errors=True)


def _neutral(name: str) -> str:
    """``name`` with its stem replaced by :data:`NEUTRAL`, keeping the volume number's form."""
    for pattern, form in ((_NEW_VOLUME, ".part{}.rar"), (_OLD_VOLUME, ".r{}")):
        match = pattern.search(name)
        if match:
            return NEUTRAL + form.format(match.group(1))
    return NEUTRAL + ".rar"


def _set_of(archive: Path) -> list[str]:
    """The names of ``archive``'s volume set, itself first: ``x.part1.rar`` with its later parts,
    or ``x.rar`` with old-style ``x.r00``, ``x.r01`` (:func:`archives.volumes_of`)."""
    names = volumes_of(archive.name, sorted(os.listdir(archive.parent)))
    return [archive.name, *(n for n in names if n != archive.name)]


def _pass_through(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links refused: a copy then
        shutil.copyfile(src, dst)


class _UnarRun:
    """One unar child: its output read in threads (progress, failure reasons), and the password
    typed into its terminal when it asks."""

    def __init__(self, argv: list[str], password: str | None, box: sandbox.Box, files: int,
                 on_percent: Percent | None, *, cwd: Path) -> None:
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.asked_twice = False
        self._password, self._files, self._on_percent = password, max(files, 1), on_percent
        self._done = 0
        self._terminal: int | None = None
        if password is None:
            self.proc = childproc.spawn(argv, cwd=str(cwd), box=box)
            out_fd = self.proc.stdout.fileno() if self.proc.stdout else -1
        else:
            self._terminal, child_end = _terminal()
            try:
                self.proc = childproc.spawn(argv, stdin=child_end, stdout=child_end,
                                            cwd=str(cwd), box=box)
            finally:
                os.close(child_end)  # the child holds it now; EIO on ours when it exits
            out_fd = self._terminal
        self._readers = [
            threading.Thread(target=self._read_out, args=(out_fd,), daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def wait(self, stop: threading.Event) -> int:
        try:
            return childproc.wait(self.proc, stop)
        finally:
            if self.proc.poll() is None:
                childproc.stop_process(self.proc)
            for reader in self._readers:
                reader.join(5.0)
            if self._terminal is not None:
                with contextlib.suppress(OSError):
                    os.close(self._terminal)

    def _read_out(self, fd: int) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, _READ)
            except OSError:  # a terminal's reading end says EIO once the child closed its end
                break
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            pending = pending[-4096:]
            for raw in complete:
                self._line(raw.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, line: str) -> None:
        self.lines.append(line[:300])
        del self.lines[:-_LINES_KEPT]
        # "  name  (18 B)... OK."; after a password prompt the "OK." comes on a line of its own.
        if line.endswith("OK."):
            self._done += 1
            if self._on_percent is not None:
                self._on_percent(min(100, self._done * 100 // self._files))

    def _read_errors(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        seen = b""
        asked = 0
        while chunk := os.read(stream.fileno(), 4096):
            seen = (seen + chunk)[-1024:]
            prompts = seen.count(PROMPT)
            if prompts:
                seen = seen.split(PROMPT)[-1]
                asked += prompts
                self._answer(asked)
            self.errors.extend(ln.strip() for ln in chunk.decode("utf-8", "replace")
                               .splitlines() if ln.strip() and PROMPT.decode() not in ln)
            del self.errors[:-_LINES_KEPT]

    def _answer(self, asked: int) -> None:
        if self._terminal is None or self._password is None:
            return
        if asked > 1:  # it asks again only when the first answer did not open it
            self.asked_twice = True
            self.proc.terminate()
            return
        # Far below a terminal's input buffer (4 KiB): never blocks.
        os.write(self._terminal, self._password.encode("utf-8") + b"\n")

    def failure(self, code: int, encrypted: bool) -> ProcessingError:
        reasons = [m.group(1) for line in self.lines if (m := _FAILED.search(line))]
        text = "\n".join(self.lines + self.errors)
        if WRONG_PASSWORD in text:
            return WrongPassword()
        if NEEDS_PASSWORD in text and self._password is None:
            return PasswordNeeded()
        if encrypted and self._password is not None:
            return ProcessingError(
                "unar could not decrypt it: a wrong password, or RAR4 encryption, which "
                f"Debian's unar 1.10 cannot read (RAR5 works) ({reasons[-1] if reasons else code})"
            )
        detail = reasons[-1] if reasons else (self.errors[-1] if self.errors else f"exit {code}")
        if self._password:
            detail = detail.replace(self._password, "***")
        return ProcessingError(f"unar failed: {detail[:200]}")


def _terminal() -> tuple[int, int]:
    """A pseudo-terminal (ours, the child's) that neither echoes input nor rewrites output."""
    ours, child = pty.openpty()
    attrs = termios.tcgetattr(child)
    attrs[1] &= ~termios.OPOST  # no "\n" → "\r\n"
    attrs[3] &= ~termios.ECHO  # the password never comes back on the output side
    termios.tcsetattr(child, termios.TCSANOW, attrs)
    return ours, child


def _keep_lines(stream: object, lines: list[str]) -> None:
    for raw in stream:  # type: ignore[attr-defined]
        line = raw.decode("utf-8", "replace").strip()
        if line:
            lines.append(line[:300])
            del lines[:-_LINES_KEPT]
