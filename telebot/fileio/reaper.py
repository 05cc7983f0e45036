"""Free the blocks of a moved file's source off the caller's path.

Unlinking a big file makes the caller wait while the kernel frees every
page or extent: 12.8 ms for 64 MiB on tmpfs here, a third of a whole
tmpfs -> disk move.  The name must be gone when move() returns, the memory
need not be: ``unlink_later`` holds a descriptor, unlinks the name (now
only a directory entry is removed) and leaves the last close, where the
kernel does the freeing, to one daemon thread.  Redis's lazy free (UNLINK)
is the same idea.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading

# Below this the synchronous unlink costs about what the extra open and the
# hand-off cost (a 4 KiB tmpfs file frees in ~2 us).
REAP_MIN = 8 * 1024 * 1024


class Reaper:
    """Closes descriptors of unlinked files on a lazily started daemon thread."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._drained = threading.Condition(self._lock)

    def unlink_later(self, path: str) -> None:
        """Remove the name ``path`` now; free its blocks on the reaper thread.

        Raises the OSError of the unlink (nothing is queued then).
        """
        # O_PATH pins the inode without reading rights; O_NOFOLLOW takes a
        # symlink itself, the name that unlink() removes.
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.unlink(path)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fileio-reaper",
                                                daemon=True)
                self._thread.start()
        self._queue.put(fd)

    def drain(self, timeout: float) -> bool:
        """Wait until every queued file is freed; False on timeout (tests, shutdown)."""
        with self._drained:
            return self._drained.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            fd = self._queue.get()
            with contextlib.suppress(OSError):  # nobody to tell: the move succeeded
                os.close(fd)
            with self._drained:
                self._pending -= 1
                if self._pending == 0:
                    self._drained.notify_all()



reaper = Reaper()
# The thread does not exist in a forked child; descriptors it inherited from
# the queue are closed when the child exits.
os.register_at_fork(after_in_child=reaper._reset)
