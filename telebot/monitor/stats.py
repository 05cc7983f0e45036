"""The /stats message: render a health summary as Telegram HTML.

:func:`render_stats` is pure (data in, text out) so the handler stays thin and
the 4096-character bound can be tested with absurd inputs. The bound holds by
construction: every list is capped ("... and N more"), every name is
shortened before it is escaped, and a final pass drops whole lines (each line
closes its own tags, so the HTML stays valid) should anything still overflow.

:func:`tool_versions` probes the external tools once per process.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from telebot.monitor.looplag import LagSummary
from telebot.monitor.perf import FunctionStats
from telebot.monitor.sampler import Sample
from telebot.units import format_bytes, format_duration, format_seconds

__all__ = ["MESSAGE_LIMIT", "StatsInput", "render_stats", "tool_versions"]

MESSAGE_LIMIT = 4096  # Bot API sendMessage text limit (docs/TELEGRAM.md, limits)
NAME_LIMIT = 40  # characters of one function/host/state name shown
LIST_LIMIT = 8  # entries shown per list before "... and N more"
# Characters per list line: 4 list lines + 6 slowest lines + ~10 fixed lines stay
# well under MESSAGE_LIMIT even when every name escapes to five times its length.
LINE_BUDGET = 480
PROBE_TIMEOUT = 5.0  # seconds a tool gets to print its version

# (label, candidate executables, argument that prints the version). 7-Zip ships
# as 7z (p7zip), 7zz (upstream) or 7za; without arguments it prints its banner.
# unar extracts RAR; deno is the JavaScript runtime yt-dlp needs for YouTube's formats.
TOOLS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("rclone", ("rclone",), ("version",)),
    ("7z", ("7z", "7zz", "7za"), ()),
    ("unar", ("unar",), ("-v",)),
    ("ffmpeg", ("ffmpeg",), ("-version",)),
    ("yt-dlp", ("yt-dlp",), ("--version",)),
    ("deno", ("deno",), ("--version",)),
)
_VERSION = re.compile(r"\d+(?:\.\d+)+")


@dataclass
class StatsInput:
    """Everything /stats shows; the handler gathers it from the live parts.

    ``open_breakers`` holds (key, seconds until a trial call); ``versions``
    maps a tool to its version, or None when it is not installed. Breaker keys
    name the hosts other users download from, so they are shown only with
    ``show_hosts`` (sudo users); everyone else sees how many are open.
    """

    uptime: float
    sample: Sample | None
    tasks_by_state: dict[str, int]
    slowest: list[FunctionStats]
    error_counts: dict[str, int]
    open_breakers: list[tuple[str, float]]
    native_io: bool
    versions: dict[str, str | None]
    download_dir: Path
    io_path: str = ""  # fileio.active_path() without the backend, e.g. "clone+linkat"
    loop_lag: LagSummary | None = None  # None: no probe running
    show_hosts: bool = False
    remotes: list[str] | None = None  # rclone remotes' names (never settings); None: no config
    sandbox: str = ""  # telebot.sandbox.status().line(); "" = not shown
    # File host resolves that failed, by resolver ("MediaFire": 2), since start; {} = not shown.
    host_failures: dict[str, int] = field(default_factory=dict)


def render_stats(s: StatsInput) -> str:
    """The /stats text in Telegram HTML, never longer than :data:`MESSAGE_LIMIT`.

    Fixed-size facts come first and the open-ended lists last, so that if the
    final trim ever has to drop lines, it drops list tails, not the versions.
    """
    lines = [f"<b>Bot stats</b> · up {format_duration(s.uptime)}"]
    lines += _system_lines(s.sample, s.download_dir)
    io_core = "native" if s.native_io else "Python fallback"
    if s.io_path:
        io_core += f" ({html.escape(s.io_path)})"
    lines.append(f"<b>IO core</b>: {io_core}")
    lines.append(_versions_line(s.versions))
    if s.sandbox:
        name, _, rest = s.sandbox.partition(": ")
        lines.append(f"<b>{html.escape(name.capitalize())}</b>: {html.escape(rest)}")
    if s.remotes is not None:
        names = [_name(r) for r in s.remotes] or ["none"]
        lines.append(_join_items("<b>rclone remotes</b>: ", names))
    if s.loop_lag is not None:
        lines.append(_loop_lag_line(s.loop_lag))
    lines.append(_counts_line("Tasks", s.tasks_by_state, "none"))
    lines += _slowest_lines(s.slowest)
    lines.append(_counts_line("Errors", s.error_counts, "none"))
    if s.host_failures:
        lines.append(_counts_line("Failed file host links", s.host_failures, "none"))
    lines.append(_breaker_line(s.open_breakers, s.show_hosts))
    return fit_lines(lines, MESSAGE_LIMIT)


def fit_lines(lines: Sequence[str], limit: int) -> str:
    """Join ``lines``; drop trailing lines until the text fits ``limit``.

    Length is counted in UTF-16 code units, as Telegram counts, so emoji in
    names cannot push a message over the limit.
    """
    kept = list(lines)
    text = "\n".join(kept)
    while kept and _tg_len(text) > limit:
        kept.pop()
        text = "\n".join([*kept, "<i>... truncated</i>"])
    return text if _tg_len(text) <= limit else "<i>stats too long</i>"


def _tg_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _system_lines(sample: Sample | None, download_dir: Path) -> list[str]:
    if sample is None:
        return ["<i>no system sample yet</i>"]
    mem_pct = 100 * sample.mem_used / sample.mem_total if sample.mem_total else 0.0
    return [
        f"<b>Bot</b>: CPU {sample.proc_cpu:.0f}% · RSS {format_bytes(sample.proc_rss)}"
        f" · {sample.proc_threads} threads · {sample.proc_open_files} fds",
        f"<b>Host</b>: CPU {sample.host_cpu:.0f}% · RAM {format_bytes(sample.mem_used)}"
        f" / {format_bytes(sample.mem_total)} ({mem_pct:.0f}%)",
        f"<b>Disk</b> <code>{_name(str(download_dir))}</code>: "
        f"{format_bytes(sample.disk_free)} free of {format_bytes(sample.disk_total)}",
        f"<b>Net</b>: ↓ {format_bytes(sample.net_rx_rate)}/s ↑ {format_bytes(sample.net_tx_rate)}/s"
        f" · total ↓ {format_bytes(sample.net_rx_total)} ↑ {format_bytes(sample.net_tx_total)}",
    ]


def _slowest_lines(slowest: Sequence[FunctionStats]) -> list[str]:
    if not slowest:
        return ["<b>Slowest</b>: no timings yet"]
    lines = ["<b>Slowest</b> (p95 · mean · calls · errors)"]
    for st in slowest[:5]:
        lines.append(
            f"<code>{_name(st.name)}</code> {format_seconds(st.p95)} · "
            f"{format_seconds(st.mean)} · {st.calls} · {st.errors}"
        )
    if len(slowest) > 5:
        lines.append(f"... and {len(slowest) - 5} more")
    return lines


def _counts_line(title: str, counts: dict[str, int], empty: str) -> str:
    if not counts:
        return f"<b>{title}</b>: {empty}"
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return _join_items(f"<b>{title}</b>: ", [f"{_name(k)} {v}" for k, v in ranked])


def _loop_lag_line(lag: LagSummary) -> str:
    head = f"<b>Loop lag</b> (last {format_duration(lag.window)}): "
    if not lag.count:
        return head + "no probes yet"
    return head + (
        f"p95 {format_seconds(lag.p95)} · max {format_seconds(lag.max)} · {lag.count} probes"
    )


def _breaker_line(open_breakers: Sequence[tuple[str, float]], show_hosts: bool) -> str:
    if not open_breakers:
        return "<b>Breakers</b>: all closed"
    if not show_hosts:
        return f"<b>Open breakers</b>: {len(open_breakers)} (hosts are shown to sudo users)"
    ranked = sorted(open_breakers, key=lambda kv: -kv[1])
    parts = [f"{_name(k)} (retry in {format_duration(v)})" for k, v in ranked]
    return _join_items("<b>Open breakers</b>: ", parts)


def _versions_line(versions: dict[str, str | None]) -> str:
    parts = [f"{_name(k)} {_name(v) if v else '—'}" for k, v in versions.items()]
    return _join_items("<b>Versions</b>: ", parts)


def _join_items(head: str, items: Sequence[str]) -> str:
    """``head`` + items joined by " · ", at most :data:`LIST_LIMIT` of them and
    :data:`LINE_BUDGET` characters; the rest is summarised as "... and N more"."""
    shown: list[str] = []
    used = _tg_len(head)
    for item in items[:LIST_LIMIT]:
        cost = _tg_len(item) + 3  # " · "
        if shown and used + cost > LINE_BUDGET:
            break
        shown.append(item)
        used += cost
    rest = len(items) - len(shown)
    return head + " · ".join(shown) + (f" · ... and {rest} more" if rest else "")


def _name(text: str) -> str:
    """Shorten, then escape: escaping first could cut an ``&amp;`` in half."""
    if len(text) > NAME_LIMIT:
        text = text[: NAME_LIMIT - 1] + "…"
    return html.escape(text, quote=False)


# -- tool versions -------------------------------------------------------------


@functools.cache
def tool_versions() -> dict[str, str | None]:
    """Versions of Python, python-telegram-bot and the external tools.

    A tool that is not on PATH maps to None; one that is present but does not
    say its version maps to "unknown". Probed once per process (cached).
    """
    versions = probe_versions(TOOLS, which=scripts_first)
    versions["yt-dlp-ejs"] = _dist_version("yt-dlp-ejs")
    return versions


def scripts_first(name: str) -> str | None:
    """``name`` in this Python's scripts folder (a venv's ``bin``, where pip put ``deno`` and
    ``yt-dlp``), else on PATH. yt-dlp looks for its JavaScript runtime in this order too
    (``yt_dlp.utils._jsruntime._find_exe``), so /stats shows the deno it really runs, also
    when the venv is not activated."""
    candidate = os.path.join(sysconfig.get_path("scripts"), name)
    if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
        return candidate
    return shutil.which(name)


def probe_versions(
    tools: Iterable[tuple[str, tuple[str, ...], tuple[str, ...]]],
    *,
    which: Callable[[str], str | None] = shutil.which,
    timeout: float = PROBE_TIMEOUT,
) -> dict[str, str | None]:
    """Uncached worker of :func:`tool_versions`, with injectable lookup and timeout."""
    import platform  # deferred: platform + importlib.metadata ~60 ms at start-up (importtime)

    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "python-telegram-bot": _dist_version("python-telegram-bot"),
    }
    for label, names, args in tools:
        path = next((p for p in map(which, names) if p), None)
        versions[label] = None if path is None else _run_version(path, args, timeout)
    return versions


def _dist_version(dist: str) -> str | None:
    # importlib.metadata rather than `import telegram`: no need to load PTB for a string.
    import importlib.metadata  # deferred: /stats only, not start-up

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _run_version(path: str, args: tuple[str, ...], timeout: float) -> str:
    try:
        done = subprocess.run(
            [path, *args],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.strip():
            match = _VERSION.search(line)
            return match.group(0) if match else "unknown"
    return "unknown"
