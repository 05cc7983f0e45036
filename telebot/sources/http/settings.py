"""What the direct-link source takes from the configuration (README "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass, field

from telebot.config import Config
from telebot.netrcfile import NetrcLogins, load_netrc


@dataclass(frozen=True)
class HttpSettings:
    """Immutable settings of the http(s) source, read once at start: a /bsetting change of
    MAX_DOWNLOAD_SIZE is enforced by the engine's limits, not here (wiring.live_settings)."""

    allow_private: bool = False  # ALLOW_PRIVATE_LINKS: links to private/loopback addresses
    max_size: int | None = None  # MAX_DOWNLOAD_SIZE at start, bytes; None = no limit
    host_down_timeout: float = 600.0  # HOST_DOWN_TIMEOUT: how long to wait for a host that is down
    netrc: NetrcLogins = field(default_factory=NetrcLogins, repr=False)  # NETRC_FILE's logins

    @classmethod
    def from_config(cls, config: Config) -> HttpSettings:
        return cls(
            allow_private=config.allow_private_links,
            max_size=config.max_download_size,
            host_down_timeout=config.host_down_timeout,
            netrc=load_netrc(config.netrc_file) if config.netrc_file else NetrcLogins(),
        )
