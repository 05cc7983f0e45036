"""Names that fit NAME_MAX, whatever their source: trimmed once, where they enter the bot.

telebot appends to the names it is given (``.part.state.tmp``, split parts ``.001``, playable
parts ``.part1.mp4``, clash numbers `` (1)``), so a name that enters at 241 to 255 bytes fits on
disk but its derived names do not (ENAMETOOLONG). Every name is therefore trimmed to
:data:`MAX_BASE_BYTES` where it enters:

- HTTP, Telegram and yt-dlp names: :func:`telebot.sources.names.sanitize_filename`;
- torrent files: renamed in libtorrent before a byte is written (:func:`fit_paths`, used by
  ``sources/torrent/download.py``), so seeding keeps working on the names on disk;
- what a processing stage writes (archive entries above all, whatever the archive format):
  :func:`fit_tree` over each stage's result, once, before it is recorded and before the next
  stage or the sink derives a name from it (``engine/execute.py``). One pass there covers every
  stage, present and future, without each extractor having to know.

Imports nothing from telebot: the engine, the sources and the sinks all use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

__all__ = [
    "LONGEST_SUFFIX_BYTES",
    "MAX_BASE_BYTES",
    "MAX_NAME_BYTES",
    "fit_name",
    "fit_paths",
    "fit_tree",
]

#: NAME_MAX of Linux file systems (ext4, xfs, btrfs): 255 bytes per component.
MAX_NAME_BYTES = 255

#: The longest suffix telebot appends to a name it was given: ``<name>.part.state.tmp``
#: (sources/http/partfile.py). The others are shorter: ``<name>.part`` and ``<name>.part.state``,
#: `` (9999)`` clash numbers (sinks/local.py), split parts ``<name>.001``
#: (processing/media/split.py);
#: temp names (``.tbpart-<pid>-<n>``, ``.telebot-<gid>.partial``) do not contain the name.
LONGEST_SUFFIX_BYTES = len(".part.state.tmp")

#: What names are trimmed to (240 bytes), so that every name derived from one still fits
#: :data:`MAX_NAME_BYTES` and never fails with ENAMETOOLONG.
MAX_BASE_BYTES = MAX_NAME_BYTES - LONGEST_SUFFIX_BYTES

# A plausible extension: short, no spaces, at least one letter or digit.
_EXTENSION = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")


def fit_name(text: str, max_bytes: int) -> str:
    """Trim *text* to *max_bytes* of UTF-8, cutting the stem at a character boundary and keeping
    the extension (``.mkv``) when there is one."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    match = _EXTENSION.search(text)
    ext = match.group(0) if match and match.start() > 0 else ""
    if len(ext.encode("utf-8")) >= max_bytes:
        ext = ""
    budget = max_bytes - len(ext.encode("utf-8"))
    stem = text[: len(text) - len(ext)].encode("utf-8")[:budget].decode("utf-8", "ignore")
    return (stem.rstrip(" ") + ext) or ext.lstrip(".")


def _fit_unique(name: str, taken: set[str]) -> str:
    """``name`` trimmed to :data:`MAX_BASE_BYTES`; `` (n)`` before the extension when the
    trimmed name is ``taken`` (two long names that differ only past the cut)."""
    fitted = fit_name(name, MAX_BASE_BYTES)
    number = 1
    while fitted in taken:
        tag = f" ({number})"
        match = _EXTENSION.search(name)
        ext = match.group(0) if match and match.start() > 0 else ""
        stem = fit_name(name[: len(name) - len(ext)], MAX_BASE_BYTES - len(tag) - len(ext))
        fitted = f"{stem}{tag}{ext}"
        number += 1
    return fitted


def fit_paths(paths: Mapping[int, str]) -> dict[int, str]:
    """New relative paths (``/``-separated) for those of ``paths`` with a component over
    :data:`MAX_BASE_BYTES`, keyed like ``paths``; every component is trimmed, folders
    consistently for all their files, and no two results are the same path."""
    renamed: dict[tuple[str, ...], str] = {}  # (original parent parts..., name) → fitted name
    taken: dict[tuple[str, ...], set[str]] = {}  # fitted parent → names used in it
    for path in paths.values():  # the names that stay as they are are taken first
        parts = PurePosixPath(path).parts
        for depth, part in enumerate(parts):
            if len(part.encode()) <= MAX_BASE_BYTES:
                taken.setdefault(parts[:depth], set()).add(part)
    result: dict[int, str] = {}
    for index, path in sorted(paths.items()):
        parts = PurePosixPath(path).parts
        if all(len(part.encode()) <= MAX_BASE_BYTES for part in parts):
            continue
        fitted: list[str] = []
        for depth, part in enumerate(parts):
            key = parts[: depth + 1]
            if key not in renamed:
                if len(part.encode()) <= MAX_BASE_BYTES:
                    renamed[key] = part
                else:
                    used = taken.setdefault(tuple(fitted), set())
                    renamed[key] = _fit_unique(part, used)
                    used.add(renamed[key])
            fitted.append(renamed[key])
        result[index] = "/".join(fitted)
    return result


def fit_tree(root: Path) -> Path:
    """Rename, in place, every file and folder under ``root`` (and ``root`` itself) whose name
    is over :data:`MAX_BASE_BYTES`; returns ``root``'s path after that. Deepest first, so a
    folder is renamed after its contents; symlinks are renamed, never followed."""
    if root.is_dir() and not root.is_symlink():
        for folder, dirs, files in os.walk(root, topdown=False):
            _fit_entries(Path(folder), [*dirs, *files])
    return _fit_entries(root.parent, [root.name]).get(root.name, root)


def _fit_entries(folder: Path, names: Iterable[str]) -> dict[str, Path]:
    long = [name for name in names if len(name.encode()) > MAX_BASE_BYTES]
    if not long:
        return {}
    taken = set(os.listdir(folder))
    moved: dict[str, Path] = {}
    for name in long:
        new = _fit_unique(name, taken)
        os.rename(folder / name, folder / new)  # same folder: atomic, nothing is copied
        taken.add(new)
        moved[name] = folder / new
    return moved
