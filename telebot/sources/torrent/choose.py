"""The engine's side of ``-s``: asking the user which files of a torrent to download.

The engine never imports ``bot/``: ``bot/`` implements :class:`FileChooser` and hands it to the
torrent source through wiring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from telebot.engine.task import Task


@dataclass(frozen=True)
class FileEntry:
    """One selectable file: its index in the torrent, path inside it and size in bytes."""

    index: int
    path: str
    size: int


class FileChooser(Protocol):
    def choose(
        self, task: Task, files: Sequence[FileEntry], timeout: float
    ) -> frozenset[int] | None:
        """Block (in the task's thread) until the user picks files, at most ``timeout`` s.

        Returns the chosen indexes, or None for "all files" (timeout, or no way to ask).
        Must return early, with None, when ``task.cancel_event`` is set.
        """
        ...
