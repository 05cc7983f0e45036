"""One torrent's life in the session, from added to complete, run in the task's thread.

Phases: wait for metadata → check paths, size and disk, then choose files (nothing is written
before: every torrent is added in upload mode, which this ends once the priorities are set) →
download, polling ``status()`` every :data:`POLL` seconds, which is also how soon a cancel is
noticed. The status line says where the peers came from and what each failing tracker answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import libtorrent as lt

from telebot.engine.pipeline import DiskSpace
from telebot.engine.task import Task
from telebot.errors import DownloadError, TaskCancelled
from telebot.namefit import fit_paths
from telebot.sources.torrent.choose import FileChooser, FileEntry
from telebot.sources.torrent.resume import write_atomic
from telebot.sources.torrent.safety import check_layout, check_room, is_pad, selected_size
from telebot.sources.torrent.session import TorrentSession, Watch
from telebot.units import format_duration

POLL = 0.25  # s between status polls; cancel answers within this (the issue asks for 1 s)
STALL_NOTICE = 60.0  # s without new data before the status line says "stalled"
# Resume data is also saved after every RESUME_STEP of the wanted bytes (at most once per
# RESUME_MIN_GAP s), so a kill -9 loses at most 5% of a torrent, not a minute of it.
RESUME_STEP = 0.05
RESUME_MIN_GAP = 1.0
WANTED = 4  # libtorrent's default file priority
# The file choice, as the priority list, once made: a restart must not ask again, and resume
# data cannot tell a choice from the defaults (every torrent starts with priority 4 now).
CHOICE_FILE = ".torrent.choice"
# peer_info.source bits, in the order the status line names them.
_SOURCES = (
    ("tracker", lt.peer_info.tracker),
    ("DHT", lt.peer_info.dht),
    ("PEX", lt.peer_info.pex),
    ("LSD", lt.peer_info.lsd),
    ("resume", lt.peer_info.resume_data),
)


class TorrentJob:
    """Drives one added torrent until its wanted files are complete."""

    def __init__(
        self,
        task: Task,
        session: TorrentSession,
        watch: Watch,
        data_dir: Path,
        *,
        chooser: FileChooser | None = None,
        clock: Callable[[], float] = time.monotonic,
        disk: DiskSpace | None = None,
    ) -> None:
        self.task = task
        self.disk = disk  # STORAGE_THRESHOLD: pieces land sparse, so the download pauses
        self.session = session
        self.watch = watch
        self.handle = watch.handle
        self.data_dir = data_dir
        self.chooser = chooser
        self.clock = clock
        self.settings = session.settings
        self.priorities: list[int] = []
        self._saved_at, self._saved_done = 0.0, 0
        self._paused_for_disk = False
        self._renamed: dict[int, str] = {}  # file index → its name on disk, when trimmed

    def run(self) -> Path:
        """Download and return the single file, or the torrent's folder."""
        self.wait_metadata()
        wanted = self.prepare()
        self.download(wanted)
        return self.result_path()

    # -- phases -----------------------------------------------------------------------------

    def wait_metadata(self) -> None:
        start = self.clock()
        while True:
            st = self._status()
            if st.has_metadata:
                return
            found = max(st.num_peers, st.list_peers)
            self.task.detail = (
                f"getting metadata · {found} peer{'s' if found != 1 else ''} found"
                + self._tracker_notes()
            )
            if self.clock() - start >= self.settings.timeout:
                raise DownloadError(
                    f"no metadata after {format_duration(self.settings.timeout)}: no peer sent "
                    f"the torrent's file list{self._blocked_hint()}{self._tracker_notes()}"
                )
            self._tick()

    def prepare(self) -> int:
        """Check the file list, choose files, set priorities. Returns the wanted byte count."""
        info = self._info()
        files = info.layout()
        check_layout(files, self.data_dir)
        self._fit_names(files)
        self.task.name = self.task.spec.name or info.name()
        priorities = self._earlier_choice(files.num_files())
        if priorities is None:
            priorities = self._choose(files)
            write_atomic(self.task.workdir / CHOICE_FILE, json.dumps(priorities).encode())
        wanted = selected_size(files, priorities)
        check_room(wanted, self._status().total_done, self.data_dir, self.settings.max_size)
        self.handle.prioritize_files(priorities)
        # Queued after the priorities on libtorrent's one message queue: nothing unchosen is
        # ever requested.
        self.handle.unset_flags(lt.torrent_flags.upload_mode)
        self.handle.resume()  # added paused when its metadata came with it (source.py)
        self.priorities = priorities
        self.task.progress(self._status().total_wanted_done, wanted)
        self.session.save_resume(self.watch)  # a kill from here on needs no metadata again
        return wanted

    def download(self, wanted: int) -> None:
        last_done, last_change = -1, self.clock()
        self._saved_at, self._saved_done = self.clock(), 0
        applied = False
        while True:
            st = self._status()
            # prioritize_files is asynchronous: until it is applied, status still describes
            # the all-zero start, which looks "finished".
            applied = applied or list(self.handle.get_file_priorities()) == self.priorities
            done = st.total_wanted_done
            # total_wanted counts whole pieces, so it may exceed the files' sum (v1 torrents
            # whose pieces straddle an unselected file).
            self.task.progress(done, st.total_wanted if applied else wanted)
            now = self.clock()
            if self._wait_for_disk():
                last_change = now  # waiting for disk space is not a dead torrent
                self._tick()
                continue
            if done != last_done:
                last_done, last_change = done, now
            if applied and st.is_finished and done >= st.total_wanted:
                self.task.detail = None
                return
            idle = now - last_change
            if idle >= self.settings.timeout:
                raise DownloadError(
                    f"no progress for {format_duration(idle)} ({st.num_seeds} seeds, "
                    f"{st.num_peers} peers connected): the torrent looks dead"
                    + self._blocked_hint()
                    + self._tracker_notes()
                )
            stalled = f" · stalled {format_duration(idle)}" if idle >= STALL_NOTICE else ""
            self.task.detail = (
                f"seeds {st.num_seeds} · peers {st.num_peers}{self._peer_sources()}{stalled}"
                + self._tracker_notes()
            )
            self._maybe_save(st, now, wanted)
            self._tick()

    def _wait_for_disk(self) -> bool:
        """Pause the torrent while the disk is below STORAGE_THRESHOLD (other tasks' promised
        room counted), resume it when space returns; True while paused. A torrent writes
        pieces into sparse files, so the size check before it started cannot hold alone."""
        disk = self.disk
        if disk is None or disk.threshold <= 0:
            return False
        low = disk.room() < 0
        # Upload mode, not pause(): it stops piece requests (so nothing more is written) but
        # keeps the peer connections, which a pause drops and a peer-hint-only swarm never
        # gives back (docs/ENGINES.md, libtorrent).
        if low and not self._paused_for_disk:
            self.handle.set_flags(lt.torrent_flags.upload_mode)
        elif not low and self._paused_for_disk:
            self.handle.unset_flags(lt.torrent_flags.upload_mode)
            self.task.note = None
        self._paused_for_disk = low
        if low:
            self.task.note = disk.waiting_line(disk.free())
        return low

    def _maybe_save(self, st: lt.torrent_status, now: float, wanted: int) -> None:
        """Resume data every resume_interval, and after every RESUME_STEP of the data."""
        done, since = st.total_wanted_done, now - self._saved_at
        step = done - self._saved_done >= RESUME_STEP * wanted and since >= RESUME_MIN_GAP
        if step or since >= self.settings.resume_interval:
            self._saved_at, self._saved_done = now, done
            if st.need_save_resume:
                self.session.save_resume(self.watch)

    def result_path(self) -> Path:
        files = self._info().layout()
        first = next(i for i in range(files.num_files()) if not is_pad(files, i))
        parts = PurePosixPath(self._renamed.get(first, files.file_path(first))).parts
        return self.data_dir / parts[0]

    def _fit_names(self, files: lt.file_storage) -> None:
        """Rename files whose path has a component over 240 bytes (namefit.py) in libtorrent
        itself, before any priority lets a byte be written: the data lands under the short
        name, and seeding and resume data use it too. libtorrent trims names only to ~246
        bytes, which leaves no room for ".001" or ".part.state.tmp". Renames are queued
        before the priorities, so libtorrent applies them first; after a restart the same
        names come out again (and renaming a file to its own name changes nothing)."""
        paths = {i: files.file_path(i) for i in range(files.num_files()) if not is_pad(files, i)}
        self._renamed = fit_paths(paths)
        for index, path in self._renamed.items():
            self.handle.rename_file(index, path)

    # -- helpers ----------------------------------------------------------------------------

    def _choose(self, files: lt.file_storage) -> list[int]:
        entries = [
            FileEntry(i, files.file_path(i), files.file_size(i))
            for i in range(files.num_files())
            if not is_pad(files, i)
        ]
        chosen: frozenset[int] | None = None
        if self.chooser is not None:
            self.task.detail = "waiting for your file selection"
            chosen = self.chooser.choose(self.task, entries, self.settings.select_timeout)
            self._tick(0)
        if chosen is not None and not chosen:
            raise DownloadError("no file was selected")
        keep = {e.index for e in entries} if chosen is None else set(chosen)
        return [WANTED if i in keep else 0 for i in range(files.num_files())]

    def _earlier_choice(self, count: int) -> list[int] | None:
        """The priorities an earlier run of this task chose, if it got that far."""
        try:
            saved = json.loads((self.task.workdir / CHOICE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        valid = isinstance(saved, list) and len(saved) == count
        return [int(p) for p in saved] if valid and all(isinstance(p, int) for p in saved) else None

    def _peer_sources(self) -> str:
        """`` (tracker 3, DHT 1)``: how many connected peers each source gave."""
        counts: dict[str, int] = {}
        for peer in self.handle.get_peer_info():
            for name, bit in _SOURCES:
                if peer.source & bit:
                    counts[name] = counts.get(name, 0) + 1
        shown = ", ".join(f"{name} {counts[name]}" for name, _ in _SOURCES if name in counts)
        return f" ({shown})" if shown else ""

    def _tracker_notes(self) -> str:
        """`` · tracker: connection refused`` for each tracker whose last announce failed
        (named by host when there are several; never the path, which may hold a passkey)."""
        errors = self.watch.tracker_errors()
        if len(errors) == 1:
            return f" · tracker: {errors[0][1].lower()}"
        return "".join(
            f" · tracker {urlsplit(url).hostname or '?'}: {error.lower()}"
            for url, error in errors[:3]
        )

    def _info(self) -> lt.torrent_info:
        info = self.handle.torrent_file()
        if info is None:  # only before metadata, and these run after it
            raise DownloadError("the torrent lost its metadata")
        return info

    def _status(self) -> lt.torrent_status:
        st = self.handle.status()
        if st.errc.value():
            raise DownloadError(f"the torrent failed: {st.errc.message()}")
        return st

    def _tick(self, wait: float = POLL) -> None:
        if self.task.cancel_event.wait(wait):
            raise TaskCancelled(self.task.cancel_reason or "cancelled")

    def _blocked_hint(self) -> str:
        if not self.watch.blocked:
            return ""
        return (
            f" ({self.watch.blocked} connection attempt(s) to private or local addresses were "
            "refused: ALLOW_PRIVATE_LINKS is off)"
        )
