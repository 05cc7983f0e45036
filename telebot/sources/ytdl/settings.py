"""What the /ytdl source takes from the configuration (README "Configuration")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telebot.config import Config


@dataclass(frozen=True)
class YtdlSettings:
    """Immutable settings of the yt-dlp source, read once at start."""

    options: Mapping[str, Any] = field(default_factory=dict)  # YTDL_OPTIONS, allow-listed
    allow_private: bool = False  # ALLOW_PRIVATE_LINKS: pages and media on private addresses
    max_size: int | None = None  # MAX_DOWNLOAD_SIZE at start, bytes; None = no limit
    select_timeout: float = 120.0  # YTDL_SELECT_TIMEOUT: how long the quality menu waits
    cookies_file: Path | None = None  # YTDL_COOKIES_FILE: the owner's cookies, copied per run
    netrc_file: Path | None = None  # NETRC_FILE: yt-dlp's logins by extractor machine name

    @classmethod
    def from_config(cls, config: Config) -> YtdlSettings:
        return cls(
            options=config.ytdl_options,
            allow_private=config.allow_private_links,
            max_size=config.max_download_size,
            select_timeout=config.ytdl_select_timeout,
            cookies_file=config.ytdl_cookies_file,
            netrc_file=config.netrc_file,
        )
