"""The plug-in list: every source, stage and sink a task may use, in the order they are asked.

The bot (``wiring.py``) and a Celery worker (``worker.py``) both build their pipeline here, from
the same three lists, so a task runs the same plug-ins wherever it runs. Each entry is a name
and a maker: ``make(services)`` gives the plug-in's factory, or None when this process cannot
offer it (a worker has no store, so no -m groups). The order is meaning: a
:class:`~telebot.engine.pipeline.Pipeline` asks the source and sink factories in order and the
first that takes the spec wins; stages run in list order.

Adding a source: write it in its folder (``sources/<name>/``, importing only ``engine.task``,
``engine.pipeline`` and ``engine.runner``) with a factory, and add one line to :data:`SOURCES`
where it must be asked.

The front imports this module only when it first builds its pipeline, after polling began
(``engine.pipeline.LazyPipeline``): importing every plug-in, and requests, urllib3 and
libtorrent with them, is a third of what the bot imports beyond python-telegram-bot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

from telebot.config import Config
from telebot.engine.groups import check_folder, group_source_factory
from telebot.engine.pipeline import Pipeline, Sink, SinkFactory, SourceFactory, StageFactory
from telebot.engine.task import TaskSpec
from telebot.processing.archivecheck import Limits
from telebot.processing.compress import compress_factory
from telebot.processing.extract import extract_factory
from telebot.processing.join import join_factory
from telebot.processing.media.convert import convert_factory
from telebot.processing.media.metadata import metadata_factory
from telebot.processing.media.presets import presets_factory
from telebot.processing.media.sample import sample_factory
from telebot.processing.media.screenshots import screenshots_factory
from telebot.processing.rename import rename_stage_factory
from telebot.sinks.local import LocalSink
from telebot.sinks.rclone.clone import clone_source_factory
from telebot.sinks.rclone.remotes import looks_remote
from telebot.sinks.rclone.settings import RcloneSettings
from telebot.sinks.rclone.sink import RcloneSink
from telebot.sinks.telegram import TelegramSink
from telebot.sources.hosts.source import host_link_factory
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import direct_link_factory
from telebot.sources.tgfile import TelegramFileSettings, telegram_file_factory
from telebot.sources.torrent.metainfo import torrent_source_factory
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.sources.ytdl.source import ytdl_factory

if TYPE_CHECKING:
    from telebot.botapi.messenger import Messenger
    from telebot.engine.diskguard import DiskGuard
    from telebot.sources.torrent.choose import FileChooser
    from telebot.sources.torrent.seeding import Seeding
    from telebot.sources.torrent.session import TorrentSession
    from telebot.sources.ytdl.source import QualityChooser
    from telebot.store import Store


@dataclass(frozen=True)
class Services:
    """What this process lends its plug-ins.

    The front fills in everything; a worker has no menus to ask users from (``quality``,
    ``chooser``), no seeding board (``seeding``) and no ``store`` (-m groups meet in one folder
    on the front's host). Without ``torrents`` (a libtorrent session) there is no torrent
    source: tests that look only at the stages leave it out. ``disk`` is the STORAGE_THRESHOLD
    guard sources pause or refuse on; ``leech_sink`` is the one upload sink, whose part size
    /bsetting changes live (-z's volumes take that size too).
    """

    config: Config
    messenger: Callable[[], Messenger]
    leech_sink: TelegramSink
    torrents: TorrentSession | None = None
    disk: DiskGuard | None = None
    quality: QualityChooser | None = None
    chooser: FileChooser | None = None
    seeding: Seeding | None = None
    store: Store | None = None


T = TypeVar("T")


class Plugin(NamedTuple, Generic[T]):
    """One entry of a plug-in list: a name (for logs and tests) and how to make its factory."""

    name: str
    make: Callable[[Services], T | None]


SOURCES: tuple[Plugin[SourceFactory], ...] = (
    # A -m group's delivery: its members' folder (only where the groups are stored).
    Plugin("group", lambda s: group_source_factory(s.store) if s.store is not None else None),
    # First: a /clone task's source ("tg:x", "magnet:x") names a remote, not a link.
    Plugin("clone", lambda s: clone_source_factory(RcloneSettings.from_config(s.config))),
    # First: it takes only /ytdl specs.
    Plugin("ytdl", lambda s: ytdl_factory(YtdlSettings.from_config(s.config), lambda: s.quality,
                                          disk=s.disk)),
    # First: a Telegram .torrent document or a .torrent link is a torrent, not a file.
    Plugin("torrent", lambda s: None if s.torrents is None else torrent_source_factory(
        TelegramFileSettings.from_config(s.config), s.torrents, s.messenger, chooser=s.chooser,
        seeding=s.seeding, disk=s.disk)),
    Plugin("telegram", lambda s: telegram_file_factory(TelegramFileSettings.from_config(s.config),
                                                       s.messenger, disk=s.disk)),
    # Before http: a file host's share link is a page to resolve, not the file itself.
    Plugin("hosts", lambda s: host_link_factory(HttpSettings.from_config(s.config),
                                                s.config.hosts_base_urls, disk=s.disk)),
    Plugin("http", lambda s: direct_link_factory(HttpSettings.from_config(s.config),
                                                 disk=s.disk)),
)


def _compress(s: Services) -> StageFactory:
    sink = s.leech_sink  # a leech's part size is the size of -z's volumes
    return compress_factory(lambda spec: sink.part_size_for(spec) if spec.kind == "leech" else None)


STAGES: tuple[Plugin[StageFactory], ...] = (
    Plugin("join", lambda s: join_factory()),  # join before extract before compress
    Plugin("extract", lambda s: extract_factory(Limits.from_config(s.config))),
    # Media tools (docs/MEDIA.md), on what was downloaded or extracted: -cv/-ca, -ff, -meta.
    Plugin("convert", lambda s: convert_factory()),
    Plugin("ffmpeg", lambda s: presets_factory(s.config.ffmpeg_presets)),
    Plugin("metadata", lambda s: metadata_factory()),
    # Renaming (-ns, prefix/suffix) and skipped extensions act on the final result...
    Plugin("rename", lambda s: rename_stage_factory),
    # ...which -z archives last: the archive holds the renamed files and takes their name.
    Plugin("compress", _compress),
    # Leech media last: they link the final result and add files beside it for the sink
    # (processing/media/extras.py); a stage after them would not carry those over.
    Plugin("screenshots", lambda s: screenshots_factory),  # -ss / -tl
    Plugin("sample", lambda s: sample_factory),  # -sv
)


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


def telegram_sink_factory(sink: TelegramSink) -> SinkFactory:
    def factory(spec: TaskSpec) -> Sink | None:
        return sink if spec.kind == "leech" else None

    return factory


SINKS: tuple[Plugin[SinkFactory], ...] = (
    # First: a -m member's result joins its group (only where the groups are stored).
    Plugin("group", lambda s: group_member_sink_factory(s.config) if s.store is not None
           else None),
    Plugin("local", lambda s: local_sink_factory(s.config)),
    Plugin("rclone", lambda s: rclone_sink_factory(s.config)),
    Plugin("telegram", lambda s: telegram_sink_factory(s.leech_sink)),
)


def made(plugins: tuple[Plugin[T], ...], services: Services) -> list[T]:
    """The factories of ``plugins`` this process offers, in list order."""
    return [f for f in (p.make(services) for p in plugins) if f is not None]


def build_pipeline(services: Services) -> Pipeline:
    """The pipeline of this process: every plug-in of the three lists it can offer."""
    return Pipeline(
        sources=made(SOURCES, services),
        sinks=made(SINKS, services),
        stages=made(STAGES, services),
    )
