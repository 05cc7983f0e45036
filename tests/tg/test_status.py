from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from telebot.engine.task import Snapshot, State
from telebot.tg.status import MESSAGE_LIMIT, Footer, progress_bar, render_page

FOOTER = Footer(cpu=12.0, disk_free=10**10, ram=40.0, uptime=3700)


def snap(
    gid: str,
    name: str = "file.bin",
    state: State = State.DOWNLOADING,
    done: int = 50,
    total: int | None = 100,
    position: int | None = None,
) -> Snapshot:
    return Snapshot(
        gid=gid,
        name=name,
        kind="mirror",
        state=state,
        done=done,
        total=total,
        speed=10.0,
        elapsed=5.0,
        engine="HTTP",
        chat_id=1,
        user_id=1,
        message_id=2,
        queue_position=position,
    )


def test_task_block_shows_everything_a_user_needs() -> None:
    text, markup, page = render_page([snap("aaaaaaaaaa")], 0, 4, FOOTER)
    for needle in (
        "file.bin",
        "Downloading",
        "HTTP",
        "50.0%",
        "ETA",
        "/cancel <code>aaaaaaaaaa",
        "CPU 12%",
        "Free",
        "RAM 40%",
        "Up 1h 1m",
    ):
        assert needle in text, needle
    assert page == 0
    assert markup is not None
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert any(b.callback_data == "st:c:aaaaaaaaaa" for b in buttons)


def test_queued_tasks_show_their_place() -> None:
    text, _, _ = render_page([snap("b" * 10, state=State.QUEUED, position=3)], 0, 4, FOOTER)
    assert "#3 in line" in text


def test_pages_and_navigation() -> None:
    snaps = [snap(f"{i:010d}") for i in range(9)]
    text, markup, page = render_page(snaps, 5, 4, FOOTER)  # clamped to the last page
    assert page == 2 and "page 3/3" in text
    assert markup is not None
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert "st:p:1" in data and "st:p:0" in data  # ◀ and ▶ (wraps around)
    assert all(len(str(d).encode()) <= 64 for d in data)


@settings(max_examples=50, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=5000), min_size=1, max_size=12),
    per_page=st.integers(1, 10),
)
def test_never_over_the_message_limit(names: list[str], per_page: int) -> None:
    snaps = [snap(f"{i:010d}", name=n) for i, n in enumerate(names)]
    text, _, _ = render_page(snaps, 0, per_page, FOOTER)
    assert len(text) <= MESSAGE_LIMIT


def test_names_are_escaped() -> None:
    text, _, _ = render_page([snap("c" * 10, name="<b>&evil</b>")], 0, 4, FOOTER)
    assert "&lt;b&gt;&amp;evil&lt;/b&gt;" in text


def test_progress_bar() -> None:
    assert progress_bar(None).count("·") == 12
    assert progress_bar(50).count("■") == 6
    assert progress_bar(100).count("□") == 0
