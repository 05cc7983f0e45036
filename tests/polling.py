"""One way for tests to wait on a condition that has no event (never a bare sleep)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str = "", poll: float = 0.05
) -> None:
    """Poll ``predicate`` every ``poll`` seconds until it is true; AssertionError after
    ``timeout`` seconds, naming ``what`` (or the predicate)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        pause.wait(poll)
