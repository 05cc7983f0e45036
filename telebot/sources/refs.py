"""How a spec names what only one plug-in takes: a Telegram file (``tg:<file_id>``) and the
yt-dlp tool. The intake writes these into specs; the Telegram file and yt-dlp sources take
them. Kept in a module of its own, without imports, so the intake (loaded before the bot starts
polling) need not import the plug-ins and the HTTP libraries under them."""

from __future__ import annotations

TELEGRAM_FILE_PREFIX = "tg:"
YTDL_TOOL = "ytdl"  # TaskSpec.tool of /ytdl and /ytdlleech


def telegram_file_source(file_id: str) -> str:
    """The spec source of the Telegram file ``file_id``."""
    return TELEGRAM_FILE_PREFIX + file_id
