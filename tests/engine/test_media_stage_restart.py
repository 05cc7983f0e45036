"""The screenshots stage under the stage framework: a run interrupted mid-stage (frames half
made) is run again from an empty folder after the restart, and the sink gets every shot once
(real ffmpeg, the real TaskManager and store; the source and sink are the engine fakes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from telebot.engine import taskstate
from telebot.engine.pipeline import Pipeline
from telebot.engine.task import Task
from telebot.processing.media import extras
from telebot.processing.media.screenshots import ScreenshotStage
from tests.engine.conftest import MakeManager
from tests.engine.fakes import WAIT, FakeSink, Gates, Recorder, spec
from tests.fakes.media import make_film


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(tmp_path_factory.mktemp("film") / "film.mp4")


class FilmSource:
    engine = "fake-src"

    def __init__(self, film: Path) -> None:
        self.film = film
        self.fetches = 0

    def fetch(self, task: Task) -> Path:
        self.fetches += 1
        target = task.workdir / "film.mp4"
        shutil.copyfile(self.film, target)
        task.progress(1, 1)
        return target


class StoppedAfterTwo(ScreenshotStage):
    """The real stage, held after its second frame until the manager stops it."""

    def __init__(self) -> None:
        super().__init__(4)
        self.gates = Gates("shots")

    def _frame(self, task: Task, video: Path, at: float, target: Path) -> None:
        super()._frame(task, video, at, target)
        if target.name == "02.jpg":
            self.gates.enter(task)  # raises TaskCancelled when the manager shuts down


def staged(source: FilmSource, sink: FakeSink, stage: ScreenshotStage) -> Pipeline:
    return Pipeline([lambda _s: source], [lambda _s: sink], [lambda _s: stage])


def test_an_interrupted_screenshot_stage_reruns_from_empty_and_delivers_every_shot_once(
    make_manager: MakeManager, sink: FakeSink, film: Path
) -> None:
    source = FilmSource(film)
    held = StoppedAfterTwo()
    manager = make_manager(pipeline=staged(source, sink, held))
    task = manager.submit(spec(0, kind="leech"))
    held.gates.wait_started(task.gid)
    folder = task.workdir / ".stage-0-screenshots"
    shots = extras.shots_folder(folder / "film.mp4", "film.mp4")
    assert sorted(p.name for p in shots.iterdir()) == ["01.jpg", "02.jpg"]  # mid-stage
    (shots / "09.jpg").write_bytes(b"torn")  # what a kill -9 mid-frame could leave
    manager.shutdown(timeout=WAIT)  # the run stops here, its folder and journal row stay
    assert taskstate.processed(task.workdir) == []

    sink.gates.auto = False
    fresh = Recorder()
    again = make_manager(pipeline=staged(source, sink, ScreenshotStage(4)), listener=fresh)
    (resumed,) = again.restore()
    sink.gates.wait_started(resumed.gid)
    result = folder / "film.mp4"
    made = extras.shots_of(result, result)
    assert [p.name for p in made] == ["01.jpg", "02.jpg", "03.jpg", "04.jpg"]  # no 09.jpg
    assert all(p.read_bytes()[:2] == b"\xff\xd8" for p in made)
    assert not list(folder.glob("**/.tmp*"))
    sink.gates.open(resumed.gid)
    assert fresh.wait_finished(resumed.gid) == "done"
    assert source.fetches == 1  # fetched once: only the stage ran again
    assert sink.delivered[resumed.gid] == film.read_bytes()
