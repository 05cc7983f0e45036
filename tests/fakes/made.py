"""Test inputs made once per run: media that ffmpeg encodes the same way for several modules.

:func:`once` makes a file or a folder the first time a run asks for it under a key, keeps it in
a folder of the run's own (beside the xdist workers' temporary folders, so pytest's clean-up of
old runs removes it), and gives every later caller a copy of it: a test may change its copy.
The key names the maker and every parameter of it; nothing is kept from one run to the next, so
a changed maker never serves an old result. Outside pytest (no folder set) it just makes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

_root: list[Path] = []


def use(root: Path) -> None:
    """Keep what :func:`once` makes under ``root`` (tests/conftest.py, once per process)."""
    root.mkdir(parents=True, exist_ok=True)
    _root[:] = [root]


def once(dest: Path, key: str, make: Callable[[Path], object]) -> Path:
    """``dest`` (a file, or a folder whose files are added to it), made by ``make(path)`` the
    first time this run asks for ``key`` and copied from that result after."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not _root:
        make(dest)
        return dest
    kept = _root[0] / hashlib.sha256(key.encode()).hexdigest()[:32]
    if not kept.exists():
        # Made aside, then renamed into place: parallel workers never see half of it, and when
        # two make it at once, the first rename wins (a folder) or both are the same (a file).
        scratch = Path(tempfile.mkdtemp(prefix=".making-", dir=kept.parent))
        try:
            make(scratch / dest.name)
            try:
                os.rename(scratch / dest.name, kept)
            except OSError:
                if not kept.exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if kept.is_dir():
        shutil.copytree(kept, dest, dirs_exist_ok=True)
    else:
        shutil.copyfile(kept, dest)
    return dest
