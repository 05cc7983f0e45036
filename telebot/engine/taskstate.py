"""A task folder's own state file, ``<DOWNLOAD_DIR>/<gid>/.telebot-task``.

One small JSON object, ``{"v": 1, "gid", "fetched", "processed", "delivered", "placing", "boot",
"sizes", "origin"}``, with five jobs:

* **ownership**: written when the manager creates the folder, so a restart can *prove* a folder
  in ``DOWNLOAD_DIR`` is one of its own task folders before it ever removes one;
* **fetched**: the finished download (a path relative to the folder), so a task interrupted
  during its upload does not download again;
* **processed**: the stages that finished (``[name, path]`` each, in order), so a restart runs
  only the stages after the last one recorded, from the last recorded result;
* **delivered**: what the sink did (:class:`~telebot.engine.pipeline.Delivery`), so a task killed
  after delivering but before reporting reports instead of delivering twice;
* **placing**: a sink's note that it is about to rename a result into its final place (its
  device and inode), so a run killed right after that rename finds its result
  instead of fetching it again (sinks/local.py).

Every write replaces the file atomically and durably: temp file, ``fsync``, ``rename``, ``fsync``
of the folder. A reader therefore sees the old state or the new one, never a mix, also after a
power loss. It replaces the two marker files of earlier versions (``.fetched``, ``.delivered``),
which are still read when the state file does not say.

**Durability by boot id, not payload fsync** (docs/ARCHITECTURE.md §2). The *state* is durable; the
payload
it points at (the fetched file, a stage's result, a result being placed) is not flushed by
default, because flushing 512 MiB before the next step costs seconds and CPU that download
tools (curl, aria2c) never pay. Instead a record about unflushed payload carries ``boot``, this
boot's id, and ``sizes`` (bytes and files of each recorded result). After a *process* crash the
page cache survived, the boot id is the same, and the record holds as written. After a *reboot*
the boot id differs: the payload may be torn (a fallocated file reads as zeros where its pages
never reached the disk, a delayed allocation leaves a short file), so :func:`unverified` says so
and the manager checks each result (:func:`intact`: its recorded size, and no hole where written
bytes should be) and the source's validators before anything is delivered; what fails is fetched
again. ``DURABLE_WRITES=true`` (``durable=True`` here) flushes the payload before recording it,
as before, and writes no boot id.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from telebot.engine.task import GID_RE, Delivery
from telebot.fileio.durable import boot_id, fsync_dir, fsync_tree, measure

STATE_FILE = ".telebot-task"
VERSION = 1
LEGACY_FETCHED = ".fetched"
LEGACY_DELIVERED = ".delivered"


@dataclass(frozen=True)
class TaskState:
    gid: str
    fetched: str | None = None
    delivered: dict[str, Any] | None = None
    placing: dict[str, Any] | None = None
    processed: tuple[tuple[str, str], ...] = ()
    # The boot id of a run that recorded payload without flushing it (None: flushed, or
    # verified after a reboot, or nothing recorded yet). See the module docstring.
    boot: str | None = None
    # Relative path -> [bytes, regular files] of each recorded result: what intact() checks.
    sizes: dict[str, list[int]] = field(default_factory=dict)
    # What the source said about the fetched payload (HTTP: url, size, ETag, Last-Modified), so
    # a check after a reboot can ask the server whether it is still the same file.
    origin: dict[str, Any] | None = None


class TornPayload(Exception):
    """A result recorded before a reboot, never flushed, failed its check (:func:`intact`):
    the task starts again from its fetch (the manager catches this)."""


# Task folders are owner-only: downloads are private. A local Bot API server runs as another
# user (its Docker image drops to its own account) and must open the parts it is sent by path:
# for it the folder is traverse-only (0711), so it opens a known name but lists nothing.
PRIVATE_MODE = 0o700
TRAVERSE_ONLY_MODE = 0o711


def create(workdir: Path, gid: str, mode: int = PRIVATE_MODE) -> TaskState:
    """Make the task folder (``mode``, owner-only by default) and claim it; keeps what an
    earlier run recorded."""
    workdir.mkdir(mode=mode, parents=True, exist_ok=True)
    workdir.chmod(mode)  # whatever the umask or an earlier run left
    state = load(workdir)
    if state is None or state.gid != gid:
        state = TaskState(gid, _legacy_fetched(workdir), _legacy_delivered(workdir))
        _write(workdir, state)
    return state


def load(workdir: Path) -> TaskState | None:
    """The folder's state, or None when it has no readable state file of ours."""
    try:
        data = json.loads((workdir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("v") != VERSION:
        return None
    if not isinstance(data.get("gid"), str):
        return None
    fetched = data.get("fetched")
    delivered = data.get("delivered")
    placing = data.get("placing")
    boot = data.get("boot")
    origin = data.get("origin")
    return TaskState(
        data["gid"],
        fetched if isinstance(fetched, str) else None,
        delivered if isinstance(delivered, dict) else None,
        placing if isinstance(placing, dict) else None,
        _processed(data.get("processed")),
        # A boot that is not a string cannot be compared: treat it as another boot's.
        boot if isinstance(boot, str) or boot is None else "?",
        _sizes(data.get("sizes")),
        origin if isinstance(origin, dict) else None,
    )


def _sizes(value: object) -> dict[str, list[int]]:
    if not isinstance(value, dict):
        return {}
    return {
        key: [int(item[0]), int(item[1])]
        for key, item in value.items()
        if isinstance(key, str) and isinstance(item, list) and len(item) == 2
        and all(isinstance(x, int) for x in item)
    }


def _processed(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    steps = []
    for item in value:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            return ()  # foreign: run the stages again rather than trust part of it
        if not _inside(item[1]):
            return ()
        steps.append((item[0], item[1]))
    return tuple(steps)


def _inside(relative: str) -> bool:
    return bool(relative) and ".." not in Path(relative).parts and not Path(relative).is_absolute()


def owned(folder: Path) -> bool:
    """True only for a real folder named like a gid whose state file names that same gid."""
    if not GID_RE.match(folder.name) or folder.is_symlink() or not folder.is_dir():
        return False
    state = load(folder)
    return state is not None and state.gid == folder.name


def record_fetched(
    workdir: Path, gid: str, path: Path, *, durable: bool = False,
    origin: dict[str, Any] | None = None,
) -> None:
    """Record the finished download (after the source renamed it into place). ``durable``
    flushes its bytes first; otherwise the record carries this boot's id and the result's size,
    and is verified after a reboot (module docstring). ``origin``: what the source said about
    it (see :attr:`TaskState.origin`)."""
    state = load(workdir) or TaskState(gid)
    relative = str(path.relative_to(workdir))
    state = _payload(state, path, relative, durable)
    _write(workdir, replace(state, fetched=relative, origin=origin))


def fetched_path(workdir: Path) -> Path | None:
    """The finished download of an earlier run, if it is still there (or a sink has noted that
    it was renaming it away: the sink then finds where it went)."""
    state = load(workdir)
    relative = state.fetched if state is not None else _legacy_fetched(workdir)
    if not relative or not _inside(relative):
        return None
    path = workdir / relative
    # A recorded stage may have removed the download it consumed: the fetch still happened.
    settled = state is not None and (state.placing is not None or bool(state.processed))
    return path if path.exists() or settled else None


def record_processed(
    workdir: Path, gid: str, index: int, name: str, result: Path, *, durable: bool = False
) -> None:
    """Record that stage ``index`` (``name``) finished with ``result``; drops any record of
    later stages (they worked on an older result). Flushed or boot-stamped like
    :func:`record_fetched`."""
    state = load(workdir) or TaskState(gid)
    relative = str(result.relative_to(workdir))
    state = _payload(state, result, relative, durable)
    steps = (*state.processed[:index], (name, relative))
    _write(workdir, replace(state, processed=steps))


def _payload(state: TaskState, path: Path, relative: str, durable: bool) -> TaskState:
    """``state`` with ``path``'s size noted, after flushing it (durable) or stamped with this
    boot's id (not: its bytes may still be only in the page cache)."""
    if durable:
        fsync_tree(path)
    sizes = {**state.sizes, relative: list(measure(path))}
    return replace(state, sizes=sizes, boot=state.boot if durable else boot_id())


def unverified(workdir: Path) -> bool:
    """True when the folder's records name payload that an earlier *boot* wrote and never
    flushed: after that reboot it may be torn, so it is checked before anything is delivered."""
    state = load(workdir)
    return state is not None and state.boot is not None and state.boot != boot_id()


def forget_payload(workdir: Path, gid: str) -> None:
    """Drop every record about payload (fetched, processed, placing), after a check found it
    torn: the task starts again from its fetch. The delivery record is kept (none exists: a
    delivered task never gets here)."""
    state = load(workdir) or TaskState(gid)
    _write(workdir, replace(state, fetched=None, processed=(), placing=None, boot=None,
                            sizes={}, origin=None))


def verified(workdir: Path, gid: str, keep: int | None = None) -> None:
    """The records passed their check after a reboot: what is on disk now *is* on the disk
    (the page cache of the old boot is gone), so the boot id is dropped. ``keep``: only the
    first ``keep`` processed stages passed; the rest are dropped (they run again)."""
    state = load(workdir) or TaskState(gid)
    steps = state.processed if keep is None else state.processed[:keep]
    _write(workdir, replace(state, processed=steps, boot=None))


def processed(workdir: Path) -> list[tuple[str, Path]]:
    """The stages an earlier run finished, in order: ``(name, result)``. A result may be gone
    when a sink was renaming it into place (the sink finds where it went)."""
    state = load(workdir)
    steps = state.processed if state is not None else ()
    return [(name, workdir / relative) for name, relative in steps]


def record_delivered(workdir: Path, gid: str, delivery: Delivery) -> None:
    """Record what the sink did. Sinks may call it themselves, before they remove what would let
    a resumed run redo the delivery (LocalSink does); the manager calls it again afterwards."""
    state = load(workdir) or TaskState(gid)
    _write(workdir, replace(state, delivered=asdict(delivery)))


def record_placing(
    workdir: Path, gid: str, staged: os.stat_result, *, durable: bool = False,
    size: tuple[int, int] | None = None,
) -> None:
    """Note, before a no-replace rename into place, which file or folder is being moved, and
    (``size``: bytes, files) how big it is; not ``durable``: with this boot's id, as the staged
    payload was not flushed."""
    state = load(workdir) or TaskState(gid)
    note: dict[str, Any] = {"dev": staged.st_dev, "ino": staged.st_ino}
    if size is not None:
        note["size"] = list(size)
    _write(workdir, replace(state, placing=note, boot=state.boot if durable else boot_id()))


def placing_size(workdir: Path) -> list[int] | None:
    """``[bytes, files]`` noted by :func:`record_placing`, if any."""
    state = load(workdir)
    size = state.placing.get("size") if state is not None and state.placing else None
    if isinstance(size, list) and len(size) == 2 and all(isinstance(x, int) for x in size):
        return [int(size[0]), int(size[1])]
    return None


def placing(workdir: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` recorded by :func:`record_placing`, if any."""
    state = load(workdir)
    note = state.placing if state is not None else None
    if note is None:
        return None
    try:
        return int(note["dev"]), int(note["ino"])
    except (KeyError, TypeError, ValueError):
        return None


def delivered(workdir: Path) -> Delivery | None:
    """The result of an earlier run that delivered but was killed before it could report."""
    state = load(workdir)
    data = state.delivered if state is not None else _legacy_delivered(workdir)
    if data is None:
        return None
    try:
        return Delivery(**data)
    except TypeError:
        return None  # foreign: deliver again rather than claim a result


def _write(workdir: Path, state: TaskState) -> None:
    record = {"v": VERSION, **asdict(state)}
    record["processed"] = [list(step) for step in state.processed]
    tmp = workdir / f"{STATE_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(record).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, workdir / STATE_FILE)
    fsync_dir(workdir)


def _legacy_fetched(workdir: Path) -> str | None:
    try:
        return (workdir / LEGACY_FETCHED).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _legacy_delivered(workdir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((workdir / LEGACY_DELIVERED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, or torn: deliver again rather than claim a result
    return data if isinstance(data, dict) else None
