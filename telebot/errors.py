"""The one exception hierarchy of telebot.

Every error a user can see derives from :class:`TelebotError`. Errors of outside
tools and libraries (requests, PTB, libtorrent, yt-dlp, 7-Zip, rclone, OSError) are translated into
these types at one boundary each, so callers above that boundary only ever
catch telebot's own types. ``str(error)`` is the one line shown in the chat:
it must never contain a secret (token, password, auth header).
"""

from __future__ import annotations


class TelebotError(Exception):
    """Root of every telebot error."""


class ConfigError(TelebotError):
    """A config value is missing or invalid; the message names the variable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name} {problem}")
        self.name = name
        self.problem = problem


class StoreError(TelebotError):
    """The SQLite store could not be opened or migrated."""


class BadInputError(TelebotError):
    """The user wrote something we cannot act on (bad flag, no link, ...)."""


def share_password_unused(why: str) -> BadInputError:
    """``-ap`` alone (a file host's share password) on a link that has no use for it: each
    source that cannot use one refuses the task with this, so the flag is never dropped
    silently. ``why`` completes the sentence ("a torrent has none")."""
    return BadInputError(f"-ap alone is the password of a file host's share, and {why}.")


class SecurityError(TelebotError):
    """Refused for safety: private address, path escape, unauthorized user."""


class TaskCancelled(TelebotError):
    """The task was cancelled by a user or by shutdown. Never retried."""


class TransientError(TelebotError):
    """A failure that may go away by itself; retry policies retry these.

    ``retry_after`` (seconds) is set when the other side told us how long to wait
    (HTTP ``Retry-After`` or Telegram's ``retry_after``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DownloadError(TelebotError):
    """A download failed for a reason that retrying will not fix."""


class HTTPStatusError(DownloadError):
    """The origin answered with an HTTP error status.

    Kept separate so the resilience layer can classify by status: 408/425/429
    and 5xx are transient, other 4xx are not.
    """

    def __init__(self, status: int, url_host: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} from {url_host}")
        self.status = status
        self.host = url_host
        self.retry_after = retry_after


class ProcessingError(TelebotError):
    """Extract/compress/split failed."""


class UploadError(TelebotError):
    """Uploading the result (Telegram, local mirror, rclone) failed."""


class CircuitOpenError(TelebotError):
    """A circuit breaker is open: the call was not attempted.

    ``retry_in`` is the number of seconds until the breaker lets a trial call
    through; the message says which host and when, for the user's chat.
    """

    def __init__(self, key: str, retry_in: float) -> None:
        seconds = max(0, round(retry_in))
        super().__init__(f"{key} is failing repeatedly; it will be tried again in {seconds} s")
        self.key = key
        self.retry_in = retry_in
