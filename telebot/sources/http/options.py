"""What one HTTP download may do (:class:`HttpOptions`) and the defaults behind it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from telebot.resilience import DOWNLOAD_POLICY, RetryPolicy

MiB = 1 << 20

# Defaults picked by `python bench/download.py --sweep` against nginx on loopback
# (2 shared cores, medians of 3, numbers in bench/README.md). Unthrottled, 2 to 8
# segments are within noise of each other (~1.4-1.5 GB/s vs ~1.0 GB/s for one
# stream) and 16 is slower (~1.05 GB/s: threads fight over 2 cores). When the
# server limits each connection (nginx limit_rate), throughput grows with the
# connection count, so 8 - the top of the flat region, and what aria2c -x8 uses -
# is the default: it wins the throttled case without losing the unthrottled one.
DEFAULT_SEGMENTS = 8
# Below 2 x 8 MiB a file takes a few ms on one stream; the extra connections
# cost more (TCP + TLS handshakes, server slots) than they gain.
MIN_SEGMENT_SIZE = 8 * MiB
#: HOST_DOWN_TIMEOUT's default: how long a task waits for a host whose breaker is open.
HOST_DOWN_TIMEOUT = 600.0


@dataclass(frozen=True)
class HttpOptions:
    """What one download may do. Immutable; share freely between threads."""

    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    name: str | None = None
    max_size: int | None = None
    segments: int = DEFAULT_SEGMENTS
    min_segment_size: int = MIN_SEGMENT_SIZE
    allow_private: bool = False
    policy: RetryPolicy = DOWNLOAD_POLICY
    host_down_timeout: float = HOST_DOWN_TIMEOUT
    # What an interrupted download is recognised by, in place of the URL: a file host's direct
    # link changes with every resolve, the share link it came from does not (sources/hosts/).
    resume_key: str | None = None
    # Called before each write of n bytes; may block until the disk has room for them, and
    # raises TaskCancelled when the event is set meanwhile (engine/diskguard.py SpaceGate.wait).
    make_room: Callable[[int, threading.Event], None] | None = field(default=None, repr=False)
    # Applied to every address a request goes to (the link and each redirect target) before the
    # SSRF guard checks it; None leaves addresses alone. The file-host source passes the owner's
    # HOSTS_BASE_URLS mapping here, so a redirect to a host's own content domain follows that
    # host to the base it was sent to. Nothing here knows any host: it is a function of the URL.
    rewrite: Callable[[str], str] | None = field(default=None, repr=False, compare=False)
