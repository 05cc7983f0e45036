"""Video metadata with the real ffprobe/ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from telebot.processing.media.attributes import (
    THUMB_MAX_BYTES,
    audio_fields,
    media_fields,
    probe_video,
    video_fields,
)


@pytest.fixture(scope="module")
def wide_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 1280x720 noise-like test pattern: its full-size frame would be far over 200 kB."""
    out = tmp_path_factory.mktemp("v") / "wide.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
         "testsrc2=size=1280x720:rate=10:duration=2,noise=alls=60:allf=t", "-c:v", "libx264",
         "-preset", "ultrafast", str(out)],
        check=True, timeout=120,
    )  # fmt: skip
    return out


def test_probe_and_thumbnail(wide_video: Path, tmp_path: Path) -> None:
    fields = video_fields(wide_video, tmp_path / "thumbs")
    assert fields["duration"] == 2 and (fields["width"], fields["height"]) == (1280, 720)
    assert fields["supports_streaming"] is True
    thumb: Path = fields["thumbnail"]
    assert thumb.read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert thumb.stat().st_size < THUMB_MAX_BYTES
    size = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
         str(thumb)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert size == "320,180"


def test_not_a_video_gives_no_fields(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert probe_video(junk) is None
    assert video_fields(junk, tmp_path) == {}


def test_ogg_tags_live_in_the_stream(tmp_path: Path) -> None:
    song = tmp_path / "song.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=2", "-metadata",
         "TITLE=Stream Title", "-metadata", "ARTIST=Stream Artist", "-c:a", "libopus", str(song)],
        check=True, timeout=120,
    )  # fmt: skip
    assert audio_fields(song, tmp_path) == {
        "duration": 2, "title": "Stream Title", "performer": "Stream Artist"
    }


def test_a_video_sent_as_a_document_gets_only_a_thumbnail(wide_video: Path, tmp_path: Path) -> None:
    assert set(media_fields(wide_video, "document", tmp_path, video=True)) == {"thumbnail"}
    assert media_fields(wide_video, "document", tmp_path, video=False) == {}
