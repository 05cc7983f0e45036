"""The box behind the whitelists (telebot/fftools.py, telebot/sandbox): with the hls
demuxer let through on purpose, the bot's own ffmpeg/ffprobe calls still cannot read another
task's folder, and ffmpeg cannot write outside its output folder (real tools, Landlock).

The whitelist is bypassed by adding ``hls`` to :data:`fftools.INPUT_FORMATS` for the test, so
only the box stands between the playlist and the private video.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from telebot import fftools, sandbox
from telebot.childproc import run_tool
from telebot.errors import ProcessingError
from telebot.processing.media import mediainfo
from telebot.processing.media.attributes import media_fields
from telebot.processing.media.videosplit import open_split
from tests.fakes.playlists import hls_playlist, make_private_video

pytestmark = pytest.mark.skipif(
    not sandbox.status().on, reason=f"sandbox off: {sandbox.status().reason}"
)

@pytest.fixture
def tasks(tmp_path: Path) -> tuple[Path, Path]:
    """Two task folders side by side, as in DOWNLOAD_DIR: ours and another user's, which
    holds a video."""
    ours, theirs = tmp_path / "0123456789ab", tmp_path / "ba9876543210"
    ours.mkdir()
    make_private_video(theirs / "private.mp4")
    return ours, theirs


@pytest.fixture
def clip(tasks: tuple[Path, Path]) -> Path:
    ours, theirs = tasks
    path = ours / "clip.mp4"
    path.write_bytes(hls_playlist(theirs / "private.mp4"))
    return path


@pytest.fixture
def hls_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fftools, "INPUT_FORMATS", (*fftools.INPUT_FORMATS, "hls"))


def _probe_argv(path: Path) -> list[str]:
    return ["ffprobe", "-v", "error", "-show_streams", "-of", "compact",
            *fftools.input_options(path), fftools.input_url(path)]  # fmt: skip


def test_with_hls_let_through_the_attack_is_real_without_the_box(
    clip: Path, hls_allowed: None
) -> None:
    """The control: the same command, unboxed, describes the other task's video."""
    free = run_tool(_probe_argv(clip))
    assert b"width=176" in free.stdout and b"height=144" in free.stdout


def test_boxed_ffprobe_cannot_read_another_tasks_folder(clip: Path, hls_allowed: None) -> None:
    done = fftools.run(_probe_argv(clip), reads=clip)
    assert b"width=176" not in done.stdout and b"h264" not in done.stdout


def test_boxed_ffmpeg_cannot_copy_another_tasks_video(
    tasks: tuple[Path, Path], hls_allowed: None
) -> None:
    """An MPEG-TS segment, which ffmpeg would copy packet by packet into the output."""
    ours, theirs = tasks
    private = make_private_video(theirs / "private.ts")
    clip = ours / "clip.mp4"
    clip.write_bytes(hls_playlist(private))
    out = ours / ".parts"
    out.mkdir()
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", *fftools.input_options(clip),
            "-i", fftools.input_url(clip), "-map", "0", "-c", "copy"]  # fmt: skip
    free = run_tool([*argv, fftools.output_url(out / "free.mp4")])
    assert free.returncode == 0 and (out / "free.mp4").stat().st_size > 50_000  # the control
    fftools.run([*argv, fftools.output_url(out / "boxed.mp4")], reads=clip, writes=out)
    copied = out / "boxed.mp4"
    assert not copied.exists() or copied.stat().st_size < 10_000


def test_the_bots_calls_in_their_boxes_learn_nothing_of_the_other_task(
    clip: Path, tasks: tuple[Path, Path], hls_allowed: None
) -> None:
    ours, _ = tasks
    seen: list[str] = []  # what each call learnt of the private video, checked together
    fields = media_fields(clip, "video", ours / ".thumbs", video=True)
    if fields or any((ours / ".thumbs").glob("*.jpg")):
        seen.append(f"media fields {fields}")
    with contextlib.suppress(ProcessingError):
        summary = mediainfo.summary(mediainfo.probe(clip), "clip.mp4")
        if "176x144" in summary:
            seen.append(f"/mediainfo {summary!r}")
    parts = ours / ".parts"
    if open_split(clip, parts, 20_000) is not None or (parts.exists() and any(parts.iterdir())):
        seen.append("a keyframe split")
    assert seen == []


def test_boxed_ffmpeg_cannot_write_outside_its_output_folder(tasks: tuple[Path, Path]) -> None:
    ours, theirs = tasks
    src = ours / "film.mp4"
    src.write_bytes((theirs / "private.mp4").read_bytes())
    out = ours / ".parts"
    out.mkdir()
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", *fftools.input_options(src),
            "-i", fftools.input_url(src), "-c", "copy"]  # fmt: skip
    inside = fftools.run([*argv, fftools.output_url(out / "ok.mp4")], reads=src, writes=out)
    assert inside.returncode == 0 and (out / "ok.mp4").stat().st_size > 0  # the box works
    dropped = theirs / "dropped.mp4"
    outside = fftools.run([*argv, fftools.output_url(dropped)], reads=src, writes=out)
    assert outside.returncode != 0 and not dropped.exists()
    beside = ours / "beside.mp4"  # the task folder itself is not the output folder either
    outside = fftools.run([*argv, fftools.output_url(beside)], reads=src, writes=out)
    assert outside.returncode != 0 and not beside.exists()


def test_a_refused_input_is_refused_before_the_box_matters(clip: Path) -> None:
    """Without the bypass the whitelist answers first, naming the format."""
    with pytest.raises(fftools.RefusedInput, match="it is hls"):
        fftools.run(_probe_argv(clip), reads=clip)


def test_the_private_video_itself_reads_in_its_own_box(tasks: tuple[Path, Path]) -> None:
    """The box is not simply refusing everything: the same probe of a file it may read works."""
    _, theirs = tasks
    private = theirs / "private.mp4"
    done = fftools.run(_probe_argv(private), reads=private)
    assert done.returncode == 0 and b"width=176" in done.stdout
