"""The session's settings and IP filter, checked on real libtorrent objects."""

from __future__ import annotations

import pytest

from telebot.config import load_config
from telebot.sources.torrent.settings import (
    TorrentSettings,
    listen_interfaces,
    private_filter,
    session_params,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "192.168.1.1",
        "172.31.255.255",
        "169.254.3.3",
        "::1",
        "fe80::1",
        "fd00::5",
        "::ffff:192.168.0.1",
    ],
)
def test_private_filter_blocks_local_addresses(address: str) -> None:
    assert private_filter().access(address) == 1


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_private_filter_lets_public_addresses_through(address: str) -> None:
    assert private_filter().access(address) == 0


def test_config_reaches_the_session_settings(tmp_path: object) -> None:
    env = {
        "BOT_TOKEN": "1:a",
        "OWNER_ID": "1",
        "TORRENT_PORT": "6999",
        "TORRENT_DHT": "false",
        "TORRENT_LISTEN": "192.0.2.7",
        "TORRENT_UPLOAD_LIMIT": "1mb",
        "TORRENT_MAX_CONNECTIONS": "50",
    }
    settings = TorrentSettings.from_config(load_config(env, cwd=tmp_path))  # type: ignore[arg-type]
    params = session_params(settings)
    assert params["listen_interfaces"] == "192.0.2.7:6999"
    assert params["enable_dht"] is False
    assert params["upload_rate_limit"] == 1_000_000 and params["download_rate_limit"] == 0
    assert params["connections_limit"] == 50
    assert params["close_redundant_connections"] is False  # docs/ENGINES.md, libtorrent
    assert not params["enable_lsd"] and not params["enable_upnp"]


def test_default_listens_on_every_interface_on_a_fixed_port() -> None:
    assert listen_interfaces(TorrentSettings()) == "0.0.0.0:16881,[::]:16881"


def test_peers_are_dialled_over_tcp() -> None:
    """uTP to one loopback peer ran at 1/20 of TCP's speed (see the comment in settings.py)."""
    params = session_params(TorrentSettings())
    assert params["enable_outgoing_utp"] is False and params["enable_incoming_utp"] is True


def test_a_version_1_journal_row_reads_as_no_selection_no_seeding() -> None:
    from telebot.engine.task import SPEC_VERSION, TaskSpec

    row = {
        "v": 1,
        "kind": "mirror",
        "source": "magnet:?xt=urn:btih:" + "a" * 40,
        "chat_id": 1,
        "user_id": 2,
    }
    spec = TaskSpec.from_json(row)
    assert not spec.select and not spec.seeding
    seeded = TaskSpec.from_json({**spec.to_json(), "seed_ratio": 1.5, "select": True})
    assert seeded.seeding and seeded.select and spec.to_json()["v"] == SPEC_VERSION
