"""The one tree walker: the regular files under a folder, without following symlinks.

Everything that sizes, counts or lists a task's result (copy progress totals, the mirror
report, the leech file list) walks with this, so all of them agree on what a tree holds:
regular files only; symlinks (to files or folders) are neither counted nor entered, so a
link cannot make a tree reach outside itself or count a file twice. fifos, sockets and
devices are skipped, as the copy walkers (C and Python) skip them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

__all__ = ["regular_files", "tree_size"]


def regular_files(root: str | os.PathLike[str]) -> Iterator[os.DirEntry[str]]:
    """The regular files under the folder ``root``, depth first, in no fixed order.

    One ``scandir`` per folder, so the file type usually comes from the directory entry
    itself (no ``stat`` per file). Raises OSError if ``root`` cannot be listed.
    """
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry


def tree_size(root: str | os.PathLike[str]) -> int:
    """Bytes of the regular files under ``root``."""
    return sum(entry.stat(follow_symlinks=False).st_size for entry in regular_files(root))
