"""/ytdl and /ytdlleech end to end: the real bot, real yt-dlp and ffmpeg, loopback origin."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER, USER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.media import make_media, serve_media
from tests.fakes.origin import FakeOrigin
from tests.fakes.playlists import hls_playlist, make_private_video

GROUP = -100123


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def site(origin: FakeOrigin, media: Path) -> Iterator[FakeOrigin]:
    serve_media(origin, media)
    yield origin


def height_of(path: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=height",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(json.loads(out)["streams"][0]["height"])


def menu_message(api: FakeBotAPI, chat_id: int) -> dict[str, Any]:
    api.wait_for("sendMessage", lambda c: "Choose a quality" in text_of(c), timeout=60)
    [menu] = [m for m in api.chat_messages(chat_id).values() if "Choose a quality" in m["text"]]
    return menu


def button(menu: dict[str, Any], label_start: str) -> str:
    for row in menu["reply_markup"]["inline_keyboard"]:
        for b in row:
            if b["text"].startswith(label_start):
                assert len(b["callback_data"].encode()) <= 64
                return str(b["callback_data"])
    raise AssertionError(f"no button {label_start!r} in {menu['reply_markup']}")


def answer_to(api: FakeBotAPI, query: dict[str, Any]) -> str:
    call = api.wait_for(
        "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query["id"],
        timeout=15,
    )  # fmt: skip
    return str(call.params.get("text"))


def test_menu_only_the_requester_may_choose(
    bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot(AUTHORIZED_CHATS=str(GROUP))
    bot_api.push_message(f"/ytdl {site.url}/master.m3u8", chat_id=GROUP, user_id=OWNER)
    menu = menu_message(bot_api, GROUP)
    labels = [b["text"] for row in menu["reply_markup"]["inline_keyboard"] for b in row]
    assert labels[0] == "Best" and labels[1].startswith("240p (~") and labels[2].startswith("120p")
    assert "Audio only (mp3)" in labels
    stranger = bot_api.push_callback(button(menu, "120p"), message=menu, user_id=USER)
    assert "Only the user who started" in answer_to(bot_api, stranger)
    owner = bot_api.push_callback(button(menu, "120p"), message=menu, user_id=OWNER)
    assert "120p" in answer_to(bot_api, owner)
    done = wait_text(bot_api, r"✅", chat_id=GROUP, timeout=60)
    [saved] = files_in(bot.mirror_dir)
    assert height_of(saved) == 120 and saved.name in text_of(done)


def test_reply_to_a_link_with_q_skips_the_menu(
    bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    link = bot_api.push_message(f"{site.url}/master.m3u8", chat_id=OWNER, user_id=OWNER)
    bot_api.push_message('/y -q "bv*[height=240]+ba"', chat_id=OWNER, user_id=OWNER,
                         reply_to=link)  # fmt: skip
    wait_text(bot_api, r"✅", chat_id=OWNER, timeout=60)
    assert not [c for c in bot_api.calls_of("sendMessage") if "Choose a quality" in text_of(c)]
    [saved] = files_in(bot.mirror_dir)
    assert height_of(saved) == 240


def test_no_choice_in_time_takes_best(bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any) -> None:
    bot = make_bot(YTDL_SELECT_TIMEOUT="1")
    bot_api.push_message(f"/ytdl {site.url}/master.m3u8", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"no choice in time", chat_id=OWNER, method="editMessageText", timeout=60)
    wait_text(bot_api, r"✅", chat_id=OWNER, timeout=60)
    [saved] = files_in(bot.mirror_dir)
    assert height_of(saved) == 240


def test_playlist_into_one_named_folder_and_the_broken_entry_is_listed(
    bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    site.fault("/b.mp4", throttle=30_000)  # ~2 s: the status shows the second entry
    bot_api.push_message(f"/ytdl {site.url}/list.html -n Clips -q b", chat_id=OWNER,
                         user_id=OWNER)  # fmt: skip
    wait_text(bot_api, r"2/3 Test page", chat_id=OWNER, method="editMessageText", timeout=60)
    done = text_of(wait_text(bot_api, r"✅", chat_id=OWNER, timeout=60))
    assert "failed: entry 3" in done
    folder = bot.mirror_dir / "Clips"
    assert len([p for p in folder.iterdir() if p.suffix == ".mp4"]) == 2


def test_opt_refusal_names_the_option(bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any) -> None:
    make_bot()
    bot_api.push_message(
        f"""/ytdl {site.url}/clip.mp4 -opt '{{"exec": "touch /tmp/x"}}'""",
        chat_id=OWNER, user_id=OWNER,
    )  # fmt: skip
    wait_text(bot_api, r"the option exec is refused: it runs commands", chat_id=OWNER)
    assert site.requests == []


def test_default_config_guard_no_request_reaches_the_origin(
    bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any
) -> None:
    make_bot(ALLOW_PRIVATE_LINKS="false")
    bot_api.push_message(f"/ytdl {site.url}/master.m3u8", chat_id=OWNER, user_id=OWNER)
    failed = wait_text(bot_api, r"❌", chat_id=OWNER, timeout=60)
    assert "private or local address" in text_of(failed)
    assert site.requests == [] and site.connections == 0


def test_kill9_then_resume_from_the_part_file(
    bot_api: FakeBotAPI, site: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    big = site.add("/big.mp4", size=6_000_000, seed=3, content_type="video/mp4")
    site.fault("/big.mp4", throttle=500_000)
    bot = make_bot()
    bot_api.push_message(f"/ytdl {site.url}/big.mp4 -q b", chat_id=OWNER, user_id=OWNER)
    parts = bot.download_dir

    def part_size() -> int:
        return sum(p.stat().st_size for p in parts.rglob("*.part")) if parts.exists() else 0

    bot_api.wait_for("editMessageText", lambda c: part_size() > 1_000_000, timeout=60)
    bot.kill9()
    kept = part_size()
    assert kept > 1_000_000
    site.clear_fault("/big.mp4")
    bot.start()
    wait_text(bot_api, r"✅", chat_id=OWNER, timeout=60)
    last = site.requests_for("/big.mp4", "GET")[-1]
    assert last.range is not None and int(last.range[6:].split("-")[0]) >= kept // 2
    [saved] = files_in(bot.mirror_dir)
    assert saved.read_bytes() == big.bytes()


def test_leech_as_video_with_metadata_and_doc(
    bot_api: FakeBotAPI, site: FakeOrigin, media: Path, make_bot: Any
) -> None:
    make_bot()
    since = bot_api.mark()
    bot_api.push_message(f"/yl {site.url}/clip.mp4 -q b", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=60)
    [video] = [c for c in bot_api.calls_of("sendVideo") if c.index >= since]
    params = video.params
    assert (params["width"], params["height"], params["duration"]) == (320, 240, 3)
    assert params["supports_streaming"] is True
    thumb = video.files[params["thumbnail"].removeprefix("attach://")]  # PTB attaches it
    assert thumb.size < 200_000 and thumb.read()[:2] == b"\xff\xd8"
    assert video.files["video"].read() == (media / "clip.mp4").read_bytes()
    mark = bot_api.mark()
    bot_api.push_message(f"/yl {site.url}/clip.mp4 -q b -doc", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=mark, timeout=60)
    sent = [c.method for c in bot_api.calls[mark:] if c.method in ("sendVideo", "sendDocument")]
    assert sent == ["sendDocument"]


def test_a_playlist_disguised_as_the_video_is_never_remuxed_into_the_result(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """#21 through /ytdl: the "video" is an HLS playlist naming another task's video;
    embed_metadata makes yt-dlp remux it with ffmpeg, which through hls would have put that
    video into the result. The postprocessor refuses the input: the task fails, nothing of the
    other video is delivered."""
    bot = make_bot()
    # MPEG-TS: the usual HLS segment, which ffmpeg copies packet by packet into the result.
    private = make_private_video(bot.download_dir / "0a1b2c3d4e5f" / "private.ts")
    origin.add("/clip.mp4", data=hls_playlist(private), content_type="video/mp4")
    bot_api.push_message(
        f"""/ytdl {origin.url}/clip.mp4 -q best -opt '{{"embed_metadata": true}}'""",
        chat_id=OWNER, user_id=OWNER,
    )  # fmt: skip
    done = text_of(wait_text(bot_api, r"✅|❌", chat_id=OWNER, timeout=60))
    delivered = files_in(bot.mirror_dir) if bot.mirror_dir.exists() else []
    assert all(path.read_bytes() != private.read_bytes() for path in delivered), done
    for path in delivered:  # nor a remux of it (the playlist itself is 150 bytes)
        assert path.stat().st_size < 10_000, (path, done)
    assert "❌" in done and "not a media file ffprobe may read: it is hls" in done, done
