"""Stand-ins for the intake's collaborators: a pipeline whose sources claim links by their own
rules (as the plug-ins do), a task queue that admits like the manager, a chat conversation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telebot.engine.limits import Limits
from telebot.engine.manager import refusal_text
from telebot.engine.pipeline import Pipeline, Source
from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError
from telebot.intake.request import Message, ReplyFile


@dataclass
class NamedSource:
    engine: str

    def fetch(self, task: Task) -> Path:
        raise AssertionError("the intake never runs a source")


HTTP, TORRENT, TELEGRAM, YTDL = (
    NamedSource("HTTP"), NamedSource("libtorrent"), NamedSource("Telegram"), NamedSource("yt-dlp")
)


def link_pipeline() -> Pipeline:
    """Sources as the real plug-ins claim specs (a tool first, then torrents, Telegram files,
    http links), each rule private to its factory like the plug-ins' own."""

    def ytdl(spec: TaskSpec) -> Source | None:
        return YTDL if spec.tool == "ytdl" else None

    def torrent(spec: TaskSpec) -> Source | None:
        return TORRENT if spec.source.startswith("magnet:?") else None

    def telegram(spec: TaskSpec) -> Source | None:
        return TELEGRAM if spec.source.startswith("tg:") else None

    def http(spec: TaskSpec) -> Source | None:
        return HTTP if spec.source.startswith(("http://", "https://")) else None

    return Pipeline([ytdl, torrent, telegram, http], [])


@dataclass
class FakeQueue:
    """The manager's admission (``Limits.admit`` / ``admit_all``, all or none) without the
    engine: admitted specs are only recorded."""

    limits: Limits = field(default_factory=Limits)
    queued: list[TaskSpec] = field(default_factory=list)
    groups: list[tuple[list[TaskSpec], TaskSpec]] = field(default_factory=list)

    def _active(self, user_id: int) -> int:
        return sum(1 for spec in self.queued if spec.user_id == user_id)

    def _task(self, spec: TaskSpec) -> Task:
        self.queued.append(spec)
        return Task(f"g{len(self.queued)}", spec, Path("/nonexistent"))

    def submit(self, spec: TaskSpec) -> Task:
        self.limits.admit(spec, self._active(spec.user_id))
        return self._task(spec)

    def submit_many(self, specs: Sequence[TaskSpec], labels: Sequence[str]) -> list[Task]:
        reasons = self.limits.admit_all(specs, self._active)
        refused = [(label, why) for label, why in zip(labels, reasons, strict=True) if why]
        if refused:
            raise BadInputError(refusal_text(refused, len(specs)))
        return [self._task(spec) for spec in specs]

    def submit_group(
        self, members: list[TaskSpec], delivery: TaskSpec, labels: Sequence[str] | None = None
    ) -> str:
        self.submit_many(members, labels or [f"link {n}" for n in range(1, len(members) + 1)])
        self.groups.append((members, delivery))
        return f"group{len(self.groups)}"


@dataclass(frozen=True)
class Said:
    text: str | None
    file: ReplyFile | None = None


@dataclass
class FakeConversation:
    """A chat whose messages after the replied-to one are ``after``."""

    after: list[Said] = field(default_factory=list)
    lists: dict[str, str] = field(default_factory=dict)  # file_id → list text
    withdrawn: list[int] = field(default_factory=list)

    def read_list(self, file: ReplyFile) -> str:
        return self.lists[file.file_id]

    def following(self, first_id: int, count: int) -> Sequence[Message]:
        if len(self.after) < count - 1:
            raise BadInputError(f"-i {count}: message {len(self.after) + 2} has not arrived")
        return self.after[: count - 1]

    def withdraw(self, message_id: int) -> None:
        self.withdrawn.append(message_id)
