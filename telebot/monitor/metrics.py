"""Prometheus metrics (``METRICS_PORT``): what the bot knows, in the text format at /metrics.

:class:`TelebotCollector` reads the bot's live state when Prometheus scrapes (the task manager,
the breakers, the sampler, the loop-lag probe, the disk guard, the sandbox status) instead of
keeping counters of its own in step with it; only events that leave no state are counted as they
happen (:mod:`telebot.monitor.counters`). Each metric, its labels and meaning: docs/METRICS.md.

It registers in a private :class:`~prometheus_client.CollectorRegistry`, never the library's
global one, so no other module's metrics (or the library's default process collector, which
would repeat the sampler's numbers under other names) end up on the page, and tests can build as
many as they like. :func:`start` serves it from prometheus_client's own HTTP server on a daemon
thread: a scrape never runs on the event loop, and a slow scraper never delays a command.

Labels never carry secrets or names: no file names, links, hosts or chat ids; user ids only when
the owner sets ``METRICS_USER_LABELS=true``; breakers are grouped by the class of what they
guard, because their keys name the hosts users download from (/stats shows them to sudo only).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from telebot import __version__
from telebot.monitor.counters import COUNTERS, Counters, Task

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from telebot.config import Config
    from telebot.monitor.looplag import LagSummary
    from telebot.monitor.sampler import Sampler
    from telebot.resilience.breaker import BreakerRegistry

__all__ = ["MetricsServer", "Sources", "TelebotCollector", "host_class", "start"]


# What the collector reads of the engine, as protocols rather than imports: ``monitor/`` sits
# below the engine (the Bot API client and the engine report into it), so it may not import it.
class _Spec(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def user_id(self) -> int: ...


class _Task(Task, Protocol):
    """A task as the collector reads it: what the counters read, and its spec."""

    @property
    def spec(self) -> _Spec: ...


class TaskList(Protocol):
    """The tasks this process holds (``engine.manager.TaskManager`` implements it)."""

    def tasks(self) -> Sequence[_Task]: ...


class DiskRoom(Protocol):
    """Free space and STORAGE_THRESHOLD (``engine.diskguard.DiskGuard`` implements it)."""

    @property
    def threshold(self) -> int: ...

    def free(self) -> int: ...


log = logging.getLogger(__name__)

F = TypeVar("F", GaugeMetricFamily, CounterMetricFamily, HistogramMetricFamily)

ROLES = ("front", "worker")
BREAKER_STATES = ("closed", "open", "half_open")
HOST_CLASSES = ("telegram", "rclone", "http")
#: Breaker keys of the Bot API (botapi/messenger.py BOT_API_KEY) and of rclone remotes
#: (sinks/rclone.py: "rclone:<remote>"); every other key is a download host.
_TELEGRAM_KEY = "Telegram Bot API"
_RCLONE_PREFIX = "rclone:"


def host_class(key: str) -> str:
    """The class of a breaker's key, the only part of it a label may show."""
    if key == _TELEGRAM_KEY:
        return "telegram"
    if key.startswith(_RCLONE_PREFIX):
        return "rclone"
    return "http"


@dataclass
class Sources:
    """Where the collector reads from; None: this process has no such part (a worker has no
    event loop of its own to probe, tests leave out what they do not look at)."""

    role: str
    manager: TaskList | None = None
    sampler: Sampler | None = None
    loop_lag: Callable[[], LagSummary] | None = None
    disk: DiskRoom | None = None
    breakers: BreakerRegistry | None = None
    sandbox_on: Callable[[], bool] | None = None
    user_labels: bool = False
    counters: Counters = COUNTERS

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")


class TelebotCollector(Collector):
    """Builds every metric family from :class:`Sources` at each scrape."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self.sources
        yield self._gauge("telebot_info", "This process: version and role.", 1.0,
                          version=__version__)
        if s.manager is not None:
            yield from self._tasks(s.manager)
        yield from self._transfer(s.counters)
        if s.breakers is not None:
            yield self._breakers(s.breakers)
        hosts = self._family(CounterMetricFamily, "telebot_host_resolve_failures",
                             "File host share links whose resolve failed, by resolver.", ["host"])
        for host, failures in sorted(s.counters.host_failures().items()):
            hosts.add_metric([self.sources.role, host], failures)
        yield hosts
        floods, waited = s.counters.floods()
        yield self._counter("telebot_telegram_flood_waits",
                            "Bot API 429 answers (flood waits) this process received.", floods)
        yield self._counter("telebot_telegram_flood_wait_seconds",
                            "Seconds those 429 answers asked this process to wait.", waited)
        if s.loop_lag is not None:
            lag = s.loop_lag()
            yield self._gauge("telebot_event_loop_lag_p95_seconds",
                              "95th percentile of the event loop's lag, last window.", lag.p95)
            yield self._gauge("telebot_event_loop_lag_max_seconds",
                              "Largest event loop lag in the last window.", lag.max)
        if s.sandbox_on is not None:
            yield self._gauge("telebot_sandbox_enabled",
                              "1 when tools reading untrusted bytes get Landlock walls.",
                              1.0 if s.sandbox_on() else 0.0)
        if s.disk is not None:
            yield from self._disk(s.disk)
        if s.sampler is not None:
            yield from self._process(s.sampler)

    # -- families -------------------------------------------------------------------------

    def _tasks(self, manager: TaskList) -> Iterator[Metric]:
        by_state: Counter[tuple[str, str]] = Counter()
        per_user: Counter[int] = Counter()
        tasks = manager.tasks()
        for task in tasks:
            state = task.state.value
            by_state[(state, task.spec.kind)] += 1
            if state not in ("queued", "done", "failed", "cancelled"):
                per_user[task.spec.user_id] += 1
            # Running transfers count as they go, not only when their stage ends.
            self.sources.counters.credit(task)
        tasks_family = self._family(GaugeMetricFamily, "telebot_tasks",
                                    "Tasks this process holds, by state and kind.",
                                    ["state", "kind"])
        for (state, kind), count in sorted(by_state.items()):
            tasks_family.add_metric([self.sources.role, state, kind], count)
        yield tasks_family
        yield self._gauge("telebot_queue_depth", "Tasks waiting for a place to run.",
                          sum(n for (state, _), n in by_state.items() if state == "queued"))
        yield self._gauge("telebot_users_with_running_tasks",
                          "Users with at least one running task.", len(per_user))
        yield self._gauge("telebot_user_running_tasks_max",
                          "Running tasks of the busiest user.", max(per_user.values(), default=0))
        if self.sources.user_labels:  # METRICS_USER_LABELS=true: the owner chose to show ids
            family = self._family(GaugeMetricFamily, "telebot_user_running_tasks",
                                  "Running tasks per user id.", ["user"])
            for user, count in sorted(per_user.items()):
                family.add_metric([self.sources.role, str(user)], count)
            yield family

    def _transfer(self, counters: Counters) -> Iterator[Metric]:
        moved = counters.bytes_by()
        for direction, help_text in (
            ("download", "Bytes downloaded, by engine (http, torrent, ytdl, telegram...)."),
            ("upload", "Bytes uploaded, by engine (telegram, rclone, local...)."),
        ):
            family = self._family(CounterMetricFamily, f"telebot_{direction}ed_bytes",
                                  help_text, ["engine"])
            for (dirn, engine), total in sorted(moved.items()):
                if dirn == direction:
                    family.add_metric([self.sources.role, engine], total)
            yield family
        durations = self._family(HistogramMetricFamily, "telebot_task_duration_seconds",
                                 "Seconds from submission to the end, of finished tasks.",
                                 ["kind", "outcome"])
        for (kind, outcome), data in sorted(counters.durations().items()):
            durations.add_metric([self.sources.role, kind, outcome], data.cumulative(),
                                 data.total)
        yield durations

    def _breakers(self, breakers: BreakerRegistry) -> Metric:
        counts = Counter((host_class(key), state) for key, state in breakers.snapshot().items())
        family = self._family(GaugeMetricFamily, "telebot_breakers",
                              "Circuit breakers by the class of what they guard, and state.",
                              ["host_class", "state"])
        # Every pair, zeros too: an alert on state="open" needs the series to exist.
        for cls in HOST_CLASSES:
            for state in BREAKER_STATES:
                family.add_metric([self.sources.role, cls, state], counts[(cls, state)])
        return family

    def _disk(self, disk: DiskRoom) -> Iterator[Metric]:
        try:
            free = disk.free()
        except OSError as exc:  # DOWNLOAD_DIR gone: the other metrics still matter
            log.debug("metrics: disk free: %s", exc)
        else:
            yield self._gauge("telebot_disk_free_bytes",
                              "Free bytes on the DOWNLOAD_DIR file system.", free)
        yield self._gauge("telebot_storage_threshold_bytes",
                          "STORAGE_THRESHOLD: free space downloads keep (0 = off).",
                          disk.threshold)

    def _process(self, sampler: Sampler) -> Iterator[Metric]:
        sample = sampler.latest()
        if sample is None:  # no sample yet: no value is better than a made-up 0
            return
        yield self._gauge("telebot_process_cpu_percent",
                          "This process's CPU, percent of one core (the sampler's reading).",
                          sample.proc_cpu)
        yield self._gauge("telebot_process_resident_memory_bytes",
                          "This process's resident memory (the sampler's reading).",
                          sample.proc_rss)
        yield self._gauge("telebot_process_threads", "This process's threads.",
                          sample.proc_threads)
        yield self._gauge("telebot_process_open_fds", "This process's open file descriptors.",
                          sample.proc_open_files)
        yield self._gauge("telebot_sample_timestamp_seconds",
                          "When the sampler took these readings (Unix time).", sample.at)

    # -- helpers: every family carries the role label first -------------------------------

    def _family(self, cls: type[F], name: str, doc: str, labels: Iterable[str]) -> F:
        return cls(name, doc, labels=["role", *labels])

    def _gauge(self, name: str, doc: str, value: float, **labels: str) -> Metric:
        family = self._family(GaugeMetricFamily, name, doc, labels)
        family.add_metric([self.sources.role, *labels.values()], value)
        return family

    def _counter(self, name: str, doc: str, value: float) -> Metric:
        family = self._family(CounterMetricFamily, name, doc, [])
        family.add_metric([self.sources.role], value)
        return family


@dataclass
class MetricsServer:
    """A running /metrics endpoint; :meth:`stop` closes its socket."""

    server: WSGIServer
    registry: CollectorRegistry

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def registry_for(sources: Sources) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelebotCollector(sources))
    return registry


def start(config: Config, sources: Sources) -> MetricsServer | None:
    """Serve /metrics on ``METRICS_BIND:METRICS_PORT``; None when METRICS_PORT is 0 (off) or the
    port cannot be bound: metrics are worth an ERROR line, never the bot's life."""
    if not config.metrics_port:
        return None
    registry = registry_for(sources)
    try:
        server, _thread = start_http_server(config.metrics_port, config.metrics_bind,
                                            registry=registry)
    except OSError as exc:
        log.error("metrics: cannot listen on %s:%d (%s); /metrics is off",
                  config.metrics_bind, config.metrics_port, exc)
        return None
    log.info("metrics: Prometheus text format at http://%s:%d/metrics (role=%s)",
             config.metrics_bind, config.metrics_port, sources.role)
    return MetricsServer(server, registry)
