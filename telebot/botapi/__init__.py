"""The Bot API client for worker threads (below ``sources/`` and ``sinks/``).

It imports nothing from ``bot/``, ``sources/`` or ``sinks/``, so the engine side can reach
Telegram without importing the handlers that import it.
"""

from telebot.botapi.messenger import CANCEL_POLL, Messenger, Sent, describe_error

__all__ = ["CANCEL_POLL", "Messenger", "Sent", "describe_error"]
