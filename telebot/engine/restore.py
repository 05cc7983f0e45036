"""After a restart: resubmit the journal's unfinished tasks, settle the groups they belong to,
and sweep ``DOWNLOAD_DIR`` of task folders no journal row owns.

Never deletes what it cannot prove is its own: a row it cannot read is reported and its folder
moved aside (:meth:`Restorer._set_aside`); a row from a newer telebot is reported and kept with
its folder; in ``DOWNLOAD_DIR`` only folders :func:`taskstate.owned` accepts (and empty
gid-named ones, a crash between ``mkdir`` and the state file) are removed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from telebot.engine import groups, taskstate
from telebot.engine.task import GID_RE, SpecTooNew, State, Task, TaskSpec
from telebot.errors import TelebotError
from telebot.store import GroupRecord, JournalEntry, Store

log = logging.getLogger(__name__)

# Journal gids this manager will turn into a folder name: new_gid() makes 10 hex digits; older
# or hand-made rows may differ, but never with a separator or dots that could leave the folder.
_SAFE_GID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


class RestoreListener(Protocol):
    """The part of :class:`~telebot.engine.manager.TaskListener` a restore reports to."""

    def on_resumed(self, task: Task) -> None: ...
    def on_restore_failed(
        self, chat_id: int, message_id: int | None, gid: str, reason: str
    ) -> None: ...


class ShuttingDown(Exception):
    """Internal: the restore met a shutdown."""


class Restorer:
    """Reads the journal back into a running manager, through the callables it is given:
    ``live(gid)`` (the manager runs that gid now), ``submit(spec, gid)`` (queue it again;
    raises :class:`TelebotError` when refused), ``stopping()`` (a shutdown has begun) and
    ``deliver_group(record)`` (submit a complete group's delivery)."""

    def __init__(
        self,
        *,
        store: Store,
        download_dir: Path,
        listener: RestoreListener,
        live: Callable[[str], bool],
        submit: Callable[[TaskSpec, str], Task],
        stopping: Callable[[], bool],
        deliver_group: Callable[[GroupRecord], None],
    ) -> None:
        self._store = store
        self.download_dir = download_dir
        self._listener = listener
        self._live = live
        self._submit = submit
        self._stopping = stopping
        self._deliver_group = deliver_group

    def restore_all(self) -> list[Task]:
        """Resubmit the unfinished tasks; the ones resubmitted. Stops quietly when a shutdown
        begins meanwhile: the remaining rows wait for the next start. A gid the manager
        already runs is neither resubmitted nor has its folder removed."""
        entries = self._store.journal_entries()
        records = {record.group_id: record for record in self._store.groups()}
        restored: list[Task] = []
        for entry in entries:
            if self._live(entry.gid) or self._settled_member(entry, records):
                continue
            try:
                task = self._restore_entry(entry)
            except ShuttingDown:
                return restored
            if task is not None:
                restored.append(task)
        self._restore_groups(records, {entry.gid for entry in entries})
        self._sweep({entry.gid for entry in entries} | set(records))
        return restored

    def _settled_member(self, entry: JournalEntry, records: dict[str, GroupRecord]) -> bool:
        """A group member killed after its outcome was recorded but before its row was removed:
        finish removing it instead of running it again."""
        group = (entry.spec or {}).get("group")
        record = records.get(group) if isinstance(group, str) else None
        if record is None or entry.gid not in record.outcomes:
            return False
        folder = self.download_dir / entry.gid
        if taskstate.owned(folder):
            shutil.rmtree(folder, ignore_errors=True)
        self._store.journal_remove(entry.gid)
        return True

    def _restore_groups(self, records: dict[str, GroupRecord], journaled: set[str]) -> None:
        """Record members that never got queued as lost; deliver complete groups that have no
        delivery task (killed between the last outcome and its submit)."""
        for group_id in records:
            record = self._store.group(group_id)  # fresh: restored members may have ended
            if record is None:
                continue
            for gid in record.members:
                if gid not in record.outcomes and gid not in journaled and not self._live(gid):
                    lost = {"name": gid, "state": State.FAILED.value, "reason": groups.LOST}
                    record = self._store.group_note(group_id, gid, lost) or record
            if record.complete and group_id not in journaled:
                self._deliver_group(record)

    def _restore_entry(self, entry: JournalEntry) -> Task | None:
        try:
            if not _SAFE_GID.match(entry.gid):  # it names a folder: never one outside ours
                raise ValueError(f"bad task id {entry.gid[:40]!r}")
            if entry.spec is None:
                raise ValueError(entry.problem or "not valid JSON")
            spec = TaskSpec.from_json(entry.spec)
        except SpecTooNew as exc:
            log.warning("task %s kept for a newer telebot: %s", entry.gid, exc)
            self._report(entry, f"it was {exc}; it stays saved until that version runs")
            return None
        except (TypeError, ValueError) as exc:
            where = self._set_aside(entry.gid)
            kept = f"; its files are kept in {where.name}" if where is not None else ""
            self._report(entry, f"its saved description is unreadable ({exc}){kept}")
            return None
        try:
            task = self._submit(spec, entry.gid)
        except TelebotError:
            if self._stopping():
                raise ShuttingDown from None
            raise
        self._listener.on_resumed(task)
        return task

    def _report(self, entry: JournalEntry, reason: str) -> None:
        try:
            self._listener.on_restore_failed(entry.chat_id, entry.message_id, entry.gid, reason)
        except Exception:
            log.exception("could not report restore problem of task %s", entry.gid)

    def _set_aside(self, gid: str) -> Path | None:
        """Drop an unreadable row but keep its files: ``<gid>`` becomes ``<gid>.unreadable`` (no
        longer a gid name, so no later restore removes it; the operator decides)."""
        folder = self.download_dir / gid
        target: Path | None = None
        if _SAFE_GID.match(gid) and folder.is_dir() and not folder.is_symlink():
            target = self.download_dir / f"{gid}.unreadable"
            try:
                os.rename(folder, target)
            except OSError as exc:
                log.warning("could not move %s aside (%s); left in place", folder, exc)
                return folder  # keep the row too: its folder must not look like an orphan
        self._store.journal_remove(gid)
        log.warning("task %s: unreadable journal row dropped; files kept in %s", gid, target)
        return target

    def _sweep(self, known: set[str]) -> None:
        """Remove task folders without a journal row; leave (and log once) everything else."""
        if not self.download_dir.is_dir():
            return
        strangers: list[str] = []
        for entry in sorted(self.download_dir.iterdir()):
            # A live task registers before its folder exists and removes the folder itself.
            if entry.name in known or self._live(entry.name):
                continue
            if taskstate.owned(entry):
                shutil.rmtree(entry, ignore_errors=True)
            elif not _remove_empty_gid_folder(entry):
                strangers.append(entry.name)
        if strangers:
            shown = ", ".join(strangers[:10]) + (" ..." if len(strangers) > 10 else "")
            log.info(
                "restore: left %d item(s) in %s that are not telebot task folders: %s",
                len(strangers),
                self.download_dir,
                shown,
            )


def _remove_empty_gid_folder(folder: Path) -> bool:
    """A gid-named folder killed between mkdir and its state file is empty: rmdir only ever
    removes an empty folder, so this deletes nothing."""
    if not GID_RE.match(folder.name) or folder.is_symlink() or not folder.is_dir():
        return False
    try:
        folder.rmdir()
    except OSError:
        return False
    return True
