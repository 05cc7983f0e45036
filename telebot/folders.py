"""Every path the bot writes, made and tried once before anything starts.

Why here and not where each is used: the store, the logger and the engines each met an unusable
path on their own and said so with a 28-38 line traceback (a bind-mounted ``/data`` the image's
uid cannot write is the usual case). Tried first, each one is a single line naming the variable,
the path and the reason, and ``python -m telebot`` exits 2 like any other configuration error.

The order is that of a first start: the data folder (the database's), then ``DOWNLOAD_DIR``,
``MIRROR_DIR``, ``LOG_FILE``; the first unusable one is reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from telebot.config import Config
from telebot.errors import ConfigError


def prepare(config: Config) -> None:
    """Create the folders and try a write in each; raises :class:`ConfigError` naming the first
    unusable path (``DATABASE_PATH`` stands for the data folder it lives in)."""
    _folder("DATABASE_PATH", config.database_path.parent, "its folder ")
    _file("DATABASE_PATH", config.database_path)
    _folder("DOWNLOAD_DIR", config.download_dir)
    _folder("MIRROR_DIR", config.mirror_dir)
    _folder("LOG_FILE", config.log_file.parent, "its folder ")
    _file("LOG_FILE", config.log_file)


def _folder(name: str, folder: Path, which: str = "") -> None:
    shown = folder.absolute()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(name, f"cannot be used: {which}{shown} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(name, f"cannot create {which}{shown}", exc) from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".telebot-write-test-", dir=folder)
    except OSError as exc:
        raise _unusable(name, f"cannot write in {which}{shown}", exc) from None
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _file(name: str, path: Path) -> None:
    """An existing file must open for writing (SQLite and the log append to it)."""
    if path.is_dir():
        raise ConfigError(name, f"cannot be used: {path.absolute()} is a folder, not a file")
    if not path.exists():
        return  # the folder was tried: it will be created there
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        raise _unusable(name, f"cannot write {path.absolute()}", exc) from None


def _unusable(name: str, what: str, exc: OSError) -> ConfigError:
    reason = exc.strerror or type(exc).__name__
    hint = ""
    if exc.errno in (errno.EACCES, errno.EPERM):
        # The Docker case: a bind mount owned by the host's user, not the image's (uid 10001).
        uid, gid = os.getuid(), os.getgid()
        hint = (f"; the bot runs as uid {uid}: give it the folder (chown -R {uid}:{gid} on "
                "it, for Docker on the host side of the mount)")
    elif exc.errno == errno.EROFS:
        hint = "; mount it read-write"
    return ConfigError(name, f"cannot be used: {what} ({reason}){hint}")
