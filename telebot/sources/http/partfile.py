"""The on-disk state of a resumable download: the preallocated ``.part`` file and its sidecar.

``<name>.part`` is written at each segment's offsets; ``<name>.part.state`` (JSON) records how far
every segment got, so a new process continues each one where it stopped (see
:func:`write_sidecar` for why that is safe after ``kill -9``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

from telebot.errors import DownloadError, TaskCancelled
from telebot.fileio import durable
from telebot.redact import strip_credentials
from telebot.sources.names import sanitize_filename
from telebot.units import format_bytes

MiB = 1 << 20


class Segment:
    """Bytes [start, end) of the file; ``done`` is the absolute offset written up to."""

    __slots__ = ("done", "end", "start")

    def __init__(self, start: int, end: int | None, done: int | None = None) -> None:
        self.start = start
        self.end = end
        self.done = start if done is None else done

    @property
    def complete(self) -> bool:
        return self.end is not None and self.done >= self.end



class Validators(NamedTuple):
    """What identifies one version of a file on the server (RFC 9110 §8.8)."""

    etag: str | None
    last_modified: str | None

    def if_range(self) -> str | None:
        """The If-Range value: a strong ETag, else the Last-Modified date, else None.

        If-Range needs a strong validator (RFC 9110 §13.1.5); a weak ETag is no use
        there, the date is (and every reply is compared with :meth:`changed` anyway).
        """
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def changed(self, etag: str | None, last_modified: str | None) -> bool:
        """Whether a response with these headers is of another version of the file.

        Compares the ETag when both sides have one, else the Last-Modified date; a
        response without either cannot tell, and says "not changed".
        """
        if self.etag and etag:
            return etag != self.etag
        if self.last_modified and last_modified:
            return last_modified != self.last_modified
        return False


def plan_segments(size: int | None, accepts_ranges: bool, segments: int,
                  min_segment_size: int) -> list[Segment]:
    """Split ``size`` bytes into up to ``segments`` ranges of at least ``min_segment_size``."""
    if size is None:
        return [Segment(0, None)]
    count = 1
    if accepts_ranges and segments > 1:
        count = max(1, min(segments, size // max(1, min_segment_size)))
    return [Segment(size * i // count, size * (i + 1) // count) for i in range(count)]


def segments_from(saved: dict[str, Any]) -> list[Segment]:
    return [Segment(int(s), int(e), int(d)) for s, e, d in saved["segments"]]


def load_sidecar(workdir: Path, url: str, size: int | None, validators: Validators,
                 accepts_ranges: bool) -> dict[str, Any] | None:
    """Return a sidecar of *workdir* for *url* that still matches the server, else None.

    A sidecar is usable only when the server still reports the same size,
    ETag and Last-Modified (the validators the sidecar saved), supports
    ranges, the ``.part`` file is there with its full size, and the sidecar
    was either made durable or written during this boot. The sidecar names the link as
    :func:`sidecar_link` gives it; one that names it whole (an older telebot) still matches,
    and is rewritten without the credentials here, before the download goes on.
    """
    links = {sidecar_link(url), url}
    for path in sorted(workdir.glob("*.part.state")):
        try:
            saved = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(saved, dict) or saved.get("url") not in links or saved.get("v") != 1:
            continue
        name = sanitize_filename(str(saved.get("name", "")))
        part = workdir / f"{name}.part"
        boot = saved.get("boot")  # None: fdatasync'ed; else only valid within that boot
        matches = ((boot is None or (boot and boot == boot_id()))
                   and saved.get("size") == size and accepts_ranges
                   and saved.get("etag") == validators.etag
                   # a sidecar from before "modified" was saved is judged as then
                   and saved.get("modified", validators.last_modified)
                   == validators.last_modified
                   and part.is_file()
                   and part.stat().st_size == size and valid_segments(saved, size))
        if matches:
            if saved["url"] != sidecar_link(url):
                _drop_credentials(path, saved, url)
            return {**saved, "name": name}
        path.unlink(missing_ok=True)
    return None


def _drop_credentials(path: Path, saved: dict[str, Any], url: str) -> None:
    """Rewrite an older sidecar that names the link whole, claims unchanged, at once rather
    than at the next flush: a download that ends (done, or cancelled just as its last bytes
    arrive) before any flush would otherwise leave the key on disk."""
    with contextlib.suppress(OSError):  # the next flush tries again
        _replace_record(path, {**saved, "url": sidecar_link(url)})


def _replace_record(path: Path, record: dict[str, Any]) -> None:
    """Replace the sidecar atomically (write a temporary file, rename it over): after a crash
    it is either the old record or the new one, never a mix. Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record), "utf-8")
    os.replace(tmp, path)


def sidecar_link(url: str) -> str:
    """The link as a sidecar records it: enough to tell which download the ``.part`` belongs
    to, with no key or password in it (the sidecar is plain JSON on disk). It is never
    fetched: the download always uses the link it was given (from the sealed journal)."""
    return strip_credentials(url)


def valid_segments(saved: dict[str, Any], size: int | None) -> bool:
    try:
        segs = [(int(s), int(e), int(d)) for s, e, d in saved["segments"]]
    except (KeyError, TypeError, ValueError):
        return False
    return bool(segs) and all(0 <= s <= d <= e <= (size or 0) for s, e, d in segs)


def write_sidecar(path: Path, meta: dict[str, Any], fd: int, segments: list[Segment], *,
                  durable: bool) -> None:
    """Persist how far each segment got; never claims a byte that is not on disk.

    Ordering: the offsets are read *first*; every byte below them was already
    handed to the kernel by a returned ``pwrite``. That alone survives kill -9:
    the page cache belongs to the kernel, not to the process. It does not
    survive a power loss or kernel crash, and an ``fdatasync`` per periodic
    flush made 1 GiB downloads up to 2x slower in bench/download.py (it forces
    writeback in the middle of the transfer). So periodic flushes record the
    boot id instead, and :func:`_load_sidecar` distrusts them after a reboot;
    only *durable* flushes (when a download stops unfinished) ``fdatasync``
    the part file before the sidecar is replaced, and stay valid across one.
    The sidecar itself is replaced atomically (:func:`_replace_record`): after a crash it
    is either the old one (claims less) or the new one.
    """
    snapshot = [[seg.start, seg.end, seg.done] for seg in segments]
    try:
        if durable:
            os.fdatasync(fd)
        _replace_record(path, {**meta, "segments": snapshot,
                               "boot": None if durable else boot_id()})
    except OSError:
        pass  # a lost sidecar costs a re-fetch, never correctness


def boot_id() -> str:
    """This boot's id (Linux); "" elsewhere, so only durable sidecars are trusted there. One
    source for the sidecar and the task state file (tests simulate a reboot through it)."""
    return durable.boot_id()


def open_part(part: Path, size: int | None, *, fresh: bool) -> int:
    """Open (and on a fresh start, truncate and preallocate) the ``.part`` file."""
    flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if fresh else 0)
    fd = os.open(part, flags, 0o644)
    if fresh and size:
        try:
            # Reserving the blocks up front turns "disk full" into an error before
            # any byte is fetched, and keeps the file contiguous for pwrite.
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                os.close(fd)
                part.unlink(missing_ok=True)
                need = format_bytes(size)
                raise DownloadError(f"disk full: {need} needed for {part.name[:-5]}") from exc
            os.ftruncate(fd, size)  # file system without fallocate: sparse file instead
    return fd


def finish_size(fd: int, part: Path, segments: list[Segment], size: int | None) -> None:
    if size is None:  # streamed without a length: the file is as long as the data
        os.ftruncate(fd, segments[-1].done)
        return
    got = os.fstat(fd).st_size
    if got != size or not all(seg.complete for seg in segments):
        raise DownloadError(f"{part.name[:-5]}: got {got} bytes, expected {size}")


def verify_checksum(part: Path, sidecar: Path, checksum: tuple[str, str],
                     cancel: threading.Event) -> None:
    algo, expected = checksum
    digest = hashlib.new(algo)
    with part.open("rb") as f:
        while block := f.read(4 * MiB):
            if cancel.is_set():
                raise TaskCancelled("download cancelled")
            digest.update(block)
    if digest.hexdigest() != expected:
        part.unlink(missing_ok=True)  # bad bytes somewhere: the next try must start over
        sidecar.unlink(missing_ok=True)
        raise DownloadError(f"{part.name[:-5]}: {algo} checksum mismatch, the file is corrupt")
