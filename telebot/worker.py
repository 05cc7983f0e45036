"""``python -m telebot.worker``: a Celery worker that runs telebot tasks (README "Scale-out").

It reads the same configuration as the bot (``config.env`` and the environment; it needs
``CELERY_BROKER_URL`` and the front's ``BOT_TOKEN``, which opens the sealed task messages and
lets it upload to Telegram itself through ``BOT_API_URL``). It runs the same pipeline as the
bot, in its own ``TaskManager``, on its own ``DOWNLOAD_DIR`` and ``MIRROR_DIR``.

Pool: Celery's ``threads`` pool with ``QUEUE_ALL`` threads (the worker's number of concurrent
tasks). A task body only waits while this process's task threads run the pipeline, so one
process serves all of them and shares one libtorrent session, one Bot API client and the
download/upload slots; ``solo`` would run one task at a time, and ``prefork`` would give each
child its own session and slots (and ``kill -9`` of one child is what reject-on-worker-lost is
for, which the threads pool does not need: the whole process dies, its leases expire within
``WORKER_LOCK_TTL`` and the front sends those tasks again, scale/front.py).

Exit codes: 0 clean stop, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from telebot.botapi.messenger import Messenger
    from telebot.config import Config
    from telebot.engine.manager import TaskManager

log = logging.getLogger("telebot.worker")

# Threads when QUEUE_ALL is 0 (unlimited): the threads pool needs a number.
UNLIMITED_CONCURRENCY = 16


class WorkerTelegram:
    """The worker's own Bot API client: a PTB ``Bot`` on a private event-loop thread behind a
    :class:`Messenger`, built on first use (only leeches and Telegram files need it)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._messenger: Messenger | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> Messenger:
        with self._lock:
            if self._messenger is None:
                self._messenger = self._build()
            return self._messenger

    def _build(self) -> Messenger:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        from telebot.botapi.messenger import Messenger

        cfg = self._config
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="telegram-loop", daemon=True).start()
        # The same timeouts as the bot's application (bot/application.py build_application).
        request = HTTPXRequest(
            connect_timeout=10, read_timeout=30, write_timeout=60, media_write_timeout=600
        )
        bot = Bot(
            cfg.bot_token,
            base_url=f"{cfg.bot_api_url}/bot",
            base_file_url=f"{cfg.bot_api_url}/file/bot",
            local_mode=cfg.bot_api_local,
            request=request,
        )
        asyncio.run_coroutine_threadsafe(bot.initialize(), loop).result(60)
        self._loop = loop
        return Messenger(bot, loop)

    def close(self) -> None:
        with self._lock:
            messenger, loop = self._messenger, self._loop
        if messenger is None or loop is None:
            return
        messenger.closed.set()
        try:
            asyncio.run_coroutine_threadsafe(messenger.bot.shutdown(), loop).result(10)
        except Exception as exc:  # closing on the way out: nothing left to protect
            log.debug("Bot API client shutdown: %s", exc)
        loop.call_soon_threadsafe(loop.stop)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m telebot.worker")
    parser.add_argument(
        "-Q", "--queues", help="comma-separated queues to serve (default: WORKER_QUEUES)"
    )
    parser.add_argument("-n", "--name", help="node name (default: telebot-<pid>@<host>)")
    parser.add_argument(
        "--pool",
        choices=("threads", "solo"),
        default="threads",
        help="Celery pool; solo runs one task at a time (for comparison: bench/scale.py --pool)",
    )
    return parser.parse_args(argv)


def queues_of(config: Config, flag: str | None) -> list[str]:
    """The CLI flag, else WORKER_QUEUES, else what this worker can serve: default and torrent,
    plus leech-local beside a local Bot API server."""
    from telebot.config import parse_queues

    if flag:
        return list(parse_queues(flag))
    if config.worker_queues:
        return list(config.worker_queues)
    return ["default", "torrent", *(["leech-local"] if config.bot_api_local else [])]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # as python -m telebot (docs/TELEGRAM.md, errors)
    from telebot import folders
    from telebot.config import load_config
    from telebot.errors import ConfigError

    args = parse_args(argv)
    try:
        config = load_config()
        if not config.celery_broker_url:
            raise ConfigError("CELERY_BROKER_URL", "is required for a worker")
        queues = queues_of(config, args.queues)
        folders.prepare(config)  # an unusable folder: one line, as for python -m telebot
    except (ConfigError, ValueError) as exc:
        print(f"telebot.worker: config error: {exc}", file=sys.stderr)
        return 2
    name = args.name or f"telebot-{os.getpid()}@{socket.gethostname()}"
    return run_worker(config, queues, name, pool=args.pool)


def run_worker(config: Config, queues: list[str], name: str, pool: str = "threads") -> int:
    from telebot.logs import setup_logging

    listener = setup_logging(config.log_file, config.secrets)
    from telebot import sandbox

    sandbox.start(memory=config.sandbox_memory, storage_threshold=config.storage_threshold,
                  enabled=config.sandbox)
    try:
        return _serve(config, queues, name, pool)
    finally:
        listener.stop()


def _serve(config: Config, queues: list[str], name: str, pool: str) -> int:
    from celery import signals

    from telebot import plugins, sandbox, taskconfig
    from telebot.engine.diskguard import DiskGuard, statvfs_free
    from telebot.engine.limits import Limits
    from telebot.engine.manager import TaskManager
    from telebot.scale.celery_app import make_app
    from telebot.scale.front import connect
    from telebot.scale.protocol import TASK_NAME
    from telebot.scale.worker_side import WorkerSide
    from telebot.settings import overrides
    from telebot.sinks.existing import DuplicateFinder
    from telebot.sinks.telegram import LeechSettings, TelegramSink
    from telebot.sources.torrent.session import TorrentSession
    from telebot.sources.torrent.settings import TorrentSettings

    for folder in (config.download_dir, config.mirror_dir):
        folder.mkdir(parents=True, exist_ok=True)
    telegram = WorkerTelegram(config)
    torrents = TorrentSession(TorrentSettings.from_config(config))
    side = WorkerSide(config, connect(config), name)
    # The front's limits, checked here when the size becomes known (engine/limits.py):
    # exemptions are the front's word in each message; STORAGE_THRESHOLD and STOP_DUPLICATE
    # look at this worker's own disk and MIRROR_DIR.
    finder = DuplicateFinder(config.mirror_dir, config.rclone_config, config.rclone_allowed_roots)
    limits = Limits(
        taskconfig.limit_values(config),
        exempt=side.is_exempt,
        disk=DiskGuard(config.storage_threshold, statvfs_free(config.download_dir)),
        duplicates=finder,
        result_duplicates=finder.of_result,  # -e/-z/-ns results: compared before delivery
    )
    assert limits.disk is not None
    leech_sink = TelegramSink(LeechSettings.from_config(config), telegram.get)
    manager = TaskManager(
        download_dir=config.download_dir,
        # The front's plug-ins, but no menus, no seeding board and no -m groups (plugins.py).
        pipeline=plugins.build_pipeline(
            plugins.Services(config, telegram.get, leech_sink, torrents=torrents, disk=limits.disk)
        ),
        listener=side,
        queue_all=0,  # Celery's threads are the limit
        queue_download=config.queue_download,
        queue_upload=config.queue_upload,
        folder_mode=taskconfig.task_folder_mode(config),
        limits=limits,
        durable_writes=config.durable_writes,
    )
    disk = limits.disk

    def apply_settings(stored: dict[str, str]) -> None:
        """The front's /bsetting overrides over this worker's config.env, as the front applies
        them (wiring.live_settings); QUEUE_ALL is Celery's thread count, fixed at start."""
        current = overrides.apply(config, stored)
        limits.update(taskconfig.limit_values(current))
        disk.set_threshold(current.storage_threshold)
        sandbox.set_storage_threshold(current.storage_threshold)
        manager.set_queue_limits(download=current.queue_download, upload=current.queue_upload)
        leech_sink.default_part_size = current.leech_split_size

    side.attach(manager, apply_settings)
    metrics = worker_metrics(config, manager)
    side.sweep(config.download_dir)  # what a kill -9 of this worker left, if its task is over
    app = make_app(config)

    @app.task(bind=True, name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
    def run(self: Any, *args: Any, **kwargs: Any) -> str:
        # Any arguments: WorkerSide.run refuses (and logs) whatever is not one sealed message,
        # where a fixed signature would make Celery fail a forged message with a traceback.
        return side.run(*args, **kwargs)

    def shutting_down(**_: Any) -> None:
        # Off the signal handler: interrupting the tasks waits for them to save their state.
        threading.Thread(target=side.stop, name="scale-stop", daemon=True).start()

    signals.worker_shutting_down.connect(shutting_down, weak=False)
    concurrency = 1 if pool == "solo" else config.queue_all or UNLIMITED_CONCURRENCY
    log.info("worker %s serving %s with %d threads", name, ",".join(queues), concurrency)
    try:
        app.worker_main(
            [
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                f"--queues={','.join(queues)}",
                f"--hostname={name}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        side.stop()
        if metrics is not None:
            metrics()
        torrents.shutdown()
        telegram.close()
    return 0


def worker_metrics(config: Config, manager: TaskManager) -> Callable[[], None] | None:
    """METRICS_PORT on a worker: the bot's metrics for this process, ``role=worker``, and a
    sampler for its CPU/RSS (a worker runs no other; no heartbeat: nothing reads one here).
    Returns what stops both; None when metrics are off."""
    if not config.metrics_port:
        return None
    from telebot import sandbox
    from telebot.monitor import metrics
    from telebot.monitor.sampler import Sampler
    from telebot.resilience import BREAKERS

    sampler = Sampler(interval=config.sampler_interval, disk_path=config.download_dir)
    sampler.start()
    server = metrics.start(config, metrics.Sources(
        role="worker", manager=manager, sampler=sampler, disk=manager.limits.disk,
        breakers=BREAKERS, sandbox_on=lambda: sandbox.status().on,
        user_labels=config.metrics_user_labels,
    ))
    if server is None:
        sampler.stop()
        return None

    def stop() -> None:
        server.stop()
        sampler.stop()

    return stop


if __name__ == "__main__":
    sys.exit(main())
