"""Albums for leech: several files in one ``sendMediaGroup`` request (docs/TELEGRAM.md, albums).

What goes into an album: the playable parts of one file split for upload (``-med``), and the
screenshots of a video (``-ss``), in order, up to :data:`ALBUM_MAX` a request, when
``MEDIA_GROUP`` is on. Telegram shows the first item's caption under the album, so only the
first item carries one.

An album is sent exactly once like a single part is (``sinks/telegram.py``, :class:`PartSend`):
its items share one fate, so each item's label gets the same ledger events. ``sending`` for
every item before an attempt writes a byte; ``sent`` for every item once the last byte of the
last file was read (:class:`AlbumSend`: every file's EOF; from there on only the thumbnails'
and the closing boundaries follow, so Telegram may have the album); ``done`` with each item's
link once Telegram answered. A resumed leech sends again an album whose items are only
``sending``, and reports one whose items are ``sent`` as to be checked, never sending it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from telebot.errors import TaskCancelled

#: sendMediaGroup takes 2 to 10 items.
ALBUM_MIN = 2
ALBUM_MAX = 10
#: The kinds that may share an album (documents group only with documents, and a part of a
#: byte split is no media, so this bot never makes a document album).
ALBUM_KINDS = frozenset({"video", "audio", "photo"})


class Ledger(Protocol):
    """The part of ``SendLedger`` an album writes to."""

    def sending(self, label: str) -> None: ...

    def sent(self, label: str) -> None: ...

    def done(self, label: str, link: str | None, note: str | None) -> None: ...


@dataclass
class AlbumItem:
    """One file of an album: its ledger label, the file, how it is shown (``kind``: video,
    audio or photo) and its caption (HTML; empty for all but the first item)."""

    label: str
    path: Path
    kind: str
    size: int
    caption: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # duration, width, thumbnail, ...
    temporary: bool = True  # a part made for the upload: removed once the album is settled


def can_group(kinds: list[str]) -> bool:
    """Whether items of these kinds may go in one album: photos and videos mix; audio only
    with audio."""
    wanted = set(kinds)
    return wanted <= ALBUM_KINDS and (wanted <= {"photo", "video"} or wanted == {"audio"})


class AlbumSend:
    """How far the upload of one album got, agreed between the worker thread and the event
    loop that writes the request (``PartSend`` of ``sinks/telegram.py`` for several files).

    The loop reports each new attempt (:meth:`attempt`), each read of item ``i``'s file
    (:meth:`read`) and each file's EOF (:meth:`eof`); the point of no return is the EOF of the
    last file still open, after which only thumbnails and boundaries follow. :meth:`settle`
    after an upload without an answer aborts it for good before that point (later reads
    raise, so the body can never be completed behind the worker's back) and says whether it
    was passed.
    """

    def __init__(
        self, ledger: Ledger, labels: list[str], progress: Callable[[int], None]
    ) -> None:
        self.ledger = ledger
        self.labels = labels
        self._progress = progress
        self._lock = threading.Lock()
        self._positions = [0] * len(labels)
        self._ended: set[int] = set()
        self._sent = False
        self._aborted = False

    def _check(self) -> None:
        if self._aborted:
            raise TaskCancelled("the upload was abandoned")

    def attempt(self) -> None:
        with self._lock:
            self._check()
            for label in self.labels:
                self.ledger.sending(label)
            self._positions = [0] * len(self.labels)
            self._ended = set()
            self._sent = False

    def read(self, index: int, position: int) -> None:
        with self._lock:
            self._check()
            self._positions[index] = position
            total = sum(self._positions)
        self._progress(total)  # raises on cancel: the body stops mid-way

    def eof(self, index: int) -> None:
        with self._lock:
            self._check()
            self._ended.add(index)
            if len(self._ended) == len(self.labels) and not self._sent:
                for label in self.labels:
                    self.ledger.sent(label)
                self._sent = True

    def all_sent(self) -> None:
        """Local Bot API mode: the request carries paths, so building it is the signal."""
        with self._lock:
            self._check()
            for label in self.labels:
                self.ledger.sent(label)
            self._sent = True

    def settle(self) -> bool:
        """True when every byte of every file was handed over; otherwise aborted for good."""
        with self._lock:
            if not self._sent:
                self._aborted = True
            return self._sent
