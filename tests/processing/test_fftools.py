"""ffmpeg/ffprobe read only the file they are given (telebot/fftools.py), with the
real tools: a "clip" that is an HLS playlist or an ffconcat list naming another video yields
no description, fields, thumbnail or parts of that video; real media of every usual container
still reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from telebot import fftools
from telebot.errors import ProcessingError
from telebot.processing.media import mediainfo
from telebot.processing.media.attributes import (
    make_thumbnail,
    media_fields,
    probe_audio,
    probe_video,
)
from telebot.processing.media.videosplit import open_split, probe_gops
from tests.fakes.playlists import ffconcat_list, hls_playlist, make_private_video

PRIVATE = "176x144"


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A video in "another task's folder"."""
    return make_private_video(tmp_path_factory.mktemp("other-task") / "private.mp4")


@pytest.fixture
def disguised(private: Path, tmp_path: Path) -> Path:
    """``clip.mp4`` in this task's folder: an HLS playlist whose segment is the private video."""
    clip = tmp_path / "task" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(hls_playlist(private))
    return clip


@pytest.fixture
def disguised_ts(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """The same with an MPEG-TS segment (the usual kind), which ffmpeg reads packet by packet
    through the hls demuxer: what the split's packet listing needs."""
    private = make_private_video(tmp_path_factory.mktemp("other-task") / "private.ts")
    clip = tmp_path / "task-ts" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(hls_playlist(private))
    return clip


@pytest.fixture
def concat_list(private: Path, tmp_path: Path) -> Path:
    """``list.mkv``: an ffconcat script naming a video beneath its folder (the concat demuxer
    refuses absolute and ``..`` names by itself, not names beneath)."""
    folder = tmp_path / "task-with-a-list"
    folder.mkdir()
    (folder / "inner").mkdir()
    (folder / "inner" / "hidden.mp4").write_bytes(private.read_bytes())
    listed = folder / "list.mkv"
    listed.write_bytes(ffconcat_list("inner/hidden.mp4"))
    return listed


def _or_refused(call: object) -> object:
    """The call's result, or "refused" when it raised the bot's ProcessingError."""
    assert callable(call)
    try:
        return call()
    except ProcessingError:
        return "refused"


# --------------------------------------------------------------------------- /mediainfo


def test_mediainfo_of_a_playlist_named_like_a_clip_is_one_line_not_the_private_video(
    disguised: Path, tmp_path: Path
) -> None:
    sample = tmp_path / "sample"  # the name /mediainfo gives the fetched head
    sample.write_bytes(disguised.read_bytes())
    with pytest.raises(ProcessingError) as caught:
        data = mediainfo.probe(sample)
        pytest.fail(f"ffprobe described it: {mediainfo.summary(data, 'clip.mp4')}")
    text = str(caught.value)
    assert text.startswith("not a media file ffprobe may read") and "hls" in text
    assert PRIVATE not in text


def test_mediainfo_of_an_ffconcat_list_is_refused(concat_list: Path) -> None:
    with pytest.raises(ProcessingError, match="not a media file ffprobe may read: it is concat"):
        data = mediainfo.probe(concat_list)
        pytest.fail(f"ffprobe described it: {mediainfo.summary(data, 'list.mkv')}")


# ------------------------------------------------------------------- leech media fields


@pytest.mark.parametrize("field", ["video", "document", "audio"])
def test_media_fields_of_a_disguised_playlist_are_none_and_read_nothing(
    disguised: Path, tmp_path: Path, field: str
) -> None:
    thumbs = tmp_path / "thumbs"
    fields = media_fields(disguised, field, thumbs, video=True)
    assert fields is None  # the sink sends it as a plain document
    assert not thumbs.exists() or not any(thumbs.iterdir())


def test_probes_and_thumbnail_never_see_the_private_video(
    disguised: Path, disguised_ts: Path, concat_list: Path, tmp_path: Path
) -> None:
    for clip in (disguised, disguised_ts, concat_list):
        assert _or_refused(lambda clip=clip: probe_video(clip)) == "refused"
        assert _or_refused(lambda clip=clip: probe_audio(clip)) == "refused"
        out = tmp_path / "thumbs" / f"{clip.stem}.jpg"
        assert _or_refused(lambda clip=clip, out=out: make_thumbnail(clip, out, 1)) == "refused"
        assert not out.exists()


# ------------------------------------------------------------------------- video split


def test_the_video_split_of_a_disguised_playlist_falls_back_to_bytes(
    disguised: Path, disguised_ts: Path, concat_list: Path, tmp_path: Path
) -> None:
    """(ffmpeg 5.1 lists no packets through hls for an MP4 segment, but does for MPEG-TS.)"""
    for clip in (disguised, disguised_ts, concat_list):
        parts = tmp_path / f"parts-{clip.stem}"
        assert probe_gops(clip) is None
        assert open_split(clip, parts, 20_000) is None  # the caller's byte split takes it
        assert not parts.exists() or not any(parts.iterdir())


# ---------------------------------------------------------------- real media still reads


@pytest.mark.parametrize(
    ("name", "codecs"),
    [
        ("v.mp4", ["-c:v", "libx264", "-c:a", "aac"]),
        ("v.mkv", ["-c:v", "libx264", "-c:a", "libopus"]),
        ("v.webm", ["-c:v", "libvpx", "-c:a", "libopus"]),
        ("v.avi", ["-c:v", "mpeg4", "-c:a", "mp3"]),
        ("v.flv", ["-c:v", "flv", "-c:a", "mp3"]),
        ("v.ts", ["-c:v", "libx264", "-c:a", "mp2"]),
        ("v.mov", ["-c:v", "mjpeg", "-c:a", "pcm_s16le"]),
    ],
)
def test_usual_videos_still_give_their_fields(tmp_path: Path, name: str, codecs: list[str]) -> None:
    path = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=5:duration=2",
         "-f", "lavfi", "-i", "sine=duration=2", *codecs, "-shortest", str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    fields = media_fields(path, "video", tmp_path / "thumbs", video=True)
    assert fields is not None and (fields["width"], fields["height"]) == (96, 64)
    assert fields["thumbnail"].read_bytes()[:2] == b"\xff\xd8"
    assert mediainfo.probe(path)["streams"]


@pytest.mark.parametrize(
    ("name", "codec"),
    [("a.mp3", "libmp3lame"), ("a.ogg", "libvorbis"), ("a.flac", "flac"),
     ("a.wav", "pcm_s16le"), ("a.m4a", "aac"), ("a.opus", "libopus"), ("a.aac", "aac")],
)  # fmt: skip
def test_usual_audio_still_gives_its_duration(tmp_path: Path, name: str, codec: str) -> None:
    path = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=2", "-c:a", codec,
         str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    fields = media_fields(path, "audio", tmp_path / "thumbs", video=False)
    assert fields is not None and fields["duration"] == 2


def test_a_thumbnail_name_with_a_percent_sign_is_written_as_is(tmp_path: Path) -> None:
    """image2 would take "%d" for a numbered sequence (``-update 1`` writes the one name)."""
    path = tmp_path / "ep%d.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=5:duration=2",
         "-c:v", "libx264", "file:" + str(path)],
        check=True, timeout=120,
    )  # fmt: skip
    fields = media_fields(path, "video", tmp_path / "thumbs", video=True)
    assert fields is not None and fields["thumbnail"] == tmp_path / "thumbs" / "ep%d.jpg"
    assert fields["thumbnail"].is_file()


def test_every_listed_demuxer_exists_in_this_ffmpeg() -> None:
    """A misspelt name would refuse that format silently."""
    listing = subprocess.run(
        ["ffmpeg", "-hide_banner", "-demuxers"], capture_output=True, text=True, check=True
    ).stdout
    names = {n for line in listing.splitlines()[4:] if line[:3].strip() for n in
             line.split()[1].split(",")}  # fmt: skip
    assert set(fftools.INPUT_FORMATS) - names == set()
    assert not {"hls", "dash", "concat", "imf", "image2", "vobsub"} & set(fftools.INPUT_FORMATS)


def test_a_picture_named_as_one_is_described_and_only_that_file_is_read(tmp_path: Path) -> None:
    """image2 (how a .jpg probes, e.g. a local Bot API server's photos/file_1.jpg) is allowed
    for picture names only, and reads one file even with a %d in its name."""
    picture = tmp_path / "photo%d.jpg"
    for name, size in ((picture, "64x48"), (tmp_path / "photo1.jpg", "176x144")):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}",
             "-frames:v", "1", "-update", "1", "file:" + str(name)],
            check=True, timeout=60,
        )  # fmt: skip
    data = mediainfo.probe(picture)
    assert [(s["width"], s["height"]) for s in data["streams"]] == [(64, 48)]
    assert data["format"]["format_name"] == "image2"
    renamed = tmp_path / "photo.bin"  # the same bytes under another name: not image2
    renamed.write_bytes(picture.read_bytes())
    assert mediainfo.probe(renamed)["format"]["format_name"] == "jpeg_pipe"
    assert "image2" not in fftools.input_options(tmp_path / "clip.mp4")[-1].split(",")
