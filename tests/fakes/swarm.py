"""Real libtorrent swarms on loopback for tests and benchmarks.

:class:`Seeder` is a libtorrent session listening on 127.0.0.1 (OS-chosen port, no DHT, LSD,
UPnP or NAT-PMP) that seeds torrents made here: :func:`make_torrent` builds one with
``lt.create_torrent`` from real files, :func:`make_v1_torrent` bencodes one by hand (for file
lists libtorrent's own creator would never produce, like ``..`` elements).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import libtorrent as lt

from tests import polling

WAIT = 30.0  # s: far above a loopback swarm's real latency; fails a broken test, not hangs it


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Poll a condition that has no event (libtorrent state) until it holds or time runs out."""
    polling.wait_until(predicate, timeout, what, poll=0.02)


# Test bots that allow private addresses run LSD, so test processes on one machine find each
# other's swarms. Identical files would give identical info-hashes: a bot joined another test's
# peer on 127.0.0.1 and, one connection per IP, never reached its own seeder. Each make_files
# call writes bytes of its own (process and call number), so each test's torrent is its own.
_CALLS = itertools.count()


def content(size: int, seed: int, salt: bytes = b"") -> bytes:
    """Pseudo-random bytes, the same for the same ``seed`` and ``salt``."""
    return hashlib.shake_256(b"swarm:%s:%d" % (salt, seed)).digest(size)


def make_files(root: Path, files: dict[str, int]) -> Path:
    """Write ``{relative path: size}`` under ``root`` (bytes no other call writes); return
    ``root``."""
    salt = b"%d.%d" % (os.getpid(), next(_CALLS))
    for number, (relative, size) in enumerate(sorted(files.items())):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(size, number, salt))
    return root


def make_torrent(
    path: Path, *, piece_size: int = 0, web_seeds: Sequence[str] = (), v1_only: bool = False,
    trackers: Sequence[str] = (),
) -> bytes:
    """A .torrent of the file or folder ``path`` (hybrid v1+v2 unless ``v1_only``)."""
    flags = lt.create_torrent.v1_only if v1_only else 0
    creator = lt.create_torrent(lt.list_files(str(path)), piece_size, flags)
    for url in web_seeds:
        creator.add_url_seed(url)
    for tier, url in enumerate(trackers):
        creator.add_tracker(url, tier)
    lt.set_piece_hashes(creator, str(path.parent))
    return bytes(lt.bencode(creator.generate()))


def make_v1_torrent(
    name: str, files: Sequence[tuple[Sequence[str], bytes]], piece_length: int = 16384
) -> bytes:
    """A hand-bencoded v1 multi-file torrent; path elements are taken as given."""
    blob = b"".join(data for _, data in files)
    pieces = b"".join(
        hashlib.sha1(blob[i : i + piece_length]).digest() for i in range(0, len(blob), piece_length)
    )
    info = {
        b"name": name.encode(),
        b"piece length": piece_length,
        b"pieces": pieces,
        b"files": [
            {b"length": len(data), b"path": [part.encode() for part in parts]}
            for parts, data in files
        ],
    }
    return bytes(lt.bencode({b"info": info}))


def magnet(torrent: bytes, port: int | None = None) -> str:
    """The torrent's magnet link, with an ``x.pe`` peer hint for 127.0.0.1:``port``."""
    uri = lt.make_magnet_uri(lt.torrent_info(lt.bdecode(torrent)))
    return uri + (f"&x.pe=127.0.0.1:{port}" if port else "")


class Seeder:
    """A seeding session on 127.0.0.1. ``upload_limit`` (bytes/s) throttles it even towards
    loopback peers, by capping libtorrent's ``local`` peer class (docs/ENGINES.md, libtorrent)."""

    def __init__(self, upload_limit: int = 0) -> None:
        self.session = lt.session(
            {
                "listen_interfaces": "127.0.0.1:0",
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                "alert_mask": 0,
                # Every test peer is 127.0.0.1: a killed leecher's stale connection must not
                # make the seeder refuse its successor from the same address.
                "allow_multiple_connections_per_ip": True,
            }
        )
        if upload_limit:
            self.throttle(upload_limit)

    def throttle(self, upload_limit: int) -> None:
        for class_id in (self.session.local_peer_class_id, self.session.global_peer_class_id):
            info = self.session.get_peer_class(class_id)
            info["upload_limit"] = upload_limit
            self.session.set_peer_class(class_id, info)

    @property
    def port(self) -> int:
        return int(self.session.listen_port())

    def seed(
        self, torrent: bytes, save_path: Path, data: Sequence[bytes] | None = None
    ) -> lt.torrent_handle:
        """Seed ``torrent`` from ``save_path``. With ``data`` (one entry per non-pad file),
        first write each file where libtorrent's (sanitised) layout puts it."""
        params = lt.load_torrent_buffer(torrent)
        if data is not None:
            layout = params.ti.layout()
            real = [i for i in range(layout.num_files()) if not _pad(layout, i)]
            for index, blob in zip(real, data, strict=True):
                target = save_path / layout.file_path(index)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(blob)
        params.save_path = str(save_path)
        handle = self.session.add_torrent(params)
        wait_until(lambda: handle.status().is_seeding, what="the seeder to check its files")
        return handle

    def leech(self, uri: str, save_path: Path) -> lt.torrent_handle:
        """Download a magnet into ``save_path`` (a plain peer, for seeding tests)."""
        params = lt.parse_magnet_uri(uri)
        params.save_path = str(save_path)
        return self.session.add_torrent(params)

    def close(self) -> None:
        """Stop seeding (idempotent)."""
        if self.__dict__.pop("session", None) is not None:
            pass  # dropping the last reference destroys the session

    def __enter__(self) -> Seeder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pad(layout: lt.file_storage, index: int) -> bool:
    return bool(layout.file_flags(index) & lt.file_storage.flag_pad_file)


class Tracker:
    """A minimal HTTP tracker on 127.0.0.1 that answers every announce with ``peers``
    (compact form, BEP 23). For clients that ignore a magnet's ``x.pe`` hint, like aria2c."""

    def __init__(self, peers: Sequence[int], path: str = "/announce") -> None:
        """``path``: the announce URL's path (private trackers use all kinds)."""
        compact = b"".join(socket.inet_aton("127.0.0.1") + struct.pack(">H", p) for p in peers)
        body = bytes(lt.bencode({b"interval": 60, b"peers": compact}))
        self.announces = 0  # requests answered so far
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tracker.announces += 1  # one writer at a time is enough for a counter read later
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

