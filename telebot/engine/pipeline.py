"""The interfaces a task runs through: a :class:`Source` fetches into the task's folder, zero or
more :class:`Stage` s turn that into the result (join, extract, compress), a :class:`Sink` delivers
it. Implementations live in ``sources/``, ``processing/`` and ``sinks/``; :class:`Pipeline` picks
them for a spec.

This module, :mod:`telebot.engine.task` and :mod:`telebot.engine.runner` are the plug-in API:
all a plug-in may import from the engine (``.ci/plugin_imports.py`` checks it). What a plug-in
needs of the engine beyond the task itself is offered here: :class:`DiskSpace` (the
STORAGE_THRESHOLD guard, handed to the factories) and the durable records a sink keeps in its
task's folder (:func:`record_delivered`, :func:`record_placing`, :func:`placing`,
:func:`placing_size`, :class:`TornPayload`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from telebot.engine import taskstate
from telebot.engine.task import Delivery, Task, TaskSpec
from telebot.engine.taskstate import TornPayload as TornPayload
from telebot.errors import BadInputError
from telebot.lazy import Lazy


class Source(Protocol):
    """Fetches a task's input into ``task.workdir`` and returns the finished file or folder.

    Must report progress through ``task.begin(...)``/``task.progress(...)``, stop within a second
    of ``task.cancel_event`` being set (raising ``TaskCancelled``), and resume from what an earlier
    run left in ``task.workdir`` where it can.
    """

    engine: str

    def fetch(self, task: Task) -> Path: ...


class Sink(Protocol):
    """Delivers a finished file/folder (mirror destination or Telegram)."""

    engine: str

    def deliver(self, task: Task, path: Path) -> Delivery: ...


class Stage(Protocol):
    """One processing step between download and delivery (join, extract, compress, ...).

    ``process`` reads ``path`` (the result so far, inside ``task.workdir``) and writes its result
    only inside ``out``: a fresh, empty, owner-only folder the manager made for this run of the
    stage (and emptied if an interrupted run left anything there). It returns the new result, a
    file or folder inside ``out``; its name is the name delivered. It must report progress
    through ``task.progress(...)`` (the manager has called ``task.begin`` with :attr:`engine`),
    stop within a second of ``task.cancel_event`` being set (raising ``TaskCancelled``), never
    modify ``path`` and never write outside ``out``. A stage is run again from the start after a
    restart that interrupted it; a finished one is recorded and never run twice.
    """

    name: str  # recorded in the task's state file: "join", "extract", "compress", ...
    engine: str  # shown in the status line: "7-Zip", "tarfile", ...

    def process(self, task: Task, path: Path, out: Path) -> Path: ...


SourceFactory = Callable[[TaskSpec], Source | None]
SinkFactory = Callable[[TaskSpec], Sink | None]
#: Returns the stage for a spec, or None when the spec does not ask for it.
StageFactory = Callable[[TaskSpec], Stage | None]


class Pipeline:
    """Chooses the source and sink for a spec (the first factory that accepts it wins) and its
    stages (every factory that accepts it, in the order given: join before extract before
    compress)."""

    def __init__(
        self,
        sources: Sequence[SourceFactory],
        sinks: Sequence[SinkFactory],
        stages: Sequence[StageFactory] = (),
    ) -> None:
        self._sources = tuple(sources)
        self._sinks = tuple(sinks)
        self._stages = tuple(stages)

    def source_for(self, spec: TaskSpec) -> Source:
        source = self._first_source(spec)
        if source is None:
            raise BadInputError(f"no downloader handles {spec.source[:100]!r}")
        return source

    def accepts(self, spec: TaskSpec) -> bool:
        """Would a source take ``spec``? Asked of the source factories themselves, by the same
        first-match as :meth:`source_for`: each plug-in alone knows its link syntax, so the
        intake classifies a link by asking here, never by parsing it. Cheap and without I/O
        (factories only look at the spec); a factory's :class:`BadInputError` (a spec it owns
        but refuses, with the reason) reaches the caller."""
        return self._first_source(spec) is not None

    def engine_for(self, spec: TaskSpec) -> str | None:
        """The :attr:`Source.engine` of the source that would take ``spec`` ("libtorrent",
        "HTTP", ...), None when none would: for checks of flags that only one kind of
        source honours (``-s`` and ``-d`` are torrents'), asked as :meth:`accepts` is."""
        source = self._first_source(spec)
        return source.engine if source is not None else None

    def _first_source(self, spec: TaskSpec) -> Source | None:
        for factory in self._sources:
            source = factory(spec)
            if source is not None:
                return source
        return None

    def stages_for(self, spec: TaskSpec) -> list[Stage]:
        return [stage for factory in self._stages if (stage := factory(spec)) is not None]

    def sink_for(self, spec: TaskSpec) -> Sink:
        for factory in self._sinks:
            sink = factory(spec)
            if sink is not None:
                return sink
        raise BadInputError(f"no uploader handles destination {spec.upload!r}")


class LazyPipeline(Pipeline):
    """A :class:`Pipeline` made by ``build`` on first use, or ahead of it by :meth:`warm`.

    The front starts polling before it imports its plug-ins (every source, stage and sink,
    and the HTTP and torrent libraries under them): a command that reaches a plug-in before the
    warm-up finished waits for it, on the worker thread that asked. Thread-safe; ``build``
    runs once (again only if it raised).
    """

    def __init__(self, build: Callable[[], Pipeline]) -> None:
        self._lazy = Lazy(build)

    def warm(self) -> None:
        """Build it now in a background thread (returns at once)."""
        threading.Thread(target=self._lazy.get, name="plugins", daemon=True).start()

    def _pipeline(self) -> Pipeline:
        return self._lazy.get()

    def source_for(self, spec: TaskSpec) -> Source:
        return self._pipeline().source_for(spec)

    def accepts(self, spec: TaskSpec) -> bool:
        return self._pipeline().accepts(spec)

    def engine_for(self, spec: TaskSpec) -> str | None:
        return self._pipeline().engine_for(spec)

    def stages_for(self, spec: TaskSpec) -> list[Stage]:
        return self._pipeline().stages_for(spec)

    def sink_for(self, spec: TaskSpec) -> Sink:
        return self._pipeline().sink_for(spec)


# -- what a plug-in may ask of the engine ---------------------------------------------------


class WriteGate(Protocol):
    """Paces one writer of a size not known in advance (engine/diskguard.py ``SpaceGate``)."""

    def wait(self, n: int, stop: threading.Event) -> None:
        """Return once ``n`` more bytes may be written; pauses while the disk is low, raises
        ``TaskCancelled`` when ``stop`` is set meanwhile."""
        ...


class DiskSpace(Protocol):
    """STORAGE_THRESHOLD as a plug-in sees it (engine/diskguard.py ``DiskGuard`` implements it):
    a source writing into ``DOWNLOAD_DIR`` paces its writes with :meth:`gate`, or, when a child
    process writes, compares :meth:`room` in its wait loop. Admission checks and reservations of
    sizes known in advance are the engine's (``Task.progress`` reports the total)."""

    @property
    def threshold(self) -> int:
        """The free space kept, in bytes; 0 when the guard is off."""
        ...

    def free(self) -> int:
        """Free bytes on the download disk now."""
        ...

    def room(self) -> int:
        """Bytes that may still be written before the threshold (negative: below it)."""
        ...

    def waiting_line(self, free: int) -> str:
        """The status line of a writer paused for space, ``free`` bytes being free."""
        ...

    def gate(self, note: Callable[[str | None], None]) -> WriteGate:
        """A gate for one writer; ``note`` shows (or, with None, clears) its pause."""
        ...


def record_delivered(task: Task, delivery: Delivery) -> None:
    """Record in ``task``'s folder what its sink did, before the sink removes what would let a
    resumed run redo the delivery (the engine records it again when the sink returns)."""
    taskstate.record_delivered(task.workdir, task.gid, delivery)


def record_placing(
    task: Task, staged: os.stat_result, *, durable: bool = False,
    size: tuple[int, int] | None = None,
) -> None:
    """Note, before a no-replace rename into place, which file or folder (``staged``: its
    device and inode) is being moved and how big it is (``size``: bytes, files); not
    ``durable``: the staged payload was not flushed, and a reboot makes it suspect."""
    taskstate.record_placing(task.workdir, task.gid, staged, durable=durable, size=size)


def placing(task: Task) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` noted by :func:`record_placing` in an earlier run, if any."""
    return taskstate.placing(task.workdir)


def placing_size(task: Task) -> list[int] | None:
    """``[bytes, files]`` noted by :func:`record_placing` in an earlier run, if any."""
    return taskstate.placing_size(task.workdir)
