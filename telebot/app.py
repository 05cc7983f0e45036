"""Wiring and start/stop order: the one place that knows every part.

Start: logging → (store + folders ‖ importing PTB) → Application → long polling.
Stop (SIGINT/SIGTERM, handled by PTB's run_polling): polling stops → ``post_stop`` hooks cancel
and join the workers while the Bot API client still works → the store and the log queue close.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from logging.handlers import QueueListener
from typing import TYPE_CHECKING

from telebot import __version__
from telebot.config import Config
from telebot.logs import setup_logging
from telebot.store import Store

if TYPE_CHECKING:
    from telebot.tg.bot import BotContext

log = logging.getLogger("telebot")


def _open_store(config: Config) -> Store:
    for folder in (config.download_dir, config.mirror_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return Store(config.database_path, secret_key=config.bot_token)


def _import_bot() -> None:
    # The heaviest import of start-up (~0.3 s, mostly telegram.ext and httpx).
    import telebot.tg.bot  # noqa: F401


class App:
    """One bot instance, from start to clean exit."""

    def __init__(self, config: Config, *, process_started_at: float | None = None) -> None:
        self.config = config
        self.process_started_at = process_started_at or time.time()
        self._listener: QueueListener | None = None

    def run(self) -> int:
        self._listener = setup_logging(self.config.log_file, self.config.secrets)
        log.info("telebot %s starting (Bot API %s)", __version__, self.config.bot_api_url)
        try:
            store = self._start_parallel()
            try:
                ctx = self._context(store)
                self._poll(ctx)
            finally:
                store.close()
            log.info("telebot stopped cleanly")
            return 0
        finally:
            self._listener.stop()

    def _start_parallel(self) -> Store:
        """Open the store while PTB imports: the two do not depend on each other."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="startup") as pool:
            store_future: Future[Store] = pool.submit(_open_store, self.config)
            _import_bot()
            return store_future.result()

    def _context(self, store: Store) -> BotContext:
        from telebot.tg.auth import Authorizer
        from telebot.tg.bot import BotContext

        ctx = BotContext(
            config=self.config,
            store=store,
            auth=Authorizer(self.config, store),
            process_started_at=self.process_started_at,
        )
        from telebot import wiring

        wiring.install(ctx)
        return ctx

    def _poll(self, ctx: BotContext) -> None:
        from telebot.tg.bot import build_application

        application = build_application(ctx)
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the bot must run in the main thread (signal handling)")
        application.run_polling(
            allowed_updates=["message", "callback_query"],
            stop_signals=(signal.SIGINT, signal.SIGTERM),
            timeout=10,
        )
