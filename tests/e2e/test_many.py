"""Many links at once, end to end: a burst from one chat, -b (bulk), -i (multi) and -m (one
folder), with the real bot, the fake Bot API and the fake origin."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, sha256_file, text_of, wait_text
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until

KiB = 1024


def completions(api: FakeBotAPI, since: int) -> list[Call]:
    """Completion messages (the status message, sent or edited, also shows ✅ for a moment)."""
    return [
        c
        for c in api.calls[since:]
        if c.method in ("sendMessage", "editMessageText")
        and "✅" in text_of(c)
        and not text_of(c).startswith("<b>Tasks</b>")
    ]


def named(calls: list[Call], names: list[str]) -> set[str]:
    return {name for name in names for c in calls if name in text_of(c)}


def test_a_burst_of_tiny_mirrors_lands_and_is_announced_in_a_few_lists(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    names = [f"tiny{n:02d}.bin" for n in range(60)]
    for n, name in enumerate(names):
        origin.add(f"/{name}", size=64 * KiB, seed=n)
    since = bot_api.mark()
    for name in names:
        bot_api.push_message(f"/mirror {origin.url}/{name}", chat_id=OWNER, user_id=OWNER)
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 60, 120, "all 60 results")
    assert sorted(p.name for p in files_in(bot.mirror_dir)) == names
    wait_until(lambda: named(completions(bot_api, since), names) == set(names), 60)
    done = completions(bot_api, since)
    # One message per task before: now a few lists, each naming its tasks.
    assert len(done) <= 10, [text_of(c)[:80] for c in done]
    assert any(len(re.findall(r"tiny\d\d\.bin", text_of(c))) > 1 for c in done)
    assert all(len(text_of(c)) <= 4096 for c in done)


def _serve(origin: FakeOrigin, names: list[str], size: int = 20 * KiB) -> dict[str, str]:
    """Serve ``names``; their sha256 by name."""
    return {name: origin.add(f"/{name}", size=size + n, seed=100 + n).sha256()
            for n, name in enumerate(names)}  # fmt: skip


def test_bulk_with_per_line_flags_a_range_and_the_limit(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(BULK_LIMIT="5")
    names = [f"b{n}.bin" for n in range(1, 7)]
    sums = _serve(origin, names)
    lines = [f"{origin.url}/{name}" for name in names[:5]]
    lines[1] += " -n second.bin"  # a line's own flag
    lines[3] += " -n fourth.bin"
    listing = bot_api.push_message("\n\n".join(lines), chat_id=OWNER, user_id=OWNER)
    since = bot_api.mark()
    bot_api.push_message("/mirror -b", chat_id=OWNER, user_id=OWNER, reply_to=listing)
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 5, 60, "five results")
    got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
    assert got == {
        "b1.bin": sums["b1.bin"], "second.bin": sums["b2.bin"], "b3.bin": sums["b3.bin"],
        "fourth.bin": sums["b4.bin"], "b5.bin": sums["b5.bin"],
    }  # fmt: skip
    wait_text(bot_api, r"Started 5 tasks", chat_id=OWNER, since=since)
    shown = ["b1.bin", "second.bin", "b3.bin", "fourth.bin", "b5.bin"]
    wait_until(lambda: named(completions(bot_api, since), shown) == set(shown), 30)
    # One command's completions share their reply: gathered into a list, not five messages.
    assert len(completions(bot_api, since)) <= 3

    # A range (1-based, inclusive) and a flag of the command that a line overrides.
    since = bot_api.mark()
    bot_api.push_message(
        "/mirror -b 2:3 -n cmd.bin", chat_id=OWNER, user_id=OWNER, reply_to=listing
    )
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 7, 60, "two more results")
    new = {p.name for p in files_in(bot.mirror_dir)} - set(got)
    assert new == {"second (1).bin", "cmd.bin"}

    # Over BULK_LIMIT: refused, naming the limit; nothing started.
    six = bot_api.push_message(
        "\n".join(f"{origin.url}/{name}" for name in names), chat_id=OWNER, user_id=OWNER
    )
    since = bot_api.mark()
    bot_api.push_message("/mirror -b", chat_id=OWNER, user_id=OWNER, reply_to=six)
    refusal = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert "BULK_LIMIT" in text_of(refusal) and "(5)" in text_of(refusal)
    assert "-b 1:5" in text_of(refusal)
    # ... and a range within the limit is fine: lines 6 only.
    bot_api.push_message("/mirror -b 6:", chat_id=OWNER, user_id=OWNER, reply_to=six)
    wait_until(lambda: "b6.bin" in {p.name for p in files_in(bot.mirror_dir)}, 60, "b6")
    assert len(files_in(bot.mirror_dir)) == 8


def test_bulk_from_a_txt_file_and_a_bad_line(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    sums = _serve(origin, ["t1.bin", "t2.bin"])
    listing = f"{origin.url}/t1.bin -n one.bin\n{origin.url}/t2.bin\n".encode()
    doc = bot_api.add_file(listing, file_name="links.txt", mime_type="text/plain")
    holder = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=doc)
    bot_api.push_message("/mirror -b", chat_id=OWNER, user_id=OWNER, reply_to=holder)
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 2, 60, "two results")
    got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
    assert got == {"one.bin": sums["t1.bin"], "t2.bin": sums["t2.bin"]}

    bad = bot_api.push_message(
        f"{origin.url}/t1.bin\n{origin.url}/t2.bin -x", chat_id=OWNER, user_id=OWNER
    )
    since = bot_api.mark()
    bot_api.push_message("/mirror -b", chat_id=OWNER, user_id=OWNER, reply_to=bad)
    refusal = wait_text(bot_api, r"❌", chat_id=OWNER, since=since)
    assert "line 2" in text_of(refusal) and "-x" in text_of(refusal)


def test_multi_takes_consecutive_messages_one_a_telegram_file(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    sums = _serve(origin, ["m1.bin", "m3.bin"])
    content = bytes(range(256)) * 300
    doc = bot_api.add_file(content, file_name="m2.bin")
    first = bot_api.push_message(f"{origin.url}/m1.bin", chat_id=OWNER, user_id=OWNER)
    bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=doc)
    bot_api.push_message(f"{origin.url}/m3.bin", chat_id=OWNER, user_id=OWNER)
    bot_api.push_message("/mirror -i 3", chat_id=OWNER, user_id=OWNER, reply_to=first)
    wait_until(lambda: len(files_in(bot.mirror_dir)) == 3, 60, "three results")
    got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
    assert got == {
        "m1.bin": sums["m1.bin"],
        "m2.bin": hashlib.sha256(content).hexdigest(),
        "m3.bin": sums["m3.bin"],
    }


def test_multi_says_which_message_it_does_not_know(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    # A message the bot never received (sent before it started): only the reply carries it.
    unseen = {
        "message_id": 5, "date": 0, "text": f"{origin.url}/x.bin",
        "chat": {"id": OWNER, "type": "private"},
        "from": {"id": OWNER, "is_bot": False, "first_name": "Owner"},
    }  # fmt: skip
    since = bot_api.mark()
    bot_api.push_message("/mirror -i 2", chat_id=OWNER, user_id=OWNER, reply_to=unseen)
    refusal = text_of(wait_text(bot_api, r"❌", chat_id=OWNER, since=since))
    assert "message 2 of 2" in refusal and "before I started" in refusal
    # A known message, but too few follow it.
    first = bot_api.push_message(f"{origin.url}/y.bin", chat_id=OWNER, user_id=OWNER)
    since = bot_api.mark()
    bot_api.push_message("/mirror -i 3", chat_id=OWNER, user_id=OWNER, reply_to=first)
    refusal = text_of(wait_text(bot_api, r"❌", chat_id=OWNER, since=since))
    assert "message 2 of 3 has not arrived" in refusal


def group_reports(api: FakeBotAPI, folder: str) -> list[Call]:
    return [c for c in completions(api, 0) if f"<b>{folder}</b>" in text_of(c)]


def test_m_puts_every_result_in_one_folder_delivered_once_naming_a_failure(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    sums = _serve(origin, ["g1.bin", "g2.bin"])
    listing = bot_api.push_message(
        f"{origin.url}/g1.bin\n{origin.url}/gone.bin\n{origin.url}/g2.bin -n two.bin",
        chat_id=OWNER, user_id=OWNER,
    )  # fmt: skip
    command = "/mirror -b -m '../My Set'"
    bot_api.push_message(command, chat_id=OWNER, user_id=OWNER, reply_to=listing)
    report = wait_text(bot_api, r"✅", chat_id=OWNER, timeout=60)
    [folder] = [p for p in bot.mirror_dir.iterdir()]  # one folder, safely named, in MIRROR_DIR
    assert folder.is_dir() and "/" not in folder.name and folder.name.endswith("My Set")
    got = {p.name: sha256_file(p) for p in files_in(folder)}
    assert got == {"g1.bin": sums["g1.bin"], "two.bin": sums["g2.bin"]}
    text = text_of(report)
    assert folder.name in text and "gone.bin failed" in text and "404" in text
    assert "2 of 3" in text
    # Delivered once: one report, and no message per member.
    wait_until(lambda: files_in(bot.download_dir) == [], 30, "the group's folder removed")
    assert len(completions(bot_api, 0)) == 1
    assert not [c for c in bot_api.calls_of("sendMessage") if "❌" in text_of(c)]


def test_a_half_done_group_still_delivers_once_after_kill_9(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    sums = _serve(origin, ["h1.bin", "h2.bin"])
    slow = origin.add("/slow.bin", size=4 * 1024 * KiB, seed=7)
    origin.fault("/slow.bin", throttle=64 * KiB)  # ~60 s: still running when killed
    listing = bot_api.push_message(
        "\n".join(f"{origin.url}/{n}" for n in ("h1.bin", "slow.bin", "h2.bin")),
        chat_id=OWNER, user_id=OWNER,
    )  # fmt: skip
    bot_api.push_message("/mirror -b -m half", chat_id=OWNER, user_id=OWNER, reply_to=listing)

    def placed() -> list[str]:
        return sorted(p.name for p in bot.download_dir.glob("*/half/*"))

    wait_until(lambda: placed() == ["h1.bin", "h2.bin"], 60, "two members placed")
    bot.kill9()
    origin.clear_fault("/slow.bin")
    bot.start()
    wait_until(lambda: (bot.mirror_dir / "half").is_dir(), 60, "the group delivered")
    wait_until(lambda: len(group_reports(bot_api, "half")) == 1, 30, "its report")
    got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
    assert got == {"h1.bin": sums["h1.bin"], "h2.bin": sums["h2.bin"], "slow.bin": slow.sha256()}
    assert [p.name for p in bot.mirror_dir.iterdir()] == ["half"]
    wait_until(lambda: files_in(bot.download_dir) == [], 30, "nothing left behind")
    assert len(group_reports(bot_api, "half")) == 1
    assert "⚠️" not in text_of(group_reports(bot_api, "half")[0])


def test_bulk_from_a_txt_file_with_a_local_bot_api_server(
    origin: FakeOrigin, tmp_path: Any
) -> None:
    """The list is read into memory (never through a file: it may carry passwords), from the
    shared disk when the Bot API server is local."""
    from tests.conftest import BotProcess, bot_env

    with FakeBotAPI(local_mode=True, workdir=tmp_path / "localapi") as api:
        sums = _serve(origin, ["lt1.bin", "lt2.bin"])
        doc = api.add_file(f"{origin.url}/lt1.bin\n{origin.url}/lt2.bin\n".encode(),
                           file_name="links.txt", mime_type="text/plain")  # fmt: skip
        home = tmp_path / "bot"
        home.mkdir()
        bot = BotProcess(api, home, bot_env(api, BOT_API_LOCAL="true")).start()
        try:
            holder = api.push_message("", chat_id=OWNER, user_id=OWNER, document=doc)
            api.push_message("/mirror -b", chat_id=OWNER, user_id=OWNER, reply_to=holder)
            wait_until(lambda: len(files_in(bot.mirror_dir)) == 2, 60, "two results")
            got = {p.name: sha256_file(p) for p in files_in(bot.mirror_dir)}
            assert got == {"lt1.bin": sums["lt1.bin"], "lt2.bin": sums["lt2.bin"]}
        finally:
            bot.stop_quietly()
