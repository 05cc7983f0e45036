"""The extract budget: what a ratio means below and past EXTRACT_RATIO_FLOOR, MAX_DOWNLOAD_SIZE
as a cap on the output, and the settings that feed it."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.config import load_config
from telebot.processing.archivecheck import Budget, LimitExceeded, Limits

GIB = 1 << 30


def budget(archive_bytes: int, **limits: object) -> Budget:
    return Budget(Limits(**limits), archive_bytes, Path("/"), free=lambda _p: 1 << 50)  # type: ignore[arg-type]


def test_a_ratio_says_nothing_below_the_floor() -> None:
    small = budget(6_000)  # a 6 KB zip: 100x is 600 KB, but the floor is 1 GiB
    assert small.exceeded(2 << 20, 1) is None
    assert small.exceeded(GIB, 1) is None
    assert "EXTRACT_MAX_RATIO" in (small.exceeded(GIB + 1, 1) or "")


def test_past_the_floor_the_ratio_holds() -> None:
    big = budget(100 << 20)  # 100 MiB: 100x is about 10 GB, past the floor
    assert big.exceeded(100 * (100 << 20), 1) is None
    reason = big.exceeded(100 * (100 << 20) + 1, 1)
    assert reason is not None and reason.startswith("the output would pass EXTRACT_MAX_RATIO")
    assert "EXTRACT_RATIO_FLOOR (1,073,741,824 bytes)" in reason


def test_floor_zero_is_the_ratio_alone_and_max_download_size_caps_everything() -> None:
    assert budget(1000, ratio_floor=0).exceeded(100_001, 1) is not None
    capped = budget(100 << 20, max_output=500 << 20)
    assert capped.exceeded(500 << 20, 1) is None
    with pytest.raises(LimitExceeded, match=r"MAX_DOWNLOAD_SIZE \(524,288,000 bytes\)"):
        capped.check((500 << 20) + 1, 1)
    assert capped.bytes_left() == 500 << 20


def test_the_setting_is_read_and_defaults_to_1_gib(tmp_path: Path) -> None:
    env = {"BOT_TOKEN": "1:x", "OWNER_ID": "1"}
    assert load_config(env, cwd=tmp_path).extract_ratio_floor == GIB
    assert load_config({**env, "EXTRACT_RATIO_FLOOR": "5gb"}, cwd=tmp_path) \
        .extract_ratio_floor == 5_000_000_000
    assert load_config({**env, "EXTRACT_RATIO_FLOOR": "0"}, cwd=tmp_path).extract_ratio_floor == 0
