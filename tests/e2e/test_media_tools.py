"""The media tools end to end (docs/MEDIA.md): the real bot converts (-cv, -ca), applies the
owner's presets (-ff) and tags (-meta) with the real ffmpeg, takes a replied-to photo as one
task's thumbnail (-t), and reruns an interrupted conversion after a kill -9."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests import polling, proctree
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, wait_text
from tests.e2e.test_usettings import enter, open_menu, thumbnail_of
from tests.fakes.bot_api import Call, FakeBotAPI
from tests.fakes.media import ffmpeg, ffprobe
from tests.fakes.origin import FakeOrigin

FAST = ["-i", "{input}", "-vf", "scale=160:-2", "-c:v", "libx264", "-preset", "ultrafast",
        "{output}"]  # fmt: skip
# The same name, slow: 1080p at x264's slowest preset keeps ffmpeg busy long enough to be killed.
SLOW = ["-i", "{input}", "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "veryslow",
        "{output}"]  # fmt: skip
PRESETS = json.dumps({"small": FAST, "mono": ["-i", "{input}", "-ac", "1", "{output}"]})




def clip(folder: Path, seconds: int = 2) -> bytes:
    path = folder / f"clip{seconds}.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=320x240:rate=15:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:v", "libx264", "-preset",
           "ultrafast", "-c:a", "aac", "-shortest", str(path))  # fmt: skip
    return path.read_bytes()


def picture(source: str) -> bytes:
    """A real 320x180 JPEG drawn by lavfi ``source``."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{source}=size=320x180:duration=1",
         "-frames:v", "1", "-c:v", "mjpeg", "-f", "image2pipe", "pipe:1"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip


def sent(api: FakeBotAPI, method: str, since: int) -> list[Call]:
    return [c for c in api.calls_of(method) if c.index >= since and c.status == 200]


def test_mirror_cv_mkv_with_meta_arrives_as_tagged_mkv(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    bot = make_bot()
    origin.add("/clip.mp4", data=clip(tmp_path), content_type="video/mp4")
    since = bot_api.mark()
    bot_api.push_message(
        f"/mirror {origin.url}/clip.mp4 -cv mkv -meta 'title=E2E Film|artist=Bot|lang=eng'",
        chat_id=OWNER, user_id=OWNER,
    )
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "clip.mkv"
    info = ffprobe(saved)
    assert "matroska" in info["format"]["format_name"]
    assert [s["codec_name"] for s in info["streams"]] == ["h264", "aac"]  # copied, not encoded
    tags = {k.lower(): v for k, v in info["format"]["tags"].items()}
    assert tags["title"] == "E2E Film" and tags["artist"] == "Bot"
    assert info["streams"][1]["tags"]["language"] == "eng"
    assert files_in(bot.download_dir) == []


def test_leech_audio_presets_and_a_task_thumbnail(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    make_bot(FFMPEG_PRESETS=PRESETS)
    song = tmp_path / "song.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "flac", str(song))
    origin.add("/song.flac", data=song.read_bytes(), content_type="audio/flac")
    origin.add("/clip.mp4", data=clip(tmp_path), content_type="video/mp4")

    # The user's defaults: tags for every task (-meta's /usetting), their own thumbnail.
    mine, for_task = picture("testsrc"), picture("rgbtestsrc")
    assert mine != for_task
    menu = open_menu(bot_api)
    enter(bot_api, menu, "Metadata (-meta)", "lang=english", reply=r"❌ .*three-letter")
    enter(bot_api, menu, "Metadata (-meta)", "artist=Menu Artist|lang=fra")
    enter(bot_api, menu, "Set thumbnail", photo=bot_api.add_photo(mine))

    # -ca mp3: the FLAC is sent as an MP3 audio at the asked bitrate, tagged by the default.
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/song.flac -ca mp3:128k -med",
                         chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    [audio] = sent(bot_api, "sendAudio", since)
    upload = audio.files["audio"]
    assert upload.filename == "song.mp3" and upload.path is not None
    info = ffprobe(upload.path)
    [stream] = info["streams"]
    assert stream["codec_name"] == "mp3" and int(stream["bit_rate"]) == 128_000
    assert info["format"]["tags"]["artist"] == "Menu Artist"
    assert audio.params["performer"] == "Menu Artist"  # read back by the sink for sendAudio

    # -ff with a name the owner did not define: refused at once, naming the known ones.
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/clip.mp4 -ff small,huge",
                         chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"❌.*no preset named huge.*Known presets: mono, small", chat_id=OWNER,
              since=since)

    # -t: the replied-to photo is this task's thumbnail; the user's own one is left alone.
    photo = bot_api.push_message("", chat_id=OWNER, user_id=OWNER,
                                 photo=bot_api.add_photo(for_task))
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/clip.mp4 -med -t -ff small",
                         chat_id=OWNER, user_id=OWNER, reply_to=photo)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    [video] = sent(bot_api, "sendVideo", since)
    assert thumbnail_of(video) == for_task
    assert video.params["width"] == 160  # the preset scaled it
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/clip.mp4 -med", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    [video] = sent(bot_api, "sendVideo", since)
    assert thumbnail_of(video) == mine

    # -t without a photo to take: refused, saying how to use it.
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/clip.mp4 -t", chat_id=OWNER, user_id=OWNER)
    wait_text(bot_api, r"❌.*-t: reply to a photo", chat_id=OWNER, since=since)


def test_kill_during_a_preset_reruns_the_stage_after_restart(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, tmp_path: Path
) -> None:
    origin.add("/long.mp4", data=clip(tmp_path, seconds=60), content_type="video/mp4")
    home = tmp_path / "bot"
    bot = make_bot(home=home, FFMPEG_PRESETS=json.dumps({"shrink": SLOW}))
    since = bot_api.mark()
    bot_api.push_message(f"/mirror {origin.url}/long.mp4 -ff shrink", chat_id=OWNER,
                         user_id=OWNER)
    # The bot's own ffmpeg, followed by pid and start time after the kill.
    ffmpegs: dict[int, int] = {}

    def converting() -> bool:
        ffmpegs.update(proctree.matching(b"veryslow"))
        return bool(ffmpegs)

    polling.wait_until(converting, 120, "ffmpeg started on the preset", poll=0.01)
    bot.kill9()
    polling.wait_until(lambda: not proctree.running(ffmpegs), 10, "ffmpeg exited with the bot")
    # The same preset name, now quick: the rerun starts the stage again in an emptied folder.
    restarted = make_bot(home=home, FFMPEG_PRESETS=json.dumps({"shrink": FAST}))
    wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=180)
    [saved] = files_in(restarted.mirror_dir)
    assert saved.name == "long.mp4"
    video = ffprobe(saved)["streams"][0]
    assert video["width"] == 160
    assert abs(float(ffprobe(saved)["format"]["duration"]) - 60) < 1  # whole, not a torn part
    assert files_in(restarted.download_dir) == []
