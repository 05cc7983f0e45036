"""Monitoring in the running bot: the sampler and reporter threads, the loop-lag probe, /stats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import Update

from telebot import fileio, sandbox
from telebot.bot.context import BotContext
from telebot.bot.feature import Feature, Handler
from telebot.config import Config, heartbeat_file
from telebot.engine.manager import TaskManager
from telebot.monitor.chart import render_chart
from telebot.monitor.counters import COUNTERS
from telebot.monitor.looplag import LoopLagProbe
from telebot.monitor.perf import REGISTRY
from telebot.monitor.report import Reporter, build_report
from telebot.monitor.sampler import Sampler
from telebot.monitor.stats import StatsInput, render_stats, tool_versions
from telebot.resilience import BREAKERS, ERRORS
from telebot.sinks.rclone.remotes import remote_names

if TYPE_CHECKING:
    from telebot.monitor.metrics import MetricsServer


# Seconds /stats waits for the sampler's first sample (psutil's import and one reading, usually
# well under a second) when it arrives right after the start.
FIRST_SAMPLE_WAIT = 5.0


@dataclass
class Monitoring(Feature):
    """The monitoring threads (started and stopped with the bot), /stats, and the getUpdates
    heartbeat the health check reads."""

    config: Config
    manager: TaskManager
    sampler: Sampler
    reporter: Reporter
    probe: LoopLagProbe = field(default_factory=LoopLagProbe)
    metrics: MetricsServer | None = None  # METRICS_PORT's /metrics, while it serves

    @classmethod
    def create(cls, config: Config, manager: TaskManager) -> Monitoring:
        sampler = Sampler(
            interval=config.sampler_interval,
            disk_path=config.download_dir,
            heartbeat_path=heartbeat_file(config.database_path),
        )
        monitoring = cls(
            config, manager, sampler, Reporter(config.perf_report_interval, lambda: "")
        )
        monitoring.reporter = Reporter(config.perf_report_interval, monitoring.report)
        return monitoring

    def commands(self) -> Mapping[str, Handler]:
        return {"stats": self.stats}

    def started(self, ctx: BotContext) -> None:
        self.start(ctx.loop)

    def polling_started(self) -> None:
        # Its first sample (and psutil's import) would compete for the one GIL with the start:
        # the heartbeat it writes is only worth anything once getUpdates succeeds anyway.
        self.sampler.start()

    def polled(self) -> None:
        self.sampler.note_poll()

    def stopping(self) -> None:
        self.stop()

    def report(self) -> str:
        return build_report(
            sampler=self.sampler,
            perf=REGISTRY,
            errors=ERRORS.totals_by_kind(),
            breakers=BREAKERS.snapshot(),
            loop_lag=self.probe.summary(),
        )

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the report thread, and the lag probe on ``loop`` (the polling loop) if given;
        the sampler starts with polling (:meth:`polling_started`)."""
        self.reporter.start()
        if loop is not None:
            self.probe.start(loop)
        if self.config.metrics_port:  # imported only when on: prometheus_client costs ~60 ms
            from telebot.monitor import metrics

            self.metrics = metrics.start(self.config, metrics.Sources(
                role="front", manager=self.manager, sampler=self.sampler,
                loop_lag=self.probe.summary, disk=self.manager.limits.disk, breakers=BREAKERS,
                sandbox_on=lambda: sandbox.status().on,
                user_labels=self.config.metrics_user_labels,
            ))

    def stop(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        self.probe.stop()
        self.reporter.stop()
        self.sampler.stop()

    def stats_input(self, uptime: float, *, show_hosts: bool = False) -> StatsInput:
        return StatsInput(
            uptime=uptime,
            sample=self.sampler.latest(wait=FIRST_SAMPLE_WAIT),
            tasks_by_state=self.manager.counts_by_state(),
            slowest=REGISTRY.slowest(5),
            error_counts=ERRORS.totals_by_kind(),
            open_breakers=BREAKERS.open_breakers(),
            native_io=fileio.NATIVE,
            versions=tool_versions(),
            download_dir=self.config.download_dir,
            io_path=fileio.active_path().partition("/")[2],
            loop_lag=self.probe.summary(),
            show_hosts=show_hosts,
            remotes=remote_names(self.config.rclone_config),
            sandbox=sandbox.status().line(),
            host_failures=COUNTERS.host_failures(),
        )

    async def stats(self, update: Update, ctx: BotContext) -> None:
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        uptime = time.monotonic() - ctx.started_at
        # Breakers name the hosts other users download from: for sudo users only (issue 11).
        sudo = ctx.auth.is_sudo(user.id)
        text = await asyncio.to_thread(
            lambda: render_stats(self.stats_input(uptime, show_hosts=sudo))
        )
        await ctx.reply(update, text)
        png = await asyncio.to_thread(lambda: render_chart(self.sampler.history()))
        if png is not None:
            payload: dict[str, Any] = {"photo": png, "caption": "CPU, RAM and network, last hour"}
            await asyncio.to_thread(
                ctx.bridge.send_file, chat.id, "send_photo", lambda: payload, timeout=60
            )
