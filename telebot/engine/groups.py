"""-m: tasks whose results are delivered together, once, as one folder.

How the engine sees a group (``TaskManager.submit_group``):

* a **group record** in the store (``task_groups``): its member gids, the outcome of each
  member as it ends, and the spec of its **delivery task**. It is written before any member is
  queued, so a restart never loses the grouping;
* the **group folder** ``DOWNLOAD_DIR/<group id>/<folder>``, owned like a task folder (its state
  file names the group id, which is also the delivery task's gid). Each member is an ordinary
  task (its own gid, journal row and folder) whose sink places its result into the group folder
  instead of the destination (``plugins.group_member_sink_factory``: the local sink, so the same
  no-replace, crash-safe placing);
* when a member ends (done, failed or cancelled; not when a shutdown interrupts it) its outcome
  is recorded *before* its own folder and row are removed (a rerun is harmless: the outcome is
  keyed by gid, and a member whose outcome exists is not rerun after a restart). The member
  whose outcome completes the record submits the delivery task: gid = group id, source
  ``group:<id>`` (:class:`GroupSource`), so it runs the ordinary stages and sink on the group
  folder and sends the group's one completion report;
* a member that failed does not stop the others: the report names each failure, and when no
  member produced anything the delivery fails with that list instead.

Restart (``TaskManager.restore``): members resume from their journal rows; a complete group
whose delivery row is missing (killed between the last outcome and the submit) is submitted;
members listed in the record that never got a journal row (killed while the group was being
queued) are recorded as lost. The record is removed when the delivery task finishes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from telebot.engine.pipeline import Source, SourceFactory
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import BadInputError, DownloadError

if TYPE_CHECKING:
    from telebot.store import GroupRecord, Store

PREFIX = "group:"
LOST = "it was never started: the bot stopped while queuing the group"


def group_source(group_id: str) -> str:
    return PREFIX + group_id


def is_delivery(spec: TaskSpec) -> bool:
    return spec.source.startswith(PREFIX)


def group_of(spec: TaskSpec) -> str:
    """The group id a delivery spec delivers."""
    return spec.source[len(PREFIX) :]


def check_folder(name: str) -> str:
    """The group folder's name is made safe by the caller; refuse anything that is not a single
    path component anyway (it is joined to the group's folder)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise BadInputError("-m needs a plain folder name, e.g. -m holiday.")
    return name


def outcome_of(task: Task, state: State) -> dict[str, Any]:
    return {"name": task.name, "state": state.value, "reason": task.error or task.cancel_reason}


def settle(store: Store, task: Task, state: State) -> GroupRecord | None:
    """``task`` ended in ``state``. A group's delivery: forget the group. A member: record its
    outcome, and return the group's record when that completed it (its delivery is then due).
    Called before the task's folder and journal row go, so a rerun is harmless."""
    spec = task.spec
    if is_delivery(spec):
        store.group_remove(group_of(spec))
    elif spec.group is not None:
        record = store.group_note(spec.group, task.gid, outcome_of(task, state))
        if record is not None and record.complete:
            return record
    return None


def failures(record: GroupRecord) -> list[str]:
    """One line per member that did not deliver, in the order they were given."""
    lines = []
    for gid in record.members:
        outcome = record.outcomes.get(gid) or {}
        state = outcome.get("state")
        if state == State.DONE.value:
            continue
        what = "failed" if state == State.FAILED.value else "was cancelled"
        reason = outcome.get("reason") or LOST
        lines.append(f"{outcome.get('name') or gid} {what}: {reason}")
    return lines


class GroupSource:
    """The "download" of a delivery task: the group folder its members filled."""

    engine = "Group"

    def __init__(self, store: Store | None) -> None:
        self._store = store

    def fetch(self, task: Task) -> Path:
        record = self._store.group(group_of(task.spec)) if self._store is not None else None
        missing = failures(record) if record is not None else []
        task.warnings.extend(missing)
        folder = task.workdir / check_folder(task.spec.name or "")
        task.name = folder.name
        if not folder.is_dir() or not any(folder.iterdir()):
            raise DownloadError("no task of the group produced a result: " + "; ".join(missing))
        if record is not None and missing:
            done = len(record.members) - len(missing)
            task.warnings.insert(0, f"{done} of {len(record.members)} results delivered")
        return folder


def group_source_factory(store: Store | None) -> SourceFactory:
    source = GroupSource(store)

    def factory(spec: TaskSpec) -> Source | None:
        return source if is_delivery(spec) else None

    return factory
