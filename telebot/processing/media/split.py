"""Byte-exact splitting for leech: ``name.001``, ``name.002``, … so ``cat name.0* > name`` restores
the file (and 7-Zip/HJSplit-style joiners recognise the names).

Each part is written by the IO core's range copy (copy_file_range in the kernel where possible),
to a temporary name first, so a part that exists under its final name is always complete.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from telebot.errors import BadInputError
from telebot.fileio.ranges import copy_range
from telebot.monitor.perf import monitor_performance

# Three digits cover 999 parts: 999 x 2000 MB ≈ 2 TB, beyond any file a bot should leech; more
# digits would break the `cat name.0*` order users rely on.
MAX_PARTS = 999


def leech_part_size(limit: int, default: int, requested: int | None) -> int:
    """The size of a leech part: ``-sp`` (``requested``) or the default (LEECH_SPLIT_SIZE, live
    from /bsetting), never over ``limit``, what the configured Bot API accepts. Computed by the
    Telegram sink (``TelegramSink.part_size_for``) for its split and for the compress stage's
    volumes, so a volume is never split again."""
    wanted = requested or default
    if wanted > limit:
        raise BadInputError(f"-sp is over the {limit:,} byte upload limit of this Bot API")
    return min(wanted, limit)


def part_name(name: str, index: int) -> str:
    return f"{name}.{index:03d}"


def plan_parts(size: int, part_size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of each part; a file that fits is one part."""
    if part_size <= 0:
        raise ValueError("part_size must be positive")
    count = max(1, -(-size // part_size))
    if count > MAX_PARTS:
        raise BadInputError(f"that would make {count} parts; the most is {MAX_PARTS} (raise -sp)")
    return [(i * part_size, min(part_size, size - i * part_size)) for i in range(count)]


def equal_part_size(size: int, part_size: int) -> int:
    """``-es``: the part size that cuts ``size`` bytes into as many parts as ``part_size``
    needs (``ceil(size / part_size)``), all of the same size but the last (a few bytes less)."""
    count = max(1, -(-size // part_size))
    return max(1, -(-size // count))


def iter_split(
    src: Path,
    part_size: int,
    out_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Path]:
    """Yield the parts of ``src`` one at a time, each written just before it is yielded.

    Lazy on purpose: the leech uploads part *n* and deletes it before part *n+1* is written, so a
    10 GB file needs one part of free space, not 10 GB.
    """
    size = src.stat().st_size
    out_dir.mkdir(parents=True, exist_ok=True)
    done = 0
    for index, (offset, length) in enumerate(plan_parts(size, part_size), start=1):
        target = write_part(src, out_dir, index, offset, length, cancel=cancel)
        done += length
        if progress is not None:
            progress(done, size)
        yield target


@monitor_performance("split.part")
def write_part(
    src: Path, out_dir: Path, index: int, offset: int, length: int, *,
    cancel: threading.Event | None = None,
) -> Path:
    """Write part ``index`` (bytes ``[offset, offset + length)``) of ``src``; returns its path.

    The part gets its name only with all ``length`` bytes: a source that ends early (it shrank
    after the parts were planned) raises :class:`telebot.fileio.ShortCopyError` and leaves no
    part behind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / part_name(src.name, index)
    copy_range(src, target, offset, length, cancel=cancel)
    return target


def split_file(src: Path, part_size: int, out_dir: Path, **kwargs: object) -> list[Path]:
    """All parts at once (tests, tools); the leech uses :func:`iter_split`."""
    return list(iter_split(src, part_size, out_dir, **kwargs))  # type: ignore[arg-type]
