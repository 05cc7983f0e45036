"""Installs the capabilities (engine, status, monitoring, task commands) into a BotContext.

Kept apart from app.py so each capability registers its handlers and its start/stop hooks in one
place, and app.py keeps only the start/stop order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import psutil

from telebot.config import Config
from telebot.engine import taskstate
from telebot.engine.groups import check_folder, group_source_factory
from telebot.engine.manager import TaskManager
from telebot.engine.pipeline import Pipeline, Sink, SinkFactory, StageFactory
from telebot.engine.task import TaskSpec
from telebot.processing.archivecheck import Limits
from telebot.processing.extract import extract_factory
from telebot.processing.join import join_factory
from telebot.sinks.clone import clone_source_factory
from telebot.sinks.local import LocalSink
from telebot.sinks.rclone import RcloneSink
from telebot.sinks.remotes import looks_remote, remote_names
from telebot.sinks.telegram import TelegramSink
from telebot.sources.direct import direct_link_factory
from telebot.sources.tgfile import telegram_file_factory
from telebot.sources.torrent.metainfo import torrent_source_factory
from telebot.sources.torrent.seeding import Seeding
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings
from telebot.sources.ytdl import ytdl_factory
from telebot.telegram.messenger import Messenger
from telebot.tg.announce import Announcer
from telebot.tg.cloud import CloudCommands
from telebot.tg.mediainfo import MediaInfo
from telebot.tg.monitoring import Monitoring
from telebot.tg.quality import QualityMenu
from telebot.tg.recent import RecentMessages
from telebot.tg.select import FileMenu
from telebot.tg.status import Footer, StatusBoard
from telebot.tg.tasks import ChatListener, TaskCommands
from telebot.tg.torrents import SeedingControls

if TYPE_CHECKING:
    from telebot.tg.bot import BotContext


log = logging.getLogger(__name__)


def local_sink_factory(config: Config) -> SinkFactory:
    sink = LocalSink(config.mirror_dir)

    def factory(spec: TaskSpec) -> Sink | None:
        return sink if spec.kind == "mirror" and spec.upload in (None, "local") else None

    return factory


def group_member_sink_factory(config: Config) -> SinkFactory:
    """-m members place their results into their group's folder, with the local sink's
    no-replace, crash-safe placing (engine/groups.py); the group's delivery task delivers."""

    def factory(spec: TaskSpec) -> Sink | None:
        if spec.group is None or spec.group_folder is None:
            return None
        return LocalSink(config.download_dir / spec.group / check_folder(spec.group_folder))

    return factory


def rclone_sink_factory(config: Config) -> SinkFactory:
    sink = RcloneSink(config.rclone_config, config.index_url)

    def factory(spec: TaskSpec) -> Sink | None:
        wanted = spec.kind in ("mirror", "clone") and looks_remote(spec.upload)
        return sink if wanted else None

    return factory


def telegram_sink_factory(config: Config, messenger: Callable[[], Messenger]) -> SinkFactory:
    sink = TelegramSink(config, messenger)

    def factory(spec: TaskSpec) -> Sink | None:
        return sink if spec.kind == "leech" else None

    return factory


def stage_factories(config: Config) -> list[StageFactory]:
    """The processing stages, in the order they run: join before extract before compress."""
    limits = Limits(max_ratio=config.extract_max_ratio, max_files=config.extract_max_files)
    return [
        join_factory(),
        extract_factory(limits),
    ]


def task_folder_mode(config: Config) -> int:
    """Owner-only task folders, except that a local Bot API server must open leech parts."""
    return taskstate.TRAVERSE_ONLY_MODE if config.bot_api_local else taskstate.PRIVATE_MODE


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


def install(ctx: BotContext) -> None:
    """Attach every capability this build has to ``ctx``."""
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
    announcer = Announcer(lambda: ctx.bridge)  # completions, gathered per chat
    pipeline = Pipeline(
        sources=[
            group_source_factory(ctx.store),  # a -m group's delivery: its members' folder
            # First: a /clone task's source ("tg:x", "magnet:x") names a remote, not a link.
            clone_source_factory(cfg.rclone_config),
            ytdl_factory(cfg, lambda: quality),  # first: it takes only /ytdl specs (tool)
            # First: a Telegram .torrent document or a .torrent link is a torrent, not a file.
            torrent_source_factory(
                cfg, torrents, lambda: ctx.bridge, chooser=file_menu, seeding=seeding
            ),
            telegram_file_factory(cfg, lambda: ctx.bridge),
            direct_link_factory(cfg),
        ],
        sinks=[
            group_member_sink_factory(cfg),  # first: a -m member's result joins its group
            local_sink_factory(cfg),
            rclone_sink_factory(cfg),
            telegram_sink_factory(cfg, lambda: ctx.bridge),
        ],
        stages=stage_factories(cfg),
    )
    manager = TaskManager(
        download_dir=cfg.download_dir,
        pipeline=pipeline,
        listener=ChatListener(cfg, lambda: ctx.bridge, board, announcer),
        store=ctx.store,
        queue_all=cfg.queue_all,
        queue_download=cfg.queue_download,
        queue_upload=cfg.queue_upload,
        folder_mode=task_folder_mode(cfg),
    )
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
    ctx.extra_handlers["mediainfo"] = MediaInfo(cfg, lambda: ctx.bridge).command
    cloud = CloudCommands(cfg, manager)
    ctx.extra_handlers.update(
        {"clone": cloud.clone, "count": cloud.count, "list": cloud.search, "del": cloud.delete}
    )
    ctx.callback_handler = cloud.callbacks(
        seed_controls.callbacks(file_menu, commands.on_callback)
    )
    ctx.on_poll.append(monitoring.sampler.note_poll)

    restorer = Restorer(manager)
    ctx.on_polling.append(restorer.polling_started)

    def started(_ctx: BotContext) -> None:
        monitoring.start(_ctx.loop)
        board.start()
        seeding.clear_leftovers()  # seeding does not survive a restart
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
