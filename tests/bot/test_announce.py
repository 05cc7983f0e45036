"""Announcer: texts go out in the background, gathered per chat into lists of ≤ 4096 chars."""

from __future__ import annotations

import threading
import time
from typing import Any

from telebot.bot.announce import Announcer, _Item, pack, split_messages
from telebot.errors import TaskCancelled
from telebot.store import Store
from tests.polling import wait_until


class SlowMessenger:
    """Records sends; the first send to a chat blocks until ``release`` is set (a chat whose
    rate limit holds its sender)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, int | None]] = []
        self.release = threading.Event()
        self.first_started = threading.Event()
        self._lock = threading.Lock()

    def send_text(
        self, chat_id: int, text: str, *, reply_to: int | None = None, cancel: Any = None
    ) -> Any:
        self.first_started.set()
        deadline = time.monotonic() + 30
        while not self.release.wait(0.05):  # like Messenger: give up when cancelled
            if cancel is not None and cancel.is_set():
                raise TaskCancelled("cancelled while waiting for Telegram")
            if time.monotonic() > deadline:
                raise AssertionError("never released")
        with self._lock:
            self.sent.append((chat_id, text, reply_to))


def test_post_never_waits_and_a_burst_becomes_few_messages() -> None:
    messenger = SlowMessenger()
    announcer = Announcer(lambda: messenger, gather=0.0)  # type: ignore[arg-type, return-value]
    try:
        announcer.post(1, "✅ task 0", reply_to=10)
        assert messenger.first_started.wait(10)
        # The sender is stuck in Telegram's rate limit; posting still returns at once.
        for n in range(1, 60):
            announcer.post(1, f"✅ task {n}", reply_to=10 + n)
        assert messenger.sent == []
        messenger.release.set()
        wait_until(lambda: sum(t.count("✅") for _, t, _ in messenger.sent) == 60, 10)
    finally:
        announcer.stop()
    assert len(messenger.sent) == 2
    first, second = messenger.sent
    assert first == (1, "✅ task 0", 10)  # a lone text still answers its own command
    assert second[2] is None  # a list of many commands answers none of them
    assert all(f"task {n}" in second[1] for n in range(1, 60))


def test_chats_are_separate_and_stop_flushes_without_gathering() -> None:
    messenger = SlowMessenger()
    messenger.release.set()
    announcer = Announcer(lambda: messenger, gather=3600.0)  # type: ignore[arg-type, return-value]
    announcer.post(1, "a", reply_to=5)
    announcer.post(2, "b")
    announcer.post(1, "c", reply_to=5)
    announcer.stop(timeout=10)  # an hour's gathering is cut short: everything goes out now
    assert sorted(messenger.sent) == [(1, "a\n\nc", 5), (2, "b", None)]


def test_split_messages_keeps_whole_texts_and_lines_within_the_limit() -> None:
    texts = [f"<b>name {n}</b>\nSize: {n} B" for n in range(400)]
    messages = split_messages(texts, 4096)
    assert len(messages) > 1 and all(len(m) <= 4096 for m in messages)
    assert "\n\n".join(messages) == "\n\n".join(texts)  # nothing lost, no text cut
    long_text = "\n".join(f"<code>line {n}</code>" for n in range(1000))
    cut = split_messages([long_text], 4096)
    assert all(len(m) <= 4096 for m in cut)
    assert all(m.count("<code>") == m.count("</code>") for m in cut)
    huge_line = "<b>" + "x&amp;" * 5000 + "</b>"
    [shown] = split_messages([huge_line], 4096)
    assert len(shown) <= 4096 and "<b>" not in shown and shown.endswith("…")


def test_a_post_after_stop_is_dropped_not_raised() -> None:
    messenger = SlowMessenger()
    messenger.release.set()
    announcer = Announcer(lambda: messenger, gather=0.0)  # type: ignore[arg-type, return-value]
    announcer.stop()
    announcer.post(1, "too late")  # a task that ends after shutdown must not crash its worker
    assert messenger.sent == []


def test_a_few_texts_for_different_commands_each_answer_their_own() -> None:
    messenger = SlowMessenger()
    messenger.release.set()
    announcer = Announcer(lambda: messenger, gather=3600.0)  # type: ignore[arg-type, return-value]
    announcer.post(1, "🚫 running cancelled", reply_to=5)
    announcer.post(1, "🚫 queued cancelled", reply_to=6)
    announcer.stop(timeout=10)
    assert messenger.sent == [(1, "🚫 running cancelled", 5), (1, "🚫 queued cancelled", 6)]


def _journal(store: Store, gid: str) -> None:
    store.journal_add(gid, chat_id=1, user_id=1, message_id=5, spec={"v": 1}, state="queued")


def test_an_owed_text_replaces_its_journal_row_and_goes_once_sent() -> None:
    store = Store(":memory:")
    _journal(store, "g1")
    messenger = SlowMessenger()
    announcer = Announcer(lambda: messenger, gather=0.0, outbox=store)  # type: ignore[arg-type, return-value]
    try:
        announcer.post(1, "✅ <b>a</b>\nhttps://x/a", reply_to=5, owed=True, finishes="g1")
        # One transaction: the row that would rerun the task is gone, the message is kept.
        assert store.journal_entries() == []
        [entry] = store.outbox_entries()
        assert (entry.chat_id, entry.text, entry.reply_to, entry.gid) == (
            1, "✅ <b>a</b>\nhttps://x/a", 5, "g1")
        messenger.release.set()
        wait_until(lambda: store.outbox_entries() == [], 10, "the sent row to be removed")
        assert messenger.sent == [(1, "✅ <b>a</b>\nhttps://x/a", 5)]
    finally:
        announcer.stop()


class FailingMessenger:
    def send_text(self, *args: Any, **kwargs: Any) -> Any:
        raise TaskCancelled("the bot is shutting down")


def test_an_unsent_owed_text_is_kept_and_sent_by_the_next_announcer() -> None:
    store = Store(":memory:")
    failing = Announcer(lambda: FailingMessenger(), gather=0.0, outbox=store)  # type: ignore[arg-type, return-value]
    failing.post(7, "✅ kept", reply_to=3, owed=True)
    failing.stop(timeout=10)
    assert [e.text for e in store.outbox_entries()] == ["✅ kept"]

    messenger = SlowMessenger()
    messenger.release.set()
    again = Announcer(lambda: messenger, gather=0.0, outbox=store)  # type: ignore[arg-type, return-value]
    try:
        assert again.resend_pending() == 1
        wait_until(lambda: store.outbox_entries() == [], 10, "the resent row to be removed")
    finally:
        again.stop()
    assert messenger.sent == [(7, "✅ kept", 3)]


def test_stop_abandons_a_send_stuck_in_telegram_and_keeps_its_row() -> None:
    store = Store(":memory:")
    messenger = SlowMessenger()  # never released: Telegram does not answer
    announcer = Announcer(lambda: messenger, gather=0.0, outbox=store)  # type: ignore[arg-type, return-value]
    announcer.post(1, "✅ stuck", owed=True)
    assert messenger.first_started.wait(10)
    announcer.stop(timeout=0.2)
    assert [e.text for e in store.outbox_entries()] == ["✅ stuck"]


def test_pack_completes_a_row_only_with_its_last_piece() -> None:
    long_text = "\n".join(f"line {n}" for n in range(100))  # ~800 chars: two 500-char pieces
    items = [_Item("short", None, 1), _Item(long_text, None, 2), _Item("plain", None)]
    messages = pack(items, 500)
    assert [m for m, _ in messages] == split_messages([i.text for i in items], 500)
    rows = [r for _, r in messages]
    assert [row for r in rows for row in r] == [1, 2]
    assert 2 in rows[-1] and 1 in rows[0] and 2 not in rows[0]


def test_with_lead_a_quiet_chat_gets_its_first_text_at_once_and_gathers_the_rest() -> None:
    messenger = SlowMessenger()
    messenger.release.set()
    announcer = Announcer(  # an hour's gathering: only "lead" can send anything before stop
        lambda: messenger, gather=3600.0, lead=True  # type: ignore[arg-type, return-value]
    )
    try:
        announcer.post(1, "✅ alone", reply_to=5)
        wait_until(lambda: messenger.sent == [(1, "✅ alone", 5)], 10)
        announcer.post(1, "✅ b", reply_to=6)  # the chat is not quiet now: these wait together
        announcer.post(1, "✅ c", reply_to=7)
        announcer.post(2, "✅ other chat")  # another chat is quiet: at once
        wait_until(lambda: (2, "✅ other chat", None) in messenger.sent, 10)
        assert len(messenger.sent) == 2
    finally:
        announcer.stop(timeout=10)
    assert messenger.sent[2:] == [(1, "✅ b", 6), (1, "✅ c", 7)]  # few: each its own reply


def test_with_lead_a_text_after_a_quiet_spell_leads_again() -> None:
    messenger = SlowMessenger()
    messenger.release.set()
    now = [0.0]
    announcer = Announcer(  # an hour's gathering: only "lead" can send anything before stop
        lambda: messenger,  # type: ignore[arg-type, return-value]
        gather=3600.0, lead=True, clock=lambda: now[0],
    )
    try:
        announcer.post(1, "✅ first", reply_to=5)
        wait_until(lambda: messenger.sent == [(1, "✅ first", 5)], 10)
        # A lone text's round does not keep a sender on the chat for a doubled window ...
        wait_until(lambda: not announcer._chats, 10)
        now[0] = 3600.0  # ... so after a quiet spell the next text goes at once
        announcer.post(1, "✅ second", reply_to=6)
        wait_until(lambda: len(messenger.sent) == 2, 10)
    finally:
        announcer.stop(timeout=10)
    assert messenger.sent[1] == (1, "✅ second", 6)
