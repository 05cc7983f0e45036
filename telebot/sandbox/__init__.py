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

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MEMORY = 1 << 30  # SANDBOX_MEMORY: address space of a boxed child (7-Zip, ffmpeg)


@dataclass(frozen=True)
class Box:
    """The walls of one child. Paths are folders or files; each rule covers what is beneath."""

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
