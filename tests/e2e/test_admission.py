"""One admission point (issue 22): every way many tasks enter (-b, -i, -m) is checked whole,
through the same limits as a single command, before anything starts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import USER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.e2e.test_limits import small_disk  # noqa: F401  (the 64 MiB tmpfs fixture)
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until

KiB = 1024


@pytest.mark.parametrize("flags", ["-b -m together", "-b"])
def test_a_list_over_user_tasks_limit_starts_nothing_and_names_the_lines(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, flags: str
) -> None:
    bot = make_bot(USER_TASKS_LIMIT="2", AUTHORIZED_CHATS=str(USER))
    for n in range(100):
        origin.add(f"/f{n}.bin", size=4 * KiB, seed=n)
    listing = bot_api.push_message(
        "\n".join(f"{origin.url}/f{n}.bin" for n in range(100)), chat_id=USER, user_id=USER
    )
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {flags}", chat_id=USER, user_id=USER, reply_to=listing)
    refusal = text_of(wait_text(bot_api, r"nothing was started", chat_id=USER, since=since))
    assert "98 of the 100 would be refused" in refusal
    assert "line 3, line 4, line 5, line 6, line 7 and 93 more" in refusal
    assert "USER_TASKS_LIMIT (2 running or queued per user; you have 0 now)" in refusal
    assert " queued: " not in bot.log_text()
    assert files_in(bot.download_dir) == []  # no group folder, no task folder
    # Within the limit, the same list's first two lines start (and finish).
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {flags.replace('-b', '-b 1:2')}", chat_id=USER,
                         user_id=USER, reply_to=listing)
    # (>= : with -m the group's own delivery is queued too once both members are done)
    wait_until(lambda: bot.log_text().count(" queued: mirror") >= 2, 60, "two queued")
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 2, 60, "two results")
    assert not [c for c in bot_api.calls[since:] if "nothing was started" in text_of(c)]


def test_the_limit_counts_what_is_running_before_the_list(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(USER_TASKS_LIMIT="3", AUTHORIZED_CHATS=str(USER))
    origin.add("/slow.bin", size=2 * 1024 * KiB, seed=7)
    origin.fault("/slow.bin", throttle=128 * KiB)  # still running when the list arrives
    bot_api.push_message(f"/mirror {origin.url}/slow.bin", chat_id=USER, user_id=USER)
    wait_until(lambda: " queued: mirror" in bot.log_text(), 30, "the first task")
    for n in range(3):
        origin.add(f"/g{n}.bin", size=4 * KiB, seed=20 + n)
    listing = bot_api.push_message(
        "\n".join(f"{origin.url}/g{n}.bin" for n in range(3)), chat_id=USER, user_id=USER
    )
    since = bot_api.mark()
    bot_api.push_message("/mirror -b", chat_id=USER, user_id=USER, reply_to=listing)
    refusal = text_of(wait_text(bot_api, r"nothing was started", chat_id=USER, since=since))
    assert "1 of the 3 would be refused" in refusal and "line 3:" in refusal
    assert "you have 1 now" in refusal
    bot_api.push_message("/cancelall", chat_id=USER, user_id=USER)


def test_ytdl_limit_applies_to_a_playlists_total(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Any
) -> None:
    """Each entry fits YTDL_LIMIT, the two together do not: the task is refused as a whole."""
    from tests.fakes.media import make_media, serve_media

    folder = make_media(tmp_path / "media")
    serve_media(origin, folder)
    clip = (folder / "clip.mp4").stat().st_size
    bot = make_bot(YTDL_LIMIT=str(clip * 3 // 2), AUTHORIZED_CHATS=str(USER))
    since = bot_api.mark()
    bot_api.push_message(f"/ytdl {origin.url}/list.html -n Clips -q b", chat_id=USER,
                         user_id=USER)  # fmt: skip
    failed = text_of(wait_text(bot_api, r"❌", chat_id=USER, since=since, timeout=90))
    assert "(YTDL_LIMIT); Clips is" in failed, failed
    assert files_in(bot.mirror_dir) == []


def test_stop_duplicate_compares_the_name_that_will_be_delivered(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """With -z the result is report.txt.zip, not report.txt: a report.txt at the destination is
    no duplicate of it, and a report.txt.zip of the same size is."""
    from tests.conftest import OWNER

    bot = make_bot(STOP_DUPLICATE="true", STORAGE_THRESHOLD="0")
    res = origin.add("/report.txt", size=200 * KiB, seed=9)
    bot.mirror_dir.mkdir(exist_ok=True)
    (bot.mirror_dir / "report.txt").write_bytes(res.bytes())  # the link's name, plain
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/report.txt -z", chat_id=OWNER, user_id=OWNER)
    done = text_of(wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60))
    assert "✅" in done, done
    assert sorted(p.name for p in files_in(bot.mirror_dir)) == ["report.txt", "report.txt.zip"]
    # The same again: now report.txt.zip (same size) is there, and nothing new is delivered.
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/report.txt -z", chat_id=OWNER, user_id=OWNER)
    again = text_of(wait_text(bot_api, r"STOP_DUPLICATE", chat_id=OWNER, since=since, timeout=60))
    assert "not delivered again: the result is already at mirror/report.txt.zip" in again, again
    assert sorted(p.name for p in files_in(bot.mirror_dir)) == ["report.txt", "report.txt.zip"]
    # -ns renames report.txt to notes.txt: the plain report.txt there is no duplicate.
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/report.txt -ns report/notes", chat_id=OWNER,
                         user_id=OWNER)  # fmt: skip
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    assert "notes.txt" in {p.name for p in files_in(bot.mirror_dir)}


def test_a_stage_that_writes_a_copy_needs_room_for_it(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, small_disk: Any  # noqa: F811
) -> None:
    """-z writes the archive before the download is removed: on a 64 MiB disk keeping 24 MiB
    free, 25 MiB fit but 25 MiB plus its archive do not, and that is said before downloading."""
    from tests.conftest import OWNER

    bot = make_bot(STORAGE_THRESHOLD="24mib")
    origin.add("/big.bin", size=25 * 1024 * KiB, seed=11)
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/big.bin -z", chat_id=OWNER, user_id=OWNER)
    failed = text_of(wait_text(bot_api, r"❌", chat_id=OWNER, since=since, timeout=60))
    assert "it and the copy its processing writes needs 50.0 MiB" in failed, failed
    assert "STORAGE_THRESHOLD" in failed
    assert origin.requests_for("/big.bin", "GET") == []  # refused before the body
    assert files_in(bot.mirror_dir) == []
    # Without -z the same file fits.
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/big.bin", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
