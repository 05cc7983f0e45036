"""What the front and a Celery worker derive alike from the configuration for their tasks:
the limits' values and the mode of task folders. Kept apart from ``plugins.py`` so the front
reads them at start without importing the plug-ins."""

from __future__ import annotations

from telebot.config import Config
from telebot.engine import taskstate
from telebot.engine.limits import LimitValues


def task_folder_mode(config: Config) -> int:
    """Owner-only task folders, except that a local Bot API server must open leech parts."""
    return taskstate.TRAVERSE_ONLY_MODE if config.bot_api_local else taskstate.PRIVATE_MODE


def limit_values(config: Config) -> LimitValues:
    return LimitValues(
        user_tasks=config.user_tasks_limit,
        max_download=config.max_download_size,
        direct=config.direct_limit,
        torrent=config.torrent_limit,
        ytdl=config.ytdl_limit,
        leech=config.leech_limit,
        stop_duplicate=config.stop_duplicate,
    )
