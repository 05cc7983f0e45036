"""Tests of telebot.resilience.errors: the sliding-window error tracker and redaction."""

from __future__ import annotations

import threading

import pytest

from telebot.resilience.errors import BUCKETS, MAX_DETAIL_CHARS, ErrorTracker, redact
from tests.resilience.conftest import FakeClock


def test_counts_by_kind_and_source(clock: FakeClock) -> None:
    tracker = ErrorTracker(clock=clock)
    tracker.record("ConnectionError", "a.example")
    tracker.record("ConnectionError", "a.example")
    tracker.record("ConnectionError", "b.example")
    tracker.record("HTTPStatusError", "a.example", "HTTP 503 from a.example")
    assert tracker.counts() == {
        ("ConnectionError", "a.example"): 2,
        ("ConnectionError", "b.example"): 1,
        ("HTTPStatusError", "a.example"): 1,
    }
    assert tracker.totals_by_kind() == {"ConnectionError": 3, "HTTPStatusError": 1}
    assert tracker.summary(limit=2) == ["2 x ConnectionError from a.example",
                                        "1 x ConnectionError from b.example"]


def test_old_errors_leave_the_window(clock: FakeClock) -> None:
    tracker = ErrorTracker(window=3600, clock=clock)
    tracker.record("Old", "h")
    clock.advance(1800)
    tracker.record("New", "h")
    assert tracker.totals_by_kind() == {"Old": 1, "New": 1}
    clock.advance(1800 + 3600 / BUCKETS)  # Old is a window (plus a bucket) old
    assert tracker.totals_by_kind() == {"New": 1}
    clock.advance(1800 + 3600 / BUCKETS)
    assert tracker.counts() == {}


def test_never_undercounts_inside_the_window(clock: FakeClock) -> None:
    tracker = ErrorTracker(window=60, clock=clock)
    for _ in range(600):
        tracker.record("E", "h")
        clock.advance(0.1)  # 600 errors over the last 60 s
    assert tracker.counts()[("E", "h")] == 600


def test_memory_stays_bounded_under_a_storm(clock: FakeClock) -> None:
    tracker = ErrorTracker(window=60, clock=clock)
    for _ in range(100_000):
        tracker.record("E", "h")
        clock.advance(0.01)
    counter = tracker._counts[("E", "h")]
    tracker.counts()
    assert len(counter.buckets) <= BUCKETS + 1


def test_recent_keeps_the_last_few_details_redacted(clock: FakeClock) -> None:
    tracker = ErrorTracker(keep_details=2, clock=clock)
    for i in range(4):
        tracker.record("E", "h", f"failure {i}")
    tracker.record("E", "api", "POST https://x/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/send")
    assert tracker.recent("E") == ["h: failure 3", "api: POST https://x/bot***/send"]
    assert tracker.recent("Other") == []


def test_record_is_thread_safe(clock: FakeClock) -> None:
    tracker = ErrorTracker(clock=clock)
    go = threading.Barrier(16)

    def worker() -> None:
        go.wait(10)
        for _ in range(500):
            tracker.record("E", "h", "x")

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert tracker.counts() == {("E", "h"): 8000}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pa55@host.example/file.zip", "https://***@host.example/file.zip"),
        ("GET https://h/f?sig=abc&key=1 failed", "GET https://h/f?… failed"),
        ("token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 leaked", "token *** leaked"),
        ("line one\nline two", "line one line two"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_truncates() -> None:
    out = redact("x" * 1000)
    assert len(out) == MAX_DETAIL_CHARS and out.endswith("…")


def test_tracker_validates() -> None:
    with pytest.raises(ValueError):
        ErrorTracker(window=0)
    with pytest.raises(ValueError):
        ErrorTracker(keep_details=-1)
