"""The owner's ``.netrc`` (``NETRC_FILE``): logins by host name, parsed with the stdlib.

Only ``machine`` entries count: a ``default`` entry would hand its password to every host a
link names, so it is ignored. Errors name the line, never a token of it (``NetrcParseError``'s
own message may quote one, and a token may be a password).
"""

from __future__ import annotations

import logging
import netrc
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from telebot.errors import ConfigError

log = logging.getLogger(__name__)

SETTING = "NETRC_FILE"


@dataclass(frozen=True)
class NetrcLogins:
    """Host name (lower case) → (login, password). Immutable; its repr shows no login."""

    by_host: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def for_host(self, host: str | None) -> tuple[str, str] | None:
        return self.by_host.get((host or "").lower().rstrip(".")) if host else None

    @property
    def passwords(self) -> tuple[str, ...]:
        """For the redactor: none of these may reach a log line or a chat message."""
        return tuple(password for _login, password in self.by_host.values() if password)


def load_netrc(path: Path, *, warn: bool = False) -> NetrcLogins:
    """Parse ``path``; :class:`ConfigError` naming NETRC_FILE when it cannot be read or parsed.
    With ``warn`` (the check at start, so once), a warning in the log when others may read it
    (it should be 0600)."""
    try:
        mode = path.stat().st_mode
        parsed = netrc.netrc(str(path))
    except netrc.NetrcParseError as exc:
        raise ConfigError(SETTING, f"cannot be parsed at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise ConfigError(SETTING, "is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(SETTING, f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(SETTING, "is not a file")
    if warn and mode & 0o077:
        log.warning(
            "NETRC_FILE %s can be read by other users (mode %o): chmod 600 it", path, mode & 0o777
        )
    logins = {
        host.lower(): (login or "", password or "")
        for host, (login, _account, password) in parsed.hosts.items()
        if host != "default"
    }
    return NetrcLogins(logins)
