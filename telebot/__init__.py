"""telebot: a self-hosted Telegram mirror/leech bot."""

from __future__ import annotations

__version__ = "0.1.0"
