"""Resume data on disk: written atomically into the task's own folder, read back only from there.

libtorrent's resume data is trusted input (it may set absolute paths and URLs; docs/ENGINES.md,
libtorrent),
so it is only ever read from the file this module wrote in the task folder, and its save path is
overridden on load.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on use: the bot imports this module at start-up, torrents later
    import libtorrent as lt

log = logging.getLogger(__name__)

RESUME_FILE = ".torrent.resume"
METAINFO_FILE = ".metainfo.torrent"


def write_atomic(path: Path, data: bytes) -> None:
    """Write, fsync, rename, fsync the folder: after a crash the file is old or new, never torn."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_resume(path: Path, save_path: Path) -> lt.add_torrent_params | None:
    """The params saved in ``path``, pointed at ``save_path``; None when absent or unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    import libtorrent as lt

    try:
        params = lt.read_resume_data(data)
    except RuntimeError as exc:  # torn or foreign: start over rather than fail the task
        log.warning("ignoring unreadable resume data %s: %s", path.name, exc)
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    params.save_path = str(save_path)
    return params
