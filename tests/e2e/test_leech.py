"""/leech end to end: uploads through the fake Bot API, cloud (multipart) and local (file://)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import OWNER, BotProcess, bot_env
from tests.e2e.helpers import gid_of, text_of, wait_text
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.origin import FakeOrigin

MB = 1_000_000
CLOUD_LIMIT = 50 * MB


@pytest.fixture
def local_api(tmp_path: Path) -> Iterator[FakeBotAPI]:
    with FakeBotAPI(local_mode=True, workdir=tmp_path / "localapi") as api:
        yield api


def uploads(api: FakeBotAPI, since: int, method: str = "sendDocument") -> list[Call]:
    return [c for c in api.calls_of(method) if c.index >= since and c.status == 200]


def joined_sha(calls: list[Call], field: str = "document") -> str:
    digest = hashlib.sha256()
    for call in calls:
        path = call.files[field].path
        assert path is not None
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def leech(api: FakeBotAPI, text: str, **kwargs: Any) -> dict[str, Any]:
    return api.push_message(f"/leech {text}", chat_id=OWNER, user_id=OWNER, **kwargs)


def test_cloud_120mb_arrives_as_three_parts(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    res = origin.add("/movie.mkv", size=120 * MB, seed=1)
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/movie.mkv")
    done = wait_text(bot_api, r"✅", since=since, timeout=180)
    parts = uploads(bot_api, since)
    assert [c.files["document"].filename for c in parts] == [
        "movie.mkv.001",
        "movie.mkv.002",
        "movie.mkv.003",
    ]
    assert all(c.files["document"].size <= CLOUD_LIMIT for c in parts)
    assert joined_sha(parts) == res.sha256()
    assert "Sent 3 files" in text_of(done)
    assert "part 2/3" in str(parts[1].params.get("caption"))


def test_local_mode_sends_80mb_by_path(
    local_api: FakeBotAPI, origin: FakeOrigin, tmp_path: Path
) -> None:
    res = origin.add("/big.iso", size=80 * MB, seed=2)
    bot = BotProcess(local_api, tmp_path, bot_env(local_api, BOT_API_LOCAL="true")).start()
    try:
        since = local_api.mark()
        leech(local_api, f"{origin.url}/big.iso")
        wait_text(local_api, r"✅", since=since, timeout=120)
        [call] = uploads(local_api, since)
        assert str(call.params["document"]).startswith("file:///")
        assert call.files["document"].sha256 == res.sha256()
    finally:
        bot.stop_quietly()


def test_split_size_flag(bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any) -> None:
    make_bot()
    res = origin.add("/data.bin", size=25 * MB, seed=3)
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/data.bin -sp 10mb")
    wait_text(bot_api, r"✅", since=since, timeout=120)
    parts = uploads(bot_api, since)
    assert [c.files["document"].size for c in parts] == [10 * MB, 10 * MB, 5 * MB]
    assert joined_sha(parts) == res.sha256()
    leech(bot_api, f"{origin.url}/data.bin -sp 60mb")
    wait_text(bot_api, r"-sp is over", since=since)


def test_media_and_document_modes(bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any) -> None:
    make_bot()
    origin.add("/clip.mp4", size=300_000, seed=4)
    origin.add("/song.mp3", size=200_000, seed=5)
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/clip.mp4 -med")
    wait_text(bot_api, r"✅.*clip", since=since, timeout=60)
    assert len(uploads(bot_api, since, "sendVideo")) == 1
    mark = bot_api.mark()
    leech(bot_api, f"{origin.url}/clip.mp4 -doc")
    wait_text(bot_api, r"✅.*clip", since=mark, timeout=60)
    assert len(uploads(bot_api, mark, "sendDocument")) == 1
    # Telegram refusing the media form falls back to a document.
    bot_api.fail_next("sendAudio", status=400, description="Bad Request: wrong file type")
    mark = bot_api.mark()
    leech(bot_api, f"{origin.url}/song.mp3 -med")
    wait_text(bot_api, r"✅.*song", since=mark, timeout=60)
    assert [c.status for c in bot_api.calls_of("sendAudio") if c.index >= mark] == [400]
    assert len(uploads(bot_api, mark, "sendDocument")) == 1


def test_429_waits_and_sends_once(bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any) -> None:
    make_bot()
    res = origin.add("/a.bin", size=2 * MB, seed=6)
    bot_api.fail_next(
        "sendDocument", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/a.bin")
    wait_text(bot_api, r"✅", since=since, timeout=60)
    calls = [c for c in bot_api.calls_of("sendDocument") if c.index >= since]
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9  # waited retry_after
    assert calls[1].files["document"].sha256 == res.sha256()


def test_timeout_after_the_server_stored_the_part_sends_no_duplicate(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot(UPLOAD_TIMEOUT="1")
    origin.add("/slowack.bin", size=1 * MB, seed=7)
    bot_api.stall_next("sendDocument", 4, then_respond=True)
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/slowack.bin")
    done = wait_text(bot_api, r"✅", since=since, timeout=60)
    assert "did not confirm" in text_of(done)
    assert len([c for c in bot_api.calls_of("sendDocument") if c.index >= since]) == 1


def test_413_is_a_clear_error_not_a_loop(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    origin.add("/x.bin", size=1 * MB, seed=8)
    bot_api.fail_next("sendDocument", status=413, description="Request Entity Too Large")
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/x.bin")
    failed = wait_text(bot_api, r"❌", since=since, timeout=60)
    assert "too large" in text_of(failed).lower()
    assert len([c for c in bot_api.calls_of("sendDocument") if c.index >= since]) == 1


def test_reply_to_a_telegram_file_cloud(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot()
    data = bytes(range(256)) * 8000  # ~2 MB
    doc = bot_api.add_file(data, file_name="report.pdf")
    source = bot_api.push_message(
        "here", chat_id=OWNER, user_id=OWNER, document=doc, entities=False
    )
    since = bot_api.mark()
    leech(bot_api, "", reply_to=source)
    wait_text(bot_api, r"✅.*report\.pdf", since=since, timeout=60)
    [sent] = uploads(bot_api, since)
    assert sent.files["document"].sha256 == hashlib.sha256(data).hexdigest()
    big = bot_api.add_file(b"\0" * (21 * MB), file_name="big.bin")
    big_msg = bot_api.push_message(
        "big", chat_id=OWNER, user_id=OWNER, document=big, entities=False
    )
    bot_api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=big_msg)
    refused = wait_text(bot_api, r"❌", since=since, timeout=30)
    assert "20 MB" in text_of(refused) and "local Bot API" in text_of(refused)


def test_reply_to_a_telegram_file_local(local_api: FakeBotAPI, tmp_path: Path) -> None:
    source_file = tmp_path / "server" / "video.mp4"
    source_file.parent.mkdir()
    source_file.write_bytes(b"v" * (25 * MB))
    bot = BotProcess(local_api, tmp_path, bot_env(local_api, BOT_API_LOCAL="true")).start()
    try:
        doc = local_api.add_file(source_file, file_name="video.mp4")
        msg = local_api.push_message(
            "vid", chat_id=OWNER, user_id=OWNER, document=doc, entities=False
        )
        since = local_api.mark()
        local_api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=msg)
        wait_text(local_api, r"✅.*video\.mp4", since=since, timeout=60)
        saved = tmp_path / "mirror" / "video.mp4"
        assert saved.stat().st_size == 25 * MB
        assert source_file.exists()  # copied, never moved out of the server's folder
    finally:
        bot.stop_quietly()


def test_cancel_during_upload(bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any) -> None:
    make_bot()
    origin.add("/c.bin", size=30 * MB, seed=9)
    bot_api.stall_next("sendDocument", 30, then_respond=True)
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/c.bin -sp 10mb")
    gid = gid_of(bot_api, chat_id=OWNER, since=since)
    bot_api.wait_for("sendDocument", since=since, timeout=60)
    bot_api.push_message(f"/cancel {gid}", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"🚫", since=since, timeout=10)
    assert len([c for c in bot_api.calls_of("sendDocument") if c.index >= since]) == 1


def test_rss_stays_flat_while_uploading_1gb(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    origin.add("/huge.bin", size=1000 * MB, seed=10)
    process = psutil.Process(bot.proc.pid)
    baseline = process.memory_info().rss
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/huge.bin")
    peak = baseline
    finished = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not finished.wait(0.05):
            try:
                peak = max(peak, process.memory_info().rss)
            except psutil.Error:
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        wait_text(bot_api, r"✅", since=since, timeout=300)
    finally:
        finished.set()
        watcher.join(5)
    assert len(uploads(bot_api, since)) == 20
    # Upload progress shows in the status message, like downloads.
    wait_text(
        bot_api, r"Uploading · Telegram.*\d+\.\d%", since=since, method="editMessageText", timeout=5
    )
    # Generous bound: a leak of the file (1 GB) or of one part (50 MB) would show.
    assert peak - baseline < 40 * MB, f"RSS grew by {(peak - baseline) / MB:.0f} MB"


def test_leech_to_another_chat_links_the_parts(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    origin.add("/two.bin", size=3 * MB, seed=11)
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/two.bin -up -100999 -sp 2mb")
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    parts = uploads(bot_api, since)
    assert [c.params["chat_id"] for c in parts] == [-100999, -100999]
    for call in parts:
        assert f"https://t.me/c/999/{call.result['message_id']}" in text_of(done)
    assert "chat -100999" in text_of(done)
    bot_api.fail_next("getChat", status=400, description="Bad Request: chat not found")
    mark = bot_api.mark()
    leech(bot_api, f"{origin.url}/two.bin -up -100888")
    refused = wait_text(bot_api, r"cannot post in chat -100888", since=mark, timeout=15)
    assert refused.params.get("chat_id") == OWNER  # told to the requester, not the target
    assert not uploads(bot_api, mark)


def test_kill_9_during_upload_resumes_without_duplicates_or_refetch(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    res = origin.add("/three.bin", size=6 * MB, seed=12)
    bot = make_bot()
    bot_api.stall_next("sendDocument", 60, then_respond=True)  # part 1 is stored, never confirmed
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/three.bin -sp 2mb")
    bot_api.wait_for("sendDocument", since=since, timeout=60)
    bot.kill9()
    fetched = sum(r.bytes_sent for r in origin.requests if r.method == "GET")
    bot.start()
    wait_text(bot_api, r"♻️ Resuming", since=since, timeout=30)
    done = wait_text(bot_api, r"✅", since=since, timeout=60)
    names = [
        c.files["document"].filename for c in bot_api.calls_of("sendDocument") if c.index >= since
    ]
    assert names == ["three.bin.001", "three.bin.002", "three.bin.003"]  # none twice
    assert "three.bin.001" in text_of(done) and "check that it arrived" in text_of(done)
    assert sum(r.bytes_sent for r in origin.requests if r.method == "GET") == fetched
    stored = [c for c in bot_api.calls_of("sendDocument") if c.index >= since]
    assert joined_sha(stored) == res.sha256()
