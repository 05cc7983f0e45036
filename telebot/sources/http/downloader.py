"""HTTP(S) source: probe a direct link, then download it resumably, in parallel segments.

The parts, by concern: :mod:`~telebot.sources.http.options` (what a download may do),
:mod:`~telebot.sources.http.probe` (what the server says first),
:mod:`~telebot.sources.http.request` (one request: redirects, SSRF guard, abort),
:mod:`~telebot.sources.http.transfer` (the data path: splice, or ``readinto`` + ``pwrite``),
:mod:`~telebot.sources.http.errors` (restarts and error mapping); this module drives them.

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

import contextlib
import mmap
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from telebot.errors import (
    CircuitOpenError,
    DownloadError,
    HTTPStatusError,
    TaskCancelled,
)
from telebot.resilience import (
    BREAKERS,
    ERRORS,
    AlreadyReported,
    BreakerRegistry,
    ErrorTracker,
    PartialProgress,
    call_with_retry,
    counts_against_health,
    guarded_call,
    retry_after_of,
)
from telebot.sources.http.errors import FileChanged, RangesIgnored, Restart, translate
from telebot.sources.http.hostwatch import HostWatch, NoteFn
from telebot.sources.http.netguard import GuardedAdapter
from telebot.sources.http.options import (
    DEFAULT_SEGMENTS,
    HOST_DOWN_TIMEOUT,
    MIN_SEGMENT_SIZE,
    HttpOptions,
    MiB,
)
from telebot.sources.http.partfile import (
    Segment,
    finish_size,
    load_sidecar,
    open_part,
    plan_segments,
    segments_from,
    sidecar_link,
    verify_checksum,
    write_sidecar,
)
from telebot.sources.http.probe import (
    HEAD_REFUSED,
    ProbeResult,
    content_range_total,
    int_header,
    probe_result,
)
from telebot.sources.http.request import TICK, abort_on_cancel, default_session, open_response
from telebot.sources.http.transfer import (
    MAX_READ,
    NOTE_NO_RESUME,
    Job,
    check_range_reply,
    pump,
    range_headers,
    read_at_most,
    splice_pump,
    splice_socket,
)
from telebot.units import format_bytes

__all__ = [
    "DEFAULT_SEGMENTS",
    "HOST_DOWN_TIMEOUT",
    "MIN_SEGMENT_SIZE",
    "NOTE_CHANGED",
    "NOTE_NO_RESUME",
    "HttpOptions",
    "HttpSource",
    "ProbeResult",
]

SIDECAR_BYTES = 4 * MiB  # rewrite the sidecar after this much progress ...
SIDECAR_SECONDS = 5.0  # ... or this long after the last rewrite, whichever first
SIDECAR_MIN_SECONDS = 0.5  # but never more often than this (each rewrite fdatasyncs)
#: Restarts from zero because the file changed on the server, before giving up: a server
#: whose validator differs on every request (e.g. load-balanced nodes) never settles.
MAX_CHANGED_RESTARTS = 3
NOTE_CHANGED = "the file changed on the server; restarted"


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


class HttpSource:
    """Downloads direct HTTP(S) links. One instance serves every task (thread-safe)."""

    def __init__(self, *, breakers: BreakerRegistry = BREAKERS, errors: ErrorTracker = ERRORS,
                 session_factory: SessionFactory | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None) -> None:
        self._breakers = breakers
        self._errors = errors
        self._session_factory = session_factory or default_session
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
            with abort_on_cancel(cancel, adapter):
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
                resp = open_response(session, "HEAD", url, options, {})
            except HTTPStatusError as exc:
                if exc.status not in HEAD_REFUSED:
                    raise
                resp = open_response(session, "GET", url, options, {"Range": "bytes=0-0"})
        except Exception as exc:
            if cancel.is_set():  # our abort broke the socket: not the host's fault
                raise TaskCancelled("download cancelled") from exc
            raise
        with resp:
            return probe_result(resp, options)

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
            except FileChanged as exc:
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
        saved = load_sidecar(workdir, options.resume_key or url, probe.size, probe.validators,
                             probe.accepts_ranges)
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
            except RangesIgnored:
                sidecar.unlink(missing_ok=True)
                note(NOTE_NO_RESUME)
                probe = replace(probe, accepts_ranges=False)
                segments = [Segment(0, probe.size)]
                self._run(run, probe, segments)
            finish_size(fd, part, segments, probe.size)
        except FileChanged:
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
        job = Job(probe, options, run.fd, segments, adapter, self._session_factory(adapter),
                   len(pending), run.watch, run.note)
        job.link = run.url
        meta = {"v": 1, "url": sidecar_link(options.resume_key or run.url), "name": run.name,
                "size": probe.size, "etag": probe.etag, "modified": probe.last_modified}
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
            if (probe.accepts_ranges and not isinstance(job.restart, FileChanged)
                    and not all(seg.complete for seg in segments)):
                # for the next attempt
                write_sidecar(run.sidecar, meta, job.fd, job.segments, durable=True)
        run.progress(job.done, probe.size)
        if job.restart is not None and not run.cancel.is_set():
            raise job.restart
        if job.error is not None:
            error = translate(job.error, job.host)
            if error is job.error:
                raise error
            raise error from job.error

    def _supervise(self, job: Job, sidecar: Path, meta: dict[str, Any],
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

    def _worker(self, job: Job, seg: Segment) -> None:
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

    def _attempt(self, job: Job, seg: Segment, buffer: mmap.mmap, best: list[int]) -> None:
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
                sock = splice_socket(resp, seg)
                if sock is None:
                    pump(job, seg, resp, buffer, self._clock)
                else:
                    splice_pump(job, seg, resp, sock)
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

    def _open_segment(self, job: Job, seg: Segment,
                      buffer: mmap.mmap) -> requests.Response | None:
        """Send the request and take the first bytes; what the breaker judges the host by."""
        try:
            resp = open_response(job.session, "GET", job.probe.url, job.options,
                              range_headers(job, seg), link=job.link)
            try:
                check_range_reply(job, seg, resp)
                pump(job, seg, resp, buffer, self._clock, reads=1)
            except BaseException:
                resp.close()
                raise
            return resp
        except Restart as why:
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
                resp = open_response(session, "GET", url, options, wanted)
                with resp:
                    if resp.status_code == 206:
                        total = content_range_total(resp.headers.get("content-range"))
                    else:
                        total = int_header(resp.headers.get("content-length"))
                        if start > 0:
                            return b"", total
                    return read_at_most(resp, length), total
            except Exception as exc:
                if cancel.is_set():  # our abort broke the socket: not the host's fault
                    raise TaskCancelled("cancelled") from exc
                raise

        try:
            with abort_on_cancel(cancel, adapter):
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
            translated = translate(exc, host)
            if translated is exc:
                raise
            raise translated from exc
