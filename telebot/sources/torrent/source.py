"""The torrent :class:`~telebot.engine.pipeline.Source`: magnets and ``.torrent`` files.

A task's folder holds ``data/`` (libtorrent's save path, so a torrent's file can never be named
like our own files), ``.torrent.resume`` (resume data, see :mod:`.resume`) and, for ``.torrent``
sources, ``.metainfo.torrent`` (the file as fetched). The journal keeps only the spec: a magnet,
the ``.torrent`` link, or the Telegram file id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import libtorrent as lt

from telebot.engine.pipeline import DiskSpace, Source, SourceFactory
from telebot.engine.task import SHUTDOWN_REASON, Task, TaskSpec
from telebot.errors import BadInputError, DownloadError, TaskCancelled, share_password_unused
from telebot.monitor.perf import monitor_performance
from telebot.sources.torrent.choose import FileChooser
from telebot.sources.torrent.download import TorrentJob
from telebot.sources.torrent.links import is_magnet, is_torrent_spec
from telebot.sources.torrent.resume import METAINFO_FILE, RESUME_FILE, load_resume, write_atomic
from telebot.sources.torrent.safety import check_layout
from telebot.sources.torrent.seeding import Seeding
from telebot.sources.torrent.session import TorrentSession, Watch

log = logging.getLogger(__name__)

DATA_DIR = "data"
MetainfoFetcher = Callable[[Task], bytes]

_F = lt.torrent_flags
# Every torrent starts in upload mode, so nothing is written before the checks and the file
# choice (TorrentJob.prepare ends it). Not with all priorities 0: such a torrent is "finished",
# its seeds drop it, and a swarm found only through a tracker never came back after the
# choice (0 peers for minutes; docs/ENGINES.md, libtorrent: zero priorities).
# A second task with the same torrent fails instead of sharing the first one's handle;
# libtorrent's own queue never pauses a torrent our queues started.
_SET = _F.upload_mode | _F.duplicate_is_error | _F.apply_ip_filter
_CLEAR = _F.paused | _F.auto_managed


class TorrentSource:
    """Fetches a torrent into ``task.workdir/data`` through the shared :class:`TorrentSession`."""

    engine = "libtorrent"

    def __init__(
        self,
        session: TorrentSession,
        *,
        metainfo: MetainfoFetcher | None = None,
        chooser: FileChooser | None = None,
        seeding: Seeding | None = None,
        clock: Callable[[], float] = time.monotonic,
        disk: DiskSpace | None = None,
    ) -> None:
        self._session = session
        self._disk = disk
        self._seeding = seeding
        self._metainfo = metainfo
        self._chooser = chooser
        self._clock = clock

    @monitor_performance("source.torrent.fetch")
    def fetch(self, task: Task) -> Path:
        data_dir = task.workdir / DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        watch = self._session.add(self._params(task, data_dir), task.workdir / RESUME_FILE)
        chooser = self._chooser if task.spec.select else None
        job = TorrentJob(
            task, self._session, watch, data_dir, chooser=chooser, clock=self._clock,
            disk=self._disk,
        )  # fmt: skip
        try:
            path = job.run()
        except TaskCancelled:
            self._stop(watch, keep=task.cancel_reason == SHUTDOWN_REASON)
            raise
        except BaseException:
            self._stop(watch, keep=False)
            raise
        if task.spec.seeding and self._seeding is not None:
            self._seeding.keep(task, watch)  # seeds on; after_delivery hands it over
        else:
            self._session.remove(watch, delete_files=False, timeout=5.0)
        return path

    def after_delivery(self, task: Task) -> None:
        """Called by the manager once the result is delivered (copied out, for -d)."""
        if self._seeding is not None:
            self._seeding.hand_off(task)

    def _stop(self, watch: Watch, *, keep: bool) -> None:
        """Shutdown keeps the data and fresh resume data; cancel and failure delete the data."""
        if keep:
            self._session.save_resume(watch)
        if not self._session.remove(watch, delete_files=not keep):
            log.warning("libtorrent did not confirm the removal within the time limit")

    # -- what to add ------------------------------------------------------------------------

    def _params(self, task: Task, data_dir: Path) -> lt.add_torrent_params:
        params = load_resume(task.workdir / RESUME_FILE, data_dir)
        if params is None:
            params = self._fresh(task, data_dir)
        else:
            have = sum(1 for bit in params.have_pieces if bit)
            log.info(
                "task %s: resuming from saved resume data (%d pieces complete)", task.gid, have
            )
            if is_magnet(task.spec.source):
                # Resume data does not keep the magnet's peer hints (x.pe); a swarm found only
                # through them would otherwise be lost after a restart.
                hints = _magnet_peers(task.spec.source)
                params.peers = list(params.peers) + [p for p in hints if p not in params.peers]
        params.flags = (params.flags | _SET) & ~_CLEAR
        if params.ti is not None:
            # The file list is known: nothing to fetch from peers before the choice, so the
            # torrent waits paused (no announce, no connection) and starts once its priorities
            # are set (TorrentJob.prepare). Running in upload mode meanwhile, it met seeds as an
            # upload-only peer; they closed the link as redundant and libtorrent dialled them
            # again only after its reconnect back-off (a minute or more at "peers 0").
            params.flags |= _F.paused
        return params

    def _fresh(self, task: Task, data_dir: Path) -> lt.add_torrent_params:
        source = task.spec.source
        if is_magnet(source):
            try:
                params = lt.parse_magnet_uri(source)
            except RuntimeError:
                raise BadInputError("this magnet link cannot be read") from None
        else:
            try:
                params = lt.load_torrent_buffer(self._metainfo_bytes(task))
            except RuntimeError as exc:
                raise DownloadError(f"this is not a valid .torrent file ({exc})") from None
            if params.ti is not None:
                check_layout(params.ti.layout(), data_dir)  # before libtorrent sees it
        params.save_path = str(data_dir)
        return params

    def _metainfo_bytes(self, task: Task) -> bytes:
        saved = task.workdir / METAINFO_FILE
        try:
            return saved.read_bytes()
        except FileNotFoundError:
            pass
        if self._metainfo is None:
            raise BadInputError("this build cannot fetch .torrent files")
        data = self._metainfo(task)
        write_atomic(saved, data)
        return data


def _magnet_peers(uri: str) -> list[tuple[str, int]]:
    try:
        return list(lt.parse_magnet_uri(uri).peers)
    except RuntimeError:
        return []


def torrent_factory(source: TorrentSource) -> SourceFactory:
    def factory(spec: TaskSpec) -> Source | None:
        if not is_torrent_spec(spec):
            return None
        if spec.share_password is not None:
            raise share_password_unused("a torrent has none")
        return source

    return factory
