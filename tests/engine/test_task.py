"""TaskSpec (JSON round trip), SpeedMeter, Snapshot and Task with an injected clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebot.engine.task import Snapshot, SpeedMeter, State, Task, TaskSpec, new_gid
from telebot.store import Store
from tests.engine.fakes import FakeClock, spec

# Telegram ids and sizes fit in SQLite's signed 64-bit INTEGER (the journal's columns).
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
maybe_text = st.none() | st.text(max_size=40)

specs = st.builds(
    TaskSpec,
    kind=st.sampled_from(["mirror", "leech"]),
    source=st.text(max_size=200),
    chat_id=int64,
    user_id=int64,
    message_id=st.none() | int64,
    name=maybe_text,
    headers=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=4).map(tuple),
    auth=st.none() | st.tuples(st.text(max_size=20), st.text(max_size=20)),
    upload=maybe_text,
    split_size=st.none() | st.integers(min_value=0, max_value=2**62),
    as_document=st.booleans(),
    as_media=st.booleans(),
    file_name=maybe_text,
    file_size=st.none() | st.integers(min_value=0, max_value=2**62),
)


@given(specs)
def test_spec_json_round_trip(original: TaskSpec) -> None:
    wire = json.dumps(original.to_json())
    assert TaskSpec.from_json(json.loads(wire)) == original


@settings(max_examples=40)
@given(specs)
def test_spec_round_trip_through_the_store_journal(original: TaskSpec) -> None:
    db = Store(":memory:")
    try:
        db.journal_add(
            "g1",
            chat_id=original.chat_id,
            user_id=original.user_id,
            message_id=original.message_id,
            spec=original.to_json(),
            state="queued",
        )
        (entry,) = db.journal_entries()
    finally:
        db.close()
    assert TaskSpec.from_json(entry.spec) == original


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "mirror"},  # required fields missing
        {**spec().to_json(), "surprise": 1},  # a key this version does not know
        {**spec().to_json(), "headers": 5},  # headers not a list of pairs
        {**spec().to_json(), "auth": 7},
    ],
)
def test_spec_from_bad_json_raises_type_or_value_error(bad: dict[str, object]) -> None:
    # restore() relies on exactly these two exception types to report an unreadable spec.
    with pytest.raises((TypeError, ValueError)):
        TaskSpec.from_json(bad)


def test_auth_is_kept_out_of_repr() -> None:
    assert "hunter2" not in repr(spec(auth=("me", "hunter2")))


def test_gids_are_ten_hex_chars() -> None:
    gids = {new_gid() for _ in range(200)}
    assert len(gids) == 200
    assert all(len(g) == 10 and int(g, 16) >= 0 for g in gids)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"source": "https://h.example/a/b/movie.mkv?token=s3cret"}, "movie.mkv"),
        ({"source": "https://h.example/dir/"}, "dir"),
        ({"source": "tg:ABC", "file_name": "from-telegram.zip"}, "from-telegram.zip"),
        ({"source": "https://h.example/x.bin", "name": "chosen"}, "chosen"),
    ],
)
def test_task_name_hint(fields: dict[str, Any], name: str, tmp_path: Path) -> None:
    assert Task("g", spec(**fields), tmp_path).name == name


# -- SpeedMeter -------------------------------------------------------------------------------


def test_speed_is_bytes_over_the_window() -> None:
    clock = FakeClock()
    meter = SpeedMeter(clock, window=5.0, resolution=0.25)
    assert meter.speed(0) == 0.0
    for second in range(11):  # 100 bytes/s for 10 s, then 1000 bytes/s for 5 s
        meter.add(100 * second)
        clock.advance(1)
    assert meter.speed(1000) == pytest.approx(100, rel=0.25)
    for second in range(1, 6):
        clock.advance(1)
        meter.add(1000 + 1000 * second)
    # Only the last ~window counts: the slow start is forgotten.
    assert meter.speed(6000) == pytest.approx(1000, rel=0.25)


def test_speed_ignores_points_closer_than_resolution() -> None:
    clock = FakeClock()
    meter = SpeedMeter(clock, window=5.0, resolution=0.25)
    meter.add(0)
    clock.advance(0.1)
    meter.add(10_000)  # dropped: within the resolution of the previous point
    clock.advance(0.9)
    assert meter.speed(500) == pytest.approx(500)


def test_speed_decays_when_progress_stalls() -> None:
    clock = FakeClock()
    meter = SpeedMeter(clock)
    meter.add(0)
    clock.advance(1)
    meter.add(1000)
    fast = meter.speed(1000)
    clock.advance(9)
    assert meter.speed(1000) < fast / 5


def test_reset_forgets_history() -> None:
    clock = FakeClock()
    meter = SpeedMeter(clock)
    meter.add(0)
    clock.advance(1)
    meter.add(1000)
    meter.reset()
    assert meter.speed(1000) == 0.0


# -- Task and Snapshot ----------------------------------------------------------------------


def test_snapshot_speed_eta_and_elapsed_with_injected_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    task = Task("g1", spec(), tmp_path, clock=clock)
    queued = task.snapshot(queue_position=3)
    assert (queued.state, queued.elapsed, queued.queue_position) == (State.QUEUED, 0.0, 3)
    assert queued.eta is None and queued.percent is None

    clock.advance(7)  # time spent queued does not count as elapsed
    task.begin(State.DOWNLOADING, "http", total=10_000)
    for _ in range(4):
        task.progress(task.done, None)
        clock.advance(1)
        task.done += 1000
    task.progress(4000, None)
    snap = task.snapshot()
    assert snap.elapsed == pytest.approx(4)
    assert snap.speed == pytest.approx(1000)
    assert snap.percent == pytest.approx(40)
    assert snap.eta == pytest.approx(6)
    assert (snap.engine, snap.total, snap.chat_id, snap.message_id) == ("http", 10_000, 100, 1000)


def test_begin_restarts_progress_but_not_elapsed(tmp_path: Path) -> None:
    clock = FakeClock()
    task = Task("g1", spec(), tmp_path, clock=clock)
    task.begin(State.DOWNLOADING, "http", total=100)
    task.progress(100, 100)
    clock.advance(5)
    task.begin(State.UPLOADING, "local")
    snap = task.snapshot()
    assert (snap.state, snap.done, snap.total, snap.speed) == (State.UPLOADING, 0, None, 0.0)
    assert snap.elapsed == pytest.approx(5)


def test_first_cancel_reason_wins(tmp_path: Path) -> None:
    task = Task("g1", spec(), tmp_path)
    task.cancel("by user")
    task.cancel("by shutdown")
    assert task.cancel_event.is_set()
    assert task.cancel_reason == "by user"


@pytest.mark.parametrize(
    ("done", "total", "speed", "percent", "eta"),
    [
        (0, None, 10.0, None, None),
        (0, 0, 10.0, None, None),
        (50, 100, 0.0, 50.0, None),
        (150, 100, 10.0, 100.0, 0.0),  # a source that overshoots never shows > 100 % or < 0 s
    ],
)
def test_snapshot_percent_and_eta_edges(
    done: int, total: int | None, speed: float, percent: float | None, eta: float | None
) -> None:
    snap = Snapshot("g", "n", "mirror", State.DOWNLOADING, done, total, speed, 0.0, "e", 1, 2, 3)
    assert snap.percent == percent
    assert snap.eta == eta


def test_task_has_no_instance_dict(tmp_path: Path) -> None:
    # bench/memory.py relies on Task being slotted; a stray attribute must fail loudly.
    task = Task("g1", spec(), tmp_path)
    assert not hasattr(task, "__dict__")
    with pytest.raises(AttributeError):
        task.extra = 1  # type: ignore[attr-defined]


def test_version_2_rows_read_as_specs_without_ytdl() -> None:
    from telebot.engine.task import TaskSpec

    row = TaskSpec(kind="mirror", source="https://x/y", chat_id=1, user_id=1).to_json()
    for key in ("tool", "ytdl_format", "ytdl_options"):
        del row[key]
    spec = TaskSpec.from_json({**row, "v": 2})
    assert spec.tool is None and spec.ytdl_format is None and spec.ytdl_options is None
