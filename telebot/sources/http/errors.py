"""How a download fails: restarts from zero, and every error mapped to telebot's types."""

from __future__ import annotations

import errno
import http.client

import requests
import urllib3

from telebot.errors import (
    CircuitOpenError,
    DownloadError,
    SecurityError,
    TaskCancelled,
    TransientError,
)


class Restart(DownloadError):
    """The download must start over; raised by segments, handled by download()."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} {self.what}")
        self.host = host

    what = "needs a restart"


class RangesIgnored(Restart):
    """A segment got the whole file (200): the server advertised ranges it does not serve."""

    what = "ignores byte ranges"


class FileChanged(Restart):
    """The server's validator or size differs from the first response's: a new file."""

    what = "changed the file during the download"


DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})


def translate(exc: BaseException, host: str) -> BaseException:
    """Map anything a download can raise to telebot's types (one line each)."""
    if isinstance(exc, (TaskCancelled, SecurityError, CircuitOpenError, DownloadError)):
        return exc
    if isinstance(exc, TransientError):
        return DownloadError(str(exc))
    if isinstance(exc, requests.Timeout):
        return DownloadError(f"{host} did not answer in time")
    if isinstance(exc, requests.ConnectionError):
        return DownloadError(f"could not connect to {host}")
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS and exc.strerror:
        return DownloadError(exc.strerror)
    if isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError,
                        http.client.HTTPException, OSError)):
        return DownloadError(f"network error with {host}: {type(exc).__name__}")
    return exc
