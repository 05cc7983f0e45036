"""The process's one libtorrent session and the one thread that reads its alerts.

The session is created on the first torrent (a bot that never sees one never opens a port).
Each added torrent gets a :class:`Watch`: the alert thread records there what the torrent's
task waits for (resume data saved, removed, files deleted, peers refused). Task threads poll
``handle.status()`` themselves; alerts are only for the events a poll cannot see.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from telebot.errors import DownloadError, TelebotError
from telebot.redact import redact_url
from telebot.sources.torrent.resume import write_atomic
from telebot.sources.torrent.settings import TorrentSettings, apply_filters, session_params

if TYPE_CHECKING:
    # Imported by the methods that use it: the bot builds its TorrentSession at start-up, and
    # the library (~15-45 ms) waits for the first torrent like the session does.
    import libtorrent as lt

log = logging.getLogger(__name__)

ALERT_WAIT_MS = 250  # the reader wakes at least this often to notice shutdown
SAVE_TIMEOUT = 5.0  # a save_resume_data answer normally takes milliseconds
REMOVE_TIMEOUT = 1.0  # cancel must free files within a second (issue 12)


@dataclass(eq=False)
class Watch:
    """One torrent in the session, as its task sees it."""

    handle: lt.torrent_handle
    resume_path: Path
    blocked: int = 0  # peers/trackers refused by the IP filter
    last_error: str | None = None
    resume_data: bytes | None = None
    resume_done: threading.Event = field(default_factory=threading.Event)
    removed: threading.Event = field(default_factory=threading.Event)
    deleted: threading.Event = field(default_factory=threading.Event)
    save_lock: threading.Lock = field(default_factory=threading.Lock)
    states: list[str] = field(default_factory=list)  # every state it entered, in order
    resume_rejected: str | None = None  # why libtorrent refused our resume data, if it did
    moved: threading.Event = field(default_factory=threading.Event)
    move_error: str | None = None
    # Tracker URL → what its last announce gave: (True, peer count) or (False, the error).
    # Written by the alert thread (whole values), read by the task thread.
    trackers: dict[str, tuple[bool, int | str]] = field(default_factory=dict)

    def tracker_errors(self) -> list[tuple[str, str]]:
        """(tracker URL, error) of each tracker whose last announce failed."""
        return [(url, str(v)) for url, (ok, v) in list(self.trackers.items()) if not ok]


class TorrentSession:
    """Owns the libtorrent session. Thread-safe; one per process (see wiring)."""

    def __init__(self, settings: TorrentSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._session: lt.session | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self._watches: list[Watch] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def _ensure(self) -> lt.session:
        with self._lock:
            if self._closed:
                raise TelebotError("the bot is shutting down; try again in a moment")
            if self._session is None:
                import libtorrent as lt

                # The binding takes a plain dict (docs/ENGINES.md, libtorrent); its stub only lists
                # classes.
                session = lt.session(session_params(self.settings))  # type: ignore[call-overload]
                apply_filters(session, self.settings)
                self._session = session
                self._reader = threading.Thread(
                    target=self._read_alerts, args=(session,), name="torrent-alerts", daemon=True
                )
                self._reader.start()
                log.info(
                    "libtorrent %s session listening on port %s",
                    lt.__version__,
                    session.listen_port(),
                )
            return self._session

    @property
    def listen_port(self) -> int:
        return self._ensure().listen_port()

    def shutdown(self, timeout: float = SAVE_TIMEOUT) -> None:
        """Save resume data of every torrent still added, pause, and destroy the session."""
        with self._lock:
            self._closed = True
            session, watches = self._session, list(self._watches)
        if session is None:
            return
        deadline = time.monotonic() + timeout
        for watch in watches:
            self.save_resume(watch, max(0.1, deadline - time.monotonic()))
        session.pause()
        self._stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2 * ALERT_WAIT_MS / 1000)
        with self._lock:
            self._session = None
            self._watches.clear()
        del session  # the destructor stops the session (trackers get stop_tracker_timeout)

    # -- torrents -----------------------------------------------------------------------------

    def add(self, params: lt.add_torrent_params, resume_path: Path) -> Watch:
        session = self._ensure()
        # Under the lock: the reader must not see this torrent's first alerts (a peer refused
        # at once) before its watch is listed.
        with self._lock:
            try:
                handle = session.add_torrent(params)
            except RuntimeError as exc:
                if "duplicate" in str(exc).lower():
                    raise DownloadError(
                        "this torrent is already being downloaded by another task"
                    ) from None
                raise DownloadError(f"libtorrent refused the torrent: {exc}") from None
            watch = Watch(handle, resume_path)
            self._watches.append(watch)
        return watch

    def save_resume(self, watch: Watch, timeout: float = SAVE_TIMEOUT) -> bool:
        """Ask for resume data and write it atomically to ``watch.resume_path``."""
        with watch.save_lock:
            watch.resume_done.clear()
            watch.resume_data = None
            if not watch.handle.is_valid():
                return False
            import libtorrent as lt

            watch.handle.save_resume_data(lt.torrent_handle.save_info_dict)
            if not watch.resume_done.wait(timeout) or watch.resume_data is None:
                return False
            try:
                write_atomic(watch.resume_path, watch.resume_data)
            except OSError as exc:
                log.warning("could not save resume data: %s", exc)
                return False
            return True

    def remove(self, watch: Watch, *, delete_files: bool, timeout: float = REMOVE_TIMEOUT) -> bool:
        """Take the torrent out of the session; with ``delete_files``, wait until they are gone."""
        with self._lock:
            session = self._session
        try:
            if session is None or not watch.handle.is_valid():
                return True
            import libtorrent as lt

            flags = lt.options_t.delete_files if delete_files else 0
            session.remove_torrent(watch.handle, flags)
            # The watch stays listed until here so the reader can deliver the removal alerts.
            done = watch.deleted if delete_files else watch.removed
            return done.wait(timeout)
        finally:
            with self._lock:
                if watch in self._watches:
                    self._watches.remove(watch)

    # -- the alert thread ---------------------------------------------------------------------

    def _read_alerts(self, session: lt.session) -> None:
        while not self._stop.is_set():
            try:
                if session.wait_for_alert(ALERT_WAIT_MS) is None:
                    continue
                for alert in session.pop_alerts():
                    self._dispatch(alert)
            except Exception:  # never let one odd alert stop the reader
                log.exception("reading libtorrent alerts failed")

    def _find(self, handle: lt.torrent_handle) -> Watch | None:
        with self._lock:
            for watch in self._watches:
                if watch.handle == handle:
                    return watch
        return None

    def _dispatch(self, alert: lt.alert) -> None:
        import libtorrent as lt

        handle = getattr(alert, "handle", None)
        if handle is None:
            return
        watch = self._find(handle)
        if watch is None:
            return
        if isinstance(alert, lt.save_resume_data_alert):
            watch.resume_data = lt.write_resume_data_buf(alert.params)
            watch.resume_done.set()
        elif isinstance(alert, lt.save_resume_data_failed_alert):
            watch.resume_done.set()
        elif isinstance(alert, lt.torrent_removed_alert):
            watch.removed.set()
        elif isinstance(alert, (lt.torrent_deleted_alert, lt.torrent_delete_failed_alert)):
            watch.deleted.set()
        elif isinstance(alert, lt.storage_moved_alert):
            watch.moved.set()
        elif isinstance(alert, lt.storage_moved_failed_alert):
            watch.move_error = alert.message()
            watch.moved.set()
        elif isinstance(alert, lt.state_changed_alert):
            watch.states.append(str(alert.state))
            if str(alert.state) == "checking_files":  # a full re-hash: worth a line in the log
                log.info("torrent %s is checking its files", watch.handle.info_hashes().get_best())
        elif isinstance(alert, lt.fastresume_rejected_alert):
            watch.resume_rejected = alert.message()
            log.info("resume data rejected, checking the files instead: %s", alert.message())
        elif isinstance(alert, lt.peer_blocked_alert):
            watch.blocked += 1
        elif isinstance(alert, lt.tracker_reply_alert):
            watch.trackers[alert.tracker_url()] = (True, int(alert.num_peers))
        elif isinstance(alert, lt.tracker_error_alert):
            error = alert.failure_reason() or alert.error.message() or "announce failed"
            if watch.trackers.get(alert.tracker_url()) != (False, error):
                log.info("tracker %s: %s", redact_url(alert.tracker_url()), error)
            watch.trackers[alert.tracker_url()] = (False, error)
        elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
            watch.last_error = alert.message()
            log.warning("torrent: %s", alert.message())
