"""What the rclone sink and /clone's source take from the configuration (README "rclone")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from telebot.config import Config


@dataclass(frozen=True)
class RcloneSettings:
    """Immutable settings of everything rclone, read once at start. The rclone.conf itself is
    read afresh on every use (sinks/rclone/remotes.py)."""

    config_path: Path | None = None  # RCLONE_CONFIG: the rclone.conf; None = no remotes
    index_url: str = ""  # INDEX_URL: web prefix for paths on remotes, for the done message
    allowed_roots: Sequence[str] = ()  # RCLONE_ALLOWED_ROOTS (sinks/rclone/remotes.py)

    @classmethod
    def from_config(cls, config: Config) -> RcloneSettings:
        return cls(
            config_path=config.rclone_config,
            index_url=config.index_url,
            allowed_roots=tuple(config.rclone_allowed_roots),
        )
