"""Limits that protect the host (issue 16): tasks per user, size per kind, free disk space,
and duplicates.

Two moments:

* **submission** (:meth:`Limits.admit`, called by :meth:`TaskManager.submit` off the event
  loop): ``USER_TASKS_LIMIT`` (running + queued per user) and, when the spec already carries
  the size (a Telegram file), the size limits;
* **the size becomes known** while downloading (:meth:`Limits.on_total`): the one place every
  source reports a known total is :meth:`Task.progress` (HTTP's probe, a Telegram file,
  torrent metadata, yt-dlp's filesize). The manager hooks this method there for the download
  stage. It checks, in order: ``MAX_DOWNLOAD_SIZE`` and the per-kind limit (``DIRECT_LIMIT``,
  ``TORRENT_LIMIT``, ``YTDL_LIMIT``, ``LEECH_LIMIT``), then ``STORAGE_THRESHOLD`` (through the
  :class:`~telebot.engine.diskguard.DiskGuard`), then ``STOP_DUPLICATE``. A refusal marks the
  task (:meth:`Task.refuse`) and raises :class:`Refused`; the manager ends it as failed with
  that one line and removes its folder.

Sudo users and the owner are exempt from the per-user and per-kind limits (``exempt``), never
from the disk threshold: that protects the host, not a quota. The values can be replaced live
(``/bsetting``) with :meth:`Limits.update`; readers see either the old or the new set, whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telebot.engine.diskguard import DiskGuard, allocated
from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError, DownloadError
from telebot.units import format_bytes, format_size

log = logging.getLogger(__name__)

#: ``(spec, name, size)`` → where an equal result already is, or None (sinks/duplicates.py).
DuplicateFinder = Callable[[TaskSpec, str, int], "str | None"]
#: ``(spec, result)`` → where a result equal to the processed ``result`` already is, or None.
ResultDuplicateFinder = Callable[[TaskSpec, Path], "str | None"]


def reshapes_result(spec: TaskSpec) -> bool:
    """True when the stages give the result another name or size than the download's (-e,
    -z, -j, -ns, a prefix or suffix, excluded extensions): only the processed result can then
    be compared with what is at the destination."""
    return bool(
        spec.extract or spec.compress or spec.join or spec.name_subst or spec.name_prefix
        or spec.name_suffix or spec.exclude_ext
    )  # fmt: skip


class Refused(DownloadError):
    """A limit refused the task once its size became known."""


@dataclass(frozen=True)
class LimitValues:
    """The configured limits (config.py names in comments); None or 0 = no limit."""

    user_tasks: int = 0  # USER_TASKS_LIMIT
    max_download: int | None = None  # MAX_DOWNLOAD_SIZE (every source, everyone)
    direct: int | None = None  # DIRECT_LIMIT: http(s) links and Telegram files
    torrent: int | None = None  # TORRENT_LIMIT
    ytdl: int | None = None  # YTDL_LIMIT
    leech: int | None = None  # LEECH_LIMIT: any /leech task
    stop_duplicate: bool = False  # STOP_DUPLICATE

    def with_(self, **changes: Any) -> LimitValues:
        return replace(self, **changes)


# Source engine (Source.engine) → (LimitValues field, setting name, what the user reads).
_KIND_LIMITS = {
    "HTTP": ("direct", "DIRECT_LIMIT", "direct links"),
    "Telegram": ("direct", "DIRECT_LIMIT", "direct links and Telegram files"),
    "libtorrent": ("torrent", "TORRENT_LIMIT", "torrents"),
    "yt-dlp": ("ytdl", "YTDL_LIMIT", "yt-dlp downloads"),
}


class Limits:
    """Admission and size checks for the :class:`~telebot.engine.manager.TaskManager`."""

    def __init__(
        self,
        values: LimitValues | None = None,
        *,
        exempt: Callable[[int], bool] = lambda user_id: False,
        disk: DiskGuard | None = None,
        duplicates: DuplicateFinder | None = None,
        result_duplicates: ResultDuplicateFinder | None = None,
    ) -> None:
        self._values = values or LimitValues()
        self._exempt = exempt
        self.disk = disk
        self._duplicates = duplicates
        self._result_duplicates = result_duplicates

    @property
    def values(self) -> LimitValues:
        return self._values

    def update(self, values: LimitValues) -> None:
        """Replace every value at once (``/bsetting``): one reference swap, no lock needed."""
        self._values = values

    # -- at submission ----------------------------------------------------------------------

    def admit(self, spec: TaskSpec, active_of_user: int) -> None:
        """Raise :class:`BadInputError` (the user's reply) when ``spec`` may not be queued.
        Called under the manager's lock: no I/O here (``exempt`` reads an in-memory cache)."""
        values = self._values
        full = values.user_tasks > 0 and active_of_user >= values.user_tasks
        if full and not self._exempt(spec.user_id):
            raise BadInputError(
                f"refused: you have {active_of_user} tasks running or queued, and each user "
                f"may have {values.user_tasks} (USER_TASKS_LIMIT). Wait for one to finish."
            )
        self._admit_size(spec)

    def admit_all(
        self, specs: Sequence[TaskSpec], active_of: Callable[[int], int]
    ) -> list[str | None]:
        """Why each of ``specs`` may not be queued (None: it may), judged together as if they
        were queued in order: each admitted one takes a place the next of the same user cannot
        have. The one admission check of -b, -i and -m; under the manager's lock, no I/O."""
        values = self._values
        taken: dict[int, int] = {}
        reasons: list[str | None] = []
        for spec in specs:
            user = spec.user_id
            active = active_of(user)
            limited = values.user_tasks > 0 and not self._exempt(user)
            if limited and active + taken.get(user, 0) >= values.user_tasks:
                reasons.append(
                    f"over USER_TASKS_LIMIT ({values.user_tasks} running or queued per user; "
                    f"you have {active} now)"
                )
                continue
            try:
                self._admit_size(spec)
            except BadInputError as exc:
                reasons.append(str(exc).removeprefix("refused: "))
                continue
            taken[user] = taken.get(user, 0) + 1
            reasons.append(None)
        return reasons

    def _admit_size(self, spec: TaskSpec) -> None:
        engine = "Telegram" if spec.source.startswith("tg:") and spec.tool is None else None
        if spec.file_size and engine is not None:
            # MAX_DOWNLOAD_SIZE is the source's own check, before getFile (sources/tgfile.py).
            try:
                self._check_kind(spec, engine, spec.file_size, spec.file_name or "this file")
            except Refused as exc:
                raise BadInputError(str(exc)) from None

    # -- once the size is known -------------------------------------------------------------

    def check_size(self, spec: TaskSpec, engine: str, size: int, name: str) -> None:
        """Raise :class:`Refused` when ``size`` breaks a size limit that applies to ``spec``."""
        limit = self._values.max_download
        if limit is not None and size > limit:  # the live value; sources hold the start one
            raise Refused(
                f"{name} is {format_bytes(size)}, over the {format_bytes(limit)} download "
                "limit (MAX_DOWNLOAD_SIZE)"
            )
        self._check_kind(spec, engine, size, name)

    def _check_kind(self, spec: TaskSpec, engine: str, size: int, name: str) -> None:
        values = self._values
        checks = []
        kind = _KIND_LIMITS.get(engine)
        if kind is not None:
            checks.append(kind)
        if spec.kind == "leech":
            checks.append(("leech", "LEECH_LIMIT", "leech tasks"))
        for field_name, setting, noun in checks:
            limit = getattr(values, field_name)
            if limit is not None and size > limit and not self._exempt(spec.user_id):
                raise Refused(
                    f"refused: {noun} are limited to {format_size(limit)} ({setting}); "
                    f"{name} is {format_size(size)}"
                )

    def on_total(self, task: Task, engine: str, total: int, *, first: bool = True) -> None:
        """The download stage's size became (or changed to) ``total``: check every limit.
        The duplicate look-up (maybe an rclone call) runs only for the ``first`` total of a name:
        later ones are a growing estimate (yt-dlp fragments) of the same result.

        On a refusal: marks the task (so the manager fails it with the message whatever the
        source makes of the exception) and raises :class:`Refused` to stop the source at once.
        """
        try:
            self.check_size(task.spec, engine, total, task.name)
            if self.disk is not None:
                self._reserve(task, total)
            if first:
                self._check_duplicate(task, total)
        except Refused as exc:
            task.refuse(str(exc))
            raise
        except DownloadError as exc:  # NoRoom
            task.refuse(str(exc))
            raise Refused(str(exc)) from None

    def _reserve(self, task: Task, total: int) -> None:
        """STORAGE_THRESHOLD for a known size, and a reservation later tasks see. A stage that
        writes a new copy before the download is removed (-j, -e, -z) needs room for both."""
        assert self.disk is not None
        spec = task.spec
        copies = spec.join or spec.extract or spec.compress
        whole = total * 2 if copies else total
        what = "it and the copy its processing writes" if copies else "it"
        self.disk.check(max(0, whole - allocated(task.workdir)), what, key=task.gid)
        self.disk.reserve(task.gid, whole, task.workdir)

    def release(self, task: Task) -> None:
        """The task ended: its disk reservation is free for others."""
        if self.disk is not None:
            self.disk.release(task.gid)

    def _check_duplicate(self, task: Task, total: int) -> None:
        spec = task.spec
        if not self._values.stop_duplicate or self._duplicates is None or spec.kind != "mirror":
            return  # leech results go to a chat: there is nothing there to compare with
        if reshapes_result(spec):
            return  # the download is not what will be delivered: before_delivery compares
        finder = self._duplicates
        where = _look_up(task, lambda: finder(spec, task.name, total))
        if where is not None:
            raise Refused(
                f"not downloaded again: {task.name} ({format_size(total)}) is already at "
                f"{where} (STOP_DUPLICATE)"
            )

    def before_delivery(self, task: Task, result: Path) -> None:
        """``STOP_DUPLICATE`` for a result the stages reshaped (:func:`reshapes_result`):
        compared by the name and size it will be delivered under. Raises :class:`Refused`."""
        spec = task.spec
        finder = self._result_duplicates
        if not self._values.stop_duplicate or finder is None or spec.kind != "mirror":
            return
        if not reshapes_result(spec):
            return  # compared before downloading (on_total)
        where = _look_up(task, lambda: finder(spec, result))
        if where is not None:
            raise Refused(
                f"not delivered again: the result is already at {where} (STOP_DUPLICATE)"
            )


def _look_up(task: Task, find: Callable[[], str | None]) -> str | None:
    """A duplicate look-up (maybe an rclone call): one that fails must not cost the task."""
    try:
        return find()
    except Exception:
        log.warning("duplicate check failed for task %s", task.gid, exc_info=True)
        return None
