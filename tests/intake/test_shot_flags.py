"""-es, -ss, -tl and -sv: parsed into checked values, every mistake a clear ❌ text."""

from __future__ import annotations

import pytest

from telebot.errors import BadInputError
from telebot.intake.args import parse_task_args


def test_flags_become_checked_values() -> None:
    args = parse_task_args("http://x/a.mp4 -es -ss 4 -sv 30:5", "leech")
    assert (args.equal_split, args.screenshots, args.screenshot_grid) == (True, 4, None)
    assert args.sample == (30.0, 5.0)
    bare = parse_task_args("http://x/a.mp4 -ss -sv", "leech")
    assert (bare.screenshots, bare.sample) == (10, (60.0, None))  # 10 shots; 60 s, middle
    grid = parse_task_args("http://x/a.mp4 -tl 2x3", "leech")
    assert (grid.screenshots, grid.screenshot_grid) == (6, (2, 3))  # a grid implies -ss
    plain = parse_task_args("http://x/a.mp4", "leech")
    assert (plain.equal_split, plain.screenshots, plain.sample) == (False, 0, None)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-ss 0", "-ss '0' is not a number"),
        ("-ss 31", "from 1 to 30"),
        ("-ss ten", "is not a number of screenshots"),
        ("-tl 3", "is not a grid"),
        ("-tl 1x1", "at least 2 pictures"),
        ("-tl 11x2", "each 1 to 10"),
        ("-tl ../x", "is not a grid"),
        ("-ss 5 -tl 2x2", "-tl 2x2 is 4 pictures"),
        ("-sv 0", "out of range"),
        ("-sv 601", "at most 600 s"),
        ("-sv 5:x", "is not a sample"),
        ("-sv 5:-1", "is not a sample"),
    ],
)
def test_bad_values_are_refused_with_what_to_write(text: str, says: str) -> None:
    with pytest.raises(BadInputError) as caught:
        parse_task_args(f"http://x/a.mp4 {text}", "leech")
    assert says in str(caught.value)
