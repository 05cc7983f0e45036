"""METRICS_PORT end to end: the real bot serves /metrics; scraped during and after a /leech
(a download from the loopback origin, an upload to the fake Bot API)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests import polling
from tests.conftest import OWNER
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.fakes.ports import reserved_port

MiB = 1024 * 1024
SIZE = 6 * MiB


class Scraper:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.text = ""

    def scrape(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """sample name -> {sorted labels: value}, parsed by prometheus_client's own parser."""
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            self.text = resp.read().decode()
        samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(self.text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                samples.setdefault(sample.name, {})[labels] = sample.value
        return samples

    def reachable(self) -> bool:
        try:
            self.scrape()
        except (urllib.error.URLError, ConnectionError):
            return False
        return True


def total(samples: dict[str, dict[Any, float]], name: str, **match: str) -> float:
    return sum(
        value for labels, value in samples.get(name, {}).items()
        if all((key, want) in labels for key, want in match.items())
    )


def test_metrics_during_and_after_a_leech(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    port = reserved_port()
    make_bot(METRICS_PORT=str(port), SAMPLER_INTERVAL="0.2")
    metrics = Scraper(port)
    polling.wait_until(metrics.reachable, 30, "the bot's /metrics to answer")
    first = metrics.scrape()
    assert total(first, "telebot_info", role="front") == 1
    before = total(first, "telebot_downloaded_bytes_total", role="front")

    origin.add("/files/big.bin", size=SIZE, seed=3)
    origin.fault("/files/big.bin", throttle=2 * MiB)  # ~3 s: long enough to be seen running
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/files/big.bin", chat_id=OWNER, user_id=OWNER)

    # While it downloads: the task with its state label, its bytes counted before it ends, and
    # the owner counted as a user with a running task, but not named.
    during: dict[str, dict[Any, float]] = {}

    def downloading_with_bytes() -> bool:
        nonlocal during
        during = metrics.scrape()
        return (
            total(during, "telebot_tasks", state="downloading", kind="leech") == 1
            and total(during, "telebot_downloaded_bytes_total") > before
        )

    polling.wait_until(downloading_with_bytes, 60, "a scrape showing the running download")
    # Never more than the file (a loaded machine may scrape it fully read, not yet switched).
    assert total(during, "telebot_downloaded_bytes_total", engine="http") - before <= SIZE
    assert total(during, "telebot_users_with_running_tasks") == 1
    # No user ids without METRICS_USER_LABELS: in no label (a value like 0.0061000 may hold
    # the digits, which is why the labels are read, not the text searched).
    labels = {v for f in text_string_to_metric_families(metrics.text)
              for sample in f.samples for v in sample.labels.values()}
    assert str(OWNER) not in labels
    assert total(during, "telebot_process_resident_memory_bytes", role="front") > 10 * MiB

    done = wait_text(bot_api, r"✅", chat_id=OWNER, since=since, timeout=120)
    assert "big.bin" in text_of(done)
    [upload] = [c for c in bot_api.calls_of("sendDocument") if c.index >= since and c.status == 200]
    assert upload.files["document"].size == SIZE

    # After: every byte counted (the tail after the last scrape too), the duration observed
    # once, and nothing left running.
    after: dict[str, dict[Any, float]] = {}

    def finished() -> bool:
        nonlocal after
        after = metrics.scrape()
        return total(after, "telebot_task_duration_seconds_count", kind="leech") >= 1

    polling.wait_until(finished, 30, "the finished task's duration on /metrics")
    assert total(after, "telebot_downloaded_bytes_total", engine="http") - before >= SIZE
    assert total(after, "telebot_uploaded_bytes_total", engine="telegram") >= SIZE
    assert total(after, "telebot_task_duration_seconds_count", kind="leech", outcome="done") == 1
    # 6 MiB at 2 MiB/s cannot take under a second: the le="1.0" bucket stays empty.
    assert total(after, "telebot_task_duration_seconds_bucket", kind="leech", le="1.0") == 0
    assert total(after, "telebot_task_duration_seconds_sum", kind="leech") >= 2.0
    assert total(after, "telebot_tasks") == 0 and total(after, "telebot_queue_depth") == 0
    assert total(after, "telebot_breakers", host_class="http", state="closed") >= 1
    assert total(after, "telebot_storage_threshold_bytes") == 2_000_000_000
    assert total(after, "telebot_disk_free_bytes") > 0
    assert origin.url.split("//")[1].split(":")[0] not in metrics.text  # no host names
