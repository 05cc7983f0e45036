"""``-d ratio[:minutes]``: torrents that keep seeding after their task delivered.

The source keeps a finished torrent in the session (:meth:`Seeding.keep`) instead of removing it.
Once the sink has copied the result out, the manager calls the source's ``after_delivery``, which
lands here (:meth:`Seeding.hand_off`): libtorrent moves the files out of the task folder (the
manager deletes that folder next) into ``<DOWNLOAD_DIR>/.seeding/<gid>/``, and one thread checks
every seeding torrent each second until its ratio or time is reached, or a user cancels it. Then
the torrent and its files are removed. Seeding does not survive a restart:
:meth:`Seeding.clear_leftovers` deletes ``.seeding`` at start.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from telebot.engine.task import Snapshot, State, Task
from telebot.sources.torrent.session import TorrentSession, Watch
from telebot.units import format_duration

log = logging.getLogger(__name__)

SEEDING_DIR = ".seeding"
POLL = 1.0  # s between ratio/time checks: seeding limits need no finer grain
MOVE_TIMEOUT = 60.0  # s: a move within one filesystem is a rename; across, a copy

Notify = Callable[[Task, str], None]  # (the task that seeded, why seeding stopped)


@dataclass(eq=False)
class SeedJob:
    task: Task
    watch: Watch
    folder: Path
    size: int
    started: float


class Seeding:
    """Every torrent seeding after delivery. Thread-safe."""

    def __init__(
        self,
        session: TorrentSession,
        root: Path,
        *,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll: float = POLL,
    ) -> None:
        self._session = session
        self._root = root
        self.notify = notify  # settable after construction (the chat side is built later)
        self._clock = clock
        self._poll = poll
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[Task, Watch]] = {}
        self._jobs: dict[str, SeedJob] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def clear_leftovers(self) -> None:
        """Delete what seeding left before a crash or restart (at start, before any torrent)."""
        shutil.rmtree(self._root / SEEDING_DIR, ignore_errors=True)

    # -- from the source ----------------------------------------------------------------------

    def keep(self, task: Task, watch: Watch) -> None:
        """A finished torrent whose task asked for seeding, until its delivery is done."""
        with self._lock:
            self._kept[task.gid] = (task, watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="seeding", daemon=True)
                self._thread.start()

    def hand_off(self, task: Task) -> None:
        """Delivered: move the files out of the task folder and start counting. Never raises:
        the delivery already happened, and seeding is an extra."""
        try:
            self._hand_off(task)
        except Exception:
            log.exception("task %s: cannot keep seeding", task.gid)

    def _hand_off(self, task: Task) -> None:
        with self._lock:
            kept = self._kept.pop(task.gid, None)
        if kept is None:
            return
        watch = kept[1]
        folder = self._root / SEEDING_DIR / task.gid
        try:
            folder.mkdir(parents=True, exist_ok=True)
            watch.moved.clear()
            watch.handle.move_storage(str(folder))
            if not watch.moved.wait(MOVE_TIMEOUT) or watch.move_error:
                raise OSError(watch.move_error or "moving the files timed out")
        except OSError as exc:
            log.warning("task %s: cannot keep seeding (%s)", task.gid, exc)
            self._drop(watch, folder)
            return
        st = watch.handle.status()
        job = SeedJob(task, watch, folder, max(1, st.total_wanted), self._clock())
        with self._lock:
            self._jobs[task.gid] = job
        log.info(
            "task %s: seeding (ratio %s, minutes %s)",
            task.gid,
            task.spec.seed_ratio,
            task.spec.seed_minutes,
        )

    # -- from the user interface --------------------------------------------------------------

    def get(self, gid: str) -> Task | None:
        with self._lock:
            job = self._jobs.get(gid)
        return job.task if job is not None else None

    def cancel(self, gid: str) -> bool:
        """Stop seeding ``gid`` and free its files; False when it is not seeding."""
        with self._lock:
            job = self._jobs.pop(gid, None)
        if job is None:
            return False
        self._drop(job.watch, job.folder)
        return True

    def snapshots(self, chat_id: int | None = None) -> list[Snapshot]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if chat_id in (None, j.task.spec.chat_id)]
        shots = []
        for job in jobs:
            try:
                shots.append(self._snapshot(job))
            except RuntimeError:  # removed while we looked
                continue
        return shots

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            kept = [(w, self._root / SEEDING_DIR / gid) for gid, (_, w) in self._kept.items()]
            jobs = [(j.watch, j.folder) for j in self._jobs.values()]
            self._kept.clear()
            self._jobs.clear()
        for watch, folder in kept + jobs:
            self._drop(watch, folder)

    # -- the checking thread ------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self._sweep()
            except Exception:  # keep checking the others
                log.exception("seeding check failed")

    def _sweep(self) -> None:
        with self._lock:
            # Kept for a delivery that failed or was cancelled: nothing will hand them off.
            ended = [g for g, (t, _) in self._kept.items() if t.state.finished]
            dropped = [self._kept.pop(g)[1] for g in ended]
            jobs = list(self._jobs.values())
        for watch in dropped:
            self._session.remove(watch, delete_files=True)
        for job in jobs:
            reason = self._reason(job)
            if reason is not None and self.cancel(job.task.gid) and self.notify is not None:
                self.notify(job.task, reason)

    def _reason(self, job: SeedJob) -> str | None:
        spec = job.task.spec
        st = job.watch.handle.status()
        ratio = st.all_time_upload / job.size
        if spec.seed_ratio is not None and ratio >= spec.seed_ratio:
            return f"ratio {ratio:.2f} reached"
        seeded = self._clock() - job.started
        if spec.seed_minutes is not None and seeded >= spec.seed_minutes * 60:
            return f"seeded for {format_duration(seeded)} (ratio {ratio:.2f})"
        if st.errc.value():
            return f"libtorrent stopped it: {st.errc.message()}"
        return None

    def _snapshot(self, job: SeedJob) -> Snapshot:
        task, spec = job.task, job.task.spec
        st = job.watch.handle.status()
        seeded = self._clock() - job.started
        detail = f"ratio {st.all_time_upload / job.size:.2f}"
        if spec.seed_ratio is not None:
            detail += f" of {spec.seed_ratio:g}"
        if spec.seed_minutes is not None:
            left = max(0.0, spec.seed_minutes * 60 - seeded)
            detail += f" · {format_duration(left)} left"
        return Snapshot(
            gid=task.gid,
            name=task.name,
            kind=spec.kind,
            state=State.SEEDING,
            done=st.all_time_upload,
            total=int(spec.seed_ratio * job.size) if spec.seed_ratio is not None else None,
            speed=float(st.upload_payload_rate),
            elapsed=seeded,
            engine="libtorrent",
            chat_id=spec.chat_id,
            user_id=spec.user_id,
            message_id=spec.message_id,
            detail=detail + f" · peers {st.num_peers}",
        )

    def _drop(self, watch: Watch, folder: Path) -> None:
        self._session.remove(watch, delete_files=True)
        shutil.rmtree(folder, ignore_errors=True)
