"""HTTP(S) source: probe a direct link, then download it resumably, in parallel segments.

Data path (why it is fast): each segment worker reads the body with
``readinto`` straight from the socket file of ``http.client`` into one reusable
page-aligned buffer (an anonymous ``mmap``) and writes it with ``os.pwrite`` at
its own offset of a preallocated ``.part`` file. No bytes objects are created
per chunk, and the GIL is released during both the read and the write, so
several threads overlap well on two cores.

Crash safety: a small JSON sidecar ``<name>.part.state`` records how far every segment got. A new
process calling :meth:`HttpSource.download` with the same work directory continues each segment from
there (see :func:`telebot.sources.http.partfile.write_sidecar` for the ordering argument). Every
network attempt runs through the resilience layer (per-host breaker + retry); a retry resumes at the
segment's current offset, never from its start.

Progress is not failure: only the part of an attempt up to the first body bytes runs
through the host's breaker, so a response that delivered bytes is a success for it, and
a connection that breaks after new bytes arrived starts the segment's retry count over
(:class:`~telebot.resilience.PartialProgress`). Failures of one download's segments at
the same moment are one host failure, and an open breaker is waited out up to
``HttpOptions.host_down_timeout`` (:mod:`telebot.sources.http.hostwatch`).

Never spliced: ranged requests carry ``If-Range`` with the first response's validator
(strong ETag, else Last-Modified), and every response's validator is compared with it;
a file changed on the server restarts the download from zero (with a note).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import http.client
import mmap
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from telebot.errors import (
    CircuitOpenError,
    DownloadError,
    HTTPStatusError,
    SecurityError,
    TaskCancelled,
    TransientError,
)
from telebot.resilience import (
    BREAKERS,
    DOWNLOAD_POLICY,
    ERRORS,
    AlreadyReported,
    BreakerRegistry,
    ErrorTracker,
    PartialProgress,
    RetryPolicy,
    call_with_retry,
    counts_against_health,
    guarded_call,
    parse_retry_after,
    retry_after_of,
)
from telebot.sources.http.hostwatch import HostWatch, NoteFn
from telebot.sources.http.netguard import GuardedAdapter, check_url
from telebot.sources.http.partfile import (
    Segment,
    Validators,
    finish_size,
    load_sidecar,
    open_part,
    plan_segments,
    segments_from,
    sidecar_link,
    verify_checksum,
    write_sidecar,
)
from telebot.sources.names import (
    filename_from_content_disposition,
    filename_from_url,
    sanitize_filename,
)
from telebot.units import format_bytes

__all__ = ["HttpOptions", "HttpSource", "ProbeResult"]

MiB = 1 << 20

# Defaults picked by `python bench/download.py --sweep` against nginx on loopback
# (2 shared cores, medians of 3, numbers in bench/README.md). Unthrottled, 2 to 8
# segments are within noise of each other (~1.4-1.5 GB/s vs ~1.0 GB/s for one
# stream) and 16 is slower (~1.05 GB/s: threads fight over 2 cores). When the
# server limits each connection (nginx limit_rate), throughput grows with the
# connection count, so 8 - the top of the flat region, and what aria2c -x8 uses -
# is the default: it wins the throttled case without losing the unthrottled one.
DEFAULT_SEGMENTS = 8
# Below 2 x 8 MiB a file takes a few ms on one stream; the extra connections
# cost more (TCP + TLS handshakes, server slots) than they gain.
MIN_SEGMENT_SIZE = 8 * MiB
# Largest single readinto; reads grow to it on fast links (see _next_read_size).
MAX_READ = 1 * MiB
# Smallest read: one read must finish quickly on a slow link so that progress
# and cancel checks between reads stay frequent.
MIN_READ = 64 * 1024
MAX_REDIRECTS = 10  # the limit
CONNECT_TIMEOUT = 10.0  # requests' docs: slightly above a multiple of 3 s (TCP SYN retransmit)
READ_TIMEOUT = 30.0  # a stalled body for this long is a transient failure -> resume
TICK = 0.1  # coordinator period: cancel check + progress callback (10 Hz)
SIDECAR_BYTES = 4 * MiB  # rewrite the sidecar after this much progress ...
SIDECAR_SECONDS = 5.0  # ... or this long after the last rewrite, whichever first
SIDECAR_MIN_SECONDS = 0.5  # but never more often than this (each rewrite fdatasyncs)
_HEAD_REFUSED = frozenset({400, 403, 405, 501})  # servers that refuse HEAD say one of these
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "telebot/1.0"
#: HOST_DOWN_TIMEOUT's default: how long a task waits for a host whose breaker is open.
HOST_DOWN_TIMEOUT = 600.0
#: Restarts from zero because the file changed on the server, before giving up: a server
#: whose validator differs on every request (e.g. load-balanced nodes) never settles.
MAX_CHANGED_RESTARTS = 3
NOTE_CHANGED = "the file changed on the server; restarted"
NOTE_NO_RESUME = "server does not support resume: restarting from zero"


@dataclass(frozen=True)
class HttpOptions:
    """What one download may do. Immutable; share freely between threads."""

    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    name: str | None = None
    max_size: int | None = None
    segments: int = DEFAULT_SEGMENTS
    min_segment_size: int = MIN_SEGMENT_SIZE
    allow_private: bool = False
    policy: RetryPolicy = DOWNLOAD_POLICY
    host_down_timeout: float = HOST_DOWN_TIMEOUT
    # Called before each write of n bytes; may block until the disk has room for them, and
    # raises TaskCancelled when the event is set meanwhile (engine/diskguard.py SpaceGate.wait).
    make_room: Callable[[int, threading.Event], None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProbeResult:
    """What the server said about a link before the body was fetched."""

    url: str  # final URL after redirects
    name: str  # sanitized file name
    size: int | None
    accepts_ranges: bool
    etag: str | None
    checksum: tuple[str, str] | None  # (hashlib name, lowercase hex digest)
    last_modified: str | None = None

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)


class _Job:
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
        self.restart: _Restart | None = None  # set when the download must start over
        self.watch = watch
        self.note = note
        self._lock = threading.Lock()

    @property
    def done(self) -> int:
        return sum(seg.done - seg.start for seg in self.segments)

    def fail(self, exc: BaseException) -> None:
        """Record the first real error and stop every other worker at once."""
        with self._lock:
            if self.error is None or isinstance(self.error, TaskCancelled):
                self.error = exc
        self.halt()

    def start_over(self, why: _Restart) -> None:
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


ProgressFn = Callable[[int, "int | None"], None]
SessionFactory = Callable[[GuardedAdapter], requests.Session]


@dataclass(frozen=True)
class _Run:
    """What every pass of one download() shares (the first, and one after a replan)."""

    url: str
    options: HttpOptions
    fd: int
    sidecar: Path
    name: str
    progress: ProgressFn
    cancel: threading.Event
    watch: HostWatch
    note: NoteFn


@contextlib.contextmanager
def _abort_on_cancel(cancel: threading.Event, adapter: GuardedAdapter) -> Iterator[None]:
    """While the body runs, a cancel aborts *adapter*'s sockets within one TICK.

    The probe runs in the caller's thread, so unlike the segment workers it has
    no supervisor; a stalled HEAD would otherwise hold a cancel for READ_TIMEOUT.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(TICK):
            if cancel.is_set():
                adapter.abort()
                return

    watcher = threading.Thread(target=watch, name="http-probe-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _default_session(adapter: GuardedAdapter) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment: the guard checks peers
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return session


class HttpSource:
    """Downloads direct HTTP(S) links. One instance serves every task (thread-safe)."""

    def __init__(self, *, breakers: BreakerRegistry = BREAKERS, errors: ErrorTracker = ERRORS,
                 session_factory: SessionFactory | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None) -> None:
        self._breakers = breakers
        self._errors = errors
        self._session_factory = session_factory or _default_session
        self._clock = clock
        self._sleep = sleep  # injected by tests so retries never really sleep

    # ----------------------------------------------------------------- probe

    def probe(self, url: str, options: HttpOptions, *, cancel: threading.Event,
              watch: HostWatch | None = None) -> ProbeResult:
        """Ask the server about *url* (HEAD, or a 1-byte ranged GET when HEAD is refused).

        With a *watch*, an open breaker is waited out (see :meth:`HostWatch.wait_open`);
        without, it raises CircuitOpenError.
        """
        adapter = GuardedAdapter(allow_private=options.allow_private)
        session = self._session_factory(adapter)
        try:
            with _abort_on_cancel(cancel, adapter):
                while True:
                    try:
                        probe: ProbeResult = self._guarded(
                            url, lambda: self._probe_once(session, url, options, cancel),
                            options, cancel, watch)
                    except CircuitOpenError as exc:
                        if watch is None:
                            raise
                        watch.wait_open(exc, cancel)
                        continue
                    if watch is not None:
                        watch.alive()
                    return probe
        finally:
            session.close()

    def _probe_once(self, session: requests.Session, url: str, options: HttpOptions,
                    cancel: threading.Event) -> ProbeResult:
        try:
            try:
                resp = self._open(session, "HEAD", url, options, {})
            except HTTPStatusError as exc:
                if exc.status not in _HEAD_REFUSED:
                    raise
                resp = self._open(session, "GET", url, options, {"Range": "bytes=0-0"})
        except Exception as exc:
            if cancel.is_set():  # our abort broke the socket: not the host's fault
                raise TaskCancelled("download cancelled") from exc
            raise
        with resp:
            return _probe_result(resp, options)

    # -------------------------------------------------------------- download

    def download(self, url: str, workdir: Path, options: HttpOptions, *,
                 progress: ProgressFn, cancel: threading.Event,
                 on_probe: Callable[[ProbeResult], None] | None = None,
                 on_note: NoteFn | None = None) -> Path:
        """Download *url* into *workdir* and return the finished file's path.

        Resumes from a sidecar left in *workdir* by an earlier (possibly killed)
        process. ``progress(done, total)`` and ``on_probe(probe)`` (name and
        size known, before the body is fetched) run in the calling thread;
        progress about 10 times a second. ``on_note(text)`` (any thread) shows
        a line in the task's status: waiting for a host, a restart from zero and
        why; ``on_note(None)`` clears a waiting note. Raises HTTPStatusError,
        DownloadError, SecurityError or TaskCancelled; never a
        requests/urllib3/OS error.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        note = on_note if on_note is not None else (lambda text: None)
        watch = HostWatch(options.host_down_timeout, clock=self._clock, sleep=self._sleep,
                          note=note)
        for restarts in range(MAX_CHANGED_RESTARTS + 1):
            try:
                return self._download_once(url, workdir, options, progress, cancel, on_probe,
                                           watch, note)
            except _FileChanged as exc:
                if restarts == MAX_CHANGED_RESTARTS:
                    raise DownloadError(f"the file keeps changing on {exc.host}; "
                                        f"gave up after {restarts} restarts") from exc
                note(NOTE_CHANGED)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _download_once(self, url: str, workdir: Path, options: HttpOptions,
                       progress: ProgressFn, cancel: threading.Event,
                       on_probe: Callable[[ProbeResult], None] | None, watch: HostWatch,
                       note: NoteFn) -> Path:
        probe = self.probe(url, options, cancel=cancel, watch=watch)
        if on_probe is not None:
            on_probe(probe)
        limit = options.max_size
        if limit is not None and probe.size is not None and probe.size > limit:
            raise DownloadError(f"{probe.name} is {format_bytes(probe.size)}, over the "
                                f"{format_bytes(limit)} limit")
        saved = load_sidecar(workdir, url, probe.size, probe.validators, probe.accepts_ranges)
        name = saved["name"] if saved else probe.name
        part = workdir / f"{name}.part"
        sidecar = workdir / f"{name}.part.state"
        segments = segments_from(saved) if saved else plan_segments(
            probe.size, probe.accepts_ranges, options.segments, options.min_segment_size)
        if saved is None and not probe.accepts_ranges and part.exists():
            note(NOTE_NO_RESUME)  # an earlier run's bytes, which this server cannot continue
        fd = open_part(part, probe.size, fresh=saved is None)
        run = _Run(url, options, fd, sidecar, name, progress, cancel, watch, note)
        try:
            try:
                self._run(run, probe, segments)
            except _RangesIgnored:
                sidecar.unlink(missing_ok=True)
                note(NOTE_NO_RESUME)
                probe = replace(probe, accepts_ranges=False)
                segments = [Segment(0, probe.size)]
                self._run(run, probe, segments)
            finish_size(fd, part, segments, probe.size)
        except _FileChanged:
            sidecar.unlink(missing_ok=True)  # its bytes belong to the old version
            part.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        if probe.checksum:
            verify_checksum(part, sidecar, probe.checksum, cancel)
        final = workdir / name
        sidecar.unlink(missing_ok=True)  # first: a part without sidecar restarts, never lies
        os.replace(part, final)
        return final

    def _run(self, run: _Run, probe: ProbeResult, segments: list[Segment]) -> None:
        options = run.options
        pending = [seg for seg in segments if not seg.complete]
        adapter = GuardedAdapter(allow_private=options.allow_private,
                                 pool_maxsize=max(1, len(pending)))
        job = _Job(probe, options, run.fd, segments, adapter, self._session_factory(adapter),
                   len(pending), run.watch, run.note)
        job.link = run.url
        meta = {"v": 1, "url": sidecar_link(run.url), "name": run.name, "size": probe.size,
                "etag": probe.etag, "modified": probe.last_modified}
        threads = [threading.Thread(target=self._worker, args=(job, seg), daemon=True,
                                    name=f"http-seg-{i}") for i, seg in enumerate(pending)]
        try:
            for thread in threads:
                thread.start()
            self._supervise(job, run.sidecar, meta, run.progress, run.cancel)
        finally:
            job.halt()
            for thread in threads:
                thread.join()
            job.session.close()
            if (probe.accepts_ranges and not isinstance(job.restart, _FileChanged)
                    and not all(seg.complete for seg in segments)):
                # for the next attempt
                write_sidecar(run.sidecar, meta, job.fd, job.segments, durable=True)
        run.progress(job.done, probe.size)
        if job.restart is not None and not run.cancel.is_set():
            raise job.restart
        if job.error is not None:
            error = _translate(job.error, job.host)
            if error is job.error:
                raise error
            raise error from job.error

    def _supervise(self, job: _Job, sidecar: Path, meta: dict[str, Any],
                   progress: ProgressFn, cancel: threading.Event) -> None:
        """Report progress, flush the sidecar, and turn cancel into a halt, until all end."""
        flushed_at, flushed_bytes = self._clock(), job.done
        while not job.finished.wait(TICK):
            if cancel.is_set():
                job.fail(TaskCancelled("download cancelled"))
            done, now = job.done, self._clock()
            progress(done, job.probe.size)
            since = now - flushed_at
            due = done - flushed_bytes >= SIDECAR_BYTES or (
                since >= SIDECAR_SECONDS and done != flushed_bytes)
            if job.probe.accepts_ranges and since >= SIDECAR_MIN_SECONDS and due:
                write_sidecar(sidecar, meta, job.fd, job.segments, durable=False)
                flushed_at, flushed_bytes = now, done
        if cancel.is_set():
            job.fail(TaskCancelled("download cancelled"))

    def _worker(self, job: _Job, seg: Segment) -> None:
        buffer = mmap.mmap(-1, MAX_READ)  # anonymous mmap: page-aligned, reused by every retry
        best = [seg.done]  # the furthest this segment got: only bytes past it are progress
        try:
            while True:
                try:
                    call_with_retry(lambda: self._attempt(job, seg, buffer, best),
                                    job.options.policy, cancel=job.stop, clock=self._clock,
                                    sleep=self._sleep)
                    return
                except CircuitOpenError as exc:  # the host is down: wait, then go on
                    job.watch.wait_open(exc, job.stop)
        except BaseException as exc:  # reported through job.error, re-raised by _run
            job.fail(exc)
        finally:
            job.worker_ended()
            # A traceback may still hold a memoryview slice of the buffer; then
            # close() refuses (BufferError) and the GC unmaps it later instead.
            with contextlib.suppress(BufferError):
                buffer.close()

    def _attempt(self, job: _Job, seg: Segment, buffer: mmap.mmap, best: list[int]) -> None:
        """One try at the rest of *seg*, from ``seg.done`` (so a retry resumes).

        Only the request up to the first body bytes runs through the host's breaker:
        a response that delivered bytes is the host's health, whatever happens next.
        A break after new bytes arrived raises PartialProgress (the count starts over).
        """
        if job.stop.is_set():
            raise TaskCancelled("download cancelled")
        job.watch.enter(seg, job.stop)
        try:
            resp = self._breakers.get(job.host).call(lambda: self._open_segment(job, seg, buffer))
            if resp is None:  # the download starts over; job.restart says why
                return
            job.watch.alive()
            with resp:
                _pump(job, seg, resp, buffer, self._clock)
        except Exception as exc:
            if job.stop.is_set():  # our own abort broke the socket: not the host's fault
                raise TaskCancelled("download cancelled") from exc
            # A sibling's outage is counted under its real kind (ConnectionError, ...).
            shown = exc.__cause__ if isinstance(exc, AlreadyReported) and exc.__cause__ else exc
            self._errors.record(type(shown).__name__, "http", str(exc))
            if seg.done > best[0] and job.options.policy.transient(exc):
                best[0] = seg.done
                raise PartialProgress(f"{exc} (after new bytes)") from exc
            raise
        finally:
            best[0] = max(best[0], seg.done)

    def _open_segment(self, job: _Job, seg: Segment,
                      buffer: mmap.mmap) -> requests.Response | None:
        """Send the request and take the first bytes; what the breaker judges the host by."""
        try:
            resp = self._open(job.session, "GET", job.probe.url, job.options,
                              _range_headers(job, seg), link=job.link)
            try:
                _check_range_reply(job, seg, resp)
                _pump(job, seg, resp, buffer, self._clock, reads=1)
            except BaseException:
                resp.close()
                raise
            return resp
        except _Restart as why:
            job.start_over(why)  # not the host's health, and not worth a retry
            return None
        except Exception as exc:
            if job.stop.is_set():
                raise TaskCancelled("download cancelled") from exc
            if (counts_against_health(exc) and job.options.policy.transient(exc)
                    and not job.watch.failed(seg)):
                # A sibling segment already reported this outage to the breaker.
                raise AlreadyReported(str(exc), retry_after=retry_after_of(exc)) from exc
            raise

    # ------------------------------------------------------------ a range only

    def read_range(self, url: str, options: HttpOptions, start: int, length: int, *,
                   cancel: threading.Event) -> tuple[bytes, int | None]:
        """At most *length* bytes of *url* from byte *start*, and the file's total size when
        the server tells it (``/mediainfo`` reads a file's head and tail this way).

        One ranged GET with everything a download has: the SSRF guard on every hop, redirects,
        retries and the host's breaker, abort on cancel. A server that ignores Range answers
        from byte 0: only *length* bytes of it are read, and for a *start* past 0 nothing is
        returned (those are not the bytes asked for).
        """
        adapter = GuardedAdapter(allow_private=options.allow_private)
        session = self._session_factory(adapter)
        wanted = {"Range": f"bytes={start}-{start + length - 1}"}

        def once() -> tuple[bytes, int | None]:
            try:
                resp = self._open(session, "GET", url, options, wanted)
                with resp:
                    if resp.status_code == 206:
                        total = _content_range_total(resp.headers.get("content-range"))
                    else:
                        total = _int_header(resp.headers.get("content-length"))
                        if start > 0:
                            return b"", total
                    return _read_at_most(resp, length), total
            except Exception as exc:
                if cancel.is_set():  # our abort broke the socket: not the host's fault
                    raise TaskCancelled("cancelled") from exc
                raise

        try:
            with _abort_on_cancel(cancel, adapter):
                result: tuple[bytes, int | None] = self._guarded(url, once, options, cancel)
                return result
        finally:
            session.close()

    # --------------------------------------------------------------- helpers

    def _guarded(self, url: str, fn: Callable[[], Any], options: HttpOptions,
                 cancel: threading.Event, watch: HostWatch | None = None) -> Any:
        host = urlsplit(url).hostname or "?"

        def on_retry(_attempt: int, exc: BaseException, _delay: float) -> None:
            if watch is not None and counts_against_health(exc):
                watch.down()  # the outage clock starts at the first failure, not at the open

        try:
            return guarded_call(host, fn, policy=options.policy, breakers=self._breakers,
                                tracker=self._errors, source="http", cancel=cancel,
                                clock=self._clock, sleep=self._sleep, on_retry=on_retry)
        except BaseException as exc:
            translated = _translate(exc, host)
            if translated is exc:
                raise
            raise translated from exc

    def _open(self, session: requests.Session, method: str, url: str, options: HttpOptions,
              headers: Mapping[str, str], *, link: str | None = None) -> requests.Response:
        """Send one request, following up to MAX_REDIRECTS redirects by hand.

        Every hop is checked by the SSRF guard; the user's headers and auth go
        only to the origin of the *link* they gave (default: *url*), like
        browsers and requests do.
        Returns a streamed 2xx response; raises HTTPStatusError for >= 400.
        """
        origin, seen, current = _origin(link or url), {url}, url
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(current, allow_private=options.allow_private)
            same = _origin(current) == origin
            resp = session.request(
                method, current, headers={**(options.headers if same else {}), **headers},
                auth=options.auth if same else None, stream=True, allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            if resp.status_code in _REDIRECTS and "location" in resp.headers:
                nxt = urljoin(current, resp.headers["location"])
                resp.close()
                if nxt in seen:
                    raise DownloadError(f"redirect loop at {urlsplit(nxt).hostname}")
                seen.add(nxt)
                current = nxt
                continue
            if resp.status_code >= 400:
                resp.close()
                raise HTTPStatusError(resp.status_code, urlsplit(current).hostname or "?",
                                      retry_after=parse_retry_after(resp.headers.get("retry-after")))
            return resp
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {urlsplit(url).hostname}")


# ------------------------------------------------------------------ probe parsing

def _probe_result(resp: requests.Response, options: HttpOptions) -> ProbeResult:
    headers = resp.headers
    if resp.status_code == 206:
        size = _content_range_total(headers.get("content-range"))
        ranges = True
    else:
        size = _int_header(headers.get("content-length"))
        if resp.request.method == "GET":  # asked for 1 byte, got everything: no ranges
            ranges = False
        else:
            ranges = "bytes" in headers.get("accept-ranges", "").lower()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        size = None if resp.status_code != 206 else size
    raw_name = (options.name
                or filename_from_content_disposition(headers.get("content-disposition"))
                or filename_from_url(resp.url))
    return ProbeResult(url=resp.url, name=sanitize_filename(raw_name or ""), size=size,
                       accepts_ranges=ranges and size is not None, etag=headers.get("etag"),
                       checksum=_checksum(headers, partial=resp.status_code == 206),
                       last_modified=headers.get("last-modified"))


def _int_header(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _content_range_total(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


_HASHES = {"sha-512": "sha512", "sha-256": "sha256", "sha": "sha1", "sha-1": "sha1", "md5": "md5"}


def _checksum(headers: Mapping[str, str], *, partial: bool) -> tuple[str, str] | None:
    """The whole file's digest from Repr-Digest/Digest (RFC 9530/3230), Content-MD5, X-Checksum-*.

    Content-MD5 and Content-Digest describe the *body*, so they are ignored on a
    206 (the probe's 1-byte range); the largest available hash wins.
    """
    candidates: list[tuple[str, str]] = []
    for header in ("repr-digest", "digest") + (() if partial else ("content-digest",)):
        for item in headers.get(header, "").split(","):
            algo, _, value = item.strip().partition("=")
            if algo.lower() in _HASHES and value:
                candidates.append((_HASHES[algo.lower()], _b64_hex(value.strip(":"))))
    if not partial and headers.get("content-md5"):  # RFC 1864: digest of *this* body
        candidates.append(("md5", _b64_hex(headers["content-md5"])))
    for algo in ("sha256", "sha1", "md5"):
        value = headers.get(f"x-checksum-{algo}", "").strip().lower()
        if re.fullmatch(r"[0-9a-f]+", value):
            candidates.append((algo, value))
    valid = [(algo, hexd) for algo, hexd in candidates
             if hexd and len(hexd) == hashlib.new(algo).digest_size * 2]
    order = ["sha512", "sha256", "sha1", "md5"]
    return min(valid, key=lambda c: order.index(c[0])) if valid else None


def _b64_hex(value: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


# --------------------------------------------------------------- body transfer

def _range_headers(job: _Job, seg: Segment) -> dict[str, str]:
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


def _check_range_reply(job: _Job, seg: Segment, resp: requests.Response) -> None:
    """Make sure the body starts where ``seg.done`` says; restart or fail otherwise."""
    if job.probe.validators.changed(resp.headers.get("etag"), resp.headers.get("last-modified")):
        raise _FileChanged(job.host)
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
            raise _FileChanged(job.host)
        return
    if seg.done == 0 and seg.start == 0 and len(job.segments) == 1:
        return  # a full 200 body is exactly what a single stream from 0 needs
    if len(job.segments) == 1 and seg.start == 0:
        seg.done = 0  # the server ignores ranges: start the single stream over
        job.note(NOTE_NO_RESUME)
        return
    raise _RangesIgnored(job.host)


class _Restart(DownloadError):
    """The download must start over; raised by segments, handled by download()."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} {self.what}")
        self.host = host

    what = "needs a restart"


class _RangesIgnored(_Restart):
    """A segment got the whole file (200): the server advertised ranges it does not serve."""

    what = "ignores byte ranges"


class _FileChanged(_Restart):
    """The server's validator or size differs from the first response's: a new file."""

    what = "changed the file during the download"


def _reader(resp: requests.Response) -> Any:
    """The object to ``readinto`` from: http.client's response when available.

    urllib3's ``HTTPResponse.readinto`` reads into a new bytes object and copies
    it; ``http.client.HTTPResponse.readinto`` fills our buffer straight from
    the socket (and still decodes chunked framing). We ask for
    ``Accept-Encoding: identity``, so urllib3 has no decoding to do here.
    """
    raw = resp.raw
    fp = getattr(raw, "_fp", None)
    return fp if isinstance(fp, http.client.HTTPResponse) else raw


def _pump(job: _Job, seg: Segment, resp: requests.Response, buffer: mmap.mmap,
          clock: Callable[[], float], *, reads: int | None = None) -> None:
    """Copy the body into the part file at ``seg.done`` until ``seg.end`` or EOF.

    With *reads*, stop after that many reads that got bytes (the rest follows in a
    later call on the same response).
    """
    reader, view, fd, want = _reader(resp), memoryview(buffer), job.fd, MIN_READ
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
            got = _read(reader, view[:size], job.host)
            if not got:
                break
            if make_room is not None and not _fits(fd, seg.done + got):
                make_room(got, job.stop)  # may pause here (STORAGE_THRESHOLD)
            _write_all(fd, view[:got], seg.done, job)
            seg.done += got
            if limit is not None and seg.done > limit:
                raise DownloadError(f"{job.probe.name} is over the {format_bytes(limit)} limit")
            want = _next_read_size(want, got, clock() - started)
    finally:
        view.release()
    if job.stop.is_set():
        raise TaskCancelled("download cancelled")
    if seg.end is not None and seg.done < seg.end:
        raise TransientError(f"{job.host} closed the connection early ({seg.done} of {seg.end})")


def _fits(fd: int, end: int) -> bool:
    """True when the write ends inside the file's preallocated length: those blocks are
    already ours, so the disk's free space does not shrink by writing them."""
    return end <= os.fstat(fd).st_size


def _read_at_most(resp: requests.Response, length: int) -> bytes:
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


def _read(reader: Any, view: memoryview, host: str) -> int:
    try:
        return int(reader.readinto(view))
    except (http.client.HTTPException, urllib3.exceptions.HTTPError, OSError) as exc:
        # A broken body is the network's fault: retry resumes at seg.done.
        raise TransientError(f"connection to {host} broke: {type(exc).__name__}") from exc


def _write_all(fd: int, view: memoryview, offset: int, job: _Job) -> None:
    try:
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
    except OSError as exc:
        # Stays an OSError (with its errno) so the breaker does not blame the
        # host for our disk; _translate turns it into the user's one line.
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or "write failed")
        raise OSError(exc.errno, f"{reason} while writing {job.probe.name}") from exc


def _next_read_size(want: int, got: int, seconds: float) -> int:
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


# --------------------------------------------------------------- error mapping

_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})


def _translate(exc: BaseException, host: str) -> BaseException:
    """Map anything a download can raise to telebot's types (one line each)."""
    if isinstance(exc, (TaskCancelled, SecurityError, CircuitOpenError, DownloadError)):
        return exc
    if isinstance(exc, TransientError):
        return DownloadError(str(exc))
    if isinstance(exc, requests.Timeout):
        return DownloadError(f"{host} did not answer in time")
    if isinstance(exc, requests.ConnectionError):
        return DownloadError(f"could not connect to {host}")
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS and exc.strerror:
        return DownloadError(exc.strerror)
    if isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError,
                        http.client.HTTPException, OSError)):
        return DownloadError(f"network error with {host}: {type(exc).__name__}")
    return exc
