"""The one tree walker: what lies under a folder, without ever following a symlink.

Everything that sizes, counts, lists or flushes a task's result (copy progress totals, the
mirror report, the leech file list, the extract budget, the disk guard, the archive stage, the
task state's sizes and fsyncs) walks with this, so all of them agree on what a tree holds.
A symlink (to a file or a folder) is never entered nor followed, so a link cannot make a walk
reach outside the tree or meet a file twice.

* :func:`entries` — every entry (folders, files, links, fifos, sockets, devices), for the
  callers that must see or refuse the odd ones;
* :func:`regular_files` — regular files only: links, fifos, sockets and devices are skipped,
  as the copy walkers (C and Python) skip them;
* :func:`tree_size` — the bytes of those regular files.

Errors: by default a folder that cannot be listed raises OSError; with ``ignore_errors`` it is
passed over (a tree that changes while it is walked: 7-Zip renaming, a cancel cleaning up).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

__all__ = ["entries", "regular_files", "tree_size"]


def entries(
    root: str | os.PathLike[str], *, ignore_errors: bool = False
) -> Iterator[os.DirEntry[str]]:
    """Every entry under the folder ``root`` (not ``root`` itself), depth first, in no fixed
    order; folders are yielded and then entered, symlinked folders are yielded and not entered.

    One ``scandir`` per folder, so the file type usually comes from the directory entry itself
    (no ``stat`` per entry). Raises OSError if a folder cannot be listed, unless
    ``ignore_errors`` (then that folder's remaining entries are passed over).
    """
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    yield entry
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            if not ignore_errors:
                raise


def regular_files(
    root: str | os.PathLike[str], *, ignore_errors: bool = False
) -> Iterator[os.DirEntry[str]]:
    """The regular files under the folder ``root``, depth first, in no fixed order (see
    :func:`entries` for errors)."""
    return (
        entry
        for entry in entries(root, ignore_errors=ignore_errors)
        if entry.is_file(follow_symlinks=False)
    )


def tree_size(root: str | os.PathLike[str]) -> int:
    """Bytes of the regular files under ``root``."""
    return sum(entry.stat(follow_symlinks=False).st_size for entry in regular_files(root))
