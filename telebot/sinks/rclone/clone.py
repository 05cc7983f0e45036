"""/clone as a task: copy ``remote:path`` to another remote through the same :class:`RcloneSink`.

The task's "download" stage only looks the source up (``rclone lsjson --stat`` and, for a
folder, ``rclone size``) and writes what it found to a small ticket file in the task's folder,
named like the item; the upload stage hands the ticket to the sink, which then copies source
to destination with one ``rclone copy``/``copyto``. rclone copies server-side when both ends
are the same remote and its backend can; otherwise the bytes stream through this machine
without touching its disk. A restart re-runs the copy, which skips what already arrived.

Because nothing lands on the local disk and nothing is downloaded, neither
``STORAGE_THRESHOLD`` nor ``MAX_DOWNLOAD_SIZE`` applies to a clone (see :meth:`CloneSource.fetch`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from telebot.engine.pipeline import SourceFactory
from telebot.engine.task import Task, TaskSpec
from telebot.sinks.rclone.remotes import Remotes
from telebot.sinks.rclone.settings import RcloneSettings
from telebot.sinks.rclone.sink import run_rclone
from telebot.sinks.ticket import Ticket, write_ticket
from telebot.sources.names import sanitize_filename

TICKET_FOLDER = ".clone"
STAT_TIMEOUT = 120.0  # seconds; a folder's size walks the whole tree


class CloneSource:
    """The source stage of a /clone task (see the module docstring)."""

    engine = "rclone"

    def __init__(self, settings: RcloneSettings) -> None:
        self.config_path = settings.config_path
        self.allowed_roots = tuple(settings.allowed_roots)  # RCLONE_ALLOWED_ROOTS

    def fetch(self, task: Task) -> Path:
        remotes = Remotes.load(self.config_path, self.allowed_roots)
        source = remotes.check(task.spec.source)
        args = ["lsjson", "--stat", "--", str(source)]
        found = json.loads(run_rclone(args, config=remotes.config_path,
                                      cancel=task.cancel_event, timeout=STAT_TIMEOUT))
        folder = bool(found.get("IsDir"))
        size, files = int(found.get("Size") or 0), 1
        if folder:
            totals = json.loads(run_rclone(["size", "--json", "--", str(source)],
                                           config=remotes.config_path,
                                           cancel=task.cancel_event, timeout=STAT_TIMEOUT))
            size, files = int(totals.get("bytes") or 0), int(totals.get("count") or 0)
        fallback = source.path.rstrip("/").rsplit("/", 1)[-1] or source.remote
        name = sanitize_filename(task.spec.name or str(found.get("Name") or fallback),
                                 fallback=fallback)
        ticket = task.workdir / TICKET_FOLDER / name
        write_ticket(ticket, Ticket(str(source), folder, size, files))
        # No total is reported here, on purpose: in the download stage a known total is checked
        # against MAX_DOWNLOAD_SIZE and STORAGE_THRESHOLD (Task.on_total, engine/limits.py),
        # which guard downloads onto this disk. A clone downloads nothing and writes only this
        # ticket; its bytes go remote to remote. The sink shows the size once the copy starts.
        return ticket


def clone_source_factory(settings: RcloneSettings) -> SourceFactory:
    source = CloneSource(settings)

    def factory(spec: TaskSpec) -> CloneSource | None:
        return source if spec.kind == "clone" else None

    return factory


def check_clone(
    config_path: Path | None, source: str, dest: str, allowed_roots: Sequence[str] = ()
) -> None:
    """Both ends name usable remotes (raises :class:`BadInputError`); reads the config."""
    remotes = Remotes.load(config_path, allowed_roots)
    remotes.check(source)
    remotes.check(dest)
