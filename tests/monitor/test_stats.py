from __future__ import annotations

import html.parser
import re
import shutil
import stat
import sys
from pathlib import Path

import pytest

from telebot.monitor.perf import FunctionStats
from telebot.monitor.sampler import Sample
from telebot.monitor.stats import (
    MESSAGE_LIMIT,
    StatsInput,
    fit_lines,
    format_bytes,
    format_duration,
    format_seconds,
    probe_versions,
    render_stats,
    tool_versions,
)


def tg_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class TagBalance(html.parser.HTMLParser):
    """Fails on a closing tag that was not opened; leaves the open ones in `stack`."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def assert_valid_html(text: str) -> None:
    parser = TagBalance()
    parser.feed(text)
    parser.close()
    assert parser.stack == []


SAMPLE = Sample(
    at=0.0, proc_cpu=3.0, proc_rss=85 * 2**20, proc_threads=14, proc_open_files=22, host_cpu=12.0,
    mem_used=2 * 2**30, mem_total=8 * 2**30, disk_free=20 * 2**30, disk_total=50 * 2**30,
    net_rx_rate=1.5 * 2**20, net_tx_rate=300 * 1024, net_rx_total=12 * 2**30,
    net_tx_total=3 * 2**30,
)  # fmt: skip


def stats_input(**kw: object) -> StatsInput:
    base: dict[str, object] = dict(
        uptime=93784.0,
        sample=SAMPLE,
        tasks_by_state={"downloading": 3, "queued": 2},
        slowest=[FunctionStats("sinks.telegram.upload", 14, 1, 170.0, 12.1, 10.0, 20.1, 30.0)],
        error_counts={"DownloadError": 3},
        open_breakers=[("example.com", 42.0)],
        native_io=True,
        versions={"python": "3.11.7", "python-telegram-bot": "22.8", "yt-dlp": None},
        download_dir=Path("/data/downloads"),
        show_hosts=True,  # the sudo view; test_hosts_only_for_sudo covers the other
    )
    base.update(kw)
    return StatsInput(**base)  # type: ignore[arg-type]


def test_render_normal_stats():
    text = render_stats(stats_input())
    for piece in [
        "up 1d 2h 3m",
        "CPU 3% · RSS 85.0 MiB · 14 threads",
        "RAM 2.0 GiB / 8.0 GiB (25%)",
        "<code>/data/downloads</code>: 20.0 GiB free of 50.0 GiB",
        "↓ 1.5 MiB/s ↑ 300.0 KiB/s · total ↓ 12.0 GiB ↑ 3.0 GiB",
        "<b>Tasks</b>: downloading 3 · queued 2",
        "<code>sinks.telegram.upload</code> 20.1 s · 12.1 s · 14 · 1",
        "<b>Errors</b>: DownloadError 3",
        "<b>Open breakers</b>: example.com (retry in 42s)",
        "<b>IO core</b>: native",
        "python-telegram-bot 22.8 · yt-dlp —",
    ]:
        assert piece in text
    assert_valid_html(text)


def test_render_without_sample_and_empty_lists():
    text = render_stats(
        stats_input(sample=None, tasks_by_state={}, slowest=[], error_counts={},
                    open_breakers=[], native_io=False)
    )  # fmt: skip
    assert "no system sample yet" in text
    assert "<b>Tasks</b>: none" in text
    assert "Breakers</b>: all closed" in text
    assert "Python fallback" in text


def test_hosts_only_for_sudo():
    """Breaker keys name other users' download hosts: a normal user sees only a count."""
    breakers = [("secret-host.example", 42.0), ("other.example", 10.0)]
    user = render_stats(stats_input(open_breakers=breakers, show_hosts=False))
    assert "example" not in user
    assert "<b>Open breakers</b>: 2 (hosts are shown to sudo users)" in user.splitlines()
    sudo = render_stats(stats_input(open_breakers=breakers, show_hosts=True))
    assert "secret-host.example (retry in 42s)" in sudo


def test_io_core_names_the_copy_path():
    text = render_stats(stats_input(native_io=True, io_path="clone+linkat"))
    assert "<b>IO core</b>: native (clone+linkat)" in text.splitlines()


def test_names_are_escaped():
    text = render_stats(stats_input(error_counts={"<script>&": 1}, download_dir=Path("/a<b>")))
    assert "&lt;script&gt;&amp; 1" in text
    assert "<code>/a&lt;b&gt;</code>" in text
    assert_valid_html(text)


def test_huge_inputs_stay_within_one_message():
    long = "x&<" * 200 + "😀" * 50
    text = render_stats(
        stats_input(
            download_dir=Path("/" + long),
            tasks_by_state={f"{long}{i}": i for i in range(5000)},
            slowest=[FunctionStats(f"{long}{i}", i, i, 1.0, 1.0, 1.0, 1.0, 1.0)
                     for i in range(1000)],
            error_counts={f"Error{i}{long}": i for i in range(5000)},
            open_breakers=[(f"host{i}.{long}", float(i)) for i in range(5000)],
            versions={f"tool{i}{long}": long for i in range(100)},
        )
    )  # fmt: skip
    assert tg_len(text) <= MESSAGE_LIMIT
    lines = text.splitlines()
    assert "truncated" not in text  # the per-line budgets suffice; no line was dropped
    assert lines[5] == "<b>IO core</b>: native"
    assert lines[6].startswith("<b>Versions</b>: tool0") and lines[6].endswith(" more")
    tasks_line = next(line for line in lines if line.startswith("<b>Tasks</b>"))
    shown = tasks_line.count(" · ")
    assert tasks_line.endswith(f" · ... and {5000 - shown} more")
    assert "... and 995 more" in text  # slowest: 5 shown of 1000
    assert lines[-1].startswith("<b>Open breakers</b>: host4999.")
    assert_valid_html(text)


def test_fit_lines_drops_whole_trailing_lines():
    lines = ["<b>head</b>", *[f"<i>line {i}</i>" for i in range(1000)]]
    text = fit_lines(lines, 200)
    assert tg_len(text) <= 200
    assert text.startswith("<b>head</b>\n<i>line 0</i>")
    assert text.endswith("<i>... truncated</i>")
    assert_valid_html(text)
    assert fit_lines(["y" * 500], 100) == "<i>... truncated</i>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**40, "5.0 TiB")],
)
def test_format_bytes(value: float, expected: str):
    assert format_bytes(value) == expected


def test_format_times():
    assert format_seconds(0.00085) == "850 µs"
    assert format_seconds(0.012) == "12 ms"
    assert format_seconds(3.44) == "3.4 s"
    assert format_seconds(125) == "2m 5s"
    assert format_duration(0) == "0s"
    assert format_duration(2 * 86400 + 3 * 3600 + 4 * 60 + 5) == "2d 3h 4m"


def fake_tool(directory: Path, name: str, script: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts as fake tools")
def test_probe_versions_with_fake_tools(tmp_path: Path):
    fake_tool(tmp_path, "aria2c", 'echo "aria2 version 1.2.3"; echo "Copyright 2.0.0"')
    fake_tool(tmp_path, "7zz", 'echo; echo "7-Zip (z) 26.02 (x64) : Copyright"')
    fake_tool(tmp_path, "ffmpeg", 'echo "ffmpeg version N-git"')
    fake_tool(tmp_path, "rclone", "exit 3")
    fake_tool(tmp_path, "yt-dlp", "exec sleep 30")  # hangs: must hit the timeout

    def which(name: str) -> str | None:
        path = tmp_path / name
        return str(path) if path.exists() else None

    tools = [
        ("aria2c", ("aria2c",), ("--version",)),
        ("7z", ("7z", "7zz", "7za"), ()),
        ("ffmpeg", ("ffmpeg",), ("-version",)),
        ("rclone", ("rclone",), ("version",)),
        ("yt-dlp", ("yt-dlp",), ("--version",)),
        ("absent", ("no-such-tool",), ()),
    ]
    versions = probe_versions(tools, which=which, timeout=0.5)
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert versions["aria2c"] == "1.2.3"
    assert versions["7z"] == "26.02"
    assert versions["ffmpeg"] == "unknown"
    assert versions["rclone"] == "unknown"
    assert versions["yt-dlp"] == "unknown"
    assert versions["absent"] is None


def test_tool_versions_is_cached():
    first = tool_versions()
    assert tool_versions() is first
    assert set(first) >= {"python", "python-telegram-bot", "rclone", "7z", "unar", "ffmpeg",
                          "yt-dlp", "deno", "yt-dlp-ejs"}  # fmt: skip
    assert "aria2c" not in first, "aria2 drives no download: /stats does not list it"
    assert first["python-telegram-bot"] is not None


def test_tool_versions_show_the_javascript_runtime_yt_dlp_runs_and_unar() -> None:
    from yt_dlp import YoutubeDL

    with YoutubeDL({"quiet": True}) as ydl:
        deno = ydl._js_runtimes["deno"].info  # the lookup yt-dlp itself makes
    assert deno is not None and deno.supported, "yt-dlp finds no usable deno"
    versions = tool_versions()
    assert versions["deno"] == deno.version
    assert versions["yt-dlp-ejs"] is not None
    if shutil.which("unar"):
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", versions["unar"] or "")


def test_failed_file_host_links_per_resolver():
    text = render_stats(stats_input(host_failures={"MediaFire": 2, "1fichier": 5}))
    assert "<b>Failed file host links</b>: 1fichier 5 · MediaFire 2" in text
    assert_valid_html(text)
    assert "Failed file host links" not in render_stats(stats_input())
