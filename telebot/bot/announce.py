"""Announcements (acknowledgements, completions) sent without anyone waiting for them.

Telegram lets a bot send about one message a second into one chat (docs/TELEGRAM.md, limits; our
limiter: ``resilience/ratelimit.py``). A worker thread that sends its own completion message
waits for that slot, so 60 tiny tasks from one chat used to land one a second. Here a worker
only :meth:`Announcer.post` s its text and goes on; a small pool of sender threads delivers the
texts, and texts for one chat that are posted within :data:`GATHER` seconds of each other go
out together as one message (a list, split at Telegram's 4,096 characters); while a chat stays
busy the window doubles each round, up to :data:`MAX_GATHER` (a round of at most
:data:`SEPARATE` texts for different commands still sends each as a reply to its own command).
Because each chat
is sent by at most one thread at a time, texts that arrive while that thread waits for the
chat's rate limit simply join the next message: a burst becomes a handful of messages.

With ``lead=True`` (the bot's setting) the first text after a quiet spell (no round sent to
that chat for :data:`GATHER` seconds) goes out at once, and gathering starts with the texts
behind it: a lone task's ✅ is not held back a second (``bench/e2e.py`` times it), and a burst
still becomes a handful of messages: after the lead round the next one gathers twice
:data:`GATHER`, as a second round would have. A round of one lone text ends its sender, so a
text after a quiet :data:`GATHER` leads again instead of waiting out a doubled window.

The texts are Telegram HTML whose tags open and close within one line (the listener and the
handlers build them so); splitting between lines therefore never breaks a tag.

**Owed texts survive a crash.** A text posted with ``owed=True`` (a task's ✅ with its links,
its ❌ or 🚫) is first written to the store's outbox, in the same transaction that removes its
task's journal row (``finishes=gid``), and its row is removed only once the Bot API accepted the
message that carried it (or refused it for good: a chat that blocked the bot). What is still in
the outbox at the next start is sent then (:meth:`Announcer.resend_pending`). A message the Bot
API accepted is never sent again; the one case that can still repeat is a kill in the
milliseconds between Telegram's answer and the row's removal, or a request that reached
Telegram but whose answer never came back (Telegram has no idempotency key to ask with).
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Protocol

from telegram.error import BadRequest, Forbidden

from telebot.botapi.messenger import Messenger
from telebot.errors import TelebotError

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096  # sendMessage text limit (docs/TELEGRAM.md, limits)
# How long a chat's first text waits for company: long enough that tasks finishing together
# (a burst of small ones: tens of ms apart) share a message, short enough that a lone task's
# completion still reads as immediate.
GATHER = 1.0
# While a chat stays busy (texts keep coming as its sender works), each round gathers twice as
# long as the one before, up to this: a slow trickle of completions (a loaded host, tasks of
# mixed sizes) still becomes a handful of lists, not one message a second.
MAX_GATHER = 5.0
# Sender threads: one per chat at a time, each mostly waiting on its chat's rate limit.
SENDERS = 8
# Up to this many texts for different commands go out one by one, each replying to its own
# command: Telegram tolerates such a short burst in a chat (our limiter's PRIVATE_BURST is 3).
SEPARATE = 3
SEPARATOR = "\n\n"
# Chats whose last round time is kept (for ``lead``) before the quiet ones are forgotten.
MAX_REMEMBERED = 1024
_TAG = re.compile(r"<[^>]*>")


class Outbox(Protocol):
    """Where owed texts wait until sent (the store's outbox; telebot/store.py)."""

    def outbox_add(
        self, chat_id: int, text: str, reply_to: int | None, *, finishes: str | None = None
    ) -> int: ...
    def outbox_remove(self, ids: list[int]) -> None: ...
    def outbox_entries(self) -> Sequence[OutboxRow]: ...


class OutboxRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def reply_to(self) -> int | None: ...


@dataclass(frozen=True)
class _Item:
    text: str
    reply_to: int | None
    row: int | None = None  # its outbox row, for an owed text


@dataclass
class _Chat:
    """Texts waiting for one chat. Guarded by ``Announcer._lock``."""

    items: list[_Item] = field(default_factory=list)
    first_at: float = 0.0  # when the oldest waiting text was posted
    busy: bool = False  # a sender thread owns this chat


class Announcer:
    """Delivers texts to chats in the background, gathering each chat's texts into lists."""

    def __init__(
        self,
        messenger: Callable[[], Messenger],
        *,
        gather: float = GATHER,
        limit: int = MESSAGE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        outbox: Outbox | None = None,
        lead: bool = False,
    ) -> None:
        self._messenger = messenger
        self._outbox = outbox
        self._gather = gather
        self._lead = lead
        # chat -> when its last round was sent; a chat quiet for ``gather`` leads with no wait.
        self._last_round: dict[int, float] = {}
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._chats: dict[int, _Chat] = {}
        self._futures: set[Future[None]] = set()
        self._stop = threading.Event()
        # Set once stop() has waited its time: a sender still stuck in Telegram gives up (an
        # owed text stays in the outbox), so no thread keeps the process from exiting.
        self._abort = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="announce")

    def post(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        owed: bool = False,
        finishes: str | None = None,
    ) -> None:
        """Queue ``text`` (HTML) for ``chat_id``. Never waits on Telegram.

        ``owed``: the user must get it even across a crash; it is written to the outbox first
        (a disk write: worker threads only, never on the event loop), removing the journal row
        of task ``finishes`` in the same transaction. Without an outbox it is posted as usual.
        """
        row = None
        if owed and self._outbox is not None:
            row = self._outbox.outbox_add(chat_id, text, reply_to, finishes=finishes)
        self._queue(chat_id, _Item(text, reply_to, row))

    def resend_pending(self) -> int:
        """Queue what the outbox still holds from before a restart; how many. At start, once,
        before anything else is posted (a worker thread: it reads the store)."""
        if self._outbox is None:
            return 0
        rows = self._outbox.outbox_entries()
        for entry in rows:
            self._queue(entry.chat_id, _Item(entry.text, entry.reply_to, entry.id))
        if rows:
            log.info("sending %d message(s) owed from before the restart", len(rows))
        return len(rows)

    def _queue(self, chat_id: int, item: _Item) -> None:
        with self._lock:
            chat = self._chats.setdefault(chat_id, _Chat())
            if not chat.items:
                chat.first_at = self._clock()
            chat.items.append(item)
            if chat.busy:
                return  # its sender picks the text up in its next round
            now = self._clock()
            last = self._last_round.get(chat_id)
            leading = self._lead and (last is None or now - last >= self._gather)
            try:
                future = self._pool.submit(self._drain, chat_id, leading)
            except RuntimeError:  # stopped: the bot can no longer send anything
                del self._chats[chat_id]
                kept = " (kept for the next start)" if item.row is not None else ""
                log.warning("announcement to chat %s not sent: shutting down%s", chat_id, kept)
                return
            chat.busy = True
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is waiting now (no more gathering) within ``timeout``, then stop; a send
        still waiting then is abandoned (an owed text stays in the outbox for the next start).
        """
        self._stop.set()
        with self._lock:
            pending = list(self._futures)
        wait_futures(pending, timeout=timeout)
        self._abort.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the sender -------------------------------------------------------------------------

    def _drain(self, chat_id: int, leading: bool = False) -> None:
        """Send rounds for one chat until nothing waits; the chat's only sender meanwhile.
        ``leading``: the chat was quiet, its first round goes out without waiting."""
        gather = 0.0 if leading else self._gather
        while True:
            with self._lock:
                chat = self._chats[chat_id]
                due = chat.first_at + gather
            left = due - self._clock()
            if left > 0 and not self._stop.is_set():
                self._stop.wait(left)
            with self._lock:
                items, chat.items = chat.items, []
                if not items:
                    chat.busy = False
                    del self._chats[chat_id]
                    return
            self._send(chat_id, items)
            with self._lock:
                self._last_round[chat_id] = self._clock()
                if len(self._last_round) > MAX_REMEMBERED:  # forget the quiet chats
                    cutoff = self._clock() - self._gather
                    for key in [k for k, at in self._last_round.items() if at < cutoff]:
                        del self._last_round[key]
                if len(items) == 1 and not chat.items:
                    # A lone text with nothing behind it: no burst to gather. Staying on
                    # for the doubled window would hold the chat's next text up to twice
                    # GATHER even after a quiet second (bench/e2e.py: a ✅ 2 s late for runs
                    # ~1 s apart); the next text follows the lead rule in _queue instead.
                    chat.busy = False
                    del self._chats[chat_id]
                    return
            # After a lead round the chat is busy: the next round gathers as the second one
            # would have (twice GATHER), so a burst's stragglers share one list.
            base = self._gather if gather == 0.0 else gather
            gather = min(base * 2, max(MAX_GATHER, self._gather))

    def _send(self, chat_id: int, items: list[_Item]) -> None:
        replies = {item.reply_to for item in items}
        if len(replies) > 1 and len(items) <= SEPARATE:
            # A few texts for different commands: each answers its own, as a short burst.
            for item in items:
                for text, rows in pack([item], self._limit):
                    self._send_text(chat_id, text, item.reply_to, rows)
            return
        # One list answers a command only if all its texts do.
        reply_to = replies.pop() if len(replies) == 1 else None
        for text, rows in pack(items, self._limit):
            self._send_text(chat_id, text, reply_to, rows)

    def _send_text(self, chat_id: int, text: str, reply_to: int | None, rows: list[int]) -> None:
        """Send one message; ``rows`` are the outbox rows it completes, removed once the Bot
        API accepted it, or refused it for good (kept on any other failure)."""
        if self._abort.is_set():
            return  # stopped: what is owed waits in the outbox
        try:
            self._messenger().send_text(chat_id, text, reply_to=reply_to, cancel=self._abort)
        except (BadRequest, Forbidden) as exc:  # chat gone, bot blocked: never deliverable
            log.warning("chat %s refused an announcement: %s", chat_id, exc)
        except TelebotError as exc:  # shutting down, rate limit never free: no traceback
            log.warning("could not send an announcement to chat %s: %s", chat_id, exc)
            return
        except Exception:  # a lost announcement must not stop the others
            log.exception("could not send an announcement to chat %s", chat_id)
            return
        if rows and self._outbox is not None:
            try:
                self._outbox.outbox_remove(rows)
            except Exception:  # the store is closing: at worst it is sent once more
                log.exception("could not clear sent messages from the outbox")


def pack(items: list[_Item], limit: int = MESSAGE_LIMIT) -> list[tuple[str, list[int]]]:
    """:func:`split_messages` of the items' texts, each message with the outbox rows it
    completes (a row whose text spans several messages is completed by the last of them)."""
    pieces: list[tuple[str, int]] = [
        (piece, n) for n, item in enumerate(items) for piece in _fit(item.text, limit)
    ]
    last = {n: i for i, (_, n) in enumerate(pieces)}
    messages: list[tuple[str, list[int]]] = []
    start = 0
    for text, end in _greedy([piece for piece, _ in pieces], SEPARATOR, limit):
        rows = [
            row for i in range(start, end + 1)
            if last[n := pieces[i][1]] == i and (row := items[n].row) is not None
        ]
        messages.append((text, rows))
        start = end + 1
    return messages


def split_messages(texts: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join ``texts`` with blank lines into as few messages of at most ``limit`` characters as
    their order allows. A text that alone exceeds ``limit`` is cut between lines; a single line
    that does is shown as plain text, shortened."""
    pieces = [part for text in texts for part in _fit(text, limit)]
    return [text for text, _ in _greedy(pieces, SEPARATOR, limit)]


def _fit(text: str, limit: int) -> list[str]:
    """``text`` as pieces of at most ``limit`` characters, cut only between lines."""
    if len(text) <= limit:
        return [text]
    lines = []
    for line in text.split("\n"):
        if len(line) > limit:
            plain = html.unescape(_TAG.sub("", line))
            line = html.escape(plain[: limit // 6 - 1] + "…", quote=False)  # ≤ 6x by escaping
        lines.append(line)
    return [piece for piece, _ in _greedy(lines, "\n", limit)]


def _greedy(parts: Sequence[str], sep: str, limit: int) -> list[tuple[str, int]]:
    """``parts`` (each at most ``limit`` long) joined with ``sep`` in order, a new text whenever
    the next part would pass ``limit``; each text with the index of its last part. The one
    packing rule of messages (texts joined by a blank line) and of a long text's pieces (lines)."""
    packed: list[tuple[str, int]] = []
    current = ""
    for i, part in enumerate(parts):
        joined = f"{current}{sep}{part}" if current else part
        if len(joined) > limit and current:
            packed.append((current, i - 1))
            current = part
        else:
            current = joined
    if current:
        packed.append((current, len(parts) - 1))
    return packed
