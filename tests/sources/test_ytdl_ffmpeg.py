"""yt-dlp's postprocessor ffmpeg runs read only their inputs (telebot/sources/ytdl/ffmpeg.py),
with the real yt-dlp and ffmpeg: a downloaded "video" that is an HLS playlist naming another
task's video is never copied into the result; the usual postprocessor inputs (media, subtitles,
chapter metadata, thumbnails) still work."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from yt_dlp.postprocessor.ffmpeg import (
    FFmpegEmbedSubtitlePP,
    FFmpegExtractAudioPP,
    FFmpegMetadataPP,
    FFmpegPostProcessor,
    FFmpegPostProcessorError,
)
from yt_dlp.utils import PostProcessingError

from telebot import fftools, sandbox
from telebot.sources.ytdl.ffmpeg import input_options
from telebot.sources.ytdl.net import NetGuard, make_youtubedl
from tests.fakes.playlists import hls_playlist, make_private_video


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_private_video(tmp_path_factory.mktemp("other-task") / "private.mp4")


@pytest.fixture
def ydl() -> Any:
    return make_youtubedl({"quiet": True, "no_warnings": True}, NetGuard(allow_private=True))


def _size(path: Path) -> str:
    """The video size, probed with the whitelists: a playlist is never described here."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
         *fftools.input_options(path), fftools.input_url(path)],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return out.strip()


def test_a_disguised_playlist_is_not_merged_or_remuxed_into_the_result(
    ydl: Any, private: Path, tmp_path: Path
) -> None:
    clip = tmp_path / "video.f137.mp4"
    clip.write_bytes(hls_playlist(private))
    out = tmp_path / "video.mp4"
    pp = FFmpegPostProcessor(ydl)
    refused = r"video\.f137\.mp4: not a media file .* it is hls"
    with pytest.raises(FFmpegPostProcessorError, match=refused):
        pp.run_ffmpeg_multiple_files([str(clip)], str(out), ["-c", "copy", "-map", "0"])
    assert not out.exists() or "176,144" not in _size(out)


def test_the_metadata_step_does_not_swap_in_the_private_video(
    ydl: Any, private: Path, tmp_path: Path
) -> None:
    """embed_metadata: yt-dlp remuxes the download with its tags; through hls that remux
    would have replaced the file by the other task's video."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(hls_playlist(private))
    pp = FFmpegMetadataPP(ydl, add_metadata=True)
    with pytest.raises(FFmpegPostProcessorError):
        pp.run({"filepath": str(clip), "ext": "mp4", "title": "clip", "id": "x"})
    assert "176,144" not in _size(clip)
    assert clip.read_bytes() == hls_playlist(private)


def test_usual_inputs_still_work(ydl: Any, private: Path, tmp_path: Path) -> None:
    film = tmp_path / "film.mp4"
    film.write_bytes(private.read_bytes())
    # Tags and chapters: a second input, yt-dlp's own ;FFMETADATA1 file.
    FFmpegMetadataPP(ydl, add_metadata=True, add_chapters=True).run({
        "filepath": str(film), "ext": "mp4", "title": "Film", "id": "x",
        "chapters": [{"start_time": 0, "end_time": 2, "title": "One"},
                     {"start_time": 2, "end_time": 4, "title": "Two"}],
    })  # fmt: skip
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json", str(film)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    data = json.loads(probe)
    assert [c["tags"]["title"] for c in data["chapters"]] == ["One", "Two"]
    assert data["format"]["tags"]["title"] == "Film"
    # Subtitles: a WebVTT input.
    vtt = tmp_path / "film.en.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n", encoding="utf-8")
    FFmpegEmbedSubtitlePP(ydl).run({
        "filepath": str(film), "ext": "mp4", "id": "x",
        "requested_subtitles": {"en": {"ext": "vtt", "filepath": str(vtt)}},
    })  # fmt: skip
    streams = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
         str(film)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "subtitle" in streams


def test_a_picture_input_reads_that_one_file(ydl: Any, tmp_path: Path) -> None:
    """Thumbnails: image2 only for a picture's name, and without a %d sequence."""
    picture = tmp_path / "cover%d.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1",
         "-update", "1", "file:" + str(picture)],
        check=True,
    )  # fmt: skip
    out = tmp_path / "cover.png"
    FFmpegPostProcessor(ydl).run_ffmpeg(str(picture), str(out), [])
    assert _size(out) == "64,48"
    opts = input_options(str(picture), [])
    assert opts[opts.index("-pattern_type") + 1] == "none"
    assert "image2" in opts[opts.index("-format_whitelist") + 1].split(",")
    assert "image2" not in input_options(str(tmp_path / "film.mp4"), [])[-1].split(",")


@pytest.mark.skipif(not sandbox.status().on, reason=f"sandbox off: {sandbox.status().reason}")
def test_the_postprocessor_run_is_boxed(
    ydl: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With hls let through on purpose, the box alone keeps the metadata step from remuxing
    another task's video (an MPEG-TS segment, which ffmpeg copies packet by packet)."""
    monkeypatch.setattr(fftools, "INPUT_FORMATS", (*fftools.INPUT_FORMATS, "hls"))
    private = make_private_video(tmp_path_factory.mktemp("other-task") / "private.ts")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(hls_playlist(private))
    with contextlib.suppress(FFmpegPostProcessorError):
        FFmpegMetadataPP(ydl, add_metadata=True).run(
            {"filepath": str(clip), "ext": "mp4", "title": "clip", "id": "x"}
        )
    monkeypatch.undo()  # the check below must not read through hls itself
    assert "176,144" not in _size(clip)
    assert clip.stat().st_size < 10_000  # not a remux of the 100 KB video


def test_yt_dlps_probes_of_a_disguised_playlist_read_nothing(
    ydl: Any, private: Path, tmp_path: Path
) -> None:
    """get_audio_codec / get_metadata_object: through hls they described the other task's
    video to yt-dlp."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(hls_playlist(private))
    pp = FFmpegPostProcessor(ydl)
    assert pp.get_audio_codec(str(clip)) is None
    with pytest.raises(PostProcessingError, match="not a media file"):
        pp.get_metadata_object(str(clip))
    real = tmp_path / "real.mp4"
    real.write_bytes(private.read_bytes())
    assert pp.get_audio_codec(str(real)) == "aac"
    assert pp.get_metadata_object(str(real))["streams"][0]["width"] == 176


@pytest.mark.parametrize("codec", ["mp3", "m4a"])
def test_audio_extraction_still_works(
    ydl: Any, private: Path, tmp_path: Path, codec: str
) -> None:
    """The menu's "Audio only": get_audio_codec (boxed ffprobe) then the boxed ffmpeg."""
    film = tmp_path / "film.mp4"
    film.write_bytes(private.read_bytes())
    _, info = FFmpegExtractAudioPP(ydl, preferredcodec=codec).run(
        {"filepath": str(film), "ext": "mp4", "id": "x"}
    )
    assert info["filepath"] == str(tmp_path / f"film.{codec}")
    assert Path(info["filepath"]).stat().st_size > 1000
