"""SSRF guard: links may only reach public Internet addresses.

Two layers, because one is not enough:

1. :func:`check_url` runs before any request and on every redirect hop. It
   refuses other schemes, credentials in the link and hosts that *resolve* to a
   loopback, private, link-local, multicast, reserved or unspecified address.
2. :class:`GuardedAdapter` checks the address a socket is *actually connected
   to*, at connect time. DNS may answer differently a millisecond later
   (DNS rebinding); the peer address of the connected socket cannot lie.

Both are switched off by ``ALLOW_PRIVATE_LINKS=true`` (``allow_private``).
Errors are :class:`~telebot.errors.SecurityError` with one line for the chat.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from telebot.errors import SecurityError
from telebot.sources.http.addresses import (
    FORBIDDEN_NETWORKS,
    check_address,
    check_url,
    is_forbidden_address,
)

__all__ = [
    "FORBIDDEN_NETWORKS",
    "GuardedAdapter",
    "check_address",
    "check_url",
    "is_forbidden_address",
]

class _GuardedHTTPConnection(HTTPConnection):
    """Checks the peer of every new socket (DNS-rebinding proof) and registers it."""

    adapter: GuardedAdapter

    def _new_conn(self) -> socket.socket:
        return self.adapter.check_peer(super()._new_conn(), self.host)

    def connect(self) -> None:
        super().connect()
        self.adapter.track(self.sock)


class _GuardedHTTPSConnection(HTTPSConnection):
    adapter: GuardedAdapter

    def _new_conn(self) -> socket.socket:
        return self.adapter.check_peer(super()._new_conn(), self.host)

    def connect(self) -> None:
        super().connect()  # self.sock is now the TLS socket; that is the one to shut down
        self.adapter.track(self.sock)


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections refuse non-public peers and can be aborted.

    With ``allow_private=True`` the peer check is skipped. The check runs once
    per new TCP connection, so pooled keep-alive connections cost nothing.
    :meth:`abort` shuts down every socket this adapter opened, which wakes any
    thread blocked reading from one at once (the cancel path of a download).
    """

    def __init__(self, *, allow_private: bool = False, **kwargs: Any) -> None:
        self.allow_private = allow_private
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._aborted = False
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # Classes bound to this adapter: urllib3 builds connections from the
        # pool's class attribute and offers no per-pool hook for it.
        http_cls = type("GuardedHTTPConnection", (_GuardedHTTPConnection,), {"adapter": self})
        https_cls = type("GuardedHTTPSConnection", (_GuardedHTTPSConnection,), {"adapter": self})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_cls}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls}),
        }

    def check_peer(self, sock: socket.socket, host: str) -> socket.socket:
        """Return *sock* if its peer is allowed; close it and raise SecurityError otherwise."""
        if not self.allow_private:
            try:
                check_address(sock.getpeername()[0], host)
            except SecurityError:
                sock.close()
                raise
        return sock

    def track(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._sockets.add(sock)
        if aborted:
            _shutdown(sock)
            raise ConnectionAbortedError("connection aborted by cancel")

    def abort(self) -> None:
        """Shut down every open socket of this adapter, now and from now on."""
        with self._lock:
            self._aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the
    # TLS object under a thread that may be reading from it right now.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
