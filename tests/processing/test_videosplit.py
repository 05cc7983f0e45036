"""Keyframe cuts for playable leech parts (telebot/processing/media/videosplit.py): the planner on
made-up GOPs, then real ffmpeg/ffprobe on a generated video."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from telebot.errors import TaskCancelled
from telebot.processing.media.videosplit import (
    Gop,
    Unsplittable,
    VideoSplit,
    gops_from_packets,
    open_split,
    part_name,
    plan_cuts,
    probe_gops,
    shrink_budget,
)
from tests import proctree
from tests.polling import wait_until

# -------------------------------------------------------------------------------- planner


def test_parts_take_whole_gops_up_to_the_budget() -> None:
    assert plan_cuts([4, 4, 4, 4, 4], 10) == [0, 2, 4]
    assert plan_cuts([10, 1, 9, 2], 10) == [0, 1, 3]  # exactly the budget still fits
    assert plan_cuts([3, 3, 3, 3], 10, start=2) == [2]


def test_a_gop_over_the_budget_cannot_be_cut() -> None:
    with pytest.raises(Unsplittable, match="keyframe interval"):
        plan_cuts([4, 11, 4], 10)


def test_shrinking_is_proportional_and_always_smaller() -> None:
    assert shrink_budget(1000, 1000, 1100) == int(1000 * 1000 / 1100 * 0.97)
    assert shrink_budget(1000, 1000, 1000) < 1000
    assert shrink_budget(1000, 1000, 1001) < 1000


def test_part_names_keep_the_extension_and_fit_a_file_name() -> None:
    assert part_name("film.mp4", 3) == "film.part3.mp4"
    long = part_name("é" * 200 + ".mkv", 12)
    assert long.endswith(".part12.mkv") and len((".tmp-" + long).encode()) <= 255


def test_packets_are_summed_per_gop_by_decode_time() -> None:
    # Video (stream 0) with a B-frame: the keyframe at pts 1.0 is decoded at 0.9, and the
    # frame decoded after it (dts 0.95, pts 0.95) belongs to the second GOP.
    lines = [
        "stream_index=0|pts_time=0.000000|dts_time=-0.100000|size=100|flags=K_",
        "stream_index=1|pts_time=0.000000|dts_time=0.000000|size=7|flags=K_",
        "stream_index=0|pts_time=0.500000|dts_time=0.400000|size=10|flags=__",
        "",  # ffprobe prints blank lines between sections
        "stream_index=0|pts_time=1.000000|dts_time=0.900000|size=200|flags=K_",
        "stream_index=0|pts_time=0.950000|dts_time=0.950000|size=20|flags=__",
        "stream_index=1|pts_time=1.200000|dts_time=1.200000|size=8|flags=K_",
        "stream_index=0|pts_time=N/A|dts_time=N/A|size=5|flags=__",
    ]
    gops = gops_from_packets("\n".join(lines), 0)
    assert gops == [Gop(pts=0.0, dts=-0.1, size=117), Gop(pts=1.0, dts=0.9, size=228)]
    assert gops_from_packets("\n".join(lines), 5) is None  # no keyframes in that stream


# ------------------------------------------------------------------------ real ffmpeg


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s, 25 fps, keyframe every 25 frames, with B-frames (preset fast) and audio."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6,noise=alls=30:allf=t",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
        "-c:v", "libx264", "-preset", "fast", "-g", "25", "-sc_threshold", "0", "-c:a", "aac",
        "-shortest", str(out),
    )  # fmt: skip
    return out


def video_packets(path: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
         "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return len([line for line in out.splitlines() if line.strip()])


def all_parts(split: VideoSplit) -> list[Path]:
    parts, index = [], 1
    while index <= split.count():
        parts.append(split.produce(index))
        index += 1
    return parts


def test_parts_play_stay_under_the_limit_and_neither_overlap_nor_leave_gaps(
    clip: Path, tmp_path: Path
) -> None:
    gops = probe_gops(clip)
    assert gops is not None and len(gops) == 6
    limit = sum(g.size for g in gops) // 3
    split = VideoSplit(clip, tmp_path, limit, gops)
    parts = all_parts(split)
    assert len(parts) >= 3
    assert all(p.stat().st_size <= limit for p in parts)
    assert [p.name for p in parts] == [f"clip.part{i}.mp4" for i in range(1, len(parts) + 1)]
    assert sum(video_packets(p) for p in parts) == video_packets(clip) == 150
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_part_over_the_limit_is_cut_again_smaller_and_the_new_plan_survives_a_restart(
    clip: Path, tmp_path: Path
) -> None:
    gops = probe_gops(clip)
    assert gops is not None
    # No margin: the first plan puts exactly `limit` bytes of packets in part 1, and the
    # container's own bytes push the file over, so part 1 must be planned again, smaller.
    limit = gops[0].size + gops[1].size
    split = VideoSplit(clip, tmp_path, limit, gops, safety=1.0)
    first_plan = list(split.cuts)
    assert first_plan[:2] == [0, 2]
    part1 = split.produce(1)
    assert part1.stat().st_size <= limit
    assert split.cuts != first_plan and split.cuts[1] == 1 and split.budget < limit
    again = VideoSplit(clip, tmp_path, limit, gops, safety=1.0)  # the bot restarted
    assert again.cuts == split.cuts and again.budget == split.budget
    parts = [part1, *(again.produce(i) for i in range(2, again.count() + 1))]
    assert all(p.stat().st_size <= limit for p in parts)
    assert sum(video_packets(p) for p in parts) == 150


def test_cancel_kills_ffmpeg_within_a_second_and_leaves_no_part(
    clip: Path, tmp_path: Path
) -> None:
    gops = probe_gops(clip)
    assert gops is not None
    cancel = threading.Event()
    split = VideoSplit(clip, tmp_path / "parts", 2 * max(g.size for g in gops), gops, cancel=cancel)
    # ffmpeg blocks opening a FIFO nobody writes: a cut that cannot finish by itself.
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    split.src = fifo
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            split.produce(1)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_until(lambda: _ffmpeg_on(fifo), 30, "ffmpeg running on the FIFO")
    started = time.monotonic()
    cancel.set()
    worker.join(10)
    assert time.monotonic() - started < 1.5
    assert outcome and isinstance(outcome[0], TaskCancelled)
    assert not _ffmpeg_on(fifo)
    assert not [p for p in (tmp_path / "parts").iterdir() if p.suffix == ".mp4"]


def _ffmpeg_on(path: Path) -> bool:
    """An ffmpeg below this test process reading ``path`` (the split runs in this process, so
    its ffmpeg is a child; other tests' processes are not looked at)."""
    import psutil

    for pid in proctree.descendants():
        try:
            proc = psutil.Process(pid)
            args = proc.cmdline()
            # The input is passed as file:<path> (fftools.input_url).
            if proc.name() == "ffmpeg" and {str(path), f"file:{path}"} & set(args):
                return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            continue
    return False


def test_what_gets_the_byte_split_instead(clip: Path, tmp_path: Path) -> None:
    # Audio with a cover picture has a "video" stream: still no video to cut.
    song = tmp_path / "song.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=duration=2",
        "-f", "lavfi", "-i", "testsrc=size=64x64:duration=1",
        "-map", "0", "-map", "1", "-frames:v", "1", "-c:v", "mjpeg",
        "-disposition:v", "attached_pic", "-c:a", "aac", str(song),
    )  # fmt: skip
    assert open_split(song, tmp_path / "p", 10_000) is None
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(100_000))
    assert open_split(junk, tmp_path / "p", 10_000) is None
    gops = probe_gops(clip)
    assert gops is not None
    biggest = max(g.size for g in gops)
    assert open_split(clip, tmp_path / "p", biggest) is None  # a GOP over the 95% budget
    assert open_split(clip, tmp_path / "p", biggest * 2) is not None


def test_a_file_whose_timestamps_do_not_start_at_zero(clip: Path, tmp_path: Path) -> None:
    """ffmpeg's -ss/-to count from the file's start time, ffprobe prints absolute times."""
    late = tmp_path / "late.mkv"
    _ffmpeg("-i", str(clip), "-c", "copy", "-output_ts_offset", "5", str(late))
    gops = probe_gops(late)
    assert gops is not None and abs(gops[0].pts) < 0.1
    limit = 2 * max(g.size for g in gops)
    parts = all_parts(VideoSplit(late, tmp_path / "parts", limit, gops))
    assert len(parts) >= 3 and all(p.stat().st_size <= limit for p in parts)
    assert sum(video_packets(p) for p in parts) == 150


def test_plan_equal_cuts_near_equal_shares_within_the_budget() -> None:
    from telebot.processing.media.videosplit import plan_equal

    sizes = [10] * 10  # ten GOPs; greedy at 40 cuts 4 + 4 + 2
    assert plan_cuts(sizes, 40) == [0, 4, 8]
    cuts = plan_equal(sizes, 40, 3)
    ends = [*cuts[1:], len(sizes)]
    assert sorted(b - a for a, b in zip(cuts, ends, strict=True)) == [3, 3, 4]
    # A share that cannot fit the budget takes one part more, each still within it.
    uneven = [30, 5, 5, 30, 5, 5]
    cuts = plan_equal(uneven, 40, 2)
    ends = [*cuts[1:], len(uneven)]
    assert all(sum(uneven[a:b]) <= 40 for a, b in zip(cuts, ends, strict=True))
