"""The front's assembly: this process's engine, and the list of the bot's features.

The plug-ins come from ``plugins.py`` (shared with the Celery worker); the chat side's
handlers and hooks are declared by each feature (``bot/feature.py``) and registered by
``bot/application.py``. What is here is what only the front has: the task manager with its
status board, announcer, seeding and restore, the /bsetting appliers, and the order of the
feature list (which is the order features start in, and the reverse of the order they stop in).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telebot import sandbox, taskconfig
from telebot.bot.announce import Announcer
from telebot.bot.chatperms import check_can_post
from telebot.bot.feature import CommandSet, Feature, Handler
from telebot.bot.handlers.cloud import CloudCommands
from telebot.bot.handlers.mediainfo import LinkReader, MediaInfo
from telebot.bot.handlers.monitoring import Monitoring
from telebot.bot.handlers.restart import RestartCommand
from telebot.bot.handlers.rss import RssFeature
from telebot.bot.handlers.search import SearchCommand
from telebot.bot.handlers.seeding import SeedingControls
from telebot.bot.handlers.tasks import TaskCommands
from telebot.bot.listener import ChatListener
from telebot.bot.menus.bsettings import Applier, BotSettings
from telebot.bot.menus.files import FileMenu
from telebot.bot.menus.quality import QualityMenu
from telebot.bot.menus.usettings import SettingsMenu
from telebot.bot.recent import RecentMessages
from telebot.bot.status import CALLBACK_PREFIX as STATUS_PREFIX
from telebot.bot.status import Footer, StatusBoard
from telebot.config import Config
from telebot.engine.diskguard import DiskGuard, statvfs_free
from telebot.engine.limits import Limits as TaskLimits
from telebot.engine.manager import TaskManager
from telebot.engine.pipeline import LazyPipeline, Pipeline
from telebot.engine.runner import Runner
from telebot.intake.desk import Intake
from telebot.intake.specs import SpecBuilder
from telebot.sinks.existing import DuplicateFinder
from telebot.sinks.rclone.remotes import remote_names
from telebot.sinks.telegram import LeechSettings, TelegramSink
from telebot.sources.torrent.seeding import Seeding
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings

if TYPE_CHECKING:
    from telebot.bot.context import BotContext
    from telebot.feeds.torznab.client import TorznabClient


log = logging.getLogger(__name__)


def link_ranges(cfg: Config) -> LinkReader:
    """/mediainfo's reader of links: the HTTP plug-in's, imported on the first /mediainfo."""
    from telebot.sources.http.settings import HttpSettings
    from telebot.sources.http.source import LinkRanges

    return LinkRanges(HttpSettings.from_config(cfg))


def torznab_client(cfg: Config) -> TorznabClient:
    """/search's client of the TORZNAB_URL indexers, made on the first /search."""
    from telebot.feeds.torznab.client import TorznabClient, indexers_of

    return TorznabClient(indexers_of(cfg.torznab_urls, cfg.torznab_api_keys))


def build_limits(ctx: BotContext) -> TaskLimits:
    """USER_TASKS_LIMIT, the size limits (sudo exempt), STORAGE_THRESHOLD and STOP_DUPLICATE."""
    cfg = ctx.config
    cfg.download_dir.mkdir(parents=True, exist_ok=True)  # statvfs needs it (app.py makes it too)
    finder = DuplicateFinder(cfg.mirror_dir, cfg.rclone_config, cfg.rclone_allowed_roots)
    sandbox.set_storage_threshold(cfg.storage_threshold)  # with /bsetting's stored value
    return TaskLimits(
        taskconfig.limit_values(cfg),
        exempt=ctx.auth.is_sudo,
        disk=DiskGuard(cfg.storage_threshold, statvfs_free(cfg.download_dir)),
        duplicates=finder,
        result_duplicates=finder.of_result,
    )


def live_settings(
    cfg: Config,
    board: StatusBoard,
    manager: TaskManager,
    limits: TaskLimits,
    leech_sink: TelegramSink,
) -> dict[str, Applier]:
    """How each /bsetting setting takes effect without a restart (bot/menus/bsettings.py)."""

    def attr(target: object, name: str) -> Applier:
        def apply(value: Any) -> bool:
            setattr(target, name, value)
            return True

        return apply

    def limit(field: str) -> Applier:
        def apply(value: Any) -> bool:
            limits.update(limits.values.with_(**{field: value}))
            return True

        return apply

    disk = limits.disk
    assert disk is not None  # build_limits always makes one

    def threshold(value: int) -> bool:
        disk.set_threshold(value)
        sandbox.set_storage_threshold(value)  # boxed tools' file size limit follows it
        return True

    def max_download(value: int | None) -> bool:
        limits.update(limits.values.with_(max_download=value))
        # Sources keep the value they started with, so a higher limit needs a restart; a lower
        # one holds now (checked when the size becomes known, engine/limits.py).
        start = cfg.max_download_size
        return start is None or (value is not None and value <= start)

    return {
        "STATUS_UPDATE_INTERVAL": attr(board, "interval"),
        "STATUS_LIMIT": lambda value: attr(board, "per_page")(max(1, value)),
        "QUEUE_ALL": lambda value: manager.set_queue_limits(queue_all=value),
        "QUEUE_DOWNLOAD": lambda value: manager.set_queue_limits(download=value),
        "QUEUE_UPLOAD": lambda value: manager.set_queue_limits(upload=value),
        "LEECH_SPLIT_SIZE": attr(leech_sink, "default_part_size"),
        "MAX_DOWNLOAD_SIZE": max_download,
        "STORAGE_THRESHOLD": threshold,
        "USER_TASKS_LIMIT": limit("user_tasks"),
        "DIRECT_LIMIT": limit("direct"),
        "TORRENT_LIMIT": limit("torrent"),
        "YTDL_LIMIT": limit("ytdl"),
        "LEECH_LIMIT": limit("leech"),
        "STOP_DUPLICATE": limit("stop_duplicate"),
    }


def footer_for(ctx: BotContext) -> Footer:
    import time

    import psutil  # the status board's first refresh, not start-up, pays for the import

    disk = psutil.disk_usage(str(ctx.config.download_dir))
    return Footer(
        cpu=psutil.cpu_percent(interval=None),
        disk_free=disk.free,
        ram=psutil.virtual_memory().percent,
        uptime=time.monotonic() - ctx.started_at,
    )


class Restorer:
    """Runs :meth:`TaskManager.restore` on its own thread once polling has started.

    Restoring reads the journal and announces every resumed task ("Resuming ..."), each message
    waiting its turn in the chat's rate limit; done before polling (in post_init) that delayed
    the first getUpdates, and so the answers to users and the health check, by seconds per task.
    """

    # Ceiling for joining the thread at shutdown; it stops at its next row, so this is ample.
    JOIN_TIMEOUT = 10.0

    def __init__(self, manager: TaskManager) -> None:
        self._manager = manager
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restore", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def polling_started(self) -> None:
        """Hook for the first getUpdates (called on the loop: only sets an event)."""
        self._go.set()

    def stop(self) -> None:
        self._go.set()  # never started polling: let the thread see the shutdown and end
        if self._thread.is_alive():
            self._thread.join(self.JOIN_TIMEOUT)

    def _run(self) -> None:
        self._go.wait()
        try:
            restored = self._manager.restore()
        except Exception:  # a damaged journal must not keep the bot from answering
            log.exception("restoring unfinished tasks failed")
            return
        if restored:
            log.info("resumed %d unfinished task(s)", len(restored))


def front_runner(
    cfg: Config, exempt: Callable[[int], bool] = lambda user_id: False
) -> Runner | None:
    """With CELERY_BROKER_URL, tasks run on Celery workers; else (None) on this process's
    threads. Celery and Redis are imported only here, only in front mode. ``exempt`` (the
    bot's auth) travels in each task message: workers check the size limits."""
    if not cfg.celery_broker_url:
        return None
    from telebot.scale.front import CeleryRunner

    return CeleryRunner(cfg, exempt=exempt)


def shared_settings(
    runner: Runner | None, live: dict[str, Applier], stored: Callable[[], dict[str, str]]
) -> dict[str, Applier]:
    """In front mode, ``live`` with every /bsetting change also published to the workers (and
    the current overrides published now); else ``live`` itself."""
    if runner is None or not runner.remote:
        return live
    from telebot.scale.front import CeleryRunner

    assert isinstance(runner, CeleryRunner)
    runner.publish_settings(stored())
    return runner.sharing(live, stored)




@dataclass
class Tasks(Feature):
    """The task commands and the engine they drive: /mirror, /leech, /ytdl, /ytdlleech, /status,
    /cancel, /cancelall and the status board's buttons (seeding tasks share the board, /status
    and /cancel); the board, announcer, seeding, libtorrent and restore start and stop with it.
    """

    config: Config
    tasks: TaskCommands
    seed_controls: SeedingControls
    manager: TaskManager
    board: StatusBoard
    announcer: Announcer
    seeding: Seeding
    torrents: TorrentSession
    restorer: Restorer
    recent: RecentMessages
    pipeline: LazyPipeline

    def commands(self) -> Mapping[str, Handler]:
        tasks, seeding = self.tasks, self.seed_controls
        return {
            "mirror": tasks.mirror,
            "leech": tasks.leech,
            "ytdl": tasks.ytdl,
            "ytdlleech": tasks.ytdl_leech,
            "status": seeding.status_command(tasks.status),
            "cancel": seeding.cancel_command(tasks.cancel),
            "cancelall": tasks.cancel_all,
        }

    def buttons(self) -> Mapping[str, Handler]:
        return {STATUS_PREFIX: self.seed_controls.status_buttons(self.tasks.on_callback)}

    def remember(self, chat_id: int, message: Any) -> None:
        self.recent.remember(chat_id, message)  # what -i looks up

    def polling_started(self) -> None:
        self.pipeline.warm()  # the plug-ins, imported once the first getUpdates is out
        self.restorer.polling_started()

    def started(self, ctx: BotContext) -> None:
        self.board.start()
        self.announcer.resend_pending()  # what a crash or restart kept from being sent
        self.seeding.restore()  # -d torrents that seeded when the bot stopped seed on
        remote_names(self.config.rclone_config)  # registers the config's secrets with the redactor
        self.restorer.start()

    def stopping(self) -> None:
        self.manager.shutdown()  # first: a restore still running stops at its next row
        self.restorer.stop()
        self.announcer.stop()  # sends what the interrupted tasks said, while the bot can
        self.seeding.shutdown()
        self.torrents.shutdown()  # after the tasks: they save their own resume data first
        self.board.stop()


def features(ctx: BotContext, base: Config) -> list[Feature]:
    """Build this front's engine and list the bot's features, in the order they start.
    ``base`` is config.env alone; ``ctx.config`` has the /bsetting overrides over it."""
    cfg = ctx.config
    board = StatusBoard(
        snapshots=lambda chat_id: manager.snapshots(chat_id) + seeding.snapshots(chat_id),
        messenger=lambda: ctx.bridge,
        footer=lambda: footer_for(ctx),
        interval=cfg.status_update_interval,
        per_page=max(1, cfg.status_limit),
    )
    file_menu = FileMenu(lambda: ctx.bridge)  # -s: torrent file selection
    torrents = TorrentSession(TorrentSettings.from_config(cfg))  # libtorrent starts on first use
    seeding = Seeding(torrents, cfg.download_dir)  # -d: seeds on after delivery
    seed_controls = SeedingControls(seeding, board, lambda: ctx.bridge)
    seeding.notify = seed_controls.notify
    quality = QualityMenu(lambda: ctx.bridge)  # /ytdl quality menu
    limits = build_limits(ctx)
    runner = front_runner(cfg, exempt=ctx.auth.is_sudo)
    leech_sink = TelegramSink(LeechSettings.from_config(cfg), lambda: ctx.bridge)
    # Completions, gathered per chat; owed ones journaled in the store's outbox until sent.
    announcer = Announcer(lambda: ctx.bridge, outbox=ctx.store, lead=True)

    def build_pipeline() -> Pipeline:
        from telebot import plugins  # the plug-ins and their libraries: after polling began

        return plugins.build_pipeline(plugins.Services(
            cfg, lambda: ctx.bridge, leech_sink, torrents=torrents, disk=limits.disk,
            quality=quality, chooser=file_menu, seeding=seeding, store=ctx.store,
        ))

    pipeline = LazyPipeline(build_pipeline)
    manager = TaskManager(
        download_dir=cfg.download_dir,
        pipeline=pipeline,
        listener=ChatListener(cfg, lambda: ctx.bridge, board, announcer),
        store=ctx.store,
        # Front mode sends every task to the broker at once: the workers' threads are the limit.
        queue_all=0 if cfg.celery_broker_url else cfg.queue_all,
        queue_download=cfg.queue_download,
        queue_upload=cfg.queue_upload,
        folder_mode=taskconfig.task_folder_mode(cfg),
        runner=runner,
        limits=limits,
        durable_writes=cfg.durable_writes,
    )
    # A task waiting on a menu gives its download slot to the others meanwhile.
    file_menu.outside_queue = quality.outside_queue = manager.outside_queue
    recent = RecentMessages()  # what -i looks up
    intake = Intake(  # the one entry for tasks: chat commands now, feeds and search next
        cfg, ctx.store, ctx.auth, SpecBuilder(cfg, pipeline), manager,
        can_post=lambda chat, user, sudo: check_can_post(ctx.bridge, chat, user, sudo),
    )
    commands = TaskCommands(
        cfg,
        manager,
        board,
        intake,
        recent=recent,
        announcer=announcer,
    )
    live = shared_settings(
        runner, live_settings(cfg, board, manager, limits, leech_sink), ctx.store.bot_settings
    )
    return [
        RestartCommand(cfg.database_path),  # first: says "Restarted" before anything else
        Monitoring.create(cfg, manager),  # stops last: /stats and the heartbeat to the end
        Tasks(cfg, commands, seed_controls, manager, board, announcer, seeding, torrents,
              Restorer(manager), recent, pipeline),
        file_menu,
        quality,
        BotSettings(base, cfg, ctx.store, live),
        CloudCommands(cfg, manager),
        SettingsMenu(cfg, ctx.store, lambda: ctx.bridge, ctx.auth.is_sudo),
        CommandSet({"mediainfo": MediaInfo(cfg, lambda: ctx.bridge, lambda: link_ranges(cfg))
                    .command}),
        SearchCommand(  # /search: None without TORZNAB_URL (it then says what to set)
            (lambda: torznab_client(cfg)) if cfg.torznab_urls else None,
            commands,
        ),
        RssFeature(cfg, ctx, intake),  # after Tasks: its poller stops before the engine
    ]
