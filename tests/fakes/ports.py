"""Loopback ports for tests that need one nothing answers on."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A loopback port nothing listens on, held for the block: a socket stays bound to it
    without listening, so a connection is refused, and no other test's server (xdist runs
    them side by side) is given the port meanwhile. A port bound and released at once was
    given away: a bot meant to find no Bot API polled another test's fake instead.
    SO_REUSEADDR lets a server of the test's own bind the port within the block (Linux
    allows it while no socket listens there)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
