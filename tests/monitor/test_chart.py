from __future__ import annotations

import struct
import zlib

import pytest

from telebot.monitor import chart
from telebot.monitor.chart import COLORS, render_chart
from telebot.monitor.sampler import Sample

WHITE = (255, 255, 255)


def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """A strict little decoder for what chart.py writes: 8-bit RGB, filter 0."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, ctype, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, ctype) == (8, 2)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = []
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0
        rows.append([tuple(row[1 + 3 * x : 4 + 3 * x]) for x in range(width)])
    return width, height, rows  # type: ignore[return-value]


def series(n: int = 720, step: float = 5.0, **fields: float) -> list[Sample]:
    return [Sample(at=1000.0 + step * i, **fields) for i in range(n)]  # type: ignore[arg-type]


def plot_box(width: int, height: int) -> tuple[int, int, int, int]:
    top = chart.LEGEND_H + chart.MARGIN
    return chart.MARGIN, top, width - chart.MARGIN - 1, height - chart.AXIS_H - 1


def ys_of(rows, x: int, color) -> list[int]:
    return [y for y, row in enumerate(rows) if row[x] == color]


def test_empty_history_gives_none():
    assert render_chart([]) is None


def test_dimensions_and_background():
    width, height, rows = decode_png(render_chart(series(host_cpu=10.0)) or b"")
    assert (width, height) == (640, 320)
    assert rows[height - 1][width - 1] == WHITE


def test_cpu_ram_and_network_lines_sit_at_their_values():
    # CPU 100 %, RAM 25 %; network at half its peak in the first half, at the peak after.
    data = [
        Sample(at=1000.0 + 5 * i, host_cpu=100.0, mem_used=25, mem_total=100,
               net_rx_rate=1.0 if i < 360 else 3.0, net_tx_rate=1.0)
        for i in range(720)
    ]  # fmt: skip
    width, height, rows = decode_png(render_chart(data, width=400, height=200) or b"")
    left, top, right, bottom = plot_box(width, height)

    def y_at(percent: float) -> int:
        return bottom - 1 - round(percent / 100 * (bottom - 1 - top))

    x_early, x_late = left + (right - left) // 4, left + 3 * (right - left) // 4
    assert ys_of(rows, x_early, COLORS["cpu"]) == [top, top + 1]
    assert ys_of(rows, x_early, COLORS["ram"]) == [y_at(25), y_at(25) + 1]
    assert ys_of(rows, x_early, COLORS["net"]) == [y_at(50), y_at(50) + 1]
    assert ys_of(rows, x_late, COLORS["net"]) == [top, top + 1]  # drawn last, over CPU


def test_a_pause_in_sampling_breaks_the_line():
    data = [s for s in series(host_cpu=50.0) if not 1000 + 5 * 300 < s.at < 1000 + 5 * 420]
    width, height, rows = decode_png(render_chart(data) or b"")
    left, _, right, _ = plot_box(width, height)
    x_in_gap = left + round(360 / 719 * (right - left))  # sample 360 of 720 is missing
    x_drawn = left + round(100 / 719 * (right - left))
    assert ys_of(rows, x_in_gap, COLORS["cpu"]) == []
    assert ys_of(rows, x_drawn, COLORS["cpu"]) != []


def test_only_the_window_is_drawn():
    old = series(n=10, host_cpu=100.0)  # an hour and more before the rest
    recent = [Sample(at=20000.0 + 5 * i, host_cpu=0.0) for i in range(10)]
    width, height, rows = decode_png(render_chart(old + recent) or b"")
    _, top, _, _ = plot_box(width, height)
    assert COLORS["cpu"] not in rows[top]


def test_legend_boxes_are_coloured():
    _, _, rows = decode_png(render_chart(series(n=2)) or b"")
    legend_row = rows[chart.MARGIN // 2 + 2]
    for key in ("cpu", "ram", "net"):
        assert COLORS[key] in legend_row


def test_too_small_is_refused():
    with pytest.raises(ValueError):
        render_chart(series(n=2), width=10, height=10)
