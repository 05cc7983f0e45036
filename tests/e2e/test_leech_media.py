"""/leech of media end to end: a video over the part size arrives as parts that each play, with
their metadata and thumbnails; audio carries its tags; a playlist disguised as a video goes as
a plain document (real ffmpeg/ffprobe, fake Bot API)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import Call, FakeBotAPI, UploadedFile
from tests.fakes.media import make_film, make_song
from tests.fakes.origin import FakeOrigin
from tests.fakes.playlists import hls_playlist, make_private_video

PART = 3_000_000  # -sp 3mb
GOP_SECONDS = 1.0  # -g 25 at 25 fps: the tolerance of a keyframe cut


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``film.mp4`` (about 9 MB, 10 s, keyframe every second: three to four 3 MB parts) and
    ``song.mp3`` (tagged, with a cover picture)."""
    folder = tmp_path_factory.mktemp("media")
    make_film(folder / "film.mp4")
    make_song(folder / "song.mp3")
    return folder


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_entries",
         "format=duration:stream=codec_type,width,height", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


def duration(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


def uploads(api: FakeBotAPI, since: int, method: str) -> list[Call]:
    return [c for c in api.calls_of(method) if c.index >= since and c.status == 200]


def attached(call: Call, field: str) -> UploadedFile:
    """The multipart part a parameter points to (``attach://name``)."""
    ref = str(call.params[field])
    assert ref.startswith("attach://"), ref
    return call.files[ref[len("attach://") :]]


def leech(api: FakeBotAPI, text: str) -> None:
    api.push_message(f"/leech {text}", chat_id=OWNER, user_id=OWNER)


def serve(origin: FakeOrigin, media: Path, name: str, content_type: str) -> str:
    origin.add(f"/{name}", data=(media / name).read_bytes(), content_type=content_type)
    return f"{origin.url}/{name}"


def test_big_video_arrives_as_parts_that_each_play(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    make_bot(MEDIA_GROUP="false")  # one message per part (albums: test_leech_albums.py)
    source = media / "film.mp4"
    assert source.stat().st_size > 2 * PART
    url = serve(origin, media, "film.mp4", "video/mp4")
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp 3mb -med")
    done = wait_text(bot_api, r"✅", since=since, timeout=120)
    parts = uploads(bot_api, since, "sendVideo")
    names = [c.files["video"].filename for c in parts]
    assert names == [f"film.part{i}.mp4" for i in range(1, len(parts) + 1)]
    assert len(parts) >= 3
    total = 0.0
    for call in parts:
        upload = call.files["video"]
        assert upload.path is not None and upload.size < PART
        info = probe(upload.path)  # the bytes the bot uploaded, as saved by the fake
        seconds = float(info["format"]["duration"])
        total += seconds
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        assert (call.params["width"], call.params["height"]) == (640, 360) == (
            video["width"], video["height"])
        assert abs(int(call.params["duration"]) - seconds) <= 1
        thumb = attached(call, "thumbnail")
        assert thumb.read()[:2] == b"\xff\xd8" and thumb.size < 200_000  # a JPEG
    assert abs(total - duration(source)) <= GOP_SECONDS
    assert f"Sent {len(parts)} files" in text_of(done)
    assert "part 2 of film.mp4" in str(parts[1].params.get("caption"))


def test_doc_keeps_the_byte_split_and_plain_leech_gets_playable_documents(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    make_bot()
    url = serve(origin, media, "film.mp4", "video/mp4")
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp 3mb -doc")
    wait_text(bot_api, r"✅", since=since, timeout=120)
    parts = uploads(bot_api, since, "sendDocument")
    count = -(-(media / "film.mp4").stat().st_size // PART)
    expected = [f"film.mp4.{i:03d}" for i in range(1, count + 1)]
    assert [c.files["document"].filename for c in parts] == expected
    joined = b"".join(c.files["document"].read() for c in parts)
    assert joined == (media / "film.mp4").read_bytes()  # -doc: the exact bytes, joinable

    mark = bot_api.mark()
    leech(bot_api, f"{url} -sp 3mb")
    wait_text(bot_api, r"✅", since=mark, timeout=120)
    parts = uploads(bot_api, mark, "sendDocument")
    assert parts and all(c.files["document"].filename.startswith("film.part") for c in parts)
    for call in parts:
        path = call.files["document"].path
        assert path is not None and duration(path) > 0  # plays on its own
        assert attached(call, "thumbnail").read()[:2] == b"\xff\xd8"


def test_audio_carries_duration_title_performer_and_cover(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    make_bot()
    url = serve(origin, media, "song.mp3", "audio/mpeg")
    since = bot_api.mark()
    leech(bot_api, f"{url} -med")
    wait_text(bot_api, r"✅", since=since, timeout=60)
    [call] = uploads(bot_api, since, "sendAudio")
    assert call.params["title"] == "Test Song"
    assert call.params["performer"] == "The Testers"
    assert int(call.params["duration"]) == 3
    assert attached(call, "thumbnail").read()[:2] == b"\xff\xd8"


def test_a_playlist_disguised_as_a_video_goes_as_a_plain_document(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    """#21: "clip.mp4" is an HLS playlist naming a video in another task's folder. Its
    duration, size and a frame of it would have gone out with the upload (sendVideo fields and
    thumbnail); now ffmpeg refuses the file and it goes as what it is, a small document."""
    bot = make_bot()
    private = make_private_video(bot.download_dir / "0a1b2c3d4e5f" / "private.mp4")
    playlist = hls_playlist(private)
    origin.add("/clip.mp4", data=playlist, content_type="video/mp4")
    since = bot_api.mark()
    leech(bot_api, f"{origin.url}/clip.mp4 -med")
    wait_text(bot_api, r"✅", since=since, timeout=60)
    assert uploads(bot_api, since, "sendVideo") == []
    [call] = uploads(bot_api, since, "sendDocument")
    assert call.files["document"].read() == playlist
    assert not {"duration", "width", "height", "thumbnail"} & set(call.params)
    assert [name for name in call.files if name != "document"] == []  # no thumbnail file


def test_kill9_mid_video_leech_resumes_with_the_same_parts_each_sent_once(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, media: Path
) -> None:
    """Part 2 is stored but its answer never comes before kill -9: after the restart it is not
    sent again (reported instead), and the parts after it continue at the same keyframes."""
    bot = make_bot(MEDIA_GROUP="false")
    url = serve(origin, media, "film.mp4", "video/mp4")
    bot_api.stall_next("sendVideo", 120, then_respond=True, skip=1)
    since = bot_api.mark()
    leech(bot_api, f"{url} -sp 3mb -med")
    bot_api.wait_for(
        "sendVideo", lambda c: "part 2 of" in str(c.params.get("caption")), since=since,
        timeout=120,
    )
    bot.kill9()
    bot.start()
    done = wait_text(bot_api, r"✅", since=since, timeout=180)
    parts = uploads(bot_api, since, "sendVideo")
    names = [c.files["video"].filename for c in parts]
    assert names == [f"film.part{i}.mp4" for i in range(1, len(parts) + 1)]  # each once
    assert text_of(done).count("check that it arrived") == 1
    total = 0.0
    for call in parts:
        path = call.files["video"].path
        assert path is not None and call.files["video"].size < PART
        total += duration(path)
    assert abs(total - duration(media / "film.mp4")) <= GOP_SECONDS
