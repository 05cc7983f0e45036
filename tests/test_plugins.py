"""The plug-in list (telebot/plugins.py): what the front and a worker each offer, in order."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from telebot import plugins
from telebot.config import load_config
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError
from telebot.sinks.local import LocalSink
from telebot.sinks.telegram import LeechSettings, TelegramSink
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings
from telebot.store import Store


def services(tmp_path: Path, *, front: bool) -> plugins.Services:
    config = load_config({"BOT_TOKEN": "1:x", "OWNER_ID": "1"}, cwd=tmp_path)
    sink = TelegramSink(LeechSettings.from_config(config), messenger=lambda: None)  # type: ignore[arg-type,return-value]
    return plugins.Services(
        config, lambda: None, sink,  # type: ignore[arg-type,return-value]
        torrents=TorrentSession(TorrentSettings.from_config(config)),  # starts on first use
        store=Store(":memory:") if front else None,
    )


T = TypeVar("T")


def offered(plugin_list: tuple[plugins.Plugin[T], ...], given: plugins.Services) -> list[str]:
    return [p.name for p in plugin_list if p.make(given) is not None]


def test_the_front_offers_every_plug_in_and_a_worker_all_but_the_groups(tmp_path: Path) -> None:
    front, worker = services(tmp_path, front=True), services(tmp_path, front=False)
    assert offered(plugins.SOURCES, front) == [
        "group", "clone", "ytdl", "torrent", "telegram", "hosts", "http"]
    assert offered(plugins.SOURCES, worker) == [
        "clone", "ytdl", "torrent", "telegram", "hosts", "http"]
    assert offered(plugins.SINKS, front) == ["group", "local", "rclone", "telegram"]
    assert offered(plugins.SINKS, worker) == ["local", "rclone", "telegram"]
    assert offered(plugins.STAGES, worker) == [
        "join", "extract", "convert", "ffmpeg", "metadata", "rename", "compress", "screenshots",
        "sample"]


def test_a_group_members_result_joins_its_group_only_on_the_front(tmp_path: Path) -> None:
    member = TaskSpec(kind="mirror", source="http://x/y", chat_id=1, user_id=1, group="g1",
                      group_folder="Season 1")
    on_front = plugins.build_pipeline(services(tmp_path, front=True)).sink_for(member)
    on_worker = plugins.build_pipeline(services(tmp_path, front=False)).sink_for(member)
    assert isinstance(on_front, LocalSink) and isinstance(on_worker, LocalSink)
    assert on_front.root == Path("downloads/g1/Season 1")
    assert on_worker.root == Path("mirror")  # a worker never sees members: no group sink


def test_without_a_torrent_session_there_is_no_torrent_source(tmp_path: Path) -> None:
    given = services(tmp_path, front=False)
    bare = plugins.Services(given.config, given.messenger, given.leech_sink)
    assert "torrent" not in offered(plugins.SOURCES, bare)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (TaskSpec(kind="mirror", source="magnet:?xt=urn:btih:" + "ab" * 20, chat_id=1,
                  user_id=1, share_password="pw"), "a torrent has none"),
        (TaskSpec(kind="mirror", source="https://video.example/watch?v=1", chat_id=1,
                  user_id=1, tool="ytdl", share_password="pw"), "/ytdl has no use for one"),
        (TaskSpec(kind="mirror", source="https://files.example/a.bin", chat_id=1, user_id=1,
                  share_password="pw"), "this link is not on a host I know"),
    ],
)
def test_a_share_password_no_source_can_use_is_refused_by_the_source_that_takes_the_link(
    tmp_path: Path, spec: TaskSpec, why: str
) -> None:
    """-ap alone is a file host's share password: every other source says it has no use for
    one instead of dropping it silently (the intake asks the pipeline, which asks them)."""
    pipeline = plugins.build_pipeline(services(tmp_path, front=False))
    refusal = f"-ap alone is the password of a file host's share, and {why}"
    with pytest.raises(BadInputError, match=refusal):
        pipeline.accepts(spec)
    assert pipeline.accepts(replace(spec, share_password=None))
