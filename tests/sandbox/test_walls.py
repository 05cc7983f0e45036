"""The sandbox's walls, tried with the real tools (telebot/sandbox, childproc's ``box=``).

Each test sets up what an attacker's file would make a tool do — write outside its folder,
read another task's folder, connect out, eat memory — and checks that the kernel refused it.
The tools are asked to do it directly (7-Zip's ``-spf`` full paths, ffmpeg's hls demuxer) so the
in-code checks are out of the way and only the box stands between.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot import sandbox
from telebot.childproc import run_tool
from telebot.sandbox import Box

pytestmark = pytest.mark.skipif(
    not sandbox.status().on, reason=f"Landlock is not available here: {sandbox.status().reason}"
)

SEVEN = shutil.which("7zz") or shutil.which("7z") or "7zz"


@pytest.fixture
def tasks(tmp_path: Path) -> tuple[Path, Path]:
    """Two task folders side by side, as in DOWNLOAD_DIR: ours and another user's."""
    ours, theirs = tmp_path / "0123456789", tmp_path / "abcdef0123"
    for folder in (ours, theirs):
        (folder / ".stage-1-extract").mkdir(parents=True)
    (theirs / "private.txt").write_text("another user's file\n")
    return ours, theirs


def test_a_boxed_tool_runs_and_writes_in_its_folder(tasks: tuple[Path, Path]) -> None:
    ours, _ = tasks
    (ours / "in.txt").write_text("hello\n" * 1000)
    out = ours / ".stage-1-extract"
    done = run_tool([SEVEN, "a", "-bd", "--", str(out / "a.7z"), str(ours / "in.txt")],
                    box=sandbox.for_stage(ours / "in.txt", out))
    assert done.returncode == 0, done.stderr
    listed = run_tool([SEVEN, "l", "--", str(out / "a.7z")], box=sandbox.for_stage(out, out))
    assert b"in.txt" in listed.stdout


def test_7zip_cannot_write_outside_its_folder(tasks: tuple[Path, Path], tmp_path: Path) -> None:
    """An entry stored with an absolute path, extracted with -spf (full paths allowed): 7-Zip
    itself would write it there; the box refuses."""
    ours, theirs = tasks
    victim = theirs / "planted.pth"
    source = tmp_path / "src" / "planted.pth"
    source.parent.mkdir()
    source.write_text("import os\n")
    archive = ours / "evil.7z"
    made = subprocess.run([SEVEN, "a", "-spf", "-bd", str(archive), str(source)],
                          capture_output=True, check=False)
    assert made.returncode == 0, made.stderr
    source.unlink()
    out = ours / ".stage-1-extract"
    # Without the box 7-Zip writes to the stored absolute path: prove the attack is real.
    free = subprocess.run([SEVEN, "x", "-spf", "-y", "-bd", str(archive), f"-o{out}"],
                          capture_output=True, check=False)
    assert free.returncode == 0 and source.exists(), free.stderr
    source.unlink()
    # The archive names the other task's folder: rebuild it with that path.
    victim.parent.mkdir(exist_ok=True)
    victim.write_text("x")
    subprocess.run([SEVEN, "a", "-spf", "-bd", str(ours / "evil2.7z"), str(victim)],
                   capture_output=True, check=True)
    victim.unlink()
    boxed = run_tool([SEVEN, "x", "-spf", "-y", "-bd", "--", str(ours / "evil2.7z")],
                     box=sandbox.for_stage(ours / "evil2.7z", out))
    assert boxed.returncode != 0
    assert not victim.exists()
    assert sorted(p.name for p in theirs.iterdir()) == [".stage-1-extract", "private.txt"]


def test_7zip_cannot_read_another_tasks_folder(tasks: tuple[Path, Path]) -> None:
    ours, theirs = tasks
    out = ours / ".stage-1-extract"
    boxed = run_tool([SEVEN, "a", "-bd", "--", str(out / "stolen.7z"), str(theirs / "private.txt")],
                     box=sandbox.for_stage(ours, out))
    assert boxed.returncode != 0
    if (out / "stolen.7z").exists():  # 7-Zip may leave an empty archive: it must not hold it
        listed = run_tool([SEVEN, "l", "--", str(out / "stolen.7z")],
                          box=sandbox.for_stage(out, out))
        assert b"private.txt" not in listed.stdout


def _video(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
         "-c:v", "mpeg2video", "-f", "mpegts", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def test_ffmpeg_playlist_cannot_read_another_tasks_folder(tasks: tuple[Path, Path]) -> None:
    """An HLS playlist whose segment is the other task's video: with the hls demuxer allowed on
    purpose, only the box keeps ffprobe from describing it."""
    ours, theirs = tasks
    _video(theirs / "private.ts")
    playlist = ours / "clip.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
        f"file://{theirs / 'private.ts'}\n#EXT-X-ENDLIST\n"
    )
    argv = ["ffprobe", "-v", "error", "-protocol_whitelist", "file", "-show_streams",
            "-of", "json", str(playlist)]
    free = run_tool(argv)
    assert b"mpeg2video" in free.stdout  # the attack works without the box
    boxed = run_tool(argv, box=sandbox.for_stage(playlist, ours / ".stage-1-extract"))
    assert b"mpeg2video" not in boxed.stdout


def test_ffmpeg_cannot_write_outside_its_folder(tasks: tuple[Path, Path]) -> None:
    ours, theirs = tasks
    src = _video(ours / "in.ts")
    boxed = run_tool(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy",
                      str(theirs / "dropped.ts")],
                     box=sandbox.for_stage(src, ours / ".stage-1-extract"))
    assert boxed.returncode != 0
    assert not (theirs / "dropped.ts").exists()


class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Counter]]]:
    handler = type("Counter", (_Counter,), {"hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.ts", handler
    finally:
        server.shutdown()


def test_a_boxed_tool_has_no_network(
    tasks: tuple[Path, Path], http_server: tuple[str, type[_Counter]]
) -> None:
    url, counter = http_server
    ours, _ = tasks
    free = run_tool(["ffprobe", "-v", "error", url], timeout=20)
    assert counter.hits >= 1, free.stderr  # it does connect without the box
    counter.hits = 0
    boxed = run_tool(["ffprobe", "-v", "error", url], timeout=20,
                     box=sandbox.for_stage(ours, ours / ".stage-1-extract"))
    assert boxed.returncode != 0
    assert counter.hits == 0


def test_memory_limit_kills_the_tool_and_is_named(tasks: tuple[Path, Path]) -> None:
    ours, _ = tasks
    box = Box(writable=(ours,), memory=256 << 20)
    done = run_tool([sys.executable, "-c", "b = bytearray(512 << 20)"], box=box)
    assert done.returncode != 0
    assert "memory limit" in done.error_line() and "256 MiB" in done.error_line()


def test_file_size_limit_kills_the_tool_and_is_named(tasks: tuple[Path, Path]) -> None:
    ours, _ = tasks
    out = ours / ".stage-1-extract"
    box = Box(writable=(out,), file_size=1 << 20)
    done = run_tool(["dd", "if=/dev/zero", f"of={out / 'big'}", "bs=64k", "count=64"], box=box)
    assert done.returncode != 0
    assert "file size limit" in done.error_line()
    assert (out / "big").stat().st_size <= 1 << 20


def test_the_bots_environment_and_proc_stay_out_of_reach(tasks: tuple[Path, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_TOKEN in the bot's environment (docker --env-file) is neither inherited nor
    readable through /proc/<bot pid>/environ."""
    ours, _ = tasks
    monkeypatch.setenv("BOT_TOKEN", "123:very-secret")
    code = (
        "import os, sys\n"
        "print('env', 'BOT_TOKEN' in os.environ)\n"
        "try:\n"
        f"    print('proc', b'very-secret' in open('/proc/{os.getpid()}/environ', 'rb').read())\n"
        "except OSError as e:\n"
        "    print('proc', 'denied', e.errno)\n"
    )
    done = run_tool([sys.executable, "-c", code], box=Box(writable=(ours,)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "env False"
    assert lines[1].startswith("proc denied")


def test_a_missing_tool_is_an_oserror_as_without_the_box(tasks: tuple[Path, Path]) -> None:
    ours, _ = tasks
    with pytest.raises(FileNotFoundError):
        run_tool(["no-such-tool-here"], box=Box(writable=(ours,)))
