"""Store or compress: decides, per archive, whether deflating is worth its time.

Video, audio, images and archives are already compressed: deflating them again costs CPU time
and saves nothing. Measured here with 7-Zip 26.02 on 2 cores (README, "Benchmarks"), 100 MB of
random bytes: zip ``-mx=0`` 0.12 s, ``-mx=1`` 2.7 s, same size; 7z ``-mx=0`` 0.09 s,
``-mx=1`` 7.7 s, 6 KB *larger*. 85 MB of log text: zip ``-mx=1`` 1.8 s to 24 % (``-mx=3``: 2.4 s,
the same size; ``-mx=5``: 14.5 s, 19 %), 7z ``-mx=1`` 2.0 s to 23 %. So: store
(:data:`STORE_LEVEL`) when most bytes are incompressible, else the fast level
(:data:`FAST_LEVEL`), never the slow default.

A file counts as incompressible by its extension (:data:`COMPRESSED_EXTENSIONS`), else by a
sample: a few 64 KiB slices deflated at level 1 that shrink by less than 10 %. Sampling stops
after :data:`SAMPLE_BUDGET` bytes (largest files first, since they decide the share); files past
the budget count by extension only.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from telebot.fileio.walk import regular_files

STORE_LEVEL = 0
FAST_LEVEL = 1
# "Most bytes": above half of the bytes incompressible, storing loses at most what deflate
# would have saved on the other half, and saves the (far larger) time spent on the first.
STORE_SHARE = 0.5
# Deflate level 1 shrinks text, logs and executables by 30-80 %; random bytes, JPEG, H.264 and
# zip members by under 2 %. 10 % sits between with room on both sides.
INCOMPRESSIBLE_RATIO = 0.9
SAMPLE_BYTES = 64 * 1024  # deflate's window is 32 KiB: a slice must be well above it
SAMPLES_PER_FILE = 3  # start, middle and end regions: one header cannot fool it
SAMPLE_BUDGET = 8 * 1024 * 1024  # about 0.15 s of deflate level 1 on random bytes here
# Below this, deflate's own framing (a dozen bytes) decides the ratio: too small to judge.
MIN_SAMPLE = 1024

COMPRESSED_EXTENSIONS = frozenset(
    {
        # video
        ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".avi", ".wmv", ".flv", ".ts", ".m2ts", ".3gp",
        # audio
        ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".flac", ".wma", ".m4b",
        # images
        ".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".avif", ".jxl",
        # archives and compressed streams
        ".zip", ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".txz", ".zst", ".lz4", ".lzma",
        ".br", ".cab", ".z01", ".001",
        # zip containers
        ".jar", ".apk", ".xapk", ".epub", ".docx", ".xlsx", ".pptx", ".odt", ".cbz", ".cbr",
        # disk images of compressed content
        ".dmg", ".squashfs",
    }
)


def choose_level(path: Path) -> int:
    """The 7-Zip ``-mx`` level for archiving ``path`` (a file or a folder)."""
    return STORE_LEVEL if incompressible_share(path) > STORE_SHARE else FAST_LEVEL


def incompressible_share(path: Path) -> float:
    """The share (0..1) of the bytes under ``path`` that deflate would not shrink."""
    sizes = _sizes(path)
    total = sum(size for _, size in sizes)
    if total == 0:
        return 0.0
    budget = SAMPLE_BUDGET
    hard = 0
    for file, size in sorted(sizes, key=lambda item: item[1], reverse=True):
        if file.suffix.lower() in COMPRESSED_EXTENSIONS:
            hard += size
        elif budget > 0:
            budget -= min(size, SAMPLE_BYTES * SAMPLES_PER_FILE)
            hard += size if _sample_incompressible(file, size) else 0
    return hard / total


def _sizes(path: Path) -> list[tuple[Path, int]]:
    if path.is_file():
        return [(path, path.stat().st_size)]
    return [
        (Path(entry.path), entry.stat(follow_symlinks=False).st_size)
        for entry in regular_files(path)
    ]


def _sample_incompressible(file: Path, size: int) -> bool:
    """Deflate a few slices of ``file``; True when they shrink by less than 10 %."""
    raw = packed = 0
    try:
        with file.open("rb") as handle:
            for offset in _offsets(size):
                handle.seek(offset)
                data = handle.read(SAMPLE_BYTES)
                raw += len(data)
                packed += len(zlib.compress(data, 1))
    except OSError:
        return False  # unreadable now: 7-Zip will say so; count it as ordinary data
    return raw >= MIN_SAMPLE and packed >= raw * INCOMPRESSIBLE_RATIO


def _offsets(size: int) -> list[int]:
    """Where the slices start: evenly spread, or the whole file when it is small."""
    if size <= SAMPLE_BYTES * SAMPLES_PER_FILE:
        return list(range(0, size, SAMPLE_BYTES))
    step = size // SAMPLES_PER_FILE
    return [max(0, min(size - SAMPLE_BYTES, step * i + (step - SAMPLE_BYTES) // 2))
            for i in range(SAMPLES_PER_FILE)]

