"""yt-dlp's networking, fenced in: every connection it makes goes through our address guard.

yt-dlp sends every request through ``YoutubeDL.urlopen`` → its ``RequestDirector`` → a request
handler (``yt_dlp/networking/``). :class:`GuardedYoutubeDL` gives the director exactly one
handler: yt-dlp's own ``requests`` handler whose urllib3 connections open their socket with
:func:`guarded_connect`. That function resolves the host, refuses the whole connection when any
address is not public (``netguard.check_address``), and connects to the checked address itself,
so a redirect, a fragment URL or a DNS answer that changes between check and connect
(rebinding) never reaches a private host: the refusal happens before ``connect()``.

What cannot be fenced is refused instead: downloaders that hand URLs to another program
(ffmpeg for ``m3u8``/live streams, rtmpdump, aria2c...) are not allowed unless private links
are (``ALLOW_PRIVATE_LINKS``), and proxies are off (``proxy=""``), because with a proxy the
peer we could check would be the proxy, not the host.

Checked against yt-dlp 2026.10 (``networking/_requests.py``, ``downloader/__init__.py``,
``downloader/hls.py``'s fallback to ``FFmpegFD``); docs/ENGINES.md, yt-dlp has the probes.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import weakref
from typing import Any

from telebot.errors import SecurityError
from telebot.sources.http.netguard import check_address
from telebot.sources.ytdl.ffmpeg import fence_postprocessor_inputs

__all__ = ["NetGuard", "guarded_connect", "make_youtubedl"]


class NetGuard:
    """One task's fence: whether private hosts are allowed, what was refused, open sockets.

    :meth:`abort` shuts every socket down, which wakes a thread blocked in ``recv`` at once
    (the cancel path: a stalled origin does not call yt-dlp's progress hooks).
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.refused: list[str] = []
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._aborted = False

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._sockets.add(sock)
        if aborted:
            sock.close()
            raise ConnectionAbortedError("cancelled")

    def refuse(self, error: SecurityError) -> SecurityError:
        with self._lock:
            self.refused.append(str(error))
        return error

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def guarded_connect(
    guard: NetGuard, host: str, port: int, timeout: Any, source_address: Any = None
) -> socket.socket:
    """Resolve ``host``, refuse unless every address is public, then connect to one of them.

    Raises :class:`SecurityError` before any packet is sent to a private address; ``OSError``
    when no address accepts the connection.
    """
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not guard.allow_private:
        for info in infos:
            try:
                check_address(str(info[4][0]), host)
            except SecurityError as exc:
                raise guard.refuse(exc) from None
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3 does
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        guard.track(sock)
        return sock
    raise error


@functools.cache
def _connection_classes() -> tuple[type, type]:
    """urllib3 connection classes whose socket comes from :func:`guarded_connect`."""
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class _Guarded:
        guard: NetGuard

        def _new_conn(self: Any) -> socket.socket:
            return guarded_connect(
                self.guard, self._dns_host, self.port, self.timeout, self.source_address
            )

    http = type("GuardedHTTPConnection", (_Guarded, HTTPConnection), {})
    https = type("GuardedHTTPSConnection", (_Guarded, HTTPSConnection), {})
    return http, https


def _handler_class(guard: NetGuard) -> type:
    """yt-dlp's ``requests`` handler, with guarded urllib3 pools; one class per task's guard."""
    from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
    from yt_dlp.networking._requests import RequestsRH

    http, https = _connection_classes()
    pools = {
        "http": type(
            "P", (HTTPConnectionPool,), {"ConnectionCls": type("C", (http,), {"guard": guard})}
        ),
        "https": type(
            "PS", (HTTPSConnectionPool,), {"ConnectionCls": type("CS", (https,), {"guard": guard})}
        ),
    }

    class GuardedRequestsRH(RequestsRH):
        def _create_instance(self, *args: Any, **kwargs: Any) -> Any:
            session = super()._create_instance(*args, **kwargs)
            for adapter in session.adapters.values():
                adapter.poolmanager.pool_classes_by_scheme = dict(pools)
                adapter.proxy_manager_for = _no_proxy
            return session

    return GuardedRequestsRH


def _no_proxy(*_args: Any, **_kwargs: Any) -> Any:
    raise SecurityError("refused: proxies are not used for videos")


# Outside downloaders get cookies on their command line (ffmpeg ``-cookies``, curl ``-H``) or in a
# temporary file outside the task folder (aria2c): with cookies, only the native ones run.
COOKIES_OUTSIDE = (
    "refused: this stream needs an outside downloader, which would get the cookies on its "
    "command line"
)

# Downloaders that fetch with yt-dlp's own networking (and so through the guard).
_NATIVE = ("HttpFD", "HlsFD", "DashSegmentsFD")


def make_youtubedl(params: dict[str, Any], guard: NetGuard) -> Any:
    """A ``YoutubeDL`` whose every request and downloader passes the guard (see module doc)."""
    from yt_dlp import YoutubeDL
    from yt_dlp.downloader import get_suitable_downloader

    _fence_ffmpeg_fallback()
    fence_postprocessor_inputs()  # ffmpeg in postprocessors reads only its inputs (#21)
    handler = _handler_class(guard)

    class GuardedYoutubeDL(YoutubeDL):
        telebot_guard = guard

        def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
            return super().build_request_director([handler], preferences)

        def dl(self, name: str, info: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            fd = get_suitable_downloader(info, self.params, to_stdout=(name == "-"))
            if self.params.get("cookiefile") and getattr(fd, "__name__", "") not in _NATIVE:
                raise guard.refuse(SecurityError(COOKIES_OUTSIDE))
            if not guard.allow_private and getattr(fd, "__name__", "") not in _NATIVE:
                raise guard.refuse(
                    SecurityError(
                        f"refused: this stream needs an outside downloader "
                        f"({info.get('protocol')}) that the private-address guard cannot fence"
                    )
                )
            return super().dl(name, info, *args, **kwargs)

    return GuardedYoutubeDL({**params, "proxy": ""})


@functools.cache
def _fence_ffmpeg_fallback() -> None:
    """HlsFD hands some playlists to ffmpeg by itself (``downloader/hls.py``): refuse that for
    guarded instances (only those carry ``telebot_guard``); other users of yt-dlp are unaffected."""
    from yt_dlp.downloader.external import FFmpegFD

    original = FFmpegFD.real_download

    def real_download(self: Any, filename: str, info_dict: dict[str, Any]) -> Any:
        guard = getattr(self.ydl, "telebot_guard", None)
        if guard is not None and self.ydl.params.get("cookiefile"):
            # ffmpeg takes cookies as a command-line argument, where any local user can read them.
            raise guard.refuse(SecurityError(COOKIES_OUTSIDE))
        if guard is not None and not guard.allow_private:
            raise guard.refuse(
                SecurityError(
                    "refused: this stream needs ffmpeg to download it, which the "
                    "private-address guard cannot fence"
                )
            )
        return original(self, filename, info_dict)

    FFmpegFD.real_download = real_download
