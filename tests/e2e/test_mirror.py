"""/mirror end to end: the real bot process, the fake Bot API and a faulty loopback origin."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telebot.resilience.policies import DOWNLOAD_POLICY
from tests import polling
from tests.conftest import OWNER, USER
from tests.e2e.helpers import (
    files_in,
    gid_of,
    sha256_file,
    text_of,
    wait_chat_text,
    wait_exists,
    wait_text,
)
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

MiB = 1024 * 1024
STRANGER = 99  # neither owner nor authorized


def mirror(
    api: FakeBotAPI,
    link: str,
    *,
    chat_id: int = OWNER,
    user_id: int = OWNER,
    chat_type: str = "private",
) -> dict[str, Any]:
    return api.push_message(
        f"/mirror {link}", chat_id=chat_id, user_id=user_id, chat_type=chat_type
    )


def test_mirror_with_progress_and_completion(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    res = origin.add("/files/video.bin", size=6 * MiB, seed=1)
    origin.fault("/files/video.bin", throttle=4 * MiB)  # ~1.5 s: progress becomes visible
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/files/video.bin")
    status = wait_text(bot_api, r"Tasks", chat_id=OWNER, since=since)
    assert status.params.get("reply_markup"), "status message has buttons"
    wait_text(bot_api, r"Downloading · HTTP.*\d+\.\d%", since=since, method="editMessageText")
    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since)
    assert "video.bin" in text_of(done) and "Saved to" in text_of(done)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "video.bin" and sha256_file(saved) == res.sha256()
    # The status message goes away with the last task, and the task's folder is gone.
    bot_api.wait_for(
        "deleteMessage",
        lambda c: c.params.get("message_id") == status.result["message_id"],
        since=since,
        timeout=30,
    )
    assert files_in(bot.download_dir) == []


def test_content_disposition_redirects_and_name_clash(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    res = origin.add(
        "/dl",
        size=300_000,
        seed=2,
        content_disposition="attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
    )
    origin.redirect("/short", "/hop")
    origin.redirect("/hop", "/dl", status=301)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/short")
    wait_text(bot_api, r"✅", since=since)
    mirror(bot_api, f"{origin.url}/dl")
    wait_text(bot_api, r"✅.*résumé \(1\)\.pdf", since=since)
    names = sorted(p.name for p in files_in(bot.mirror_dir))
    assert names == ["résumé (1).pdf", "résumé.pdf"]
    assert all(sha256_file(p) == res.sha256() for p in files_in(bot.mirror_dir))


def test_dropped_connection_and_busy_server_still_yield_an_intact_file(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    res = origin.add("/flaky.bin", size=3 * MiB, seed=3)
    origin.fault("/flaky.bin", statuses=[503], retry_after="1", times=1)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/flaky.bin")
    wait_text(bot_api, r"✅", since=since, timeout=60)
    origin.add("/drop.bin", size=3 * MiB, seed=4)
    origin.fault("/drop.bin", drop_after=700_000, times=2)
    mirror(bot_api, f"{origin.url}/drop.bin")
    wait_text(bot_api, r"✅.*drop\.bin", since=since, timeout=60)
    by_name = {p.name: p for p in files_in(bot.mirror_dir)}
    assert sha256_file(by_name["flaky.bin"]) == res.sha256()
    assert sha256_file(by_name["drop.bin"]) == origin.add("/x", size=3 * MiB, seed=4).sha256()
    # Resumed, not restarted: later requests for drop.bin asked for ranges.
    ranged = [r for r in origin.requests if r.path == "/drop.bin" and r.range]
    assert ranged, "the retry resumed with a Range request"


def test_http_errors_are_one_clear_line(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/missing")
    failed = wait_text(bot_api, r"❌", since=since)
    assert "404" in text_of(failed)
    origin.add("/liar", size=100_000, seed=5)
    origin.fault("/liar", lie_length=200_000, ignore_range=True)
    mirror(bot_api, f"{origin.url}/liar")
    # It lies every time: the ❌ comes when the download's retries run out. Their waits are
    # full-jitter backoff, anywhere up to the sum of the caps (about 123 s; 105 s once, so a
    # fixed 120 s was a coin toss now and then); one minute more for the attempts themselves.
    backoff = sum(DOWNLOAD_POLICY.backoff_cap(n) for n in range(1, DOWNLOAD_POLICY.attempts))
    wait_text(bot_api, r"❌.*liar", since=since, timeout=backoff + 60)


def test_cancel_stops_the_download_and_removes_the_folder(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(AUTHORIZED_CHATS=str(USER))
    origin.add("/slow.bin", size=50 * MiB, seed=6)
    origin.fault("/slow.bin", throttle=256 * 1024)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/slow.bin")
    gid = gid_of(bot_api, chat_id=OWNER, since=since)
    wait_exists(bot.download_dir / gid)  # the worker made the task's folder
    # A stranger's cancel is refused, and so is another authorized user's; the task goes on.
    bot_api.push_message(f"/cancel {gid}", chat_id=STRANGER, user_id=STRANGER)
    wait_text(bot_api, r"not authorized", chat_id=STRANGER, since=since, timeout=15)
    bot_api.push_message(f"/cancel {gid}", chat_id=USER, user_id=USER)
    wait_text(bot_api, r"Only the user who started", chat_id=USER, since=since, timeout=15)
    fetched = sent_bytes(origin, "/slow.bin")
    wait_until(lambda: sent_bytes(origin, "/slow.bin") > fetched + 256 * 1024)
    assert (bot.download_dir / gid).is_dir()
    assert not [c for c in bot_api.calls_of("sendMessage") if "🚫" in text_of(c)]
    bot_api.push_message(f"/cancel {gid}", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"🚫", since=since, timeout=15)
    assert not (bot.download_dir / gid).exists()
    assert files_in(bot.mirror_dir) == []
    assert sent_bytes(origin, "/slow.bin") < 50 * MiB


def sent_bytes(origin: FakeOrigin, path: str) -> int:
    return sum(r.bytes_sent for r in origin.requests if r.path == path)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    polling.wait_until(condition, timeout)


def test_cancel_by_reply_and_only_by_the_owner_of_the_task(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot(AUTHORIZED_CHATS="-100777")
    origin.add("/slow2.bin", size=50 * MiB, seed=7)
    origin.fault("/slow2.bin", throttle=256 * 1024)
    since = bot_api.mark()
    command = mirror(
        bot_api, f"{origin.url}/slow2.bin", chat_id=-100777, user_id=55, chat_type="supergroup"
    )
    gid_of(bot_api, chat_id=-100777, since=since)
    bot_api.push_message(
        "/cancel", chat_id=-100777, user_id=56, chat_type="supergroup", reply_to=command
    )
    wait_text(bot_api, r"Only the user who started", since=since)
    bot_api.push_message(
        "/cancel", chat_id=-100777, user_id=55, chat_type="supergroup", reply_to=command
    )
    wait_text(bot_api, r"🚫", since=since, timeout=15)


def test_kill_9_then_restart_resumes(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    size = 24 * MiB
    res = origin.add("/big.bin", size=size, seed=8)
    # 3 segments x 1 MiB/s: ~8 s, so the status (edited at most once a second in a private
    # chat) cannot lag behind a download that already finished.
    origin.fault("/big.bin", throttle=1 * MiB)
    bot = make_bot()
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/big.bin")
    gid = gid_of(bot_api, chat_id=OWNER, since=since)
    # Wait until 40-79 % is on disk (the sidecar is flushed every 4 MiB or 0.5-5 s, so by then
    # it records a good share), then kill -9.
    wait_text(bot_api, r"([4-7]\d)\.\d%", since=since, method="editMessageText", timeout=60)
    bot.kill9()
    origin.clear_fault("/big.bin")
    before = sum(r.bytes_sent for r in origin.requests)
    bot.start()
    wait_text(bot_api, r"♻️ Resuming", since=since, timeout=30)
    wait_text(bot_api, r"✅.*big\.bin", since=since, timeout=60)
    [saved] = files_in(bot.mirror_dir)
    assert sha256_file(saved) == res.sha256()
    refetched = sum(r.bytes_sent for r in origin.requests) - before
    assert refetched < 0.85 * size, f"re-fetched {refetched} of {size} bytes"
    assert not (bot.download_dir / gid).exists()


def test_ssrf_refused_unless_allowed(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot(ALLOW_PRIVATE_LINKS="false")
    origin.add("/secret", size=10, seed=9)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/secret")
    refused = wait_text(bot_api, r"❌", since=since)
    assert "private" in text_of(refused).lower() or "loopback" in text_of(refused).lower()
    mirror(bot_api, "http://169.254.169.254/latest/meta-data")
    wait_text(bot_api, r"❌.*(link-local|private|reserved)", since=since)


def test_traversal_names_stay_inside_the_mirror(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    origin.add("/a", size=1000, seed=10, content_disposition='attachment; filename="../../x.sh"')
    since = bot_api.mark()
    bot_api.push_message(
        f'/mirror {origin.url}/a -n "../../../etc/passwd"', chat_id=OWNER, user_id=OWNER
    )
    wait_text(bot_api, r"✅", since=since)
    mirror(bot_api, f"{origin.url}/a")
    wait_text(bot_api, r"✅.*x\.sh", since=since)
    names = sorted(p.relative_to(bot.mirror_dir).as_posix() for p in files_in(bot.mirror_dir))
    assert names == ["passwd", "x.sh"]
    assert not (bot.home.parent / "x.sh").exists()


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/mirror", r"Send a link"),
        ("/mirror http://example.com/a -qq", r"Unknown flag -qq"),
        ("/mirror http://example.com/a -q best", r"-q and -opt only apply to /ytdl"),
        ("/mirror http://example.com/a -n", r"-n needs a value"),
        ("/mirror ftp://example.com/a", r"Only http:// and https://"),
        ('/mirror http://example.com/a -h "Bad Header"', r"Bad header"),
        ('/mirror "http://example.com/a', r"Could not read the command"),
        ("/mirror http://example.com/" + "a" * 5000, r"too long"),
        ("/leech http://example.com/a -sp 12parsecs", r"-sp .* is not a size"),
    ],
)
def test_bad_input_gets_a_short_answer(
    bot_api: FakeBotAPI, make_bot: Any, text: str, answer: str
) -> None:
    make_bot()
    since = bot_api.mark()
    bot_api.push_message(text, chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, answer, since=since, timeout=15)


def test_disk_full_is_reported_and_leaves_nothing(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        # STORAGE_THRESHOLD off: this is about the disk really filling up.
        bot = make_bot(DOWNLOAD_DIR=str(small / "dl"), STORAGE_THRESHOLD="0")
        origin.add("/huge.bin", size=8 * MiB, seed=11)
        since = bot_api.mark()
        mirror(bot_api, f"{origin.url}/huge.bin")
        failed = wait_text(bot_api, r"❌", since=since)
        assert "disk full" in text_of(failed).lower()
        assert files_in(small / "dl") == [] and files_in(bot.mirror_dir) == []
        bot.stop_quietly()
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_twenty_tasks_two_users_one_group(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    group = -100500
    bot = make_bot(AUTHORIZED_CHATS=str(group), STATUS_UPDATE_INTERVAL="5")
    resources = [origin.add(f"/f{i}.bin", size=200_000 + i, seed=100 + i) for i in range(20)]
    since = bot_api.mark()
    for i in range(20):
        mirror(
            bot_api,
            f"{origin.url}/f{i}.bin",
            chat_id=group,
            user_id=7 + i % 2,
            chat_type="supergroup",
        )
    for i in range(20):
        wait_text(bot_api, rf"✅ <b>f{i}\.bin", chat_id=group, since=since, timeout=120)
    saved = {p.name: p for p in files_in(bot.mirror_dir)}
    assert len(saved) == 20
    for i, res in enumerate(resources):
        assert sha256_file(saved[f"f{i}.bin"]) == res.sha256()
    # Telegram allows 20 messages a minute in a group: edits count too.
    sent = sorted(
        c.at
        for c in bot_api.calls
        if c.index >= since
        and c.method in ("sendMessage", "editMessageText", "sendDocument")
        and c.params.get("chat_id") == group
    )
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t - start < 60]
        assert len(in_window) <= 20, f"{len(in_window)} messages within 60 s"


def test_size_limit_from_config(bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any) -> None:
    bot = make_bot(MAX_DOWNLOAD_SIZE="1mb")
    origin.add("/over.bin", size=2_000_000, seed=12)
    since = bot_api.mark()
    mirror(bot_api, f"{origin.url}/over.bin")
    failed = wait_text(bot_api, r"❌", since=since)
    assert "limit" in text_of(failed)
    assert files_in(bot.mirror_dir) == []
    assert sum(r.bytes_sent for r in origin.requests if r.method == "GET") < 100_000


def test_cancelall_cancels_only_your_tasks(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    group = -100321
    make_bot(AUTHORIZED_CHATS=str(group))
    for i, user in enumerate((5, 5, 6)):
        origin.add(f"/q{i}.bin", size=40 * MiB, seed=20 + i)
        origin.fault(f"/q{i}.bin", throttle=128 * 1024)
        bot_api.push_message(
            f"/mirror {origin.url}/q{i}.bin", chat_id=group, user_id=user, chat_type="supergroup"
        )
    # Updates are handled concurrently: wait until all three tasks exist.
    wait_chat_text(bot_api, group, r"Tasks</b>: 3")
    since = bot_api.mark()
    bot_api.push_message("/cancelall", chat_id=group, user_id=5, chat_type="supergroup")
    wait_text(bot_api, r"Cancelling 2 tasks", chat_id=group, since=since, timeout=15)
    for i in (0, 1):
        wait_text(bot_api, rf"🚫 <b>q{i}\.bin", since=since, timeout=15)
    # The other user's task still runs: only the owner's /cancelall ends it.
    owner_since = bot_api.mark()
    # (The cancellation notice, not the status message, whose other lines may carry 🚫 too.)
    assert not [c for c in bot_api.calls[since:owner_since]
                if c.method == "sendMessage" and "🚫 <b>q2.bin" in text_of(c)]
    bot_api.push_message("/cancelall", chat_id=OWNER, user_id=OWNER)  # the owner: everything
    wait_text(bot_api, r"Cancelling 1 task\b", since=owner_since, timeout=15)
    wait_text(bot_api, r"🚫 <b>q2\.bin", since=owner_since, timeout=15)
