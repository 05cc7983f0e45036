"""``python -m telebot``: load the config, then run the bot until SIGINT/SIGTERM.

Exit codes: 0 clean stop, 2 bad configuration (one line naming the variable), 1 anything else.
"""

from __future__ import annotations

import sys
import time


def _process_start_time() -> float:
    """When the OS started this process (so start-up timing includes interpreter start)."""
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:  # psutil missing or /proc unreadable: fall back to "now"
        return time.time()


def main(argv: list[str] | None = None) -> int:
    started = _process_start_time()
    from telebot.config import load_config
    from telebot.errors import ConfigError, StoreError

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"telebot: config error: {exc}", file=sys.stderr)
        return 2
    from telebot.app import App

    try:
        return App(config, process_started_at=started).run()
    except StoreError as exc:
        print(f"telebot: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
