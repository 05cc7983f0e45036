"""Installs the capabilities (engine, status, monitoring, task commands) into a BotContext.

Kept apart from app.py so each capability registers its handlers and its start/stop hooks in one
place, and app.py keeps only the start/stop order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psutil

from telebot import sandbox
from telebot.bot.announce import Announcer
from telebot.bot.handlers.cloud import CloudCommands
from telebot.bot.handlers.mediainfo import MediaInfo
from telebot.bot.handlers.monitoring import Monitoring
from telebot.bot.handlers.restart import RestartCommand
from telebot.bot.handlers.seeding import SeedingControls
from telebot.bot.handlers.tasks import ChatListener, TaskCommands
from telebot.bot.menus.bsettings import Applier, BotSettings
from telebot.bot.menus.files import FileMenu
from telebot.bot.menus.quality import QualityMenu
from telebot.bot.menus.usettings import SettingsMenu
from telebot.bot.recent import RecentMessages
from telebot.bot.status import Footer, StatusBoard
from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.engine import taskstate
from telebot.engine.diskguard import DiskGuard, statvfs_free
from telebot.engine.groups import check_folder, group_source_factory
from telebot.engine.limits import Limits as TaskLimits
from telebot.engine.limits import LimitValues
from telebot.engine.manager import TaskManager
from telebot.engine.pipeline import Pipeline, Sink, SinkFactory, StageFactory
from telebot.engine.runner import Runner
from telebot.engine.task import TaskSpec
from telebot.processing.archivecheck import Limits
from telebot.processing.compress import compress_factory
from telebot.processing.extract import extract_factory
from telebot.processing.join import join_factory
from telebot.processing.rename import rename_stage_factory
from telebot.settings import overrides
from telebot.sinks.duplicates import DuplicateFinder
from telebot.sinks.local import LocalSink
from telebot.sinks.rclone.clone import clone_source_factory
from telebot.sinks.rclone.remotes import looks_remote, remote_names
from telebot.sinks.rclone.settings import RcloneSettings
from telebot.sinks.rclone.sink import RcloneSink
from telebot.sinks.telegram import LeechSettings, TelegramSink
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import direct_link_factory
from telebot.sources.tgfile import TelegramFileSettings, telegram_file_factory
from telebot.sources.torrent.choose import FileChooser
from telebot.sources.torrent.metainfo import torrent_source_factory
from telebot.sources.torrent.seeding import Seeding
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.sources.ytdl.source import QualityChooser, ytdl_factory

if TYPE_CHECKING:
    from telebot.bot.application import BotContext
    from telebot.store import Store


log = logging.getLogger(__name__)


def local_sink_factory(config: Config) -> SinkFactory:
    sink = LocalSink(config.mirror_dir, durable=config.durable_writes)

    def factory(spec: TaskSpec) -> Sink | None:
        return sink if spec.kind == "mirror" and spec.upload in (None, "local") else None

    return factory


def group_member_sink_factory(config: Config) -> SinkFactory:
    """-m members place their results into their group's folder, with the local sink's
    no-replace, crash-safe placing (engine/groups.py); the group's delivery task delivers."""

    def factory(spec: TaskSpec) -> Sink | None:
        if spec.group is None or spec.group_folder is None:
            return None
        return LocalSink(
            config.download_dir / spec.group / check_folder(spec.group_folder),
            durable=config.durable_writes,
        )

    return factory


def rclone_sink_factory(config: Config) -> SinkFactory:
    sink = RcloneSink(RcloneSettings.from_config(config))

    def factory(spec: TaskSpec) -> Sink | None:
        wanted = spec.kind in ("mirror", "clone") and looks_remote(spec.upload)
        return sink if wanted else None

    return factory


def telegram_sink_factory(
    config: Config, messenger: Callable[[], Messenger], sink: TelegramSink | None = None
) -> SinkFactory:
    sink = sink or TelegramSink(LeechSettings.from_config(config), messenger)

    def factory(spec: TaskSpec) -> Sink | None:
        return sink if spec.kind == "leech" else None

    return factory


def stage_factories(config: Config, leech_sink: TelegramSink) -> list[StageFactory]:
    """The processing stages, in the order they run: join before extract before compress.
    ``leech_sink`` gives a leech's part size, the size of -z's volumes."""
    return [
        join_factory(),
        extract_factory(Limits.from_config(config)),
        # Renaming (-ns, prefix/suffix) and skipped extensions act on the final result...
        rename_stage_factory,
        # ...which -z archives last: the archive holds the renamed files and takes their name.
        compress_factory(
            lambda spec: leech_sink.part_size_for(spec) if spec.kind == "leech" else None
        ),
    ]


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


def build_limits(ctx: BotContext) -> TaskLimits:
    """USER_TASKS_LIMIT, the size limits (sudo exempt), STORAGE_THRESHOLD and STOP_DUPLICATE."""
    cfg = ctx.config
    cfg.download_dir.mkdir(parents=True, exist_ok=True)  # statvfs needs it (app.py makes it too)
    finder = DuplicateFinder(cfg.mirror_dir, cfg.rclone_config, cfg.rclone_allowed_roots)
    sandbox.set_storage_threshold(cfg.storage_threshold)  # with /bsetting's stored value
    return TaskLimits(
        limit_values(cfg),
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


def build_pipeline(
    cfg: Config,
    messenger: Callable[[], Messenger],
    torrents: TorrentSession,
    *,
    quality: QualityChooser | None,
    chooser: FileChooser | None,
    seeding: Seeding | None,
    disk: DiskGuard | None = None,
    leech_sink: TelegramSink | None = None,
    store: Store | None = None,
) -> Pipeline:
    """Sources, stages and sinks: the same for the bot and for a Celery worker
    (``telebot/worker.py``, which has no menus to ask users from and no seeding board).
    ``disk`` is the STORAGE_THRESHOLD guard the sources pause or refuse on; ``leech_sink`` is
    passed in where /bsetting changes its part size live; ``store`` (the bot's, not a
    worker's) holds -m groups, whose members meet in one folder on this host."""
    leech_sink = leech_sink or TelegramSink(LeechSettings.from_config(cfg), messenger)
    groups = [group_source_factory(store)] if store is not None else []
    members = [group_member_sink_factory(cfg)] if store is not None else []
    telegram = TelegramFileSettings.from_config(cfg)
    return Pipeline(
        sources=[
            *groups,  # a -m group's delivery: its members' folder
            # First: a /clone task's source ("tg:x", "magnet:x") names a remote, not a link.
            clone_source_factory(RcloneSettings.from_config(cfg)),
            # First: it takes only /ytdl specs.
            ytdl_factory(YtdlSettings.from_config(cfg), lambda: quality, disk=disk),
            # First: a Telegram .torrent document or a .torrent link is a torrent, not a file.
            torrent_source_factory(
                telegram, torrents, messenger, chooser=chooser, seeding=seeding, disk=disk
            ),
            telegram_file_factory(telegram, messenger, disk=disk),
            direct_link_factory(HttpSettings.from_config(cfg), disk=disk),
        ],
        sinks=[
            *members,  # first: a -m member's result joins its group
            local_sink_factory(cfg),
            rclone_sink_factory(cfg),
            telegram_sink_factory(cfg, messenger, leech_sink),
        ],
        stages=stage_factories(cfg, leech_sink),
    )


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


def install(ctx: BotContext) -> None:
    """Attach every capability this build has to ``ctx``."""
    base = ctx.config
    # /bsetting overrides from the database, over config.env (telebot/settings/overrides.py).
    ctx.config = cfg = overrides.apply(base, ctx.store.bot_settings())
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
    pipeline = build_pipeline(
        cfg, lambda: ctx.bridge, torrents, quality=quality, chooser=file_menu, seeding=seeding,
        disk=limits.disk, leech_sink=leech_sink, store=ctx.store,
    )
    manager = TaskManager(
        download_dir=cfg.download_dir,
        pipeline=pipeline,
        listener=ChatListener(cfg, lambda: ctx.bridge, board, announcer),
        store=ctx.store,
        # Front mode sends every task to the broker at once: the workers' threads are the limit.
        queue_all=0 if cfg.celery_broker_url else cfg.queue_all,
        queue_download=cfg.queue_download,
        queue_upload=cfg.queue_upload,
        folder_mode=task_folder_mode(cfg),
        runner=runner,
        limits=limits,
        durable_writes=cfg.durable_writes,
    )
    # A task waiting on a menu gives its download slot to the others meanwhile.
    file_menu.outside_queue = quality.outside_queue = manager.outside_queue
    recent = RecentMessages()  # what -i looks up
    ctx.on_message.append(recent.remember)
    commands = TaskCommands(
        cfg,
        manager,
        board,
        leech_available=True,
        quality=quality,
        recent=recent,
        announcer=announcer,
    )
    monitoring = Monitoring.create(cfg, manager)
    ctx.extra_handlers.update(
        mirror=commands.mirror,
        leech=commands.leech,
        ytdl=commands.ytdl,
        ytdlleech=commands.ytdl_leech,
        status=seed_controls.status_command(commands.status),
        cancel=seed_controls.cancel_command(commands.cancel),
        cancelall=commands.cancel_all,
        stats=monitoring.stats,
    )
    live = shared_settings(
        runner, live_settings(cfg, board, manager, limits, leech_sink), ctx.store.bot_settings
    )
    settings = BotSettings(base, cfg, ctx.store, live)
    ctx.extra_handlers["bsetting"] = settings.command
    restart = RestartCommand(cfg.database_path)
    ctx.extra_handlers["restart"] = restart.restart
    ctx.on_started.append(restart.announce)
    ctx.extra_handlers["mediainfo"] = MediaInfo(cfg, lambda: ctx.bridge).command
    cloud = CloudCommands(cfg, manager)
    ctx.extra_handlers.update(
        {"clone": cloud.clone, "count": cloud.count, "list": cloud.search, "del": cloud.delete}
    )
    ctx.callback_handler = cloud.callbacks(
        seed_controls.callbacks(file_menu, commands.on_callback)
    )
    settings_menu = SettingsMenu(cfg, ctx.store, lambda: ctx.bridge, ctx.auth.is_sudo)
    ctx.extra_handlers["usetting"] = settings_menu.command
    ctx.callback_handler = settings_menu.callbacks(ctx.callback_handler)
    ctx.message_handler = settings_menu.on_message
    ctx.callback_handler = settings.callbacks(ctx.callback_handler)  # /bsetting's buttons
    ctx.on_poll.append(monitoring.sampler.note_poll)

    restorer = Restorer(manager)
    ctx.on_polling.append(restorer.polling_started)

    def started(_ctx: BotContext) -> None:
        monitoring.start(_ctx.loop)
        board.start()
        announcer.resend_pending()  # what a crash or restart kept from being sent
        seeding.restore()  # -d torrents that seeded when the bot stopped seed on
        remote_names(cfg.rclone_config)  # registers the config's secrets with the redactor
        restorer.start()

    def stopping() -> None:
        manager.shutdown()  # first: a restore still running stops at its next row
        restorer.stop()
        announcer.stop()  # sends what the interrupted tasks said, while the bot can
        seeding.shutdown()
        torrents.shutdown()  # after the tasks: they save their own resume data first
        board.stop()
        monitoring.stop()

    ctx.on_started.append(started)
    ctx.on_stopping.append(stopping)
