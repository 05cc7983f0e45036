"""Pipeline: the first factory that accepts a spec wins; none → BadInputError."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from telebot.engine.pipeline import Pipeline
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError
from tests.engine.fakes import FakeSink, FakeSource, spec


def only(prefix: str, made: FakeSource) -> Callable[[TaskSpec], FakeSource | None]:
    return lambda s: made if s.source.startswith(prefix) else None


def test_first_accepting_factory_wins() -> None:
    tg, http, other = FakeSource(), FakeSource(), FakeSource()
    asked: list[str] = []

    def spy(s: TaskSpec) -> FakeSource | None:
        asked.append(s.source)
        return other

    pipe = Pipeline([only("tg:", tg), only("http", http), spy], [lambda s: None])
    assert pipe.source_for(spec(source="tg:FILE")) is tg
    assert pipe.source_for(spec(source="https://h.example/a")) is http
    assert asked == []  # later factories are not consulted once one accepted
    assert pipe.source_for(spec(source="magnet:?xt=1")) is other


def test_no_source_or_sink_is_bad_input() -> None:
    sink = FakeSink()
    pipe = Pipeline([], [lambda s: sink if s.upload is None else None])
    with pytest.raises(BadInputError, match="no downloader handles 'x://y'"):
        pipe.source_for(spec(source="x://y"))
    assert pipe.sink_for(spec()) is sink
    with pytest.raises(BadInputError, match="no uploader handles destination 'gdrive:x'"):
        pipe.sink_for(spec(upload="gdrive:x"))


def test_accepts_and_engine_for_ask_the_factories_as_source_for_does() -> None:
    tg, http = FakeSource(), FakeSource()
    http.engine = "HTTP"
    pipe = Pipeline([only("tg:", tg), only("http", http)], [])
    assert pipe.accepts(spec(source="https://h.example/a"))
    assert pipe.engine_for(spec(source="https://h.example/a")) == "HTTP"
    assert pipe.engine_for(spec(source="tg:FILE")) == "fake-src"
    assert not pipe.accepts(spec(source="ftp://h.example/a"))
    assert pipe.engine_for(spec(source="ftp://h.example/a")) is None
