"""One boxed ffmpeg run over one file, with progress and cancel, and the probe that plans it.

* :func:`probe` asks ffprobe (boxed, whitelisted: :mod:`telebot.fftools`) for a file's streams
  and duration: what each media stage needs to decide what to do with it.
* :func:`run_ffmpeg` runs ffmpeg with ``-progress pipe:1``: a reader thread keeps the latest
  ``out_time_us``, the calling thread turns it into a fraction of the probed duration every
  :data:`~telebot.childproc.POLL_INTERVAL` and watches the cancel event; a cancel stops ffmpeg
  (SIGTERM, SIGKILL after the grace), reaps it, and raises ``TaskCancelled`` - so the child is
  gone by the time the stage returns. ffmpeg dies with the bot (the box sets the parent-death
  signal), so a ``kill -9`` leaves no writer in the stage folder the rerun empties.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from telebot import fftools
from telebot.childproc import POLL_INTERVAL, ToolResult, ToolTimeout, stop_process
from telebot.errors import ProcessingError, TaskCancelled
from telebot.fftools import RefusedInput

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 60.0  # ffprobe reads headers only
_STDERR_KEEP = 64 * 1024  # the tail of ffmpeg's stderr kept for the error line


@dataclass(frozen=True)
class Stream:
    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str
    cover: bool = False  # an attached picture (an audio file's cover art)


@dataclass(frozen=True)
class MediaInfo:
    streams: tuple[Stream, ...]
    duration: float  # seconds; 0 when unknown

    def of(self, kind: str) -> list[Stream]:
        """The streams of ``kind``, cover pictures left out."""
        return [s for s in self.streams if s.kind == kind and not s.cover]

    @property
    def is_video(self) -> bool:
        return bool(self.of("video"))

    @property
    def is_audio(self) -> bool:
        """Audio without a real video stream (an audio file, with or without a cover)."""
        return bool(self.of("audio")) and not self.is_video


def probe(path: Path, cancel: threading.Event | None = None) -> MediaInfo | None:
    """The streams and duration of ``path``; None when ffprobe cannot read it (or refuses it:
    a playlist named like a video), logged."""
    argv = [
        "ffprobe", "-v", "error", "-print_format", "json", "-show_entries",
        "format=duration:stream=index,codec_type,codec_name:stream_disposition=attached_pic",
        *fftools.input_options(path), fftools.input_url(path),
    ]  # fmt: skip
    try:
        done = fftools.run(argv, reads=path, cancel=cancel, timeout=PROBE_TIMEOUT)
    except (RefusedInput, OSError, ToolTimeout) as exc:
        log.info("%s: not probed (%s)", path.name, exc)
        return None
    if done.returncode != 0:
        log.info("%s: ffprobe exited %d: %s", path.name, done.returncode, done.error_line())
        return None
    try:
        data = json.loads(done.stdout or b"{}")
        streams = tuple(
            Stream(
                index=int(s["index"]),
                kind=str(s.get("codec_type") or ""),
                codec=str(s.get("codec_name") or ""),
                cover=bool((s.get("disposition") or {}).get("attached_pic")),
            )
            for s in data.get("streams", ())
        )
        duration = float((data.get("format") or {}).get("duration") or 0.0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return MediaInfo(streams, max(0.0, duration)) if streams else None


def run_ffmpeg(
    args: Sequence[str],
    *,
    reads: Path,
    writes: Path,
    duration: float,
    cancel: threading.Event,
    on_fraction: Callable[[float], None],
    what: str,
) -> None:
    """Run ``ffmpeg <args>`` (which carry the input's whitelists and the output) in a box that
    reads ``reads`` and writes beneath ``writes``; ``on_fraction`` gets the share done (0..1,
    from ffmpeg's ``out_time_us`` against ``duration`` seconds) in the calling thread.

    Raises ``TaskCancelled`` on ``cancel`` (ffmpeg stopped and reaped first),
    :class:`RefusedInput` for an input the whitelists refused, and ProcessingError naming
    ``what`` with ffmpeg's last line (or the box limit) when it fails.
    """
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
            "-progress", "pipe:1", "-nostats", *args]  # fmt: skip
    try:
        proc = fftools.start(argv, reads=reads, writes=writes)
    except OSError as exc:
        raise ProcessingError(f"ffmpeg could not start for {what}: {exc}") from None
    reader = _Progress(proc)
    try:
        while True:
            try:
                code = proc.wait(POLL_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel.is_set():
                stop_process(proc)
                raise TaskCancelled("cancelled")
            if duration > 0 and reader.out_us is not None:
                on_fraction(min(1.0, reader.out_us / (duration * 1_000_000)))
    finally:
        if proc.poll() is None:
            stop_process(proc)
        reader.join()
    if code != 0:
        stderr = reader.stderr()
        refused = fftools.refusal(stderr.decode("utf-8", "replace"))
        if refused is not None:
            raise RefusedInput(refused)
        line = ToolResult(code, b"", stderr, fftools.box_for(reads, writes)).error_line()
        raise ProcessingError(f"ffmpeg failed on {what}: {line}")
    on_fraction(1.0)


class _Progress:
    """Reads ffmpeg's ``-progress`` lines (stdout) and drains stderr, each in a thread, so
    neither pipe can fill and stall ffmpeg."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.out_us: int | None = None
        self._tail = bytearray()
        self._threads = [
            threading.Thread(target=self._read_progress, args=(proc,), daemon=True,
                             name="ffmpeg-progress"),
            threading.Thread(target=self._read_stderr, args=(proc,), daemon=True,
                             name="ffmpeg-stderr"),
        ]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def _read_progress(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.partition(b"=")
            if key.strip() == b"out_time_us":
                try:
                    self.out_us = max(0, int(value.strip()))
                except ValueError:  # "N/A" before the first frame
                    continue

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for chunk in iter(lambda: proc.stderr.read(4096), b""):  # type: ignore[union-attr]
            self._tail += chunk
            del self._tail[:-_STDERR_KEEP]

    def stderr(self) -> bytes:
        return bytes(self._tail)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(5.0)
