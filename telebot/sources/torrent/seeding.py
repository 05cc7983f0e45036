"""``-d ratio[:minutes]``: torrents that keep seeding after their task delivered.

The source keeps a finished torrent in the session (:meth:`Seeding.keep`) instead of removing it.
Once the sink has copied the result out, the manager calls the source's ``after_delivery``, which
lands here (:meth:`Seeding.hand_off`): libtorrent moves the files out of the task folder (the
manager deletes that folder next) into ``<DOWNLOAD_DIR>/.seeding/<gid>/``, and one thread checks
every seeding torrent each second until its ratio or time is reached, or a user cancels it. Then
the torrent and its files are removed.

Seeding survives a restart. Beside each ``<gid>/`` folder lie ``<gid>.seed`` (what the chat and
the limits need: chat, command, name, ratio and minutes, how long it has seeded; no link, no
credentials) and ``<gid>.resume`` (libtorrent's resume data, with the bytes uploaded so far),
both written atomically at hand-off and at shutdown. :meth:`Seeding.restore` (at start) adds each
back to the session, in upload mode so that a torrent whose files were damaged meanwhile never
downloads anything; one that cannot seed again is removed and its chat told so. Anything else in
``.seeding`` is a leftover and deleted. A ``kill -9`` loses the seeding time since the last save.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebot.engine.task import GID_RE, Snapshot, State, Task, TaskSpec
from telebot.sources.torrent.resume import load_resume, write_atomic
from telebot.sources.torrent.session import TorrentSession, Watch
from telebot.units import format_duration

log = logging.getLogger(__name__)

SEEDING_DIR = ".seeding"
POLL = 1.0  # s between ratio/time checks: seeding limits need no finer grain
MOVE_TIMEOUT = 60.0  # s: a move within one filesystem is a rename; across, a copy

Notify = Callable[[Task, str], None]  # (the task that seeded, why seeding stopped)
RECORD = ".seed"  # <gid>.seed beside the <gid>/ folder
RESUME = ".resume"  # <gid>.resume
# libtorrent states in which a restored torrent is still finding out what it has.
_CHECKING = ("checking_files", "checking_resume_data")


@dataclass(eq=False)
class SeedJob:
    task: Task
    watch: Watch
    folder: Path
    size: int
    started: float
    restored: bool = False  # added back after a restart


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
        """Delete everything in ``.seeding`` (nothing resumes). :meth:`restore` is the start
        hook; this is for hosts that must not seed after a restart."""
        shutil.rmtree(self._root / SEEDING_DIR, ignore_errors=True)

    def restore(self) -> int:
        """At start, before any torrent: seed again what seeded when the bot stopped; tell the
        chat of each one that cannot, and delete every leftover. Returns how many resumed."""
        root = self._root / SEEDING_DIR
        if not root.is_dir():
            return 0
        resumed: set[str] = set()
        for record in sorted(root.glob("*" + RECORD)):
            gid = record.name[: -len(RECORD)]
            if GID_RE.match(gid) and self._restore_one(root, gid):
                resumed.add(gid)
        for entry in root.iterdir():  # folders and files of no resumed job
            if entry.name.split(".", 1)[0] not in resumed:
                _remove(entry)
        if resumed:
            log.info("resumed seeding of %d torrent(s) after the restart", len(resumed))
        return len(resumed)

    def _restore_one(self, root: Path, gid: str) -> bool:
        try:
            record = json.loads((root / (gid + RECORD)).read_text(encoding="utf-8"))
            task = _task_of(gid, record, root / gid, self._clock)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("seeding %s cannot resume: unreadable record (%s)", gid, exc)
            return False
        try:
            params = load_resume(root / (gid + RESUME), root / gid)
            if params is None or not (root / gid).is_dir():
                raise OSError("its saved state is missing")
            params.flags = _restored_flags(params.flags)
            watch = self._session.add(params, root / (gid + RESUME))
        except Exception as exc:
            log.warning("seeding %s cannot resume: %s", gid, exc)
            self._tell(task, f"it could not resume after the restart ({exc})")
            return False
        seeded = float(record.get("seeded", 0.0))
        job = SeedJob(task, watch, root / gid, max(1, int(record["size"])),
                      self._clock() - seeded, restored=True)
        with self._lock:
            self._jobs[gid] = job
            self._start_thread()
        log.info("task %s: seeding resumed after the restart", gid)
        return True

    def _tell(self, task: Task, reason: str) -> None:
        if self.notify is None:
            return
        try:
            self.notify(task, reason)
        except Exception:
            log.exception("could not report the end of seeding %s", task.gid)

    def _start_thread(self) -> None:
        """Under ``_lock``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="seeding", daemon=True)
            self._thread.start()

    # -- from the source ----------------------------------------------------------------------

    def keep(self, task: Task, watch: Watch) -> None:
        """A finished torrent whose task asked for seeding, until its delivery is done."""
        with self._lock:
            self._kept[task.gid] = (task, watch)
            self._start_thread()

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
            if task.spec.seeding:  # fetched before a restart: this run had nothing to seed
                self._tell(task, "the bot restarted before delivery, so seeding never began")
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
        # Its resume data now lives beside its folder: the task folder is about to go.
        watch.resume_path = folder.parent / (task.gid + RESUME)
        self._save(job)
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
        """Save every seeding torrent for :meth:`restore` and take it out of the session (its
        files stay); drop those not yet handed off (their tasks resume, without seeding)."""
        self._stop.set()
        with self._lock:
            kept = [(w, self._root / SEEDING_DIR / gid) for gid, (_, w) in self._kept.items()]
            jobs = list(self._jobs.values())
            self._kept.clear()
            self._jobs.clear()
        for watch, folder in kept:
            self._drop(watch, folder)
        for job in jobs:
            self._save(job)
            self._session.remove(job.watch, delete_files=False)

    def _save(self, job: SeedJob) -> None:
        """Write the job's record and resume data (atomically); a failure only costs the
        resume after a restart."""
        spec = job.task.spec
        record: dict[str, Any] = {
            "v": 1, "gid": job.task.gid, "name": job.task.name, "kind": spec.kind,
            "chat_id": spec.chat_id, "user_id": spec.user_id, "message_id": spec.message_id,
            "seed_ratio": spec.seed_ratio, "seed_minutes": spec.seed_minutes,
            "size": job.size, "seeded": self._clock() - job.started,
        }
        try:
            write_atomic(job.folder.parent / (job.task.gid + RECORD), json.dumps(record).encode())
        except OSError as exc:
            log.warning("task %s: seeding will not resume after a restart (%s)", job.task.gid, exc)
            return
        if not self._session.save_resume(job.watch):
            log.warning("task %s: no fresh resume data for seeding", job.task.gid)

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
        if job.restored and not st.is_seeding and str(st.state) not in _CHECKING:
            return "its files were incomplete after the restart"
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
        for suffix in (RECORD, RESUME):
            (folder.parent / (folder.name + suffix)).unlink(missing_ok=True)


def _restored_flags(flags: int) -> int:
    """A restored seed is in upload mode: it can serve what it has and never fetches anything.
    (libtorrent is imported here, not with the module: start-up builds :class:`Seeding`.)"""
    import libtorrent as lt

    f = lt.torrent_flags
    return int((flags | f.upload_mode | f.apply_ip_filter | f.duplicate_is_error)
               & ~(f.paused | f.auto_managed))


def _task_of(gid: str, record: dict[str, Any], folder: Path, clock: Callable[[], float]) -> Task:
    """The seeding task as the chat knows it, from its record (no link: none is needed)."""
    if record.get("v") != 1 or record.get("gid") != gid:
        raise ValueError("not a seeding record of this version")
    ratio, minutes = record.get("seed_ratio"), record.get("seed_minutes")
    spec = TaskSpec(
        kind=str(record["kind"]),
        source="",
        chat_id=int(record["chat_id"]),
        user_id=int(record["user_id"]),
        message_id=int(record["message_id"]) if record.get("message_id") is not None else None,
        seed_ratio=float(ratio) if ratio is not None else None,
        seed_minutes=float(minutes) if minutes is not None else None,
    )
    task = Task(gid, spec, folder, clock=clock)
    task.name = str(record["name"])
    return task


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
