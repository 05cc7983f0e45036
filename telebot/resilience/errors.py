"""Error tracking: counts of errors by kind and source over a sliding window.

:class:`ErrorTracker` feeds ``/stats`` and the periodic performance report. It
keeps, per ``(kind, source)`` pair, a small ring of time buckets instead of one
timestamp per error, so a failure storm (hundreds of errors a second for an
hour) costs bounded memory. The price is resolution: an error may be counted
for up to one bucket width (``window / BUCKETS``) longer than ``window``.

Details are redacted with :func:`redact` before they are stored, because
exception texts of outside libraries can carry URLs with tokens or passwords
and these details end up in a chat.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable

from telebot.redact import redact as redact_secrets

__all__ = ["BUCKETS", "ErrorTracker", "redact"]

#: Buckets per window. 60 gives one-minute resolution for the default hour,
#: which is what a human reading /stats can tell apart anyway.
BUCKETS = 60

#: Longest detail kept; a detail is one line in a chat message.
MAX_DETAIL_CHARS = 300

# Query strings often carry signatures and API keys.
_QUERY_RE = re.compile(r"(?<=\?)[^\s'\"()<>]+")


def redact(text: str) -> str:
    """Return ``text`` without secrets (:func:`telebot.redact.redact`) and without query
    strings (they often carry signatures the one redactor cannot recognise by name).

    Also folds newlines and truncates to :data:`MAX_DETAIL_CHARS`, since the
    result is shown as one line.
    """
    text = _QUERY_RE.sub("…", redact_secrets(text))
    text = " ".join(text.split())
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1] + "…"
    return text


class _Counter:
    """Bucketed event count for one key; not thread-safe (the tracker locks)."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        # (bucket index, count), oldest first; at most BUCKETS + 1 entries live.
        self.buckets: deque[list[int]] = deque()

    def add(self, index: int) -> None:
        if self.buckets and self.buckets[-1][0] == index:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([index, 1])

    def total(self, oldest: int) -> int:
        """Drop buckets older than ``oldest`` and return the count of the rest."""
        while self.buckets and self.buckets[0][0] < oldest:
            self.buckets.popleft()
        return sum(count for _, count in self.buckets)


class ErrorTracker:
    """Thread-safe counts of errors by ``(kind, source)`` over ``window`` seconds.

    ``kind`` is usually the exception class name and ``source`` the host or
    service. ``recent(kind)`` returns the last ``keep_details`` details of that
    kind (newest last, each prefixed with its source), regardless of age.
    """

    def __init__(
        self,
        window: float = 3600.0,
        keep_details: int = 5,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0, not {window!r}")
        if keep_details < 0:
            raise ValueError(f"keep_details must be >= 0, not {keep_details!r}")
        self.window = window
        self.keep_details = keep_details
        self._clock = clock
        self._width = window / BUCKETS
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], _Counter] = {}
        self._details: dict[str, deque[str]] = {}

    def record(self, kind: str, source: str, detail: str = "") -> None:
        """Count one error of ``kind`` from ``source``; keep ``detail`` (redacted)."""
        index = int(self._clock() // self._width)
        line = f"{source}: {redact(detail)}" if detail else source
        with self._lock:
            counter = self._counts.get((kind, source))
            if counter is None:
                counter = self._counts[(kind, source)] = _Counter()
            counter.add(index)
            if self.keep_details:
                details = self._details.get(kind)
                if details is None:
                    details = self._details[kind] = deque(maxlen=self.keep_details)
                details.append(line)

    def counts(self) -> dict[tuple[str, str], int]:
        """Errors per ``(kind, source)`` within the window; keys with none are dropped."""
        oldest = self._oldest_index()
        result: dict[tuple[str, str], int] = {}
        with self._lock:
            for key in list(self._counts):
                total = self._counts[key].total(oldest)
                if total:
                    result[key] = total
                else:
                    # Forget idle keys so one-off hosts do not pile up forever.
                    del self._counts[key]
        return result

    def totals_by_kind(self) -> dict[str, int]:
        """Errors per kind within the window, summed over sources."""
        totals: dict[str, int] = {}
        for (kind, _source), count in self.counts().items():
            totals[kind] = totals.get(kind, 0) + count
        return totals

    def recent(self, kind: str) -> list[str]:
        """The last few details recorded for ``kind``, oldest first."""
        with self._lock:
            return list(self._details.get(kind, ()))

    def summary(self, limit: int = 10) -> list[str]:
        """Lines ``"<count> x <kind> from <source>"``, most frequent first."""
        items = sorted(self.counts().items(), key=lambda item: (-item[1], item[0]))
        return [f"{count} x {kind} from {source}" for (kind, source), count in items[:limit]]

    def clear(self) -> None:
        """Forget everything (used by tests and after a report is sent, if wanted)."""
        with self._lock:
            self._counts.clear()
            self._details.clear()

    def _oldest_index(self) -> int:
        # Keep the bucket that holds "now - window" whole: errors are never
        # under-counted, at worst counted one bucket width too long.
        return int(self._clock() // self._width) - BUCKETS
