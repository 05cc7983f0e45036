"""/ytdl stopped hard: ``kill -9`` mid-download resumes from yt-dlp's ``.part``; /cancel stops.

The media is a real mp4 made by ffmpeg (lossless x264, a few MiB so the origin's ~1 MiB/s
throttle keeps the download running for a few seconds), served by the loopback origin and
fetched by the real bot through the real yt-dlp. The moments are reached by polling the disk
and the origin's request log with a timeout, never by sleeping.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import polling
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, gid_of, sha256_file, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin, RequestLog

MiB = 1 << 20
THROTTLE = MiB  # bytes/s from the origin: the brief's "a few MiB at ~1 MiB/s"
SECONDS = 8  # lossless 640x360 testsrc2 is ~0.5 MB/s of video: ~4 MB in all
KEPT = MiB  # bytes on disk before the kill: past yt-dlp's first write, well before the end


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real mp4 of a few MiB (``-qp 0``: lossless, so it is big without being long)."""
    path = tmp_path_factory.mktemp("bigmedia") / "movie.mp4"
    seconds = str(SECONDS)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-c:a", "aac", "-b:a", "32k",
         "-shortest", "-movflags", "+faststart", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    assert path.stat().st_size > 3 * MiB  # else the throttle would not hold it mid-download
    return path


@pytest.fixture
def site(origin: FakeOrigin, movie: Path) -> FakeOrigin:
    origin.add("/movie.mp4", data=movie.read_bytes(), content_type="video/mp4")
    origin.fault("/movie.mp4", throttle=THROTTLE)
    return origin


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    polling.wait_until(condition, timeout)


def part_bytes(folder: Path) -> int:
    """Bytes in yt-dlp's ``.part`` files under the bot's download folder."""
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*.part") if p.is_file())


def range_start(request: RequestLog) -> int | None:
    value = request.range
    if not value or not value.startswith("bytes="):
        return None
    return int(value[6:].split("-")[0] or 0)


def menus(api: FakeBotAPI, since: int) -> list[Any]:
    return [
        c for c in api.calls_of("sendMessage")
        if c.index >= since and "Choose a quality" in text_of(c)
    ]  # fmt: skip


def choose(api: FakeBotAPI, label: str) -> None:
    """Press the menu's ``label`` button as the owner."""
    api.wait_for("sendMessage", lambda c: "Choose a quality" in text_of(c), timeout=60)
    [menu] = [m for m in api.chat_messages(OWNER).values() if "Choose a quality" in m["text"]]
    data = [
        b["callback_data"] for row in menu["reply_markup"]["inline_keyboard"] for b in row
        if b["text"].startswith(label)
    ]  # fmt: skip
    assert data, menu["reply_markup"]
    api.push_callback(data[0], message=menu, user_id=OWNER)


def test_kill9_mid_download_resumes_the_part_with_the_chosen_quality(
    bot_api: FakeBotAPI, site: FakeOrigin, movie: Path, make_bot: Any
) -> None:
    # A lost choice would show the menu again; a short timeout makes that fail fast.
    bot = make_bot(YTDL_SELECT_TIMEOUT="20")
    bot_api.push_message(f"/ytdl {site.url}/movie.mp4", chat_id=OWNER, user_id=OWNER)
    choose(bot_api, "Best")  # the menu's choice must survive the kill, not only -q's
    wait_until(lambda: part_bytes(bot.download_dir) > KEPT)
    bot.kill9()
    kept = part_bytes(bot.download_dir)
    assert KEPT < kept < movie.stat().st_size, "killed mid-download"
    first_run = len(site.requests)

    since = bot_api.mark()
    bot.start()
    wait_text(bot_api, r"Resuming", chat_id=OWNER, since=since, timeout=60)
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    assert not menus(bot_api, since), "the restarted task asked for the quality again"
    [saved] = files_in(bot.mirror_dir)
    assert sha256_file(saved) == sha256_file(movie) and saved.name in text_of(done)
    # Resumed, not restarted: the media was asked for from past the kept bytes, and the
    # second run was sent less than the whole file (the extractor's first look reads a bit).
    site.wait_idle()
    again = [r for r in site.requests[first_run:] if r.path == "/movie.mp4" and r.method == "GET"]
    starts = [s for s in map(range_start, again) if s]
    assert starts and max(starts) >= kept // 2, [r.range for r in again]
    assert sum(r.bytes_sent for r in again) < movie.stat().st_size
    assert not list(bot.download_dir.rglob("*.part"))


def test_cancel_stops_a_running_ytdl_and_says_so(
    bot_api: FakeBotAPI, site: FakeOrigin, movie: Path, make_bot: Any
) -> None:
    bot = make_bot()
    since = bot_api.mark()
    bot_api.push_message(f"/ytdl {site.url}/movie.mp4 -q b", chat_id=OWNER, user_id=OWNER)
    gid = gid_of(bot_api, chat_id=OWNER, since=since, timeout=60)
    wait_until(lambda: part_bytes(bot.download_dir) > 0)
    running = [r for r in site.requests_for("/movie.mp4", "GET") if not r.done]
    assert running
    bot_api.push_message(f"/cancel {gid}", chat_id=OWNER, user_id=OWNER)
    # The origin sees the connection go once yt-dlp stopped reading, before the throttled
    # file was all sent. How soon is a timing, measured by ``bench/ytdl.py`` (goal ≤ 1 s):
    # under a parallel test run the bot's turn to handle the update alone took 2 s.
    for request in running:
        request.wait(timeout=15)
    wait_text(bot_api, r"🚫", chat_id=OWNER, since=since, timeout=15)
    assert all(r.bytes_sent < movie.stat().st_size for r in running)
    assert files_in(bot.mirror_dir) == []
    wait_until(lambda: not (bot.download_dir / gid).exists(), timeout=15)
