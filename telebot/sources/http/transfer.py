"""The data path: segment workers' shared state, range checks, and the body into the file.

A plain-HTTP body of known length is spliced (:func:`splice_pump`): socket → pipe → the
segment's offset of the preallocated ``.part`` file, the bytes never in user space. Otherwise
(TLS, chunked) each segment worker reads the body with ``readinto`` straight from the socket file
of ``http.client`` into one reusable page-aligned buffer (an anonymous ``mmap``) and writes it
with ``os.pwrite`` (:func:`pump`). Either way no bytes objects are created per chunk, the GIL is
released during the read and the write, and one write at a time goes into the file
(``Job.write_lock``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import http.client
import mmap
import os
import re
import select
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from telebot.errors import DownloadError, TaskCancelled, TransientError
from telebot.sources.http.errors import FileChanged, RangesIgnored, Restart
from telebot.sources.http.hostwatch import HostWatch, NoteFn
from telebot.sources.http.netguard import GuardedAdapter
from telebot.sources.http.options import HttpOptions, MiB
from telebot.sources.http.partfile import Segment
from telebot.sources.http.probe import ProbeResult
from telebot.units import format_bytes

# Largest single readinto; reads grow to it on fast links (see next_read_size).
MAX_READ = 1 * MiB
# Smallest read: one read must finish quickly on a slow link so that progress
# and cancel checks between reads stay frequent.
MIN_READ = 64 * 1024

#: Shown when a server cannot continue a file and it starts from zero.
NOTE_NO_RESUME = "server does not support resume: restarting from zero"


class Job:
    """Shared state of one download(): the file, its segments, and how to stop."""

    def __init__(self, probe: ProbeResult, options: HttpOptions, fd: int,
                 segments: list[Segment], adapter: GuardedAdapter,
                 session: requests.Session, workers: int, watch: HostWatch,
                 note: NoteFn) -> None:
        self.probe = probe
        self.options = options
        self.fd = fd
        self.segments = segments
        self.session = session
        self.adapter = adapter
        self.host = urlsplit(probe.url).hostname or "?"
        self.link = probe.url  # the user's link; headers and auth go only to its origin
        self.stop = threading.Event()
        self.finished = threading.Event()
        self._running = workers
        if workers <= 0:  # every segment was already complete (resumed at the very end)
            self.finished.set()
        self.error: BaseException | None = None
        self.restart: Restart | None = None  # set when the download must start over
        self.watch = watch
        self.note = note
        self._lock = threading.Lock()
        # One write into the part file at a time. ext4 takes the file's inode lock
        # exclusively for every buffered write, and the segment threads that wait for it
        # spin on the owner in the kernel (``rwsem_spin_on_owner``: 23 % of a slow run's
        # CPU under perf). Waiting here sleeps instead; the reads still overlap.
        self.write_lock = threading.Lock()

    @property
    def done(self) -> int:
        return sum(seg.done - seg.start for seg in self.segments)

    def fail(self, exc: BaseException) -> None:
        """Record the first real error and stop every other worker at once."""
        with self._lock:
            if self.error is None or isinstance(self.error, TaskCancelled):
                self.error = exc
        self.halt()

    def start_over(self, why: Restart) -> None:
        """Stop every segment quietly: download() starts over (not the host's fault)."""
        with self._lock:
            if self.restart is None:
                self.restart = why
        self.halt()

    def worker_ended(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running <= 0:
                self.finished.set()

    def halt(self) -> None:
        self.stop.set()
        self.watch.wake()  # segments waiting for a sibling's verdict see the stop now
        # Shutting the sockets down wakes threads blocked in recv immediately,
        # which is what makes cancel take milliseconds instead of READ_TIMEOUT.
        self.adapter.abort()


def range_headers(job: Job, seg: Segment) -> dict[str, str]:
    if not job.probe.accepts_ranges and seg.done == 0:
        return {}
    if not job.probe.accepts_ranges:  # maybe it can after all; a 200 restarts from zero
        headers = {"Range": f"bytes={seg.done}-"}
    else:
        end = "" if seg.end is None else str(seg.end - 1)
        headers = {"Range": f"bytes={seg.done}-{end}"}
    # If-Range: the rest only if it is still the same file, else the whole new one
    # (RFC 9110 §13.1.5), so two versions are never spliced.
    validator = job.probe.validators.if_range()
    if validator:
        headers["If-Range"] = validator
    return headers


def check_range_reply(job: Job, seg: Segment, resp: requests.Response) -> None:
    """Make sure the body starts where ``seg.done`` says; restart or fail otherwise."""
    if job.probe.validators.changed(resp.headers.get("etag"), resp.headers.get("last-modified")):
        raise FileChanged(job.host)
    if resp.status_code == 206:
        match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*",
                             resp.headers.get("content-range", ""))
        if not match or int(match.group(1)) != seg.done:
            raise TransientError(f"{job.host} sent the wrong byte range")
        total = match.group(3)
        if job.probe.size is not None and total != "*" and int(total) != job.probe.size:
            if job.probe.etag or job.probe.last_modified:  # same version, two sizes: a liar
                raise DownloadError(f"{job.host} gives two sizes for the file "
                                    f"({job.probe.size} and {total})")
            raise FileChanged(job.host)
        return
    if seg.done == 0 and seg.start == 0 and len(job.segments) == 1:
        return  # a full 200 body is exactly what a single stream from 0 needs
    if len(job.segments) == 1 and seg.start == 0:
        seg.done = 0  # the server ignores ranges: start the single stream over
        job.note(NOTE_NO_RESUME)
        return
    raise RangesIgnored(job.host)


def reader_of(resp: requests.Response) -> Any:
    """The object to ``readinto`` from: http.client's response when available.

    urllib3's ``HTTPResponse.readinto`` reads into a new bytes object and copies
    it; ``http.client.HTTPResponse.readinto`` fills our buffer straight from
    the socket (and still decodes chunked framing). We ask for
    ``Accept-Encoding: identity``, so urllib3 has no decoding to do here.
    """
    raw = resp.raw
    fp = getattr(raw, "_fp", None)
    return fp if isinstance(fp, http.client.HTTPResponse) else raw


def pump(job: Job, seg: Segment, resp: requests.Response, buffer: mmap.mmap,
          clock: Callable[[], float], *, reads: int | None = None) -> None:
    """Copy the body into the part file at ``seg.done`` until ``seg.end`` or EOF.

    With *reads*, stop after that many reads that got bytes (the rest follows in a
    later call on the same response).
    """
    reader, view, fd, want = reader_of(resp), memoryview(buffer), job.fd, MIN_READ
    limit = job.options.max_size
    make_room = job.options.make_room
    try:
        while seg.end is None or seg.done < seg.end:
            if reads is not None:
                if reads <= 0:
                    return
                reads -= 1
            if job.stop.is_set():
                raise TaskCancelled("download cancelled")
            size = want if seg.end is None else min(want, seg.end - seg.done)
            started = clock()
            got = read_body(reader, view[:size], job.host)
            if not got:
                break
            if make_room is not None and not fits(fd, seg.done + got):
                make_room(got, job.stop)  # may pause here (STORAGE_THRESHOLD)
            write_all(fd, view[:got], seg.done, job)
            seg.done += got
            if limit is not None and seg.done > limit:
                raise DownloadError(f"{job.probe.name} is over the {format_bytes(limit)} limit")
            want = next_read_size(want, got, clock() - started)
    finally:
        view.release()
    if job.stop.is_set():
        raise TaskCancelled("download cancelled")
    if seg.end is not None and seg.done < seg.end:
        raise TransientError(f"{job.host} closed the connection early ({seg.done} of {seg.end})")


# The pipe a spliced body passes through: as large as one read may be, so a splice moves
# up to MAX_READ per call (the kernel's default pipe is 64 KiB; raising it to 1 MiB is
# allowed to anyone by the default /proc/sys/fs/pipe-max-size).
PIPE_SIZE = MAX_READ
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # named in Python 3.10+
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


def splice_socket(resp: requests.Response, seg: Segment) -> socket.socket | None:
    """The plain TCP socket under *resp* when its body can be spliced into *seg*, else None.

    Splicing (socket → pipe → file, ``os.splice``) keeps the bytes in the kernel: the
    socket's pages move into the pipe without a copy, and the only copy is into the page
    cache, where readinto + pwrite copies twice (to our buffer, then to the page cache).
    Only a body framed by its length qualifies (not chunked: the framing would land in the
    file), for a segment with an end (a probe that found no size plans one open segment, whose
    end the readinto path finds at EOF), and only over plain TCP (TLS bytes must be decrypted in
    user space).
    """
    if not hasattr(os, "splice") or seg.end is None:
        return None
    http_resp = reader_of(resp)
    if not isinstance(http_resp, http.client.HTTPResponse):
        return None
    if http_resp.chunked or http_resp.length is None:
        return None
    sock = getattr(getattr(http_resp.fp, "raw", None), "_sock", None)
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return None
    return sock


def splice_pump(job: Job, seg: Segment, resp: requests.Response,
                sock: socket.socket) -> None:
    """:func:`pump` for a body :func:`splice_socket` accepted: the same checks (stop, room,
    size limit, early close), the bytes moved by the kernel.

    http.client may hold the first bytes after the headers in its buffer; those go in
    first (``peek`` returns what is buffered without a read), then the socket is read
    directly. Its file descriptor is non-blocking (Python sockets with a timeout are), so
    a read that finds nothing waits in ``poll`` for up to the socket's timeout.
    """
    assert seg.end is not None  # splice_socket accepted only a body of known length
    http_resp = reader_of(resp)
    end = min(seg.end, seg.done + http_resp.length)
    buffered = http_resp.fp.peek(1)[: end - seg.done] if end > seg.done else b""
    if buffered:
        data = http_resp.fp.read(len(buffered))
        _room(job, seg, len(data))
        write_all(job.fd, memoryview(data), seg.done, job)
        _advance(job, seg, len(data))
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    wait_ms = int((sock.gettimeout() or 30.0) * 1000)
    pipe_r, pipe_w = os.pipe2(os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # a smaller pipe only means more calls
            fcntl.fcntl(pipe_w, _F_SETPIPE_SZ, PIPE_SIZE)
        while seg.done < end:
            if job.stop.is_set():
                raise TaskCancelled("download cancelled")
            try:
                got = os.splice(sock.fileno(), pipe_w, min(PIPE_SIZE, end - seg.done),
                                flags=_SPLICE_FLAGS)
            except BlockingIOError:
                if not poller.poll(wait_ms):
                    raise TransientError(f"{job.host} stopped sending") from None
                continue
            except OSError as exc:
                raise TransientError(
                    f"connection to {job.host} broke: {type(exc).__name__}") from exc
            if not got:
                break
            _room(job, seg, got)
            _drain_pipe(job, pipe_r, got, seg.done)
            _advance(job, seg, got)
    finally:
        os.close(pipe_r)
        os.close(pipe_w)
    if job.stop.is_set():
        raise TaskCancelled("download cancelled")
    if seg.done < seg.end:
        raise TransientError(f"{job.host} closed the connection early ({seg.done} of {seg.end})")


def _room(job: Job, seg: Segment, size: int) -> None:
    make_room = job.options.make_room
    if make_room is not None and not fits(job.fd, seg.done + size):
        make_room(size, job.stop)  # may pause here (STORAGE_THRESHOLD)


def _advance(job: Job, seg: Segment, size: int) -> None:
    seg.done += size
    limit = job.options.max_size
    if limit is not None and seg.done > limit:
        raise DownloadError(f"{job.probe.name} is over the {format_bytes(limit)} limit")


def _drain_pipe(job: Job, pipe_r: int, size: int, offset: int) -> None:
    """Move *size* bytes from the pipe into the part file at *offset* (under the write lock,
    as :func:`write_all`); an error leaves the pipe dirty, and the pipe dies with the attempt."""
    try:
        with job.write_lock:
            while size:
                moved = os.splice(pipe_r, job.fd, size, offset_dst=offset)
                if not moved:  # cannot happen with bytes in the pipe; never loop forever
                    raise OSError(errno.EIO, "splice moved nothing")
                size, offset = size - moved, offset + moved
    except OSError as exc:
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or "write failed")
        raise OSError(exc.errno, f"{reason} while writing {job.probe.name}") from exc


def fits(fd: int, end: int) -> bool:
    """True when the write ends inside the file's preallocated length: those blocks are
    already ours, so the disk's free space does not shrink by writing them."""
    return end <= os.fstat(fd).st_size


def read_at_most(resp: requests.Response, length: int) -> bytes:
    """The body's first *length* bytes (the connection is closed on the rest)."""
    chunks: list[bytes] = []
    got = 0
    try:
        for chunk in resp.iter_content(MIN_READ):
            chunks.append(chunk[: length - got])
            got += len(chunks[-1])
            if got >= length:
                break
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransientError(f"connection to {urlsplit(resp.url).hostname} broke") from exc
    return b"".join(chunks)


def read_body(reader: Any, view: memoryview, host: str) -> int:
    try:
        return int(reader.readinto(view))
    except (http.client.HTTPException, urllib3.exceptions.HTTPError, OSError) as exc:
        # A broken body is the network's fault: retry resumes at seg.done.
        raise TransientError(f"connection to {host} broke: {type(exc).__name__}") from exc


def write_all(fd: int, view: memoryview, offset: int, job: Job) -> None:
    try:
        with job.write_lock:
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
    except OSError as exc:
        # Stays an OSError (with its errno) so the breaker does not blame the
        # host for our disk; translate turns it into the user's one line.
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or "write failed")
        raise OSError(exc.errno, f"{reason} while writing {job.probe.name}") from exc


def next_read_size(want: int, got: int, seconds: float) -> int:
    """Grow reads while they finish fast, shrink them when they block long.

    A readinto waits until the whole request is filled, so on a slow link a big
    read would delay progress and cancel checks; on a fast one small reads cost
    per-call overhead. 10 ms / 250 ms keep reads between those two regimes.
    """
    if got == want and seconds < 0.010 and want < MAX_READ:
        return want * 2
    if seconds > 0.250 and want > MIN_READ:
        return want // 2
    return want
