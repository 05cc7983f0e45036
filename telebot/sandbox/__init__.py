"""The box around every child that reads untrusted bytes (7-Zip, unar, ffmpeg, ffprobe, the tar
extractor).

A :class:`Box` says what the child may touch: read+write beneath ``writable`` (the stage's output
folder), read beneath ``readable`` (the stage's input), read+execute the tool and the system's
libraries, nothing else; no network unless ``network``; and rlimits on address space, file size,
open files and processes. :mod:`telebot.childproc` applies a box before ``exec`` when a caller
passes ``box=``; the walls are Landlock (:mod:`telebot.sandbox.landlock`) and rlimits.

Where Landlock is unavailable (old kernel, a seccomp profile that refuses its syscalls) the rlimits
still apply, :func:`status` says "off — <reason>" (the bot logs it once at start and /stats shows
it), and the in-code checks of each tool's boundary still hold.

The limits that are the same for every box are set once at start with :func:`configure`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telebot.sandbox import landlock

log = logging.getLogger("telebot.sandbox")

DEFAULT_MEMORY = 1 << 30  # SANDBOX_MEMORY: address space of a boxed child (7-Zip, ffmpeg)
# A boxed child may always write files this large, whatever STORAGE_THRESHOLD says, so that a
# thumbnail or a small part is not refused on a nearly full disk: the stages' own disk watch
# stops big outputs there.
MIN_FILE_SIZE = 16 << 20
ENTER = Path(__file__).with_name("enter.py")

# Read and execute: the dynamic loader, libraries and the tools themselves (merged /usr on
# Debian: /bin, /lib... are links into /usr and resolve there).
SYSTEM_READ_EXEC = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/opt")
# Read only: what the loader, libc and the tools read besides their libraries. Neither /etc
# nor /proc as a whole: /proc/<bot pid>/environ can hold BOT_TOKEN, /etc other people's files.
SYSTEM_READ = (
    "/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/localtime", "/etc/nsswitch.conf",
    "/etc/passwd", "/etc/group", "/usr/share/zoneinfo", "/proc/self", "/proc/cpuinfo",
    "/proc/meminfo", "/proc/stat", "/sys/devices/system/cpu", "/sys/fs/cgroup",
)  # fmt: skip
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


@dataclass(frozen=True)
class Box:
    """The walls of one child. Paths are folders or files; each rule covers what is beneath.

    Contract: a missing ``writable`` folder is created (0700) before the child starts; a
    missing ``readable`` path is skipped. The child gets a minimal environment (``PATH``,
    ``LC_ALL``, ``TMPDIR``/``HOME`` = the first writable folder, ``MALLOC_ARENA_MAX``, plus
    ``extra_env``): nothing
    of the bot's environment, which may hold its token, reaches a tool that reads untrusted
    bytes."""

    writable: tuple[Path, ...] = ()  # read, write, create, remove beneath (the stage's output)
    readable: tuple[Path, ...] = ()  # read beneath (the stage's input), besides tool and libraries
    memory: int | None = None  # RLIMIT_AS in bytes; None: the configured SANDBOX_MEMORY
    file_size: int | None = None  # RLIMIT_FSIZE; None: what STORAGE_THRESHOLD still allows
    open_files: int = 1024  # RLIMIT_NOFILE
    processes: int = 64  # processes/threads the child may add (RLIMIT_NPROC above the user's count)
    network: bool = False  # False: no TCP connect/bind (Landlock); tools get no network options
    extra_env: dict[str, str] = field(default_factory=dict)


def for_stage(src: Path, out: Path, **kw: object) -> Box:
    """The usual box of a stage's tool: read ``src``, read+write ``out``."""
    return Box(writable=(out,), readable=(src,), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Status:
    on: bool
    abi: int  # the Landlock ABI in use, 0 when off
    reason: str  # why it is off ("" when on)

    def line(self) -> str:
        """The words /stats and the start-up log show."""
        if self.on:
            return f"sandbox: on (Landlock ABI {self.abi}, rlimits, no network)"
        return f"sandbox: off — {self.reason} (rlimits and in-code checks still apply)"


@dataclass
class _Settings:
    memory: int = DEFAULT_MEMORY
    storage_threshold: int = 0
    enabled: bool = True


_settings = _Settings()
_status: Status | None = None
_status_lock = threading.Lock()


def configure(*, memory: int = DEFAULT_MEMORY, storage_threshold: int = 0,
              enabled: bool = True) -> Status:
    """Set the limits every box shares (from config: ``SANDBOX_MEMORY``,
    ``STORAGE_THRESHOLD``, ``SANDBOX``) and return the status, probed afresh."""
    global _status
    _settings.memory, _settings.storage_threshold = memory, storage_threshold
    _settings.enabled = enabled
    with _status_lock:
        _status = None
    return status()


def start(*, memory: int, storage_threshold: int, enabled: bool) -> Status:
    """:func:`configure` at start, and say once in the log whether the walls are up: a
    WARNING when they are not, naming the reason (the owner may fix the kernel or the
    container's seccomp profile; docs/SANDBOX.md says which setups allow Landlock)."""
    state = configure(memory=memory, storage_threshold=storage_threshold, enabled=enabled)
    log.log(logging.INFO if state.on else logging.WARNING, "%s", state.line())
    return state


def set_storage_threshold(value: int) -> None:
    """A live ``/bsetting STORAGE_THRESHOLD`` change."""
    _settings.storage_threshold = value


def status() -> Status:
    """Whether boxes get Landlock walls here, probed once (cheap: one system call)."""
    global _status
    with _status_lock:
        if _status is None:
            _status = _probe()
        return _status


def _probe() -> Status:
    if not _settings.enabled:
        return Status(False, 0, "SANDBOX=off in the configuration")
    try:
        abi = landlock.abi_version()
    except landlock.LandlockError as exc:
        return Status(False, 0, exc.strerror or str(exc))
    return Status(True, abi, "")


def command(argv: Sequence[str], box: Box) -> tuple[list[str], dict[str, str]]:
    """The argument list and environment that start ``argv`` inside ``box``.

    Raises ``FileNotFoundError`` when the tool is not installed (as starting it directly
    would), so callers keep one way of saying "not installed"."""
    found = shutil.which(argv[0])
    if found is None:
        raise FileNotFoundError(2, f"{argv[0]} is not installed", argv[0])
    exe = os.path.realpath(found)
    for folder in box.writable:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = status()
    spec = {
        "parent": os.getpid(),
        "exe": exe,
        "abi": state.abi if state.on else 0,
        "rules": _rules(exe, box) if state.on else [],
        "network": box.network,
        "memory": box.memory if box.memory is not None else _settings.memory,
        "file_size": box.file_size if box.file_size is not None else _file_size(box),
        "open_files": box.open_files,
        "processes": None if os.geteuid() == 0 else _user_tasks() + box.processes,
    }
    tmp = str(box.writable[0]) if box.writable else "/nonexistent"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "TMPDIR": tmp, "HOME": tmp,
           # glibc reserves 64 MiB of address space per malloc arena, up to 8 per core: on a
           # many-core host a threaded ffmpeg would pass SANDBOX_MEMORY on reservations alone.
           "MALLOC_ARENA_MAX": "2", **box.extra_env}
    python = os.path.realpath(sys.executable)
    wrapped = [python, "-E", "-s", "-S", str(ENTER), json.dumps(spec), "--", exe, *argv[1:]]
    return wrapped, env


def _rules(exe: str, box: Box) -> list[tuple[str, int]]:
    # The tool's own prefix (/usr for /usr/bin/7zz; a Python installation for the tar child).
    prefix = os.path.dirname(os.path.dirname(exe))
    rules = [(p, landlock.READ_EXEC) for p in (*SYSTEM_READ_EXEC, prefix)]
    rules += [(p, landlock.READ) for p in SYSTEM_READ]
    rules += [(p, landlock.READ | landlock.WRITE_FILE) for p in DEVICES]
    rules += [(str(p), landlock.READ) for p in box.readable]
    rules += [(str(p), landlock.WRITE) for p in box.writable]
    return rules


def _file_size(box: Box) -> int | None:
    if not box.writable:
        return MIN_FILE_SIZE
    try:
        free = shutil.disk_usage(box.writable[0]).free
    except OSError:
        return None
    return max(free - _settings.storage_threshold, MIN_FILE_SIZE)


def _user_tasks() -> int:
    """Processes and threads of this uid (RLIMIT_NPROC counts them all, not the child's)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


MEMORY_WORDS = ("cannot allocate memory", "can't allocate", "out of memory", "bad_alloc",
                "memoryerror", "not enough memory", "enomem")


def limit_reason(returncode: int, stderr: str, box: Box) -> str | None:
    """Which of the box's limits killed the child, in words for the chat, or None."""
    if returncode == -signal.SIGXFSZ or "file too large" in stderr.lower():
        return ("it passed the file size limit of its box (what STORAGE_THRESHOLD leaves "
                "free on the disk)")
    low = stderr.lower()
    if returncode != 0 and any(word in low for word in MEMORY_WORDS):
        memory = box.memory if box.memory is not None else _settings.memory
        return f"it passed the memory limit of its box (SANDBOX_MEMORY, {memory >> 20} MiB)"
    return None

