"""A small PNG chart of the last hour: host CPU %, RAM % and network rate.

Drawn by hand on an RGB ``bytearray`` and encoded with ``zlib`` + ``struct``
(PNG spec, RFC 2083): no new dependency. Matplotlib would add ~40 MB and a
second or more of import time to a bot whose chart is three polylines; Pillow
would still leave us drawing the lines. A 640x320 chart costs a few
milliseconds and compresses to a few kilobytes because it is mostly flat
colour.

Layout: a legend row (coloured boxes with labels in a 3x5 bitmap font), the
plot with a light grid (quarters vertically, 10-minute steps horizontally),
and time labels underneath. CPU and RAM use a fixed 0-100 % scale; network
(receive + send) is scaled to its peak, which the legend states.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence

from telebot.monitor.sampler import Sample

__all__ = ["COLORS", "render_chart"]

Color = tuple[int, int, int]

BACKGROUND: Color = (255, 255, 255)
GRID: Color = (228, 228, 228)
AXIS: Color = (150, 150, 150)
TEXT: Color = (70, 70, 70)
# Solarized accents: distinguishable for the common colour-vision deficiencies.
COLORS: dict[str, Color] = {
    "cpu": (220, 50, 47),
    "ram": (38, 139, 210),
    "net": (133, 153, 0),
}
SCALE = 2  # font pixels per glyph pixel
LEGEND_H = 9 * SCALE
AXIS_H = 8 * SCALE
MARGIN = 6
GAP_FACTOR = 3  # a pause longer than 3 sampling intervals breaks the line

# 3x5 glyphs, rows top to bottom, "1" = ink. Only what the labels need.
_FONT: dict[str, str] = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001010010010", "8": "111101111101111",
    "9": "111101111001111", "%": "101001010100101", ".": "000000000000010",
    "/": "001001010100100", "-": "000000111000000", " ": "000000000000000",
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011",
    "E": "111100110100111", "G": "011100101101011", "I": "111010010010111",
    "K": "101101110101101", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111",
    "W": "101101111111101", "X": "101101010101101",
}  # fmt: skip


class Canvas:
    """An RGB raster with the few drawing operations the chart needs."""

    def __init__(self, width: int, height: int, background: Color) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.pixels[i : i + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the box from (x0, y0) to (x1, y1) inclusive, clipped."""
        x0, x1 = max(0, x0), min(self.width - 1, x1)
        row = bytes(color) * max(0, x1 - x0 + 1)
        for y in range(max(0, y0), min(self.height - 1, y1) + 1):
            i = 3 * (y * self.width + x0)
            self.pixels[i : i + len(row)] = row

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """A 2-pixel-thick segment (Bresenham, then the pixel below)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, color)
            self.dot(x0, y0 + 1, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: Color) -> int:
        """Draw ``text`` (unknown characters become blanks); return the x after it."""
        for ch in text.upper():
            glyph = _FONT.get(ch, _FONT[" "])
            for k, bit in enumerate(glyph):
                if bit == "1":
                    gx, gy = x + (k % 3) * SCALE, y + (k // 3) * SCALE
                    self.rect(gx, gy, gx + SCALE - 1, gy + SCALE - 1, color)
            x += 4 * SCALE
        return x

    def png(self) -> bytes:
        """Encode as an 8-bit RGB PNG (filter 0 on every row)."""
        stride = 3 * self.width
        raw = b"".join(
            b"\x00" + self.pixels[y * stride : (y + 1) * stride] for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"".join(
            [
                b"\x89PNG\r\n\x1a\n",
                _chunk(b"IHDR", header),
                _chunk(b"IDAT", zlib.compress(raw, 6)),
                _chunk(b"IEND", b""),
            ]
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def render_chart(
    history: Sequence[Sample], *, width: int = 640, height: int = 320, window: float = 3600.0
) -> bytes | None:
    """A PNG of the samples in the ``window`` seconds before the newest one.

    Returns None when there is nothing to draw (no samples).
    """
    if not history:
        return None
    if width < 160 or height < 100:
        raise ValueError("chart must be at least 160x100 pixels")
    end = history[-1].at
    shown = [s for s in history if s.at >= end - window]
    canvas = Canvas(width, height, BACKGROUND)
    plot = (MARGIN, LEGEND_H + MARGIN, width - MARGIN - 1, height - AXIS_H - 1)
    net_peak = max((s.net_rx_rate + s.net_tx_rate for s in shown), default=0.0)
    _draw_grid(canvas, plot, window)
    _draw_legend(canvas, net_peak)
    series = {
        "cpu": [s.host_cpu for s in shown],
        "ram": [100 * s.mem_used / s.mem_total if s.mem_total else 0.0 for s in shown],
        "net": [100 * (s.net_rx_rate + s.net_tx_rate) / net_peak if net_peak else 0.0
                for s in shown],
    }  # fmt: skip
    times = [s.at for s in shown]
    for key, values in series.items():
        _draw_series(canvas, plot, times, values, end - window, window, COLORS[key])
    return canvas.png()


def _draw_grid(canvas: Canvas, plot: tuple[int, int, int, int], window: float) -> None:
    left, top, right, bottom = plot
    for q in range(5):  # 0, 25, 50, 75, 100 %
        y = bottom - round(q * (bottom - top) / 4)
        canvas.rect(left, y, right, y, AXIS if q == 0 else GRID)
    steps = max(1, round(window / 600))  # a line every 10 minutes of the window
    for k in range(steps + 1):
        x = left + round(k * (right - left) / steps)
        canvas.rect(x, top, x, bottom - 1, GRID)
    minutes = round(window / 60)
    canvas.text(left, bottom + 3, f"-{minutes}M", TEXT)
    canvas.text(right - 3 * 4 * SCALE + SCALE, bottom + 3, "NOW", TEXT)
    canvas.text(left + 2, top + 2, "100%", AXIS)


def _draw_legend(canvas: Canvas, net_peak: float) -> None:
    labels = {"cpu": "CPU %", "ram": "RAM %", "net": f"NET MAX {_rate(net_peak)}"}
    x = MARGIN
    for key, label in labels.items():
        canvas.rect(x, MARGIN // 2, x + 5 * SCALE, MARGIN // 2 + 5 * SCALE, COLORS[key])
        x = canvas.text(x + 7 * SCALE, MARGIN // 2, label, TEXT) + 4 * SCALE


def _draw_series(
    canvas: Canvas,
    plot: tuple[int, int, int, int],
    times: list[float],
    values: list[float],
    start: float,
    window: float,
    color: Color,
) -> None:
    import statistics  # deferred: charts are drawn on /stats, never at start-up

    left, top, right, bottom = plot
    gaps = [b - a for a, b in itertools.pairwise(times)]
    max_gap = GAP_FACTOR * statistics.median(gaps) if gaps else 0.0
    previous: tuple[int, int] | None = None
    for i, (at, value) in enumerate(zip(times, values, strict=True)):
        x = left + round((at - start) / window * (right - left))
        clamped = min(100.0, max(0.0, value))
        y = bottom - 1 - round(clamped / 100 * (bottom - 1 - top))
        if previous is None or (i and times[i] - times[i - 1] > max_gap):
            canvas.line(x, y, x, y, color)  # a lone point still shows
        else:
            canvas.line(*previous, x, y, color)
        previous = (x, y)


def _rate(bps: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if bps < 1000 or unit == "GB":
            return f"{bps:.0f} {unit}/S" if unit == "B" else f"{bps:.1f} {unit}/S"
        bps /= 1000
    raise AssertionError("unreachable")
