"""/mediainfo end to end: a Telegram file and a link, each read only in part; a private
address refused; a playlist disguised as a clip gets one line, not a description of the file it
names (real ffprobe, fake Bot API and origin)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER, USER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.media import make_film
from tests.fakes.origin import FakeOrigin
from tests.fakes.playlists import PRIVATE_SECONDS, hls_playlist, make_private_video

SAMPLE = 6_000_000  # the head (5 MB) and tail (1 MB) the bot may read


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("films")
    make_film(folder / "film.mp4")
    make_film(folder / "late.mp4", faststart=False)  # its index (moov) is at the end
    return folder


def ask(api: FakeBotAPI, text: str, **kwargs: Any) -> dict[str, Any]:
    return api.push_message(text, chat_id=OWNER, user_id=OWNER, **kwargs)


def assert_describes_the_film(text: str) -> None:
    assert "mp4" in text and "0:10" in text
    assert "h264" in text and "640x360" in text and "25 fps" in text
    assert "aac" in text and "44100 Hz" in text
    assert re.search(r"read 5\.7 MiB of [89]\.\d MiB", text)  # 5 MB + 1 MB of about 9 MB


def test_a_telegram_file_is_read_only_in_part(
    bot_api: FakeBotAPI, make_bot: Any, films: Path
) -> None:
    make_bot()
    film = films / "film.mp4"
    assert film.stat().st_size > SAMPLE + 1_000_000
    document = bot_api.add_file(film, file_name="film.mp4", mime_type="video/mp4")
    sent = ask(bot_api, "", document=document)
    since = bot_api.mark()
    ask(bot_api, "/mediainfo", reply_to=sent)
    reply = wait_text(bot_api, r"film\.mp4", since=since, timeout=60)
    assert_describes_the_film(text_of(reply))
    fetched = sum(end - start for _path, start, end in bot_api.file_reads)
    assert 0 < fetched <= SAMPLE


def test_a_link_is_read_only_in_part_even_with_the_index_at_the_end(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, films: Path
) -> None:
    make_bot()
    origin.add("/late.mp4", data=(films / "late.mp4").read_bytes(), content_type="video/mp4")
    since = bot_api.mark()
    ask(bot_api, f"/mi {origin.url}/late.mp4")
    reply = wait_text(bot_api, r"late\.mp4", since=since, timeout=60)
    assert_describes_the_film(text_of(reply))
    assert 0 < origin.bytes_sent("/late.mp4") <= SAMPLE
    assert all(r.range for r in origin.requests_for("/late.mp4", "GET"))
    mark = bot_api.mark()
    ask(bot_api, "/mediainfo")
    wait_text(bot_api, r"reply with /mediainfo to a file or a link", since=mark)


def test_a_private_address_is_refused(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, films: Path
) -> None:
    make_bot(ALLOW_PRIVATE_LINKS="false")
    origin.add("/film.mp4", data=(films / "film.mp4").read_bytes(), content_type="video/mp4")
    since = bot_api.mark()
    bot_api.push_message(f"/mediainfo {origin.url}/film.mp4", chat_id=USER, user_id=USER)
    wait_text(bot_api, r"not authorized", since=since, chat_id=USER)  # strangers: refused
    ask(bot_api, f"/mediainfo {origin.url}/film.mp4")
    reply = wait_text(bot_api, r"film\.mp4", since=since, timeout=60)
    assert "refused" in text_of(reply) and "private" in text_of(reply)
    assert origin.requests_for("/film.mp4") == []


def test_a_playlist_disguised_as_a_clip_never_describes_the_file_it_names(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """The attack of #21: "clip.mp4" is an HLS playlist whose segment is a video in another
    task's folder on the bot's disk."""
    bot = make_bot()
    private = make_private_video(bot.download_dir / "0a1b2c3d4e5f" / "private.mp4")
    origin.add("/clip.mp4", data=hls_playlist(private), content_type="video/mp4")
    since = bot_api.mark()
    ask(bot_api, f"/mediainfo {origin.url}/clip.mp4")
    text = text_of(wait_text(bot_api, r"clip\.mp4", since=since, timeout=60))
    assert "not a media file ffprobe may read" in text and "hls" in text
    assert len(text.splitlines()) == 1
    for detail in ("176x144", "h264", "aac", f"0:0{PRIVATE_SECONDS}", "7 fps"):
        assert detail not in text, text
