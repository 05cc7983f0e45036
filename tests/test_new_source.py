"""A new source is its own code plus one line in the plug-in list (issue #24's promise).

The toy source below imports only the plug-in API (``engine.task``, ``engine.pipeline``) and
claims its own links; adding it to ``plugins.SOURCES`` is the only other change. Then the intake
(which knows no link syntax: it asks the pipeline) accepts its links, and the real pipeline
fetches with it and delivers with the real local sink — no edit to the intake, the handlers or
the engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot import plugins
from telebot.config import load_config
from telebot.engine.limits import Limits, LimitValues
from telebot.engine.pipeline import Source
from telebot.engine.task import Task, TaskSpec
from telebot.intake.auth import Authorizer
from telebot.intake.desk import Intake
from telebot.intake.request import Request, Requester
from telebot.intake.specs import UNSUPPORTED_LINK, SpecBuilder
from telebot.sinks.telegram import LeechSettings, TelegramSink
from telebot.store import Store
from tests.intake.fakes import FakeQueue

OWNER = 1


class ToySource:
    """``toy://<name>``: writes ``<name>.txt`` holding the name, as a download would."""

    engine = "toy"

    def fetch(self, task: Task) -> Path:
        name = task.spec.source.removeprefix("toy://")
        task.workdir.mkdir(parents=True, exist_ok=True)
        path = task.workdir / f"{name}.txt"
        path.write_text(f"made by the toy source: {name}\n")
        task.progress(path.stat().st_size, path.stat().st_size)
        return path


def toy_factory(spec: TaskSpec) -> Source | None:
    return ToySource() if spec.source.startswith("toy://") else None


def services(tmp_path: Path) -> plugins.Services:
    config = load_config(
        {"BOT_TOKEN": "1:x", "OWNER_ID": str(OWNER), "DOWNLOAD_DIR": str(tmp_path / "dl"),
         "MIRROR_DIR": str(tmp_path / "mirror")},
        cwd=tmp_path,
    )
    sink = TelegramSink(LeechSettings.from_config(config), messenger=lambda: None)  # type: ignore[arg-type,return-value]
    return plugins.Services(config, lambda: None, sink)  # type: ignore[arg-type,return-value]


def intake_for(given: plugins.Services, tmp_path: Path) -> tuple[Intake, FakeQueue]:
    queue = FakeQueue(Limits(LimitValues()))
    store = Store(tmp_path / "db")
    builder = SpecBuilder(given.config, plugins.build_pipeline(given))
    intake = Intake(given.config, store, Authorizer(given.config, store), builder, queue,
                    can_post=lambda chat, user, sudo: None)
    return intake, queue


def ask(intake: Intake, link: str) -> str | None:
    return intake.submit(Request(Requester(OWNER, OWNER, 7), "mirror", link)).refusal


def test_a_source_added_to_the_list_is_accepted_fetched_and_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = services(tmp_path)
    before, _ = intake_for(given, tmp_path / "before")
    assert ask(before, "toy://hello") == UNSUPPORTED_LINK  # no plug-in takes it yet

    # The whole change a new source needs outside its own code: one entry in the list.
    monkeypatch.setattr(plugins, "SOURCES", (*plugins.SOURCES, plugins.Plugin(
        "toy", lambda s: toy_factory)))
    intake, queue = intake_for(given, tmp_path / "after")
    assert ask(intake, "toy://hello") is None
    [spec] = queue.queued
    assert (spec.kind, spec.source) == ("mirror", "toy://hello")

    pipeline = plugins.build_pipeline(given)
    task = Task("toy1", spec, given.config.download_dir / "toy1")
    source = pipeline.source_for(spec)
    assert source.engine == "toy"
    pipeline.sink_for(spec).deliver(task, source.fetch(task))
    delivered = given.config.mirror_dir / "hello.txt"
    assert delivered.read_text() == "made by the toy source: hello\n"
    # The plug-ins already in the list still take their own links.
    assert ask(intake, "https://example.com/a.bin") is None
    assert pipeline.source_for(queue.queued[-1]).engine == "HTTP"
