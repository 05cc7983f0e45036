"""/leech albums end to end: the playable parts of a split video go as one sendMediaGroup (in
order, the caption on the first), -es makes them equal, and a restart mid-album never sends it
twice (real bot, real ffmpeg/ffprobe, fake Bot API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import text_of, wait_text
from tests.e2e.test_leech_media import duration, leech, serve, uploads
from tests.fakes.bot_api import Call, FakeBotAPI, UploadedFile
from tests.fakes.media import make_film
from tests.fakes.origin import FakeOrigin

GOP_SECONDS = 1.0  # the film has a keyframe every second: the tolerance of a keyframe cut


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("albums")
    make_film(folder / "film.mp4")  # about 9 MB, 10 s
    return folder


def items(call: Call) -> list[dict[str, Any]]:
    media = call.params["media"]
    return list(media if isinstance(media, list) else json.loads(media))


def item_file(call: Call, item: dict[str, Any]) -> UploadedFile:
    return call_file(call, str(item["media"]))


def call_file(call: Call, ref: str) -> UploadedFile:
    """The multipart part an ``attach://`` reference names."""
    assert ref.startswith("attach://"), ref
    return call.files[ref[len("attach://") :]]


def part_size(media: Path) -> int:
    """An -sp that makes three parts of the film's ten one-second GOPs: -es cuts 3 + 3 + 4
    (4 GOPs fit the 95 % planning budget), a greedy split would cut 4 + 4 + 2."""
    return int((media / "film.mp4").stat().st_size * 0.45)


def test_split_parts_go_as_one_equal_album_in_order_with_the_caption_on_the_first(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    make_bot()
    url = serve(origin, media, "film.mp4", "video/mp4")
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp {part_size(media)} -med -es")
    done = wait_text(bot_api, r"✅", since=since, timeout=120)
    [album] = uploads(bot_api, since, "sendMediaGroup")
    assert uploads(bot_api, since, "sendVideo") == []
    sent = items(album)
    files = [item_file(album, item) for item in sent]
    assert [f.filename for f in files] == ["film.part1.mp4", "film.part2.mp4", "film.part3.mp4"]
    assert {item["type"] for item in sent} == {"video"}
    assert "film.part1.mp4" in str(sent[0].get("caption"))
    assert [item.get("caption") for item in sent[1:]] == [None, None]
    assert all(int(item["duration"]) > 0 and item["width"] == 640 for item in sent)
    thumbs = [call_file(album, str(item["thumbnail"])) for item in sent]
    assert all(t.read()[:2] == b"\xff\xd8" and t.size < 200_000 for t in thumbs)  # JPEGs
    seconds = [duration(f.path) for f in files if f.path is not None]
    assert abs(sum(seconds) - duration(media / "film.mp4")) <= GOP_SECONDS
    assert max(seconds) - min(seconds) <= GOP_SECONDS + 0.1  # -es: 3 + 3 + 4, not 4 + 4 + 2
    messages = album.result
    assert [m["media_group_id"] for m in messages] == [messages[0]["media_group_id"]] * 3
    assert "Sent 3 files" in text_of(done)


def test_with_media_group_off_each_part_is_its_own_message(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    make_bot(MEDIA_GROUP="false")
    url = serve(origin, media, "film.mp4", "video/mp4")
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp {part_size(media)} -med -es")
    wait_text(bot_api, r"✅", since=since, timeout=120)
    assert uploads(bot_api, since, "sendMediaGroup") == []
    names = [c.files["video"].filename for c in uploads(bot_api, since, "sendVideo")]
    assert names == ["film.part1.mp4", "film.part2.mp4", "film.part3.mp4"]


def test_an_album_stored_but_unanswered_before_kill9_is_not_sent_again(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    """Telegram stores the album but its answer never comes before kill -9: after the restart
    the album is reported (each part to check), never sent a second time."""
    bot = make_bot()
    url = serve(origin, media, "film.mp4", "video/mp4")
    bot_api.stall_next("sendMediaGroup", 120, then_respond=True)
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp {part_size(media)} -med -es")
    bot_api.wait_for("sendMediaGroup", since=since, timeout=120)
    bot.kill9()
    bot.start()
    done = wait_text(bot_api, r"✅", since=since, timeout=180)
    assert len(bot_api.calls_of("sendMediaGroup")) == 1
    assert uploads(bot_api, since, "sendVideo") == []
    assert text_of(done).count("check that it arrived") == 3


def test_an_album_cut_off_mid_body_by_kill9_is_sent_once_after_the_restart(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    """The album's body stops before its last byte (Telegram cannot have it) when the bot is
    killed: the restarted bot sends it, once, whole."""
    bot = make_bot()
    url = serve(origin, media, "film.mp4", "video/mp4")
    bot_api.stall_body_next("sendMediaGroup", 1_000_000)
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp {part_size(media)} -med -es")
    bot_api.wait_body_stalled(timeout=120)
    bot.kill9()
    bot.start()
    done = wait_text(bot_api, r"✅", since=since, timeout=180)
    [album] = uploads(bot_api, since, "sendMediaGroup")
    files = [item_file(album, item) for item in items(album)]
    assert [f.filename for f in files] == ["film.part1.mp4", "film.part2.mp4", "film.part3.mp4"]
    assert "check that it arrived" not in text_of(done)


def test_screenshots_go_before_the_video_and_the_sample_after_it(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    make_bot()
    url = serve(origin, media, "film.mp4", "video/mp4")

    since = bot_api.mark()
    leech(bot_api, f"{url} -ss 4")
    wait_text(bot_api, r"✅", since=since, timeout=120)
    [album] = uploads(bot_api, since, "sendMediaGroup")
    [video] = uploads(bot_api, since, "sendDocument")
    assert album.index < video.index and video.files["document"].filename == "film.mp4"
    shots = items(album)
    assert [item["type"] for item in shots] == ["photo"] * 4
    assert "Screenshots of film.mp4" in str(shots[0].get("caption"))
    pictures = [item_file(album, item) for item in shots]
    assert all(p.read()[:2] == b"\xff\xd8" for p in pictures)  # JPEGs
    assert len({p.read() for p in pictures}) == 4

    since = bot_api.mark()
    leech(bot_api, f"{url} -tl 2x2")
    wait_text(bot_api, r"✅", since=since, timeout=120)
    assert uploads(bot_api, since, "sendMediaGroup") == []
    [grid] = uploads(bot_api, since, "sendPhoto")
    [video] = uploads(bot_api, since, "sendDocument")
    assert grid.index < video.index
    assert grid.files["photo"].read()[:2] == b"\xff\xd8"

    since = bot_api.mark()
    leech(bot_api, f"{url} -sv 5")
    wait_text(bot_api, r"✅", since=since, timeout=120)
    [video] = uploads(bot_api, since, "sendDocument")
    [sample] = uploads(bot_api, since, "sendVideo")
    assert video.index < sample.index
    clip = sample.files["video"]
    assert clip.filename == "film.sample.mp4" and clip.path is not None
    assert abs(duration(clip.path) - 5.0) <= 1.0
    assert "Sample of film.mp4" in str(sample.params.get("caption"))


def test_a_bad_flag_value_is_refused_before_anything_starts(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    make_bot()
    since = bot_api.mark()
    leech(bot_api, "http://127.0.0.1:9/film.mp4 -tl 3x0")
    reply = wait_text(bot_api, r"❌|-tl", since=since, timeout=30)
    assert "is not a grid" in text_of(reply)
