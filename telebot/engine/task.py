"""Tasks: what to do (:class:`TaskSpec`), its live state (:class:`Task`) and what the status
message shows of it (:class:`Snapshot`).

The engine knows nothing of Telegram: chat and message ids are opaque numbers it carries back
to its listener. A :class:`Task` uses ``__slots__`` because a busy bot queues thousands of them
(``bench/memory.py`` measures the saving).
"""

from __future__ import annotations

import enum
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from telebot.monitor.counters import COUNTERS

#: The cancel reason of every task a shutdown interrupts: it is kept (folder, journal row) and
#: resumes on the next start, so a source that can keep state for it (a torrent) keeps it.
SHUTDOWN_REASON = "the bot is restarting"


class State(enum.Enum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PROCESSING = "processing"
    UPLOADING = "uploading"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SEEDING = "seeding"  # delivered; a torrent keeps uploading (-d) outside the task queue

    @property
    def finished(self) -> bool:
        return self in (State.DONE, State.FAILED, State.CANCELLED)


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to (re)run a task; JSON-serializable for the journal."""

    kind: str  # "mirror" | "leech"
    # repr=False: the link may carry user:pass@ or ?key=, headers and auth carry credentials.
    source: str = field(repr=False)  # a URL, or "tg:<file_id>" for a Telegram file
    chat_id: int
    user_id: int
    message_id: int | None = None  # the command message (replies and /cancel by reply)
    name: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    auth: tuple[str, str] | None = field(default=None, repr=False)
    upload: str | None = None  # "local", an rclone "remote:path", or a chat id (leech)
    split_size: int | None = None
    as_document: bool = False
    as_media: bool = False
    file_name: str | None = None  # Telegram file sources: the name Telegram gave
    file_size: int | None = None
    tool: str | None = None  # which source: None = by the link; "ytdl" = yt-dlp
    ytdl_format: str | None = None  # -q: a yt-dlp format string (skips the quality menu)
    ytdl_options: str | None = None  # -opt: JSON, checked against ytdl_options.py
    select: bool = False  # -s: ask which files of a torrent to download
    seed_ratio: float | None = None  # -d ratio[:minutes]: seed after delivery until either
    seed_minutes: float | None = None
    extract: bool = False  # -e [password]: extract archives (processing/extract.py)
    extract_password: str | None = field(default=None, repr=False)
    join: bool = False  # -j: join split files name.001, name.002, ... (processing/join.py)
    # Per-user settings (/usetting) and -ns, resolved at submit time so a task keeps them
    # across restarts and on remote workers (issue 16).
    name_prefix: str = ""
    name_suffix: str = ""
    name_subst: str = ""  # -ns rules as typed (processing/rename.py parses them)
    exclude_ext: tuple[str, ...] = ()  # ".nfo", ...: skipped when delivering a folder
    caption: str = ""  # leech caption template: {name} {size} {index} {total}
    thumbnail: str | None = None  # leech: a Telegram file_id of the user's thumbnail
    group: str | None = None  # -m: the group this task's result joins (engine/groups.py)
    group_folder: str | None = None  # -m: the group's folder name (already a safe name)
    compress: bool = False  # -z: the result into one archive (processing/compress.py)
    compress_password: str | None = field(default=None, repr=False)  # -z PASSWORD (sealed)
    compress_format: str | None = None  # -zf zip|7z (None: zip)
    overwrite: bool = False  # -overwrite (sudo): an rclone upload may replace an existing file
    # The http(s) link is a .torrent file whatever its path says: a feed's or an indexer's
    # enclosure of type application/x-bittorrent (Jackett's are /dl/<tracker>/?jackett_apikey=).
    torrent_link: bool = False
    # /ytdl: the user's cookies.txt (/usetting), normalized; sealed in the journal like passwords.
    cookies: str | None = field(default=None, repr=False)
    equal_split: bool = False  # -es: leech parts of equal size instead of full ones
    screenshots: int = 0  # -ss [n]: screenshots of each video, sent before it (0: none)
    screenshot_grid: str = ""  # -tl RxC: the screenshots as one grid of R rows, C columns
    sample_seconds: float = 0.0  # -sv [duration[:start]]: a sample clip of each video (0: none)
    sample_start: float | None = None  # -sv's start in seconds; None: the middle of the video
    # Media tools (processing/media/convert.py, presets.py, metadata.py; docs/MEDIA.md).
    convert_video: str | None = None  # -cv mp4|mkv
    convert_audio: str | None = None  # -ca mp3|m4a|opus|flac[:bitrate]
    keep_original: bool = False  # -keep: -cv/-ca/-ff keep the original beside the result
    ffmpeg_presets: tuple[str, ...] = ()  # -ff: FFMPEG_PRESETS names, applied in this order
    metadata: str = ""  # -meta "title=...|lang=eng" (or the user's default), as checked
    keep_html: bool = False  # -html: a link answering with a web page saves the page
    # -ap without -au: a file host's share password (sealed like the other passwords)
    share_password: str | None = field(default=None, repr=False)

    @property
    def seeding(self) -> bool:
        return self.seed_ratio is not None or self.seed_minutes is not None

    def to_json(self) -> dict[str, Any]:
        """The journal form: the fields plus ``"v"``, the :data:`SPEC_VERSION` that wrote it."""
        return {"v": SPEC_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSpec:
        """Read a journal form of any version up to :data:`SPEC_VERSION`, migrating older ones.

        Raises :class:`SpecTooNew` for a row written by a newer telebot (it may be readable
        again after an upgrade, so it must be kept), and ``ValueError`` for one that is damaged.
        """
        data = migrate(data)
        try:
            data["headers"] = tuple((str(k), str(v)) for k, v in data.get("headers") or ())
            data["exclude_ext"] = tuple(str(e) for e in data.get("exclude_ext") or ())
            data["ffmpeg_presets"] = tuple(str(p) for p in data.get("ffmpeg_presets") or ())
            if data.get("auth") is not None:
                if not isinstance(data["auth"], (list, tuple)):
                    raise TypeError("auth is not a pair")
                user, password = data["auth"]
                data["auth"] = (str(user), str(password))
            spec = cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"damaged task description ({exc})") from None
        if not isinstance(spec.kind, str) or not isinstance(spec.source, str):
            raise ValueError("damaged task description (kind/source)")
        return spec


#: Version of :meth:`TaskSpec.to_json`. Rows without ``"v"`` are version 0: the unversioned
#: format before the journal carried a version (the same fields as version 1).
SPEC_VERSION = 6  # 2: torrents' select, seed_ratio, seed_minutes (issue 12)
# 3: tool, ytdl_format, ytdl_options (videos, issue 13)
# 4: processing (join, extract, compress and their passwords; issue 15) and the user settings a
#    task is submitted with (issue 16)
# 5: overwrite (issue 22)
# 6: cookies (signed-in downloads); equal_split, screenshots, screenshot_grid, sample_seconds,
#    sample_start (leech media); convert_video, convert_audio, keep_original, ffmpeg_presets,
#    metadata (media tools); keep_html and
#    share_password (file hosts); torrent_link (feeds and search)


class SpecTooNew(ValueError):
    """A journal row written by a newer telebot than this one."""


def _from_v0(data: dict[str, Any]) -> dict[str, Any]:
    # Version 0 had exactly version 1's fields; only the marker is new.
    return data


# MIGRATIONS[i] turns a version-i row into a version-(i + 1) row. Append; never edit one.
def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    # Version 2 only added fields with defaults (no selection, no seeding).
    return data


def _from_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Version 3 only added fields with defaults (not a yt-dlp task).
    return data


def _from_v3(data: dict[str, Any]) -> dict[str, Any]:
    # Version 4 only added fields with defaults (no processing, no user settings).
    return data


def _from_v4(data: dict[str, Any]) -> dict[str, Any]:
    # Version 5 only added overwrite (default False: uploads take a free name, as before 5 for
    # the local sink; rclone uploads replaced, which is what 5 stops).
    return data


def _from_v5(data: dict[str, Any]) -> dict[str, Any]:
    # Version 6 only added fields with defaults: cookies (None: the owner's YTDL_COOKIES_FILE,
    # if any), the leech media fields (no screenshots, no sample), the media tools' (no
    # conversion), keep_html (False: a web page is refused, which before 6 was saved as a
    # file), share_password (none) and torrent_link (False: the path says).
    return data


MIGRATIONS: tuple[Callable[[dict[str, Any]], dict[str, Any]], ...] = (
    _from_v0, _from_v1, _from_v2, _from_v3, _from_v4, _from_v5,
)  # fmt: skip


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` in the current version, without the ``"v"`` key."""
    if not isinstance(data, dict):
        raise ValueError("damaged task description (not an object)")
    data = dict(data)
    version = data.pop("v", 0)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"damaged task description (version {version!r})")
    if version > SPEC_VERSION:
        raise SpecTooNew(
            f"saved by a newer telebot (format {version}, this one reads {SPEC_VERSION})"
        )
    for step in MIGRATIONS[version:]:
        data = step(data)
    return data


def new_gid() -> str:
    """A short id users can type: 10 hex chars, 40 bits (collisions tested against the journal)."""
    return secrets.token_hex(5)


#: What :func:`new_gid` makes: 10 lowercase hex digits.
GID_RE = re.compile(r"^[0-9a-f]{10}$")


@dataclass(frozen=True)
class Delivery:
    """What a sink did with the result, for the completion message."""

    name: str
    size: int
    location: str  # human-readable: a path, a remote, a chat
    files: int = 1
    links: Sequence[str] = field(default_factory=tuple)
    notes: Sequence[str] = field(default_factory=tuple)  # warnings for the completion message


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of a task at one moment, safe to hand to any thread."""

    gid: str
    name: str
    kind: str
    state: State
    done: int
    total: int | None
    speed: float  # bytes/s over the recent window
    elapsed: float  # seconds since the task started running (0 while queued)
    engine: str
    chat_id: int
    user_id: int
    message_id: int | None
    queue_position: int | None = None
    note: str | None = None  # one line from the running stage: "waiting for <host>, ..."
    detail: str | None = None  # one engine-specific line, e.g. "seeds 3 · peers 7"

    @property
    def percent(self) -> float | None:
        if not self.total:
            return None
        return min(100.0, 100.0 * self.done / self.total)

    @property
    def eta(self) -> float | None:
        if not self.total or self.speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.speed)


class SpeedMeter:
    """Bytes per second over a moving window of ``window`` seconds.

    Points are kept at most every ``resolution`` seconds, so a hot progress callback costs one
    comparison most of the time.
    """

    __slots__ = ("_clock", "_points", "_resolution", "_window")

    def __init__(self, clock: Callable[[], float], window: float = 5.0, resolution: float = 0.25):
        self._clock = clock
        self._window = window
        self._resolution = resolution
        self._points: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> None:
        now = self._clock()
        points = self._points
        if points and now - points[-1][0] < self._resolution:
            return
        points.append((now, done))
        while len(points) > 2 and now - points[1][0] >= self._window:
            points.popleft()

    def reset(self) -> None:
        self._points.clear()

    def speed(self, done: int) -> float:
        if not self._points:
            return 0.0
        then, before = self._points[0]
        span = self._clock() - then
        return (done - before) / span if span > 0 else 0.0


class Task:
    """Live state of one task. Written by its worker thread; read via :meth:`snapshot`."""

    __slots__ = (
        "_cancel_event",
        "_clock",
        "_meter",
        "cancel_reason",
        "created_at",
        "detail",
        "done",
        "engine",
        "error",
        "gid",
        "name",
        "note",
        "on_total",
        "origin",
        "refusal",
        "result",
        "spec",
        "started_at",
        "state",
        "total",
        "warnings",
        "workdir",
    )

    def __init__(
        self,
        gid: str,
        spec: TaskSpec,
        workdir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gid = gid
        self.spec = spec
        self.workdir = workdir
        self._clock = clock
        self.state = State.QUEUED
        self.name = spec.name or spec.file_name or _name_hint(spec.source)
        self.engine = ""
        self.done = 0
        self.total: int | None = None
        self.created_at = clock()
        self.started_at: float | None = None
        self.error: str | None = None
        self.note: str | None = None
        self.result: Any = None
        self.warnings: list[str] = []  # from the source, for the done message (failed entries)
        # Made on first use (start, cancel): an Event with its Condition and lock is ~1.2 kB,
        # most of a queued task, and thousands may be queued (bench/memory.py).
        self._cancel_event: threading.Event | None = None
        self.cancel_reason: str | None = None
        self.detail: str | None = None  # shown under the progress line; sources set it
        # Called when the total becomes known or changes (the manager's limit checks, download
        # stage only); may raise to stop the source. See engine/limits.py.
        self.on_total: Callable[[Task, int], None] | None = None
        self.refusal: str | None = None  # set by refuse(): the task fails with this line
        # What the source said about the fetched payload (HTTP: size and validators), recorded
        # with it so that a check after a reboot can ask the server again (engine/taskstate).
        self.origin: dict[str, Any] | None = None
        # Created when the task starts running: a queued task needs no speed window, and
        # thousands may be queued (bench/memory.py).
        self._meter: SpeedMeter | None = None

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the task is cancelled; sources and sinks wait on it."""
        event = self._cancel_event
        if event is None:
            with _EVENT_LOCK:  # two threads asking at once must share one Event
                if self._cancel_event is None:
                    self._cancel_event = threading.Event()
                event = self._cancel_event
        return event

    def begin(self, state: State, engine: str, total: int | None = None) -> None:
        """Enter a stage: its progress counts from zero."""
        COUNTERS.stage_started(self)  # /metrics: the last stage's bytes, before they reset
        if self.started_at is None:
            self.started_at = self._clock()
        self.state = state
        self.engine = engine
        self.done = 0
        self.total = total
        self.note = None  # a stage's note belongs to that stage
        self.detail = None
        self._meter = SpeedMeter(self._clock)

    def progress(self, done: int, total: int | None) -> None:
        """Progress callback for sources and sinks (hot: keep it cheap)."""
        self.done = done
        if total is not None and total != self.total:
            self.total = total
            if self.on_total is not None:
                self.on_total(self, total)
        if self._meter is not None:
            self._meter.add(done)

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.cancel_event.set()

    def refuse(self, reason: str) -> None:
        """A limit refused the task: it stops like a cancel and ends failed with ``reason``."""
        if self.refusal is None:
            self.refusal = reason
        self.cancel(reason)

    def snapshot(self, queue_position: int | None = None) -> Snapshot:
        done = self.done
        started = self.started_at
        return Snapshot(
            gid=self.gid,
            name=self.name,
            kind=self.spec.kind,
            state=self.state,
            done=done,
            total=self.total,
            speed=self._meter.speed(done) if self._meter is not None else 0.0,
            elapsed=(self._clock() - started) if started is not None else 0.0,
            engine=self.engine,
            chat_id=self.spec.chat_id,
            user_id=self.spec.user_id,
            message_id=self.spec.message_id,
            queue_position=queue_position,
            note=self.note,
            detail=self.detail,
        )


#: Guards the lazy creation of a task's cancel Event (taken once per task, never on a hot path).
_EVENT_LOCK = threading.Lock()


def _name_hint(source: str) -> str:
    """A provisional display name until the source knows the real one."""
    tail = source.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return tail[:80] or source[:80]
