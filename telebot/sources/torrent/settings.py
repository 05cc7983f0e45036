"""What the libtorrent session is allowed to do, from the TORRENT_* config (README "Torrents").

:func:`session_params` turns :class:`TorrentSettings` into libtorrent's settings pack;
:func:`private_filter` is the IP filter that keeps peers, trackers and web seeds on public
addresses unless ``ALLOW_PRIVATE_LINKS=true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telebot.config import Config
from telebot.sources.http.addresses import FORBIDDEN_NETWORKS

if TYPE_CHECKING:
    import libtorrent as lt

# libtorrent is imported where it is used, not with this module: the bot builds its settings
# at start-up, and the library (~15-45 ms) is needed only when a torrent task starts the session.


def alert_mask() -> int:
    """The alerts the reader thread needs: status (finished, resume data, removal), errors,
    storage (deleted files), ip_block (peer_blocked) and tracker (each announce's peers or
    error): the last two say why a swarm looks empty."""
    import libtorrent as lt

    return int(
        lt.alert_category.status
        | lt.alert_category.error
        | lt.alert_category.storage
        | lt.alert_category.ip_block
        | lt.alert_category.tracker
    )


BLOCKED = 1  # ip_filter access flag: 1 = blocked (libtorrent ip_filter::blocked)


@dataclass(frozen=True)
class TorrentSettings:
    """Immutable settings of the one session and of every torrent task."""

    port: int = 16881
    listen: str = "0.0.0.0,[::]"
    dht: bool = True
    max_connections: int = 200
    download_limit: int = 0  # bytes/s, 0 = no cap
    upload_limit: int = 0
    timeout: float = 600.0  # no metadata / no progress for this long: the torrent is dead
    select_timeout: float = 300.0
    allow_private: bool = False
    max_size: int | None = None
    resume_interval: float = 60.0  # seconds between periodic resume-data saves

    @classmethod
    def from_config(cls, config: Config) -> TorrentSettings:
        return cls(
            port=config.torrent_port,
            listen=config.torrent_listen,
            dht=config.torrent_dht,
            max_connections=config.torrent_max_connections,
            download_limit=config.torrent_download_limit,
            upload_limit=config.torrent_upload_limit,
            timeout=config.torrent_timeout,
            select_timeout=config.torrent_select_timeout,
            allow_private=config.allow_private_links,
            max_size=config.max_download_size,
        )


def listen_interfaces(settings: TorrentSettings) -> str:
    """``"0.0.0.0,[::]"`` and 16881 → ``"0.0.0.0:16881,[::]:16881"``."""
    return ",".join(f"{addr}:{settings.port}" for addr in settings.listen.split(","))


def session_params(settings: TorrentSettings) -> dict[str, Any]:
    local = settings.allow_private
    return {
        "listen_interfaces": listen_interfaces(settings),
        "enable_dht": settings.dht,
        # LSD, UPnP and NAT-PMP talk to the local network (multicast, the router): only when
        # the owner allows private addresses at all.
        "enable_lsd": local,
        "enable_upnp": local,
        "enable_natpmp": local,
        "connections_limit": settings.max_connections,
        # Dial peers over TCP only (uTP still accepted from peers that dial us): libtorrent's
        # uTP is user-space and paced for LEDBAT; one loopback peer gave 11.7 MiB/s over uTP
        # against 228 MiB/s over TCP here (256 MiB, bench/torrent.py's swarm).
        "enable_outgoing_utp": False,
        "enable_incoming_utp": True,
        "download_rate_limit": settings.download_limit,
        "upload_rate_limit": settings.upload_limit,
        "alert_mask": alert_mask(),
        # Must stay False: a torrent with unselected files (-s) is "finished" before its last
        # file, and True drops the peers then (docs/ENGINES.md, libtorrent).
        "close_redundant_connections": False,
        # Refuses loopback trackers whose path is not /announce... and local web seeds with a
        # query (docs/ENGINES.md, libtorrent): protection for the host's own services from URLs
        # inside a
        # torrent, which an owner who allows private links has waived (private trackers use
        # paths like /tr/<passkey>).
        "ssrf_mitigation": not local,
        "apply_ip_filter_to_trackers": True,
        # libtorrent queues auto-managed torrents itself; our own queues decide (QUEUE_*).
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        # Shutdown waits this long for trackers to hear "stopped" (default 5 s).
        "stop_tracker_timeout": 1,
    }


def private_filter() -> lt.ip_filter:
    """Blocks every non-public address range (the list telebot.sources.http.addresses judges by)."""
    import libtorrent as lt

    ip_filter = lt.ip_filter()
    for net in FORBIDDEN_NETWORKS:
        ip_filter.add_rule(str(net[0]), str(net[-1]), BLOCKED)
    return ip_filter


def apply_filters(session: lt.session, settings: TorrentSettings) -> None:
    """IP filter, and rate caps that also hold for LAN/loopback peers.

    libtorrent puts LAN and loopback peers in its ``local`` peer class, which the global
    caps
    do not limit (docs/ENGINES.md, libtorrent). When a cap is set, every address is mapped to the
    global
    class only, so the cap means what the owner wrote.
    """
    if not settings.allow_private:
        session.set_ip_filter(private_filter())
    if settings.download_limit or settings.upload_limit:
        import libtorrent as lt

        classes = lt.ip_filter()
        mask = 1 << session.global_peer_class_id
        classes.add_rule("0.0.0.0", "255.255.255.255", mask)
        classes.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", mask)
        session.set_peer_class_filter(classes)
