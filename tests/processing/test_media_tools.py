"""The media tools' stages (-cv, -ca, -ff, -meta) with the real, boxed ffmpeg and ffprobe on
media made from lavfi sources; results read back with ffprobe."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError, TaskCancelled
from telebot.ffpresets import parse_presets
from telebot.processing.media.convert import convert_factory, parse_audio_target
from telebot.processing.media.mediastage import MediaStage
from telebot.processing.media.metadata import metadata_factory, parse_metadata
from telebot.processing.media.presets import check_known, presets_factory
from tests import polling, proctree
from tests.fakes.media import ffmpeg, ffprobe


def stream_hash(path: Path, selector: str) -> str:
    """The MD5 of one stream's packets, whatever the container: equal after a stream copy."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", selector, "-c", "copy", "-f", "md5",
         "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip


AV = [
    "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=2",
    "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    ffmpeg(*AV, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
           str(folder / "h264.mkv"))  # fmt: skip
    ffmpeg(*AV, "-c:v", "mpeg2video", "-c:a", "mp2", "-shortest", str(folder / "mpeg2.mkv"))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "flac",
           str(folder / "song.flac"))  # fmt: skip
    return folder


def run_stage(stage: Any, spec: TaskSpec, src: Path, workdir: Path) -> tuple[Path, Task]:
    """Run ``stage`` like the manager does: on a copy of ``src`` in a task folder, into a fresh
    stage folder."""
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / src.name
    if src.is_dir():
        subprocess.run(["cp", "-r", str(src), str(copy)], check=True)
    else:
        copy.write_bytes(src.read_bytes())
    task = Task("0123456789", spec, workdir)
    out = workdir / f".stage-0-{stage.name}"
    out.mkdir(mode=0o700)
    return stage.process(task, copy, out), task


def spec(**fields: Any) -> TaskSpec:
    return TaskSpec(kind="mirror", source="http://x/y", chat_id=1, user_id=1, **fields)


def convert(**fields: Any) -> MediaStage:
    stage = convert_factory()(spec(**fields))
    assert isinstance(stage, MediaStage)
    return stage


def test_mkv_to_mp4_of_h264_aac_is_a_stream_copy(media: Path, tmp_path: Path) -> None:
    stage = convert(convert_video="mp4")
    result, task = run_stage(stage, spec(convert_video="mp4"), media / "h264.mkv", tmp_path)
    assert result.name == "h264.mp4"
    info = ffprobe(result)
    assert "mp4" in info["format"]["format_name"]
    assert [s["codec_name"] for s in info["streams"]] == ["h264", "aac"]
    assert stage.done == [("h264.mkv", "h264.mp4", "stream copy")]
    # The packets are the input's, byte for byte: nothing was encoded again.
    assert stream_hash(result, "0:v") == stream_hash(media / "h264.mkv", "0:v")
    assert stream_hash(result, "0:a") == stream_hash(media / "h264.mkv", "0:a")
    assert task.done == task.total  # progress reached the end
    assert not (tmp_path / "h264.mkv").samefile(result)


def test_mpeg2_in_mkv_is_encoded_again_for_mp4(media: Path, tmp_path: Path) -> None:
    stage = convert(convert_video="mp4")
    result, _ = run_stage(stage, spec(convert_video="mp4"), media / "mpeg2.mkv", tmp_path)
    info = ffprobe(result)
    assert [s["codec_name"] for s in info["streams"]] == ["h264", "aac"]
    assert stage.done[0][2] == "re-encoding video (libx264), audio (aac)"


def test_mp4_to_mkv_copies_and_keep_keeps_the_original(media: Path, tmp_path: Path) -> None:
    source = tmp_path / "in" / "h264.mp4"
    source.parent.mkdir()
    ffmpeg("-i", str(media / "h264.mkv"), "-c", "copy", str(source))
    asked = spec(convert_video="mkv", keep_original=True)
    stage = convert(convert_video="mkv", keep_original=True)
    result, _ = run_stage(stage, asked, source, tmp_path / "task")
    assert result.is_dir()
    assert sorted(p.name for p in result.iterdir()) == ["h264.mkv", "h264.mp4"]
    assert (result / "h264.mp4").read_bytes() == source.read_bytes()
    assert "matroska" in ffprobe(result / "h264.mkv")["format"]["format_name"]
    assert stage.done[0][2] == "stream copy"


def test_flac_to_mp3_at_the_asked_bitrate(media: Path, tmp_path: Path) -> None:
    asked = spec(convert_audio="mp3:192k")
    result, _ = run_stage(convert(convert_audio="mp3:192k"), asked, media / "song.flac", tmp_path)
    assert result.name == "song.mp3"
    [audio] = ffprobe(result)["streams"]
    assert audio["codec_name"] == "mp3" and int(audio["bit_rate"]) == 192_000
    assert not (tmp_path / ".stage-0-convert" / "song.flac").exists()  # no -keep: dropped


def test_a_folder_converts_its_media_and_passes_the_rest(media: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "album"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("liner notes")
    (folder / "song.flac").write_bytes((media / "song.flac").read_bytes())
    (folder / "clip.mkv").write_bytes((media / "h264.mkv").read_bytes())
    asked = spec(convert_audio="opus")
    result, _ = run_stage(convert(convert_audio="opus"), asked, folder, tmp_path / "task")
    assert sorted(p.name for p in result.iterdir()) == ["clip.mkv", "notes.txt", "song.opus"]
    assert (result / "notes.txt").read_text() == "liner notes"
    # -ca leaves videos alone (docs/MEDIA.md): the film is not made into audio.
    assert (result / "clip.mkv").read_bytes() == (media / "h264.mkv").read_bytes()
    assert ffprobe(result / "song.opus")["streams"][0]["codec_name"] == "opus"


def test_flag_values_are_checked() -> None:
    assert parse_audio_target("MP3:320k") == ("mp3", "320k")
    for bad in ("wav", "mp3:9999k", "mp3:fast", "flac:320k"):
        with pytest.raises(BadInputError):
            parse_audio_target(bad)
    assert parse_metadata("title=A film|lang=ENG") == (("title", "A film"), ("lang", "eng"))
    for bad in ("title", "path=/etc/passwd", "lang=english", "title=a\nb", "title=" + "x" * 201):
        with pytest.raises(BadInputError):
            parse_metadata(bad)


# -- -ff presets ---------------------------------------------------------------------------

PRESETS = {
    "small": {"args": ["-i", "{input}", "-vf", "scale=160:-2", "-c:v", "libx264", "-preset",
                       "ultrafast", "-c:a", "copy", "{output}"], "ext": "mp4"},
    "mono": ["-i", "{input}", "-ac", "1", "{output}"],
}  # fmt: skip


def test_a_preset_is_applied_and_its_extension_used(media: Path, tmp_path: Path) -> None:
    presets = parse_presets(json.dumps(PRESETS))
    asked = spec(ffmpeg_presets=("small",))
    stage = presets_factory(presets)(asked)
    result, _ = run_stage(stage, asked, media / "h264.mkv", tmp_path)
    assert result.name == "h264.mp4"
    video = ffprobe(result)["streams"][0]
    assert (video["width"], video["height"]) == (160, 120)


def test_presets_chain_in_order(media: Path, tmp_path: Path) -> None:
    presets = parse_presets(json.dumps(PRESETS))
    asked = spec(ffmpeg_presets=("small", "mono"))
    result, _ = run_stage(presets_factory(presets)(asked), asked, media / "h264.mkv", tmp_path)
    streams = ffprobe(result)["streams"]
    assert streams[0]["width"] == 160 and streams[1]["channels"] == 1
    assert not (tmp_path / ".stage-0-ffmpeg" / ".work").exists()  # the step between is gone


def test_an_unknown_preset_name_lists_the_known_ones() -> None:
    presets = parse_presets(json.dumps(PRESETS))
    with pytest.raises(BadInputError, match=r"no preset named huge.*Known presets: mono, small"):
        check_known(("small", "huge"), presets)


# -- -meta -----------------------------------------------------------------------------------


def test_metadata_is_written_by_stream_copy(media: Path, tmp_path: Path) -> None:
    asked = spec(metadata="title=Über Film|artist=The Testers|lang=deu")
    stage = metadata_factory()(asked)
    result, _ = run_stage(stage, asked, media / "h264.mkv", tmp_path)
    assert result.name == "h264.mkv"
    info = ffprobe(result)
    tags = {k.lower(): v for k, v in info["format"]["tags"].items()}
    assert tags["title"] == "Über Film" and tags["artist"] == "The Testers"
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert audio["tags"]["language"] == "deu"
    assert stream_hash(result, "0:v") == stream_hash(media / "h264.mkv", "0:v")


# -- cancel ----------------------------------------------------------------------------------

# 1080p at x264's medium preset: output (and so progress) within seconds, the whole minutes.
SLOW = {"slow": ["-i", "{input}", "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset",
                 "medium", "{output}"]}  # fmt: skip


def test_progress_comes_from_ffmpeg_and_cancel_reaps_it_before_the_stage_returns(
    tmp_path: Path,
) -> None:
    long_clip = tmp_path / "src" / "long.mkv"
    long_clip.parent.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=120", "-c:v", "libx264",
           "-preset", "ultrafast", str(long_clip))  # fmt: skip
    asked = spec(ffmpeg_presets=("slow",))
    stage = presets_factory(parse_presets(json.dumps(SLOW)))(asked)
    workdir = tmp_path / "task"
    workdir.mkdir()
    task = Task("0123456789", asked, workdir)
    out = workdir / ".stage-0-ffmpeg"
    out.mkdir()
    outcome: list[BaseException | Path] = []

    def run() -> None:
        try:
            outcome.append(stage.process(task, long_clip, out))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    ffmpegs: dict[int, int] = {}

    def converting() -> bool:
        ffmpegs.update(proctree.matching(str(out).encode()))
        return bool(ffmpegs)

    polling.wait_until(converting, 60, "ffmpeg started on the preset")
    # -progress pipe:1: out_time_us against the probed 120 s, in bytes of the input.
    polling.wait_until(lambda: task.done > 0, 120, "ffmpeg reported progress")
    assert task.total == long_clip.stat().st_size and task.done < task.total
    task.cancel("user asked")
    worker.join(30)
    assert not worker.is_alive()
    assert isinstance(outcome[0], TaskCancelled)
    assert not proctree.running(ffmpegs)  # reaped by the stage itself, not later


def test_a_converted_file_never_takes_the_name_of_one_that_stays(
    media: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "show"
    folder.mkdir(parents=True)
    (folder / "ep.mkv").write_bytes((media / "h264.mkv").read_bytes())
    (folder / "ep.mp4").write_bytes(b"an mp4 that is already there")  # not media: passes
    asked = spec(convert_video="mp4")
    result, _ = run_stage(convert(convert_video="mp4"), asked, folder, tmp_path / "task")
    assert sorted(p.name for p in result.iterdir()) == ["ep.converted.mp4", "ep.mp4"]
    assert (result / "ep.mp4").read_bytes() == b"an mp4 that is already there"
    assert ffprobe(result / "ep.converted.mp4")["streams"][0]["codec_name"] == "h264"
