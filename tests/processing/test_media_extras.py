"""-ss/-tl screenshots and the -sv sample as stages: real ffmpeg on a lavfi film, checked with
ffprobe; cancel kills the boxed child."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from telebot.engine.task import Task, TaskSpec
from telebot.errors import TaskCancelled
from telebot.processing.media import extras
from telebot.processing.media.sample import SampleStage, clip_window, sample_factory
from telebot.processing.media.screenshots import (
    ScreenshotStage,
    screenshots_factory,
    shot_times,
)
from tests import proctree
from tests.fakes.media import make_film
from tests.polling import wait_until


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(tmp_path_factory.mktemp("film") / "film.mp4")  # 10 s, 640x360


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_entries",
         "format=duration:stream=codec_type,width,height", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


def size_of(path: Path) -> tuple[int, int]:
    stream = probe(path)["streams"][0]
    return int(stream["width"]), int(stream["height"])


def leech_task(tmp_path: Path, source: Path, **fields: Any) -> tuple[Task, Path, Path]:
    """A task whose result so far is ``source`` linked into its folder, and a fresh ``out``."""
    spec = TaskSpec(kind="leech", source="http://x/film.mp4", chat_id=1, user_id=1, **fields)
    workdir = tmp_path / "task"
    (workdir / "in").mkdir(parents=True)
    result = workdir / "in" / source.name
    os.link(source, result)
    out = workdir / ".stage-1"
    out.mkdir()
    return Task("g1", spec, workdir), result, out


def test_screenshots_are_evenly_spaced_frames_of_the_video_s_size(
    tmp_path: Path, film: Path
) -> None:
    task, path, out = leech_task(tmp_path, film, screenshots=4)
    stage = screenshots_factory(task.spec)
    assert stage is not None
    result = stage.process(task, path, out)
    assert result == out / "film.mp4" and result.read_bytes() == film.read_bytes()
    shots = extras.shots_of(result, result)
    assert [s.name for s in shots] == ["01.jpg", "02.jpg", "03.jpg", "04.jpg"]
    assert all(size_of(s) == (640, 360) for s in shots)
    assert len({s.read_bytes() for s in shots}) == 4  # four different moments
    assert shot_times(10.0, 4) == [1.25, 3.75, 6.25, 8.75]
    assert path.read_bytes() == film.read_bytes()  # the input is untouched


def test_a_grid_is_one_picture_of_rows_by_columns_tiles(tmp_path: Path, film: Path) -> None:
    task, path, out = leech_task(tmp_path, film, screenshots=6, screenshot_grid="2x3")
    stage = screenshots_factory(task.spec)
    assert stage is not None
    result = stage.process(task, path, out)
    [grid] = extras.shots_of(result, result)
    assert grid.name == "grid.jpg"
    tile = (320, 180)  # 640x360 scaled to the tile width
    assert size_of(grid) == (3 * tile[0], 2 * tile[1])  # 3 columns, 2 rows


def test_the_sample_lasts_what_was_asked_from_where_it_was_asked(
    tmp_path: Path, film: Path
) -> None:
    task, path, out = leech_task(tmp_path, film, sample_seconds=5.0)
    stage = sample_factory(task.spec)
    assert stage is not None
    result = stage.process(task, path, out)
    sample = extras.sample_of(result, result)
    assert sample is not None and sample.name == "film.sample.mp4"
    assert abs(float(probe(sample)["format"]["duration"]) - 5.0) <= 1.0
    assert {s["codec_type"] for s in probe(sample)["streams"]} == {"video", "audio"}
    assert clip_window(10.0, 5.0, None) == (2.5, 5.0)  # from the middle
    assert clip_window(10.0, 4.0, 8.0) == (6.0, 4.0)  # a start too late: the last 4 s
    assert clip_window(3.0, 60.0, None) == (0.0, 3.0)  # a short video: all of it


def test_both_stages_in_a_row_keep_each_other_s_files(tmp_path: Path, film: Path) -> None:
    task, path, out = leech_task(tmp_path, film, screenshots=2, sample_seconds=3.0)
    first = ScreenshotStage(2).process(task, path, out)
    second_out = task.workdir / ".stage-2"
    second_out.mkdir()
    result = SampleStage(3.0, None).process(task, first, second_out)
    assert len(extras.shots_of(result, result)) == 2
    assert extras.sample_of(result, result) is not None


def test_no_stage_without_its_flag_and_none_for_a_mirror() -> None:
    plain = TaskSpec(kind="leech", source="http://x/a", chat_id=1, user_id=1)
    assert screenshots_factory(plain) is None and sample_factory(plain) is None
    mirror = TaskSpec(kind="mirror", source="http://x/a", chat_id=1, user_id=1, screenshots=3,
                      sample_seconds=5.0)
    assert screenshots_factory(mirror) is None and sample_factory(mirror) is None
    member = TaskSpec(kind="leech", source="http://x/a", chat_id=1, user_id=1, screenshots=3,
                      sample_seconds=5.0, group="g0", group_folder="f")
    assert screenshots_factory(member) is None and sample_factory(member) is None


def _tool_on(path: Path) -> bool:
    return any(str(path).encode() in line for line in proctree.cmdlines())


@pytest.mark.parametrize("which", ["screenshots", "sample"])
def test_cancel_stops_the_boxed_child_and_raises(tmp_path: Path, which: str) -> None:
    """A "video" that is a FIFO nobody writes: ffprobe blocks on it until the cancel kills it."""
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    task, path, out = leech_task(tmp_path, fifo, screenshots=3, sample_seconds=5.0)
    stage = ScreenshotStage(3) if which == "screenshots" else SampleStage(5.0, None)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            stage.process(task, path, out)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    linked = out / "stuck.mp4"
    wait_until(lambda: _tool_on(linked), 30, "ffprobe waiting on the FIFO")
    task.cancel("test")
    worker.join(10)
    assert not worker.is_alive()
    assert outcome and isinstance(outcome[0], TaskCancelled)
    assert not _tool_on(linked)  # the child is gone once the stage returned
