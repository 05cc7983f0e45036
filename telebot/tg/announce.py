"""Announcements (acknowledgements, completions) sent without anyone waiting for them.

Telegram lets a bot send about one message a second into one chat (TELEGRAM-NOTES §2; our
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
:data:`GATHER`, as a second round would have.

The texts are Telegram HTML whose tags open and close within one line (the listener and the
handlers build them so); splitting between lines therefore never breaks a tag.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field

from telebot.errors import TelebotError
from telebot.telegram.messenger import Messenger

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096  # sendMessage text limit (TELEGRAM-NOTES §2)
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


@dataclass
class _Chat:
    """Texts waiting for one chat. Guarded by ``Announcer._lock``."""

    items: list[tuple[str, int | None]] = field(default_factory=list)
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
        lead: bool = False,
    ) -> None:
        self._messenger = messenger
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
        self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="announce")

    def post(self, chat_id: int, text: str, *, reply_to: int | None = None) -> None:
        """Queue ``text`` (HTML) for ``chat_id``. Never waits on Telegram or the disk: safe in
        worker threads and on the event loop."""
        with self._lock:
            chat = self._chats.setdefault(chat_id, _Chat())
            if not chat.items:
                chat.first_at = self._clock()
            chat.items.append((text, reply_to))
            if chat.busy:
                return  # its sender picks the text up in its next round
            now = self._clock()
            last = self._last_round.get(chat_id)
            leading = self._lead and (last is None or now - last >= self._gather)
            try:
                future = self._pool.submit(self._drain, chat_id, leading)
            except RuntimeError:  # stopped: the bot can no longer send anything
                del self._chats[chat_id]
                log.warning("announcement to chat %s dropped: shutting down", chat_id)
                return
            chat.busy = True
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is waiting now (no more gathering) within ``timeout``, then stop."""
        self._stop.set()
        with self._lock:
            pending = list(self._futures)
        wait_futures(pending, timeout=timeout)
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
            # After a lead round the chat is busy: the next round gathers as the second one
            # would have (twice GATHER), so a burst's stragglers share one list.
            base = self._gather if gather == 0.0 else gather
            gather = min(base * 2, max(MAX_GATHER, self._gather))

    def _send(self, chat_id: int, items: list[tuple[str, int | None]]) -> None:
        replies = {reply for _, reply in items}
        if len(replies) > 1 and len(items) <= SEPARATE:
            # A few texts for different commands: each answers its own, as a short burst.
            for text, reply_to in items:
                self._send_text(chat_id, text, reply_to)
            return
        # One list answers a command only if all its texts do.
        reply_to = replies.pop() if len(replies) == 1 else None
        for text in split_messages([text for text, _ in items], self._limit):
            self._send_text(chat_id, text, reply_to)

    def _send_text(self, chat_id: int, text: str, reply_to: int | None) -> None:
        try:
            self._messenger().send_text(chat_id, text, reply_to=reply_to)
        except TelebotError as exc:  # shutting down, rate limit never free: no traceback
            log.warning("could not send an announcement to chat %s: %s", chat_id, exc)
        except Exception:  # a lost announcement must not stop the others
            log.exception("could not send an announcement to chat %s", chat_id)


def split_messages(texts: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join ``texts`` with blank lines into as few messages of at most ``limit`` characters as
    their order allows. A text that alone exceeds ``limit`` is cut between lines; a single line
    that does is shown as plain text, shortened."""
    messages: list[str] = []
    current = ""
    for piece in (part for text in texts for part in _fit(text, limit)):
        joined = f"{current}{SEPARATOR}{piece}" if current else piece
        if len(joined) <= limit:
            current = joined
            continue
        messages.append(current)
        current = piece
    if current:
        messages.append(current)
    return messages


def _fit(text: str, limit: int) -> list[str]:
    """``text`` as pieces of at most ``limit`` characters, cut only between lines."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        if len(line) > limit:
            plain = html.unescape(_TAG.sub("", line))
            line = html.escape(plain[: limit // 6 - 1] + "…", quote=False)  # ≤ 6x by escaping
        joined = f"{current}\n{line}" if current else line
        if len(joined) <= limit:
            current = joined
            continue
        pieces.append(current)
        current = line
    if current:
        pieces.append(current)
    return pieces
