"""The interfaces a task runs through: a :class:`Source` fetches into the task's folder, a
:class:`Sink` delivers the result. One reference implementation each lives in ``sources/`` and
``sinks/``; :class:`Pipeline` picks them for a spec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError


class Source(Protocol):
    """Fetches a task's input into ``task.workdir`` and returns the finished file or folder.

    Must report progress through ``task.begin(...)``/``task.progress(...)``, stop within a second
    of ``task.cancel_event`` being set (raising ``TaskCancelled``), and resume from what an earlier
    run left in ``task.workdir`` where it can.
    """

    engine: str

    def fetch(self, task: Task) -> Path: ...


@dataclass(frozen=True)
class Delivery:
    """What a sink did with the result, for the completion message."""

    name: str
    size: int
    location: str  # human-readable: a path, a remote, a chat
    files: int = 1
    links: Sequence[str] = field(default_factory=tuple)
    notes: Sequence[str] = field(default_factory=tuple)  # warnings for the completion message


class Sink(Protocol):
    """Delivers a finished file/folder (mirror destination or Telegram)."""

    engine: str

    def deliver(self, task: Task, path: Path) -> Delivery: ...


SourceFactory = Callable[[TaskSpec], Source | None]
SinkFactory = Callable[[TaskSpec], Sink | None]


class Pipeline:
    """Chooses the source and sink for a spec: the first factory that accepts it wins."""

    def __init__(self, sources: Sequence[SourceFactory], sinks: Sequence[SinkFactory]) -> None:
        self._sources = tuple(sources)
        self._sinks = tuple(sinks)

    def source_for(self, spec: TaskSpec) -> Source:
        for factory in self._sources:
            source = factory(spec)
            if source is not None:
                return source
        raise BadInputError(f"no downloader handles {spec.source[:100]!r}")

    def sink_for(self, spec: TaskSpec) -> Sink:
        for factory in self._sinks:
            sink = factory(spec)
            if sink is not None:
                return sink
        raise BadInputError(f"no uploader handles destination {spec.upload!r}")
