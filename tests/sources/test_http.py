"""HttpSource against the fake origin: names, redirects, faults, resume, cancel, limits."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from telebot.errors import (
    CircuitOpenError,
    DownloadError,
    HTTPStatusError,
    SecurityError,
    TaskCancelled,
)
from telebot.resilience import ErrorTracker, RetryPolicy
from telebot.sources.http import downloader as http_mod
from telebot.sources.http import transfer
from telebot.sources.http.downloader import (
    NOTE_CHANGED,
    NOTE_NO_RESUME,
    HttpOptions,
    HttpSource,
    ProbeResult,
)
from telebot.sources.http.partfile import Validators, load_sidecar
from tests.fakes.origin import FakeOrigin, Resource
from tests.sources.conftest import SEGMENTED, SINGLE, Recorder, no_cancel

MB = 1_000_000


def fetch(source: HttpSource, url: str, workdir: Path, options: HttpOptions = SEGMENTED,
          progress: list[tuple[int, int | None]] | None = None) -> Path:
    seen = progress if progress is not None else []
    return source.download(url, workdir, options, progress=lambda d, t: seen.append((d, t)),
                           cancel=no_cancel())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gets(origin: FakeOrigin, path: str) -> list[str | None]:
    return [r.headers.get("Range") for r in origin.requests_for(path, "GET")]


# ------------------------------------------------------------------ happy paths

def test_segmented_download_is_intact_and_parallel(origin: FakeOrigin, source: HttpSource,
                                                   workdir: Path) -> None:
    res = origin.add("/big.bin", size=3 * MB + 7, seed=3)
    progress: list[tuple[int, int | None]] = []
    probes: list[ProbeResult] = []
    path = source.download(f"{origin.url}/big.bin", workdir, SEGMENTED,
                           progress=lambda d, t: progress.append((d, t)), cancel=no_cancel(),
                           on_probe=probes.append)
    assert [(p.name, p.size) for p in probes] == [("big.bin", res.size)]
    assert path == workdir / "big.bin" and sha(path) == res.sha256()
    assert sorted(p.name for p in workdir.iterdir()) == ["big.bin"]  # no .part / .state left
    assert len(gets(origin, "/big.bin")) == 4
    assert all(r is not None and r.startswith("bytes=") for r in gets(origin, "/big.bin"))
    assert progress[-1] == (res.size, res.size)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_small_file_uses_one_stream(origin: FakeOrigin, source: HttpSource,
                                    workdir: Path) -> None:
    res = origin.add("/small.txt", data=b"hello world\n")
    path = fetch(source, f"{origin.url}/small.txt", workdir, HttpOptions(allow_private=True))
    assert path.read_bytes() == res.bytes()
    assert len(gets(origin, "/small.txt")) == 1


def test_empty_file(origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    origin.add("/empty", data=b"")
    assert fetch(source, f"{origin.url}/empty", workdir).read_bytes() == b""


@pytest.mark.parametrize(
    ("disposition", "option_name", "expected"),
    [
        ("attachment; filename*=UTF-8''%E2%82%AC%20rates.bin; filename=x.bin", None, "€ rates.bin"),
        ('attachment; filename="plain name.zip"', None, "plain name.zip"),
        ('attachment; filename="../../../etc/cron.d/evil"', None, "evil"),
        ("attachment; filename=server.bin", "../mine.iso", "mine.iso"),
        (None, None, "from url.dat"),
    ],
)
def test_file_name_sources(origin: FakeOrigin, source: HttpSource, tmp_path: Path,
                           disposition: str | None, option_name: str | None,
                           expected: str) -> None:
    origin.add("/from url.dat", data=b"x" * 100, content_disposition=disposition)
    options = replace(SEGMENTED, name=option_name)
    path = fetch(source, f"{origin.url}/from%20url.dat", tmp_path / "w", options)
    assert path.name == expected and path.parent == tmp_path / "w"
    assert path.read_bytes() == b"x" * 100


def test_probe_reports_size_ranges_and_final_url(origin: FakeOrigin,
                                                 source: HttpSource) -> None:
    origin.add("/real.bin", size=1234, etag='"abc"')
    origin.redirect("/short", "/real.bin", status=301)
    probe = source.probe(f"{origin.url}/short", SEGMENTED, cancel=no_cancel())
    assert (probe.url, probe.name, probe.size) == (f"{origin.url}/real.bin", "real.bin", 1234)
    assert probe.accepts_ranges and probe.etag == '"abc"'


# -------------------------------------------------------------------- redirects

def test_redirect_chain_is_followed(origin: FakeOrigin, source: HttpSource,
                                    workdir: Path) -> None:
    res = origin.add("/final.bin", size=MB, seed=1)
    origin.redirect("/a", "/b", status=301)
    origin.redirect("/b", f"{origin.url}/c", status=307)
    origin.redirect("/c", "final.bin", status=302)
    path = fetch(source, f"{origin.url}/a", workdir)
    assert path.name == "final.bin" and sha(path) == res.sha256()


def test_ten_redirects_work_eleven_fail(origin: FakeOrigin, source: HttpSource,
                                        tmp_path: Path) -> None:
    origin.add("/end", data=b"done")
    for i in range(11):
        origin.redirect(f"/r{i}", f"/r{i + 1}" if i < 10 else "/end")
    assert fetch(source, f"{origin.url}/r1", tmp_path / "ok").read_bytes() == b"done"
    with pytest.raises(DownloadError, match="more than 10 redirects"):
        fetch(source, f"{origin.url}/r0", tmp_path / "bad")


def test_redirect_loop_is_a_clear_error(origin: FakeOrigin, source: HttpSource,
                                        workdir: Path) -> None:
    origin.redirect("/ping", "/pong")
    origin.redirect("/pong", "/ping")
    with pytest.raises(DownloadError, match="redirect loop"):
        fetch(source, f"{origin.url}/ping", workdir)
    assert len(origin.requests) == 2  # not retried: a loop will not fix itself


def test_headers_and_auth_reach_the_origin_but_not_another_host(
        origin: FakeOrigin, source: HttpSource, tmp_path: Path) -> None:
    port = origin.url.rsplit(":", 1)[1]
    origin.add("/f", data=b"data")
    origin.redirect("/away", f"http://localhost:{port}/f")
    options = replace(SEGMENTED, headers={"X-Token": "t1"}, auth=("u", "p"))
    fetch(source, f"{origin.url}/f", tmp_path / "a", options)
    first = origin.requests_for("/f", "GET")[-1].headers
    assert first.get("X-Token") == "t1"
    assert first.get("Authorization") == "Basic " + base64.b64encode(b"u:p").decode()
    fetch(source, f"{origin.url}/away", tmp_path / "b", options)
    hop = origin.requests_for("/f", "GET")[-1].headers
    assert hop.get("X-Token") is None and hop.get("Authorization") is None


def test_the_rewrite_hook_applies_to_every_hop_before_the_guard(
        origin: FakeOrigin, source: HttpSource, tmp_path: Path) -> None:
    """``HttpOptions.rewrite`` maps the link and each redirect target (a share redirecting to
    its content domain reaches the same stand-in origin); the SSRF guard checks the address
    it returns, not the one the server named."""
    res = origin.add("/cd/get/file.bin", size=MB, seed=9)
    origin.redirect("/s/key/file.bin", "https://content.invalid/cd/get/file.bin")

    def to_origin(url: str) -> str:
        return url.replace("https://content.invalid", origin.url).replace(
            "https://share.invalid", origin.url)

    options = replace(SEGMENTED, rewrite=to_origin)
    path = fetch(source, "https://share.invalid/s/key/file.bin", tmp_path / "a", options)
    assert sha(path) == res.sha256()
    assert [r.path for r in origin.requests][:2] == ["/s/key/file.bin", "/cd/get/file.bin"]
    # The guard sees the rewritten (loopback) address and refuses it without ALLOW_PRIVATE.
    guarded = replace(options, allow_private=False)
    with pytest.raises(SecurityError):
        fetch(source, "https://share.invalid/s/key/file.bin", tmp_path / "c", guarded)


# ------------------------------------------------------------- server behaviour

def test_server_refusing_head_is_probed_with_a_ranged_get(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    res = origin.add("/nohead.bin", size=2 * MB, seed=2)
    origin.fault("/nohead.bin", no_head=True)
    path = fetch(source, f"{origin.url}/nohead.bin", workdir)
    assert sha(path) == res.sha256()
    assert gets(origin, "/nohead.bin")[0] == "bytes=0-0"
    assert len(gets(origin, "/nohead.bin")) == 1 + 4  # probe + segments


def test_server_without_ranges_gets_one_stream(origin: FakeOrigin, source: HttpSource,
                                               workdir: Path) -> None:
    res = origin.add("/norange.bin", size=2 * MB, seed=4)
    origin.fault("/norange.bin", ignore_range=True, no_head=True)
    path = fetch(source, f"{origin.url}/norange.bin", workdir)
    assert sha(path) == res.sha256()
    assert gets(origin, "/norange.bin") == ["bytes=0-0", None]
    assert not (workdir / "norange.bin.part.state").exists()


def test_drop_mid_body_resumes_where_it_stopped(origin: FakeOrigin, source: HttpSource,
                                                workdir: Path) -> None:
    res = origin.add("/drop.bin", size=2 * MB, seed=5)
    origin.fault("/drop.bin", drop_after=700_000, times=2)  # HEAD takes one hit
    path = fetch(source, f"{origin.url}/drop.bin", workdir, SINGLE)
    assert sha(path) == res.sha256()
    assert gets(origin, "/drop.bin") == [f"bytes=0-{res.size - 1}",
                                        f"bytes=700000-{res.size - 1}"]


def test_drops_in_every_segment_resume_each_segment(origin: FakeOrigin, source: HttpSource,
                                                    workdir: Path) -> None:
    res = origin.add("/drops.bin", size=4 * MB, seed=6)
    origin.fault("/drops.bin", drop_after=300_000, times=5)
    path = fetch(source, f"{origin.url}/drops.bin", workdir)
    assert sha(path) == res.sha256()
    ranges = gets(origin, "/drops.bin")
    starts = [int(r.split("=")[1].split("-")[0]) for r in ranges if r]
    quarter = res.size // 4
    assert len(starts) > 4  # drops happened and were retried ...
    for i in range(4):  # ... but no segment was ever asked again from its start
        assert starts.count(i * quarter) == 1
    # Every retry resumed exactly where the drop left off: no byte sent twice.
    total_sent = sum(r.bytes_sent for r in origin.requests_for("/drops.bin", "GET"))
    assert total_sent == res.size


def test_cut_responses_are_progress_not_failure(origin: FakeOrigin, source: HttpSource,
                                                tmp_path: Path) -> None:
    """Half the responses cut mid-body: ten 64 MiB downloads in a row all finish intact.

    Each cut delivered bytes, so it resets the segment's retry count and is no breaker
    failure; resuming at the cut keeps the bytes served below twice the file size.
    """
    res = origin.add("/cut.bin", size=64 << 20, seed=21)
    origin.fault("/cut.bin", drop_after=1 << 20, every=2)  # every other response: 1 MiB, cut
    options = HttpOptions(allow_private=True)  # the defaults: 8 segments of 8 MiB
    failures: list[str] = []
    for run in range(10):
        before = origin.bytes_sent("/cut.bin")
        workdir = tmp_path / f"run{run}"
        try:
            path = fetch(source, f"{origin.url}/cut.bin", workdir, options)
        except (DownloadError, CircuitOpenError) as exc:
            failures.append(f"run {run}: {exc}")
            continue
        assert sha(path) == res.sha256()
        origin.wait_idle()
        assert origin.bytes_sent("/cut.bin") - before < 2 * res.size
        path.unlink()
    assert failures == []
    assert source._breakers.get("127.0.0.1").state == "closed"


def test_drop_without_range_support_restarts_from_zero(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    res = origin.add("/plain.bin", size=MB, seed=7)
    origin.fault("/plain.bin", ignore_range=True, drop_after=400_000, times=3)
    notes: list[str | None] = []
    path = source.download(f"{origin.url}/plain.bin", workdir, SINGLE,
                           progress=lambda d, t: None, cancel=no_cancel(), on_note=notes.append)
    assert sha(path) == res.sha256()
    statuses = [r.status for r in origin.requests_for("/plain.bin", "GET")]
    assert statuses[:2] == [200, 200]  # the retry got the whole file again and started over
    assert notes == [NOTE_NO_RESUME]  # and the status says so


def test_server_advertising_ranges_it_ignores_falls_back_to_one_stream(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    res = origin.add("/liar.bin", size=2 * MB, seed=7)
    origin.fault("/liar.bin", ignore_range=True)  # HEAD still says Accept-Ranges: bytes
    notes: list[str | None] = []
    path = source.download(f"{origin.url}/liar.bin", workdir, SEGMENTED,
                           progress=lambda d, t: None, cancel=no_cancel(), on_note=notes.append)
    assert sha(path) == res.sha256()
    assert notes == [NOTE_NO_RESUME]
    # One un-ranged GET: the single stream that replaced the segments. Not "the last GET": a
    # segment's request sent just before the fallback can reach the server's log after it.
    asked = gets(origin, "/liar.bin")
    assert asked.count(None) == 1 and len(asked) > 1
    assert source._breakers.get("127.0.0.1").state == "closed"


def test_content_length_lie_is_detected(origin: FakeOrigin, source: HttpSource,
                                        tmp_path: Path) -> None:
    res = origin.add("/lie.bin", size=MB, seed=8)
    origin.fault("/lie.bin", lie_length=res.size + 5000)
    with pytest.raises(DownloadError) as info:
        fetch(source, f"{origin.url}/lie.bin", tmp_path / "a", SINGLE)
    assert "127.0.0.1" in str(info.value)
    assert not (tmp_path / "a" / "lie.bin").exists()
    origin.fault("/lie.bin", lie_length=res.size - 5000)
    with pytest.raises(DownloadError, match=r"two sizes|early"):
        fetch(source, f"{origin.url}/lie.bin", tmp_path / "b")


def test_content_length_lie_without_ranges_fails_after_retries(
        origin: FakeOrigin, source: HttpSource, workdir: Path, sleeps: Recorder) -> None:
    res = origin.add("/lie2.bin", size=MB, seed=9)
    origin.fault("/lie2.bin", lie_length=res.size + 1, ignore_range=True)
    with pytest.raises(DownloadError, match="closed the connection early"):
        fetch(source, f"{origin.url}/lie2.bin", workdir,
              replace(SINGLE, policy=RetryPolicy(attempts=3)))
    # The first body was new bytes (progress: the count starts over); the 3 restarts from
    # zero that follow bring nothing new, so they fail: 1 + 2 waits, with the fake sleep.
    assert len(sleeps.sleeps) == 3
    assert not (workdir / "lie2.bin").exists()


def test_retry_after_on_503_and_429_is_honoured(origin: FakeOrigin, source: HttpSource,
                                                workdir: Path, sleeps: Recorder) -> None:
    res = origin.add("/busy.bin", size=MB, seed=10)
    origin.fault("/busy.bin", statuses=[503, 429], retry_after="7", times=2)
    path = fetch(source, f"{origin.url}/busy.bin", workdir)
    assert sha(path) == res.sha256()
    assert sleeps.sleeps == [7.0, 7.0]


@pytest.mark.parametrize("status", [404, 403, 416])
def test_client_errors_fail_at_once_with_the_status(origin: FakeOrigin, source: HttpSource,
                                                    workdir: Path, sleeps: Recorder,
                                                    status: int) -> None:
    origin.add("/gone", size=10)
    origin.fault("/gone", statuses=[status, status], times=2)
    with pytest.raises(HTTPStatusError) as info:
        fetch(source, f"{origin.url}/gone", workdir)
    assert info.value.status == status and str(info.value) == f"HTTP {status} from 127.0.0.1"
    assert sleeps.sleeps == []


def test_max_size_refuses_before_downloading(origin: FakeOrigin, source: HttpSource,
                                             workdir: Path) -> None:
    origin.add("/huge.bin", size=5 * MB)
    with pytest.raises(DownloadError, match=r"over the 1\.0 MiB limit"):
        fetch(source, f"{origin.url}/huge.bin", workdir, replace(SEGMENTED, max_size=1 << 20))
    assert origin.requests_for("/huge.bin", "GET") == []


def test_checksum_from_server_is_verified(origin: FakeOrigin, source: HttpSource,
                                          tmp_path: Path) -> None:
    res = origin.add("/sum.bin", size=MB, seed=11)
    good = base64.b64encode(bytes.fromhex(res.sha256())).decode()
    origin.add("/sum.bin", size=MB, seed=11, headers={"Digest": f"sha-256={good}"})
    assert sha(fetch(source, f"{origin.url}/sum.bin", tmp_path / "a")) == res.sha256()
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    origin.add("/sum.bin", size=MB, seed=11, headers={"Digest": f"sha-256={bad}"})
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(source, f"{origin.url}/sum.bin", tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []


# ------------------------------------------------------------------- local disk

def test_disk_full_at_preallocation(origin: FakeOrigin, source: HttpSource, workdir: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    origin.add("/f.bin", size=MB)

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(DownloadError, match="disk full"):
        fetch(source, f"{origin.url}/f.bin", workdir)
    assert origin.requests_for("/f.bin", "GET") == []


def test_disk_full_mid_download_is_not_retried_nor_blamed_on_host(
        origin: FakeOrigin, source: HttpSource, workdir: Path, sleeps: Recorder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    origin.add("/f.bin", size=2 * MB)
    real = os.pwrite

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if offset >= MB:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(http_mod.os, "pwrite", pwrite)
    with pytest.raises(DownloadError, match=r"disk full while writing f\.bin"):
        fetch(source, f"{origin.url}/f.bin", workdir)
    assert sleeps.sleeps == []
    assert source._breakers.get("127.0.0.1").state == "closed"


# ------------------------------------------------------------------ splice path

def _splices(monkeypatch: pytest.MonkeyPatch,
             fail_at: int | None = None) -> list[int | None]:
    """Record every os.splice (its destination offset; None when into the pipe); with
    *fail_at*, a splice into the file that would write past that offset fails with ENOSPC.

    (Past, not from: one splice may move up to a whole pipe, so the call that crosses
    *fail_at* may start below it.)"""
    real = os.splice
    calls: list[int | None] = []

    def splice(src: int, dst: int, count: int, offset_src: int | None = None,
               offset_dst: int | None = None, flags: int = 0) -> int:
        calls.append(offset_dst)
        if fail_at is not None and offset_dst is not None and offset_dst + count > fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, count, offset_src, offset_dst, flags)

    monkeypatch.setattr(transfer.os, "splice", splice)
    return calls


def test_plain_http_body_is_spliced_into_the_file(
        origin: FakeOrigin, source: HttpSource, workdir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    res = origin.add("/s.bin", size=3 * MB + 5, seed=9)
    calls = _splices(monkeypatch)
    path = fetch(source, f"{origin.url}/s.bin", workdir)
    assert sha(path) == res.sha256()
    # The kernel moved the bodies: into the file at offsets in every segment's range.
    into_file = [offset for offset in calls if offset is not None]
    assert len(into_file) >= 4 and max(into_file) >= 2 * MB


def test_body_without_length_is_read_not_spliced(
        origin: FakeOrigin, source: HttpSource, workdir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    res = origin.add("/nolen.bin", size=MB, seed=4)
    origin.fault("/nolen.bin", no_length=True)
    calls = _splices(monkeypatch)
    path = fetch(source, f"{origin.url}/nolen.bin", workdir, SINGLE)
    assert sha(path) == res.sha256()
    assert calls == []  # only a length-framed body may go to the file unparsed


def test_size_unknown_at_probe_then_a_length_framed_body_is_read_whole(
        origin: FakeOrigin, source: HttpSource, workdir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    res = origin.add("/late.bin", size=MB + 3, seed=6)
    origin.fault("/late.bin", no_length=True, times=1)  # the HEAD tells no size, the GET does
    calls = _splices(monkeypatch)
    path = fetch(source, f"{origin.url}/late.bin", workdir, SINGLE)
    assert sha(path) == res.sha256()
    assert calls == []  # an open-ended segment is read to EOF, not spliced


def test_disk_full_while_splicing_is_not_retried_nor_blamed_on_host(
        origin: FakeOrigin, source: HttpSource, workdir: Path, sleeps: Recorder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    origin.add("/f.bin", size=2 * MB)
    calls = _splices(monkeypatch, fail_at=MB)
    with pytest.raises(DownloadError, match=r"disk full while writing f\.bin"):
        fetch(source, f"{origin.url}/f.bin", workdir, SINGLE)
    # Only a splice into the file can fail here: the body went the kernel's way.
    assert any(offset is not None for offset in calls)
    assert sleeps.sleeps == []
    assert source._breakers.get("127.0.0.1").state == "closed"


# ----------------------------------------------------------------------- cancel

def _seg_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("http-seg-")]


@pytest.mark.parametrize("fault", [{"throttle": 200_000}, {"stall": 30.0}])
def test_cancel_stops_within_a_second(origin: FakeOrigin, source: HttpSource, workdir: Path,
                                      fault: dict[str, float]) -> None:
    origin.add("/slow.bin", size=4 * MB)
    origin.fault("/slow.bin", **fault)  # type: ignore[arg-type]
    cancel, started = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            source.download(f"{origin.url}/slow.bin", workdir, SEGMENTED,
                            progress=lambda d, t: started.set(), cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    assert started.wait(10)
    began = time.monotonic()
    cancel.set()
    runner.join(5)
    assert time.monotonic() - began < 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], TaskCancelled)
    assert _seg_threads() == []
    assert source._breakers.get("127.0.0.1").state == "closed"


def test_cancel_while_waiting_to_retry_the_probe(origin: FakeOrigin, source: HttpSource,
                                           workdir: Path) -> None:
    origin.add("/stuck", size=MB)
    origin.fault("/stuck", statuses=[503], retry_after="3600")  # then: retry wait of an hour
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    real = HttpSource(breakers=source._breakers, errors=ErrorTracker())  # real, cancellable wait
    began = time.monotonic()
    with pytest.raises(TaskCancelled):
        fetch_with(real, f"{origin.url}/stuck", workdir, cancel)
    assert time.monotonic() - began < 1.5
    timer.join()


def test_cancel_while_head_gets_no_answer(source: HttpSource, workdir: Path) -> None:
    import socket

    with socket.socket() as server:  # accepts, never answers: a HEAD that hangs
        server.bind(("127.0.0.1", 0))
        server.listen()
        cancel = threading.Event()
        timer = threading.Timer(0.2, cancel.set)
        timer.start()
        began = time.monotonic()
        with pytest.raises(TaskCancelled):
            fetch_with(source, f"http://127.0.0.1:{server.getsockname()[1]}/x", workdir, cancel)
        assert time.monotonic() - began < 1.5
        timer.join()
    assert source._breakers.get("127.0.0.1").state == "closed"


def fetch_with(source: HttpSource, url: str, workdir: Path, cancel: threading.Event) -> Path:
    return source.download(url, workdir, SEGMENTED, progress=lambda d, t: None, cancel=cancel)


# ----------------------------------------------------------------------- resume

def _claimed(state: Path) -> int:
    saved = json.loads(state.read_text())
    return sum(done - start for start, _end, done in saved["segments"])


def test_resume_from_sidecar_in_a_new_source(origin: FakeOrigin, sleeps: Recorder,
                                             workdir: Path) -> None:
    from telebot.resilience import BreakerRegistry, ErrorTracker

    res = origin.add("/resume.bin", size=4 * MB, seed=12)
    origin.fault("/resume.bin", throttle=1_500_000)
    first = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker(), sleep=sleeps)
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= MB:
            cancel.set()

    with pytest.raises(TaskCancelled):
        first.download(f"{origin.url}/resume.bin", workdir, SEGMENTED, progress=progress,
                       cancel=cancel)
    state = workdir / "resume.bin.part.state"
    claimed = _claimed(state)
    assert claimed >= MB
    origin.clear_fault("/resume.bin")
    before = len(origin.requests)
    second = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker(), sleep=sleeps)
    path = fetch(second, f"{origin.url}/resume.bin", workdir)
    assert sha(path) == res.sha256()
    refetched = sum(r.bytes_sent for r in origin.requests[before:] if r.method == "GET")
    assert refetched == res.size - claimed


def test_an_older_sidecar_loses_the_key_as_soon_as_it_is_read(tmp_path: Path) -> None:
    """Not at the next flush, which a download that ends first never makes."""
    link = "http://127.0.0.1:9/f.bin?id=3&api_key=S3CRETKEY"
    (tmp_path / "f.bin.part").write_bytes(bytes(100))
    state = tmp_path / "f.bin.part.state"
    state.write_text(json.dumps({"v": 1, "url": link, "name": "f.bin", "size": 100,
                                 "etag": '"e1"', "modified": None, "segments": [[0, 100, 40]],
                                 "boot": None}))
    saved = load_sidecar(tmp_path, link, 100, Validators('"e1"', None), True)
    assert saved is not None and saved["segments"] == [[0, 100, 40]]
    on_disk = json.loads(state.read_text())
    assert on_disk["url"] == "http://127.0.0.1:9/f.bin?id=3&api_key=***"
    assert on_disk["segments"] == [[0, 100, 40]] and on_disk["boot"] is None


def test_the_sidecar_names_the_link_without_its_key(origin: FakeOrigin, source: HttpSource,
                                                    workdir: Path) -> None:
    """Issue 21: the sidecar is plain JSON on disk; the key stays in the sealed journal. An
    older sidecar that names the link whole still resumes, and is rewritten without it."""
    res = origin.add("/key.bin", size=2 * MB, seed=21)
    origin.fault("/key.bin", throttle=2_000_000)
    link = f"{origin.url}/key.bin?id=3&api_key=S3CRETKEY&sig=S1G"
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(link, workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > 0 else None, cancel=cancel)
    state = workdir / "key.bin.part.state"
    saved = json.loads(state.read_text())
    assert saved["url"] == f"{origin.url}/key.bin?id=3&api_key=***&sig=***"
    state.write_text(json.dumps({**saved, "url": link}))  # as an older telebot wrote it
    claimed = _claimed(state)
    before = len(origin.requests)
    # The rest (up to ~60 KB a segment) takes seconds: the cancel comes first, and it flushes.
    origin.fault("/key.bin", throttle=20_000)
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(link, workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > claimed else None,
                        cancel=cancel)
    assert "S3CRETKEY" not in state.read_text() and _claimed(state) > claimed
    origin.clear_fault("/key.bin")
    assert sha(fetch(source, link, workdir)) == res.sha256()
    resumed = [r for r in origin.requests[before:] if r.method == "GET"]
    assert all("api_key=S3CRETKEY" in r.query for r in resumed)  # fetched with the real link


def test_stale_sidecar_for_a_changed_file_starts_over(origin: FakeOrigin, source: HttpSource,
                                                     workdir: Path) -> None:
    origin.add("/v.bin", size=2 * MB, seed=1)
    origin.fault("/v.bin", throttle=2_000_000)
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(f"{origin.url}/v.bin", workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > 0 else None, cancel=cancel)
    assert (workdir / "v.bin.part.state").exists()
    new = origin.add("/v.bin", size=2 * MB, seed=2)  # new content, new ETag
    assert sha(fetch(source, f"{origin.url}/v.bin", workdir)) == new.sha256()


_CHILD = """
import sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sources.http.downloader import HttpOptions, HttpSource, ProbeResult
HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker()).download(
    sys.argv[1], Path(sys.argv[2]),
    HttpOptions(allow_private=True, segments=2, min_segment_size=1 << 20),
    progress=lambda d, t: None, cancel=threading.Event())
"""


def test_kill_9_mid_download_then_resume_refetches_only_the_rest(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    import signal
    import subprocess
    import sys

    res = origin.add("/k.bin", size=16 * MB, seed=13)
    origin.fault("/k.bin", throttle=2_000_000)
    root = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen([sys.executable, "-c", _CHILD, f"{origin.url}/k.bin",
                              str(workdir), root])
    state, tick = workdir / "k.bin.part.state", threading.Event()
    try:
        deadline = time.monotonic() + 20
        while not (state.exists() and _claimed(state) > 0):
            assert child.poll() is None and time.monotonic() < deadline
            tick.wait(0.02)  # waiting for the child's first sidecar, not for time to pass
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    claimed = _claimed(state)
    assert 0 < claimed < res.size
    origin.clear_fault("/k.bin")
    before = len(origin.requests)
    path = fetch(source, f"{origin.url}/k.bin", workdir)
    assert sha(path) == res.sha256()
    refetched = sum(r.bytes_sent for r in origin.requests[before:] if r.method == "GET")
    assert refetched == res.size - claimed  # exactly what the sidecar did not claim
    assert sorted(p.name for p in workdir.iterdir()) == ["k.bin"]


def test_sidecar_not_made_durable_is_distrusted_after_a_reboot(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    res = origin.add("/b.bin", size=2 * MB, seed=14)
    origin.fault("/b.bin", throttle=2_000_000)
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(f"{origin.url}/b.bin", workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > 0 else None, cancel=cancel)
    state = workdir / "b.bin.part.state"
    saved = json.loads(state.read_text())
    assert saved["boot"] is None and _claimed(state) > 0  # a stop writes a durable sidecar
    saved["boot"] = "some-earlier-boot"  # as if written periodically before a power loss
    state.write_text(json.dumps(saved))
    origin.clear_fault("/b.bin")
    before = len(origin.requests)
    assert sha(fetch(source, f"{origin.url}/b.bin", workdir)) == res.sha256()
    refetched = sum(r.bytes_sent for r in origin.requests[before:] if r.method == "GET")
    assert refetched == res.size


# ------------------------------------------------------- a file replaced on the server

@pytest.mark.parametrize("etag", [None, ""], ids=["etag", "last-modified-only"])
def test_file_replaced_mid_download_restarts_never_splices(
        origin: FakeOrigin, source: HttpSource, workdir: Path, etag: str | None) -> None:
    origin.add("/r.bin", size=2 * MB, seed=1, etag=etag, last_modified=1_700_000_000)
    # Slow, and every response cut: the segments reconnect after the file is replaced.
    origin.fault("/r.bin", throttle=1_000_000, drop_after=200_000)
    new: list[Resource] = []

    def progress(done: int, total: int | None) -> None:
        if done and not new:  # the first bytes are in: replace the file (same size)
            new.append(origin.add("/r.bin", size=2 * MB, seed=2, etag=etag,
                                  last_modified=1_700_000_100))

    notes: list[str | None] = []
    path = source.download(f"{origin.url}/r.bin", workdir, SEGMENTED, progress=progress,
                           cancel=no_cancel(), on_note=notes.append)
    assert sha(path) == new[0].sha256()
    assert NOTE_CHANGED in notes
    if_range = {r.headers.get("If-Range") for r in origin.requests_for("/r.bin", "GET")}
    assert ('"1-1e8480"' if etag is None else "Tue, 14 Nov 2023 22:13:20 GMT") in if_range


def test_validator_in_sidecar_stops_a_resume_across_versions(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    origin.add("/s.bin", size=2 * MB, seed=1, etag="", last_modified=1_700_000_000)
    origin.fault("/s.bin", throttle=2_000_000)
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(f"{origin.url}/s.bin", workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > 0 else None, cancel=cancel)
    assert json.loads((workdir / "s.bin.part.state").read_text())["modified"] == (
        "Tue, 14 Nov 2023 22:13:20 GMT")
    # Same size, no ETag, a new Last-Modified: only the date tells the versions apart.
    new = origin.add("/s.bin", size=2 * MB, seed=2, etag="", last_modified=1_700_000_100)
    origin.clear_fault("/s.bin")
    before = len(origin.requests)
    assert sha(fetch(source, f"{origin.url}/s.bin", workdir)) == new.sha256()
    refetched = sum(r.bytes_sent for r in origin.requests[before:] if r.method == "GET")
    assert refetched == new.size


def test_a_file_that_changes_on_every_request_gives_up(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    origin.add("/c.bin", size=2 * MB, seed=0)
    origin.fault("/c.bin", throttle=2_000_000, drop_after=100_000)
    seeds = iter(range(1, 1000))

    def progress(done: int, total: int | None) -> None:
        if done:
            origin.add("/c.bin", size=2 * MB, seed=next(seeds))

    with pytest.raises(DownloadError, match=r"the file keeps changing on 127\.0\.0\.1"):
        source.download(f"{origin.url}/c.bin", workdir, SEGMENTED, progress=progress,
                        cancel=no_cancel())


def test_resume_after_a_stop_is_precise_without_range_support(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    res = origin.add("/nr.bin", size=2 * MB, seed=5)
    origin.fault("/nr.bin", ignore_range=True, no_head=True, throttle=2_000_000)
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(f"{origin.url}/nr.bin", workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > 0 else None, cancel=cancel)
    assert (workdir / "nr.bin.part").exists() and not (workdir / "nr.bin.part.state").exists()
    origin.fault("/nr.bin", ignore_range=True, no_head=True)
    before = len(origin.requests)
    notes: list[str | None] = []
    path = source.download(f"{origin.url}/nr.bin", workdir, SEGMENTED,
                           progress=lambda d, t: None, cancel=no_cancel(), on_note=notes.append)
    assert sha(path) == res.sha256()
    assert notes == [NOTE_NO_RESUME]  # the status says why all of it is fetched again
    refetched = sum(r.bytes_sent for r in origin.requests[before:] if r.method == "GET")
    assert refetched >= res.size


def test_a_sidecar_written_before_validators_were_saved_still_resumes(
        origin: FakeOrigin, source: HttpSource, workdir: Path) -> None:
    res = origin.add("/o.bin", size=2 * MB, seed=8)
    origin.fault("/o.bin", throttle=2_000_000)
    cancel = threading.Event()
    with pytest.raises(TaskCancelled):
        source.download(f"{origin.url}/o.bin", workdir, SEGMENTED,
                        progress=lambda d, t: cancel.set() if d > 0 else None, cancel=cancel)
    state = workdir / "o.bin.part.state"
    saved = json.loads(state.read_text())
    del saved["modified"]  # as an older telebot wrote it
    state.write_text(json.dumps(saved))
    claimed = _claimed(state)
    origin.clear_fault("/o.bin")
    before = len(origin.requests)
    assert sha(fetch(source, f"{origin.url}/o.bin", workdir)) == res.sha256()
    refetched = sum(r.bytes_sent for r in origin.requests[before:] if r.method == "GET")
    assert refetched == res.size - claimed  # no work lost to the upgrade
