"""Loopback ports for tests: one nothing answers on, or one a server started later will take.

A port found by binding a socket and closing it at once is free only for that moment: under
xdist another test's server (bound to port 0), or any outgoing connection, may be given it
before the process meant to use it binds it. A bot meant to find no Bot API once polled
another test's fake that way. So every port here stays bound by a socket of ours that never
listens: the kernel hands it to no one else (neither ``bind(port 0)`` nor ``connect``'s
automatic port picks a port someone bound), a connection to it is refused until a server
listens there, and a server may still take it, because servers set SO_REUSEADDR (nginx,
redis-server, rclone, libtorrent and Python's ``http.server`` do) and Linux lets a socket
with SO_REUSEADDR bind a port whose other owners all set it too and none listens.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

# Ports handed out by reserved_port, held until the test process ends (a few dozen sockets
# per xdist worker): a server stopped and started again by a test finds its port still ours.
_RESERVED: list[socket.socket] = []


def _bound(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A loopback port nothing listens on, held for the block."""
    with _bound() as sock:
        yield int(sock.getsockname()[1])


def reserved_port(host: str = "127.0.0.1") -> int:
    """A loopback port (of *host*) held for the rest of the test process: for a server a test
    starts later (a child that binds it itself), or for an address that must refuse
    connections."""
    sock = _bound(host)
    _RESERVED.append(sock)
    return int(sock.getsockname()[1])
