from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from telebot.bot.status import MESSAGE_LIMIT, Footer, StatusBoard, progress_bar, render_page
from telebot.botapi.messenger import Sent
from telebot.engine.task import Snapshot, State

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


# -- the board's lock discipline -----------------------------------------------------------
# The status thread may wait a long time on Telegram (a stalled edit); the event loop, which
# calls touch(), and the page/repost buttons must never wait for it (issue 11).

WAIT = 10.0  # generous: only reached when a call is (wrongly) blocked


class StallingMessenger:
    """Records calls; a call of ``stall_method`` blocks until ``release`` is set."""

    def __init__(self, stall_method: str) -> None:
        self.stall_method = stall_method
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(100)

    def _call(self, method: str, chat_id: int, text: str = "") -> None:
        with self._lock:
            self.calls.append((method, chat_id, text))
        if method == self.stall_method:
            self.entered.set()
            assert self.release.wait(WAIT), "the test never released the stalled call"

    def send_text(self, chat_id: int, text: str, *, markup: object = None) -> Sent:
        self._call("send", chat_id, text)
        return Sent(chat_id, next(self._ids))

    def edit_text(self, chat_id: int, message_id: int, text: str, *, markup: object = None) -> bool:
        self._call("edit", chat_id, text)
        return True

    def delete(self, chat_id: int, message_id: int) -> bool:
        self._call("delete", chat_id)
        return True

    def of(self, method: str) -> list[tuple[str, int, str]]:
        with self._lock:
            return [c for c in self.calls if c[0] == method]


def make_board(messenger: StallingMessenger, snaps: list[Snapshot]) -> StatusBoard:
    return StatusBoard(
        snapshots=lambda chat_id: [s for s in snaps if chat_id in (None, s.chat_id)],
        messenger=lambda: messenger,  # type: ignore[arg-type, return-value]
        footer=lambda: FOOTER,
        per_page=1,
    )


def run_in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def returns_while_stalled(call: Callable[[], object]) -> None:
    thread = run_in_thread(call)
    thread.join(WAIT)
    assert not thread.is_alive(), "blocked behind the stalled Telegram call"


def test_touch_and_buttons_never_wait_for_a_stalled_send() -> None:
    messenger = StallingMessenger("send")
    board = make_board(messenger, [snap("a" * 10), snap("b" * 10)])
    status_thread = run_in_thread(board.refresh)  # sends the first message, and stalls
    assert messenger.entered.wait(WAIT)
    returns_while_stalled(lambda: board.touch(1))
    returns_while_stalled(lambda: board.show_page(1, 1))
    returns_while_stalled(lambda: board.repost(1))
    returns_while_stalled(lambda: board.has_message(1))
    assert len(messenger.of("send")) == 1  # the others left notes; nobody sent a second one
    messenger.release.set()
    status_thread.join(WAIT)
    assert not status_thread.is_alive()
    # The busy thread ran the requests it was left: a repost (delete + send) showing page 2.
    assert [c[0] for c in messenger.calls] == ["send", "delete", "send"]
    assert "page 2/2" in messenger.calls[-1][2]


def test_a_page_press_during_a_stalled_edit_is_shown_afterwards() -> None:
    messenger = StallingMessenger("edit")
    snaps = [snap("a" * 10), snap("b" * 10)]
    board = make_board(messenger, snaps)
    board.refresh()  # the first message (not stalled)
    snaps[0] = snap("a" * 10, done=70)  # progress: the next refresh edits
    status_thread = run_in_thread(board.refresh)
    assert messenger.entered.wait(WAIT)
    returns_while_stalled(lambda: board.show_page(1, 1))
    messenger.release.set()
    status_thread.join(WAIT)
    edits = messenger.of("edit")
    assert len(edits) == 2 and "page 2/2" in edits[-1][2]
    assert len(messenger.of("send")) == 1


def test_concurrent_refreshes_of_a_new_chat_send_one_message() -> None:
    messenger = StallingMessenger("send")
    board = make_board(messenger, [snap("a" * 10)])
    first = run_in_thread(board.refresh)
    assert messenger.entered.wait(WAIT)
    second = run_in_thread(board.refresh)
    second.join(WAIT)
    assert not second.is_alive()
    messenger.release.set()
    first.join(WAIT)
    assert len(messenger.of("send")) == 1
    assert board.has_message(1)


def test_the_message_goes_when_the_tasks_go() -> None:
    messenger = StallingMessenger("none")
    snaps = [snap("a" * 10)]
    board = make_board(messenger, snaps)
    board.refresh()
    snaps.clear()
    board.refresh()
    assert [c[0] for c in messenger.calls] == ["send", "delete"]
    assert not board.has_message(1)
    board.refresh()  # the chat is forgotten: nothing more happens
    assert len(messenger.calls) == 2


def test_a_failed_send_does_not_leave_the_chat_busy() -> None:
    messenger = StallingMessenger("none")
    board = make_board(messenger, [snap("a" * 10)])
    failing = {"on": True}
    real_send = messenger.send_text

    def send_text(chat_id: int, text: str, *, markup: object = None) -> Sent:
        if failing["on"]:
            raise RuntimeError("Telegram said no")
        return real_send(chat_id, text, markup=markup)

    messenger.send_text = send_text  # type: ignore[method-assign]
    board.refresh()  # logged, not raised
    failing["on"] = False
    board.refresh(only_new=True)
    assert board.has_message(1)
