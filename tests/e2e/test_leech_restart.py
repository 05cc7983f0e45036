"""A leech stopped while a part is on its way resumes with every part in the chat exactly once.

Two moments are told apart (telebot/sinks/telegram.py, PartSend):

* the request body of part 2 is still being written (the fake Bot API stops reading it after
  1 MiB): Telegram cannot have the part, so after the restart it is sent again;
* every byte of part 2 was received and stored but no answer came (the fake stalls its reply):
  Telegram may have it, so it is not sent again and the completion message says to check it.

Both with a graceful stop (SIGTERM) and with kill -9, where only the ledger on disk tells.
The moments are reached through the fake's own events (a stalled body, a recorded call), never
by sleeping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER, BotProcess, bot_env
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.origin import FakeOrigin, Resource
from tests.processes import each_stop

STALL_AFTER = 1 << 20  # body bytes the fake reads of the stalled part before it stops reading
RECV_BUFFER = 128 * 1024  # the fake's SO_RCVBUF (the kernel doubles it)


def _send_buffer_max() -> int:
    """The most a client socket may buffer (net.ipv4.tcp_wmem's maximum)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20  # Linux's default maximum


# A part must be bigger than what the bot can have written when the fake stops reading: the
# bytes read, plus the fake's receive buffer, the bot's send buffer and asyncio's write buffer
# (64 KiB): then the stalled upload cannot have reached its last byte, by construction.
PART = max(8_000_000, STALL_AFTER + 2 * RECV_BUFFER + _send_buffer_max() + (2 << 20))
SIZE = 2 * PART + PART // 2  # three parts


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeBotAPI]:
    with FakeBotAPI(workdir=tmp_path / "botapi", recv_buffer=RECV_BUFFER) as server:
        yield server


@pytest.fixture
def bot(api: FakeBotAPI, tmp_path: Path) -> Iterator[BotProcess]:
    home = tmp_path / "bot"
    home.mkdir()
    process = BotProcess(api, home, bot_env(api))
    yield process.start()
    process.stop_quietly()


def caption_has(text: str) -> Any:
    return lambda call: text in str(call.params.get("caption", ""))


def stored_parts(api: FakeBotAPI, since: int) -> list[Call]:
    return [c for c in api.calls_of("sendDocument") if c.index >= since and c.status == 200]


def joined_sha(calls: list[Call]) -> str:
    digest = hashlib.sha256()
    for call in calls:
        path = call.files["document"].path
        assert path is not None
        digest.update(path.read_bytes())
    return digest.hexdigest()


def leech_three_parts(api: FakeBotAPI, origin: FakeOrigin, seed: int) -> tuple[Resource, int]:
    res = origin.add("/movie.mkv", size=SIZE, seed=seed)
    since = api.mark()
    api.push_message(
        f"/leech {origin.url}/movie.mkv -sp {PART}", chat_id=OWNER, user_id=OWNER
    )
    return res, since


def start_again_until_done(
    api: FakeBotAPI, bot: BotProcess, since: int, movie: Resource
) -> Call:
    """Start the stopped bot again, wait for the leech's ✅ and check that each of the three
    parts is in the chat once, in order, and that together they are the movie; returns the ✅."""
    bot.start()
    done = wait_text(api, r"✅", since=since, timeout=180)
    parts = stored_parts(api, since)
    assert [c.files["document"].filename for c in parts] == [
        "movie.mkv.001", "movie.mkv.002", "movie.mkv.003",
    ]
    assert joined_sha(parts) == movie.sha256()
    return done


@each_stop
def test_stopped_mid_body_the_part_is_sent_again(
    api: FakeBotAPI, origin: FakeOrigin, bot: BotProcess, how: str
) -> None:
    api.stall_body_next("sendDocument", STALL_AFTER, skip=1)  # part 2 stops mid-body
    movie, since = leech_three_parts(api, origin, seed=31)
    api.wait_for("sendDocument", caption_has("part 1/3"), since=since, timeout=120)
    method, got = api.wait_body_stalled(timeout=120)
    assert (method.lower(), got) == ("senddocument", STALL_AFTER)
    bot.stop(how)
    assert not any("part 2/3" in str(c.params.get("caption")) for c in stored_parts(api, since))

    done = start_again_until_done(api, bot, since, movie)
    assert "check that it arrived" not in text_of(done)


@each_stop
def test_stopped_after_the_last_byte_the_part_is_not_sent_again(
    api: FakeBotAPI, origin: FakeOrigin, bot: BotProcess, how: str
) -> None:
    # Part 2 is read whole and stored, but its answer never comes before the stop.
    api.stall_next("sendDocument", 120, then_respond=True, skip=1)
    movie, since = leech_three_parts(api, origin, seed=32)
    api.wait_for("sendDocument", caption_has("part 2/3"), since=since, timeout=120)
    bot.stop(how)

    done = start_again_until_done(api, bot, since, movie)
    text = text_of(done)
    assert text.count("check that it arrived") == 1
    assert "part 2/3 of movie.mkv): Telegram did not confirm it; check that it arrived" in text


def test_local_mode_a_built_request_counts_as_sent(
    origin: FakeOrigin, tmp_path: Path
) -> None:
    """Local Bot API: the request carries a path, so 'request built' is the only signal: a
    part whose request was stored but not answered is reported, not sent again."""
    with FakeBotAPI(local_mode=True, workdir=tmp_path / "localapi") as local:
        home = tmp_path / "localbot"
        home.mkdir()
        bot = BotProcess(local, home, bot_env(local, BOT_API_LOCAL="true")).start()
        try:
            local.stall_next("sendDocument", 120, then_respond=True, skip=1)
            movie, since = leech_three_parts(local, origin, seed=33)
            local.wait_for("sendDocument", caption_has("part 2/3"), since=since, timeout=120)
            bot.stop("sigterm")
            bot.start()
            done = wait_text(local, r"✅", since=since, timeout=180)
        finally:
            bot.stop_quietly()
        parts = stored_parts(local, since)
        assert [c.files["document"].filename for c in parts] == [
            "movie.mkv.001", "movie.mkv.002", "movie.mkv.003",
        ]
        # Parts are sent by path and deleted once settled: compare the digests taken on receipt.
        assert [c.files["document"].sha256 for c in parts] == [
            hashlib.sha256(movie.bytes(start, min(start + PART, SIZE))).hexdigest()
            for start in range(0, SIZE, PART)
        ]
        assert text_of(done).count("check that it arrived") == 1
