"""A custom thumbnail checked by the boxed ffprobe and fitted by the boxed ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from telebot.processing.media.thumbnail import MAX_BYTES, prepare_thumbnail


def picture(path: Path, size: str, codec: str) -> bytes:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:duration=1",
         "-frames:v", "1", "-c:v", codec, "-f", "image2", "-update", "1", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes()


def dimensions(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of",
         "csv=p=0", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip


def test_a_fitting_jpeg_is_kept_byte_for_byte(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    data = picture(raw, "320x180", "mjpeg")
    got = prepare_thumbnail(raw, tmp_path / "thumb.jpg")
    assert got == tmp_path / "thumb.jpg" and got.read_bytes() == data
    assert not raw.exists()


def test_a_big_png_becomes_a_small_jpeg(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"  # as the sink names it: the demuxer follows the content
    picture(raw, "1280x720", "png")
    got = prepare_thumbnail(raw, tmp_path / "thumb.jpg")
    assert got is not None
    assert dimensions(got) == "mjpeg,320,180"
    assert got.stat().st_size < MAX_BYTES


def test_bytes_that_are_no_picture_give_no_thumbnail(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\xff\xd8\xff\xe0" + b"not really" * 100 + b"\xff\xd9")
    assert prepare_thumbnail(raw, tmp_path / "thumb.jpg") is None
    assert not (tmp_path / "thumb.jpg").exists() and not raw.exists()
    video = tmp_path / "clip.bin"  # a video where a photo was expected
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=1",
                    "-c:v", "libx264", "-f", "mp4", str(video)], check=True, timeout=60)
    assert prepare_thumbnail(video, tmp_path / "thumb.jpg") is None
