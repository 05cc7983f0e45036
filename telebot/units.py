"""Human-readable sizes and durations, shared by status messages, /stats, errors and logs."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_seconds(s: float) -> str:
    """A duration with a unit suited to its size: '850 µs', '12 ms', '3.4 s'."""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    return f"{s:.1f} s" if s < 60 else format_duration(s)


def format_duration(s: float) -> str:
    """Whole seconds as '2d 3h 4m', '5m 6s' or '7s'."""
    total = max(0, int(s))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    shown = [f"{v}{u}" for v, u in parts if v][:3]
    return " ".join(shown) or "0s"


def format_size(n: int) -> str:
    """A size as an operator wrote it in the config: ``10gb`` → '10 GB', ``2GiB`` → '2.0 GiB'.

    Round decimal sizes (the usual way limits are written) print in decimal units, so a refusal
    quotes the value that was set; anything else falls back to :func:`format_bytes`.
    """
    for factor, unit in ((1000**4, "TB"), (1000**3, "GB"), (1000**2, "MB"), (1000, "kB")):
        if n >= factor and n % (factor // 10) == 0:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return format_bytes(n)
