"""HttpSource against a real nginx on loopback: restarts and files replaced under it.

Real time here (nginx cannot be given a fake clock); the breaker gets a 1 s cool-down so
that a test that opens it still ends in seconds. The 4 s outage is the issue's scenario.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from telebot.resilience import BreakerConfig, BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import NOTE_CHANGED, HttpOptions, HttpSource
from tests.sources.conftest import Nginx

MiB = 1 << 20
SIZE = 16 * MiB
RATE = 1 * MiB  # per connection: 8 segments of 2 MiB take ~2 s, so a stop lands mid-body
OPTIONS = HttpOptions(allow_private=True, segments=8, min_segment_size=SIZE // 8)


def _prepare(path: Path, seed: bytes, mtime: int) -> tuple[Path, str]:
    """A file of SIZE pseudo-random bytes written beside ``path`` (not yet served under its
    name); the file and its sha256."""
    block = hashlib.shake_256(seed).digest(MiB)
    tmp = path.with_name(path.name + f".{seed.decode()}")
    tmp.write_bytes(block * (SIZE // MiB))
    os.utime(tmp, (mtime, mtime))
    return tmp, hashlib.sha256(block * (SIZE // MiB)).hexdigest()


def _write(path: Path, seed: bytes, mtime: int) -> str:
    """A file of SIZE pseudo-random bytes; returns its sha256. Written aside, then renamed."""
    tmp, sha = _prepare(path, seed, mtime)
    os.replace(tmp, path)  # the served name switches to the new file at once
    return sha


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source() -> HttpSource:
    return HttpSource(breakers=BreakerRegistry(BreakerConfig(cool_down=1.0)),
                      errors=ErrorTracker())


def _download_in_background(source: HttpSource, url: str, workdir: Path,
                            notes: list[str | None]) -> tuple[threading.Thread, list[object],
                                                               threading.Event]:
    outcome: list[object] = []
    halfway = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if total and done >= total // 4:
            halfway.set()

    def run() -> None:
        try:
            outcome.append(source.download(url, workdir, OPTIONS, progress=progress,
                                           cancel=threading.Event(), on_note=notes.append))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome, halfway


def test_nginx_stopped_for_4_s_mid_download_then_it_continues(
        nginx_factory: Callable[..., Nginx], tmp_path: Path) -> None:
    server = nginx_factory(rate=RATE)
    digest = _write(server.root / "f.bin", b"one", 1_700_000_000)
    source, notes = _source(), []
    thread, outcome, halfway = _download_in_background(
        source, f"{server.url}/f.bin", tmp_path / "task", notes)
    assert halfway.wait(30)
    server.stop()  # every segment's connection is cut at once, and new ones are refused
    threading.Event().wait(4.0)  # the outage itself: the scenario, not a wait for a result
    server.start()
    thread.join(60)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Path), outcome
    assert _sha(outcome[0]) == digest
    assert source._breakers.get("127.0.0.1").state == "closed"


def test_nginx_file_replaced_mid_download_restarts_never_splices(
        nginx_factory: Callable[..., Nginx], tmp_path: Path) -> None:
    for etag in (True, False):  # ETag, then Last-Modified as the only validator
        server = nginx_factory(rate=RATE, etag=etag)
        _write(server.root / "f.bin", b"old", 1_700_000_000)
        # Written before the download starts: at halfway only the rename and the stop remain,
        # so they land mid-body even when a loaded machine writes 16 MiB slowly (it once took
        # longer than the rest of the download, which then ended with the old file whole).
        replacement, new = _prepare(server.root / "f.bin", b"new", 1_700_000_100)
        source, notes = _source(), []
        thread, outcome, halfway = _download_in_background(
            source, f"{server.url}/f.bin", tmp_path / f"task-{etag}", notes)
        assert halfway.wait(30)
        os.replace(replacement, server.root / "f.bin")  # same size, new date
        server.stop()  # cut the running responses: the segments must ask again
        assert thread.is_alive(), "the download ended before the file was replaced"
        server.start()
        thread.join(60)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], Path), outcome
        assert _sha(outcome[0]) == new, f"spliced (etag {etag})"
        assert NOTE_CHANGED in notes
        server.stop()
