"""Wiring and start/stop order: the one place that knows every part.

Start: logging → (store + folders ‖ importing PTB) → Application → getMe (retried while the
Bot API is unreachable; a rejected token is a config error) → long polling.
Stop (SIGINT/SIGTERM, handled by PTB's run_polling): polling stops → ``post_stop`` hooks cancel
and join the workers while the Bot API client still works → the store and the log queue close.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from logging.handlers import QueueListener
from typing import TYPE_CHECKING, Any

from telebot import __version__, startgc
from telebot.config import Config
from telebot.logs import setup_logging
from telebot.pythoncheck import tarfile_warning
from telebot.store import Store
from telebot.tlscontext import client_context

if TYPE_CHECKING:
    from telegram.ext import Application

    from telebot.bot.context import BotContext
    from telebot.bot.feature import Feature

log = logging.getLogger("telebot")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _open_store(config: Config) -> Store:
    for folder in (config.download_dir, config.mirror_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return Store(config.database_path, secret_key=config.bot_token)


def _import_bot() -> None:
    # The heaviest import of start-up (~0.3 s, mostly telegram.ext and httpx).
    _import_httpcore_without_trio()
    import telebot.bot.application  # noqa: F401


def _import_httpcore_without_trio() -> None:
    """httpcore (PTB's HTTP client) imports trio whenever it is installed, only to support
    trio's event loop: ~40-100 ms of start-up on this machine (bench/startup.py) for a bot that
    runs on asyncio. Hide trio for that one import; a later ``import trio`` works as usual."""
    if "trio" in sys.modules or "httpcore" in sys.modules:
        return
    sys.modules["trio"] = None  # type: ignore[assignment]  # makes "import trio" fail fast
    try:
        import httpcore  # noqa: F401
    finally:
        if sys.modules.get("trio", 0) is None:
            del sys.modules["trio"]


class App:
    """One bot instance, from start to clean exit."""

    def __init__(self, config: Config, *, process_started_at: float | None = None) -> None:
        self.config = config
        self.process_started_at = process_started_at or time.time()
        self._listener: QueueListener | None = None
        self.restart_requested = False  # /restart: the caller re-executes after run() returns

    def run(self) -> int:
        self._listener = setup_logging(self.config.log_file, self.config.secrets)
        log.info("telebot %s starting (Bot API %s)", __version__, self.config.bot_api_url)
        if (weak := tarfile_warning()) is not None:
            log.warning("%s", weak)
        from telebot import sandbox

        cfg = self.config
        sandbox.start(memory=cfg.sandbox_memory, storage_threshold=cfg.storage_threshold,
                      enabled=cfg.sandbox)
        try:
            store, tls = self._start_parallel()
            try:
                ctx, features = self._context(store)
                try:
                    self._poll(ctx, features, tls)
                except SystemExit:
                    # A second stop signal while PTB was stopping: PTB raises SystemExit from
                    # inside its shutdown. Stopping was asked for twice; a /restart among the
                    # two must still re-execute (below), not leave the bot gone with exit 0.
                    log.warning("a second stop signal cut the shutdown short")
                finally:
                    self.restart_requested = ctx.restart_requested
            finally:
                store.close()
            log.info("telebot stopped cleanly%s", "; restarting" if self.restart_requested else "")
            return 0
        finally:
            self._listener.stop()

    def _start_parallel(self) -> tuple[Store, ssl.SSLContext]:
        """Open the store and make the Bot API clients' TLS context while PTB imports: none
        depends on another, and SQLite's and OpenSSL's file work runs without the GIL."""
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="startup") as pool:
            store_future: Future[Store] = pool.submit(_open_store, self.config)
            tls_future: Future[ssl.SSLContext] = pool.submit(client_context)
            _import_bot()
            store = store_future.result()
            try:
                return store, tls_future.result()
            except BaseException:
                store.close()
                raise

    def _context(self, store: Store) -> tuple[BotContext, list[Feature]]:
        """The handlers' context and the features of this build (wiring.py)."""
        from telebot import wiring
        from telebot.bot.context import BotContext
        from telebot.intake.auth import Authorizer
        from telebot.settings import overrides

        ctx = BotContext(
            # /bsetting overrides from the database, over config.env (settings/overrides.py).
            config=overrides.apply(self.config, store.bot_settings()),
            store=store,
            auth=Authorizer(self.config, store),
            process_started_at=self.process_started_at,
        )
        return ctx, wiring.features(ctx, base=self.config)

    def _poll(self, ctx: BotContext, features: list[Feature], tls: ssl.SSLContext) -> None:
        from telebot.bot.application import build_application

        application = build_application(ctx, features, tls=tls)
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the bot must run in the main thread (signal handling)")
        if not self._connect(application):
            log.info("stopped before the Bot API answered")
            return
        # A new owner's first question after start: where do files go, and what now?
        log.info(
            "ready: downloads go to %s, mirrors to %s; send /start to @%s in Telegram",
            self.config.download_dir.absolute(), self.config.mirror_dir.absolute(),
            application.bot.username,
        )
        # run_polling takes the loop _connect set and skips initialize(): it has succeeded.
        application.run_polling(
            allowed_updates=["message", "callback_query"],
            stop_signals=STOP_SIGNALS,
            timeout=10,
        )

    def _connect(self, application: Application[Any, Any, Any, Any, Any, Any]) -> bool:
        """Initialize the application (getMe) on a fresh loop, retrying an unreachable Bot API
        until SIGINT/SIGTERM. False when stopped first; ConfigError when the token is refused.
        """
        from telebot.botapi.startup import connect

        async def initialize() -> None:
            try:
                await application.initialize()
            except BaseException:
                startgc.resume()  # retrying may take minutes: no start-up to speed up now
                raise

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        stop = asyncio.Event()
        # run_polling installs its own handlers for the same signals over these ones.
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        try:
            connected = loop.run_until_complete(
                connect(initialize, self.config.bot_api_url, stop)
            )
        except BaseException:
            loop.close()
            raise
        if not connected:
            loop.close()
        return connected
