"""The values of the leech media flags ``-ss``, ``-tl`` and ``-sv``, checked when the command
is read (``intake/args.py``) so a mistake is answered at once, never after the download."""

from __future__ import annotations

import re

from telebot.errors import BadInputError

DEFAULT_SHOTS = 10  # -ss without a number
MAX_SHOTS = 30  # three albums of 10; more frames of one video say nothing new
MAX_GRID_SIDE = 10  # -tl: rows and columns each; 10x10 tiles of 320 px is a 3200 px picture
DEFAULT_SAMPLE = 60.0  # -sv without a value: a minute
MAX_SAMPLE = 600.0  # -sv: at most ten minutes (a sample, not a second copy)
MAX_START = 7 * 24 * 3600.0  # -sv start: beyond any real video

SS_USAGE = f"write -ss (10 screenshots) or -ss N with N from 1 to {MAX_SHOTS}."
TL_USAGE = (f"write -tl RxC (R rows, C columns, each 1 to {MAX_GRID_SIDE}, at least 2 "
            "pictures), e.g. -tl 3x3.")
SV_USAGE = ("write -sv (60 s from the middle), -sv 30 (30 s from the middle) or -sv 30:120 "
            f"(30 s from 120 s in); at most {MAX_SAMPLE:g} s.")
_GRID = re.compile(r"^(\d{1,2})[xX](\d{1,2})$")
_NUMBER = re.compile(r"^\d{1,7}(\.\d{1,3})?$")


def parse_shots(text: str | None) -> int:
    """``-ss [n]`` → the number of screenshots."""
    if text is None:
        return DEFAULT_SHOTS
    if not text.isdigit() or not 1 <= int(text) <= MAX_SHOTS:
        raise BadInputError(f"-ss {text[:20]!r} is not a number of screenshots: {SS_USAGE}")
    return int(text)


def parse_grid(text: str) -> tuple[int, int]:
    """``-tl RxC`` → (rows, columns)."""
    found = _GRID.match(text)
    rows, cols = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if not (1 <= rows <= MAX_GRID_SIDE and 1 <= cols <= MAX_GRID_SIDE and rows * cols >= 2):
        raise BadInputError(f"-tl {text[:20]!r} is not a grid: {TL_USAGE}")
    return rows, cols


def parse_sample(text: str | None) -> tuple[float, float | None]:
    """``-sv [duration[:start]]`` → (seconds, start in seconds or None for the middle)."""
    if text is None:
        return DEFAULT_SAMPLE, None
    length_text, colon, start_text = text.partition(":")
    if not _NUMBER.match(length_text) or (colon and not _NUMBER.match(start_text)):
        raise BadInputError(f"-sv {text[:30]!r} is not a sample: {SV_USAGE}")
    length = float(length_text)
    start = float(start_text) if colon else None
    if not 1 <= length <= MAX_SAMPLE or (start is not None and start > MAX_START):
        raise BadInputError(f"-sv {text[:30]!r} is out of range: {SV_USAGE}")
    return length, start
