"""Rate limiting: token buckets, keyed limiters, flood gates, Telegram's limits.

:class:`TokenBucket` refills ``rate`` tokens a second up to ``capacity``. In
any interval of length ``t`` it grants at most ``capacity + rate * t`` tokens,
however many threads ask. A blocking :meth:`TokenBucket.acquire` *reserves*
its tokens at once (the balance may go negative) and then waits until the debt
is paid off, as Guava's ``RateLimiter`` does. Waiters are therefore served in
the order they asked, nobody wakes up only to find the tokens gone, and a
caller that would have to wait longer than its timeout learns so at once.

:class:`FloodGate` remembers, per key, until when nobody may call: after a 429
every later call to that chat waits ``retry_after`` before its next attempt.

:class:`TelegramLimiter` combines both with the Bot API's limits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from telebot.errors import TaskCancelled, TransientError

__all__ = ["FloodGate", "KeyedLimiter", "RateLimited", "TelegramLimiter", "TokenBucket"]


class RateLimited(TransientError):
    """Our own limiter had no slot within the caller's timeout.

    Transient (a later try may get a slot) but says nothing about the remote
    host, so circuit breakers do not count it: raise this, not a bare
    TransientError, when a limiter wait inside a guarded call times out.
    """

Sleep = Callable[[float], None]


def _wait(seconds: float, cancel: threading.Event | None, sleep: Sleep | None) -> bool:
    """Wait ``seconds``; True when ``cancel`` was set (before or meanwhile)."""
    if seconds <= 0:
        return cancel is not None and cancel.is_set()
    if sleep is not None:
        sleep(seconds)
        return cancel is not None and cancel.is_set()
    if cancel is not None:
        return cancel.wait(seconds)
    time.sleep(seconds)
    return False


class TokenBucket:
    """A thread-safe token bucket, starting full.

    ``rate`` is tokens per second, ``capacity`` the burst. Blocking waits use
    ``sleep`` when given (tests pass a fake clock's sleep), else
    ``cancel.wait`` so that a cancel interrupts them, else :func:`time.sleep`.
    """

    __slots__ = ("_clock", "_last", "_lock", "_sleep", "_tokens", "capacity", "rate")

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep | None = None,
    ) -> None:
        if not rate > 0 or not capacity > 0:
            raise ValueError(f"rate and capacity must be > 0, not {rate!r}, {capacity!r}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()

    def try_acquire(self, n: float = 1) -> bool:
        """Take ``n`` tokens if they are there now; never waits."""
        with self._lock:
            self._refill()
            if self._tokens >= n:
                self._tokens -= n
                return True
            return False

    def wait_time(self, n: float = 1) -> float:
        """Seconds until ``n`` tokens would be there (0 if they are now)."""
        with self._lock:
            self._refill()
            return max(0.0, (n - self._tokens) / self.rate)

    def acquire(
        self, n: float = 1, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> bool:
        """Take ``n`` tokens, waiting for them if needed.

        Returns False at once, taking nothing, when the wait would exceed
        ``timeout``. Raises :class:`TaskCancelled` (and gives the tokens back)
        when ``cancel`` is set before or during the wait; raises ValueError
        when ``n`` exceeds the capacity, since that could never be granted.
        """
        if n > self.capacity:
            raise ValueError(f"cannot acquire {n} tokens from a bucket of {self.capacity}")
        wait = self._reserve(n, timeout)
        if wait is None:
            return False
        if _wait(wait, cancel, self._sleep):
            self.release(n)
            raise TaskCancelled("cancelled while waiting for a rate limit")
        return True

    def release(self, n: float = 1) -> None:
        """Give back ``n`` tokens taken but not used (capped at the capacity)."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + n)

    def is_full(self) -> bool:
        """Whether the bucket is full, i.e. indistinguishable from a new one."""
        with self._lock:
            self._refill()
            return self._tokens >= self.capacity

    def _reserve(self, n: float, timeout: float | None) -> float | None:
        """Take ``n`` tokens on credit; the wait until paid, or None if too long."""
        with self._lock:
            self._refill()
            wait = max(0.0, (n - self._tokens) / self.rate)
            if timeout is not None and wait > timeout:
                return None
            self._tokens -= n
            return wait

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
            self._last = now


class KeyedLimiter:
    """One :class:`TokenBucket` per key, made by ``factory(key)`` on first use.

    Full buckets are dropped once more than ``max_keys`` exist: a full bucket
    behaves exactly like a new one, so forgetting it changes nothing.
    """

    def __init__(
        self, factory: Callable[[Hashable], TokenBucket], *, max_keys: int = 4096
    ) -> None:
        self._factory = factory
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, TokenBucket] = {}

    def bucket(self, key: Hashable) -> TokenBucket:
        """The bucket of ``key``, created if needed."""
        bucket = self._buckets.get(key)  # atomic dict read: no lock on the hot path
        if bucket is not None:
            return bucket
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._drop_full()
                bucket = self._buckets[key] = self._factory(key)
            return bucket

    def acquire(
        self,
        key: Hashable,
        n: float = 1,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> bool:
        """:meth:`TokenBucket.acquire` on the bucket of ``key``."""
        return self.bucket(key).acquire(n, timeout, cancel)

    def try_acquire(self, key: Hashable, n: float = 1) -> bool:
        """:meth:`TokenBucket.try_acquire` on the bucket of ``key``."""
        return self.bucket(key).try_acquire(n)

    def __len__(self) -> int:
        return len(self._buckets)

    def _drop_full(self) -> None:
        for key in [key for key, bucket in self._buckets.items() if bucket.is_full()]:
            del self._buckets[key]


class FloodGate:
    """Per-key "nobody calls before" times, set after a 429 ``retry_after``."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sleep: Sleep | None = None):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until: dict[Hashable, float] = {}

    def block(self, key: Hashable, seconds: float) -> None:
        """Keep calls to ``key`` waiting ``seconds`` from now (never shortens a block)."""
        until = self._clock() + max(0.0, seconds)
        with self._lock:
            if until > self._until.get(key, 0.0):
                self._until[key] = until

    def wait_time(self, key: Hashable) -> float:
        """Seconds until ``key`` may be called again; 0 when it may now."""
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return 0.0
            left = until - self._clock()
            if left <= 0:
                del self._until[key]  # expired: forget it
                return 0.0
            return left

    def wait(
        self, key: Hashable, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> bool:
        """Wait until ``key`` may be called; True then.

        Returns False at once when the block outlasts ``timeout``; a block
        extended while waiting is waited for too. Raises
        :class:`TaskCancelled` when ``cancel`` is set.
        """
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            left = self.wait_time(key)
            if left <= 0:
                return True
            if deadline is not None and self._clock() + left > deadline:
                return False
            if _wait(left, cancel, self._sleep):
                raise TaskCancelled("cancelled while waiting out a flood limit")


# Bot API FAQ, "My bot is hitting limits, how do I avoid this?"
# (core.telegram.org/bots/faq): in one chat avoid more than 1 message per
# second ("short bursts" are tolerated), in a group no more than 20 messages
# per minute, and about 30 messages per second overall. A token bucket grants
# at most ``capacity + rate * t`` in any interval ``t``; the values below keep
# that under the FAQ's numbers for the interval each one is stated for.

#: Private chats: 1/s with a small burst of 3.
PRIVATE_RATE, PRIVATE_BURST = 1.0, 3.0
#: Groups and channels: 2 + 0.3 * 60 = 20 per any minute.
GROUP_RATE, GROUP_BURST = 0.3, 2.0
#: Overall: 1 + 29 * 1 = 30 per any second.
GLOBAL_RATE, GLOBAL_BURST = 29.0, 1.0

ChatId = int | str


def _is_group(chat_id: ChatId) -> bool:
    """Groups and channels have negative ids, or are named ``@channelusername``."""
    if isinstance(chat_id, str):
        text = chat_id.strip()
        return not text.isdigit()  # "-100123" and "@name" are groups; "42" is private
    return chat_id < 0


def _normalise(chat_id: ChatId) -> ChatId:
    if isinstance(chat_id, str):
        text = chat_id.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        return text
    return chat_id


class TelegramLimiter:
    """The Bot API's send limits plus flood gates that honour 429 ``retry_after``.

    :meth:`acquire` waits, in order, for the global and the chat's flood gate,
    the chat's bucket (1/s in private chats, 20/min in groups) and the global
    bucket (30/s), all within one ``timeout``. A call that puts nothing into the chat
    (``sends=False``: deleting a message, reading a member) skips the chat's bucket: the
    per-chat limits are on what is sent there (docs/TELEGRAM.md), and a status message deleted
    as a task ends must not make that task's ✅ wait a second longer.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Sleep | None = None
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._chats = KeyedLimiter(self._bucket_for)
        self._global = TokenBucket(GLOBAL_RATE, GLOBAL_BURST, clock=clock, sleep=sleep)
        self._gates = FloodGate(clock=clock, sleep=sleep)

    def _bucket_for(self, chat_id: Hashable) -> TokenBucket:
        assert isinstance(chat_id, int | str)
        if _is_group(chat_id):
            return TokenBucket(GROUP_RATE, GROUP_BURST, clock=self._clock, sleep=self._sleep)
        return TokenBucket(PRIVATE_RATE, PRIVATE_BURST, clock=self._clock, sleep=self._sleep)

    def acquire_or_raise(
        self,
        chat_id: ChatId,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        *,
        sends: bool = True,
    ) -> None:
        """:meth:`acquire`, raising :class:`RateLimited` instead of returning False."""
        if not self.acquire(chat_id, timeout, cancel, sends=sends):
            raise RateLimited(f"no Telegram send slot for chat {chat_id} within {timeout} s")

    def acquire(
        self,
        chat_id: ChatId,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        *,
        sends: bool = True,
    ) -> bool:
        """Wait for a slot to call the Bot API about ``chat_id``; False if none within
        ``timeout``. ``sends=False``: the call posts or edits nothing (no chat bucket)."""
        key = _normalise(chat_id)
        deadline = None if timeout is None else self._clock() + timeout
        for gate_key in (_GLOBAL, key):
            if not self._gates.wait(gate_key, self._left(deadline), cancel):
                return False
        if not sends:
            return self._global.acquire(1, self._left(deadline), cancel)
        chat_bucket = self._chats.bucket(key)
        if not chat_bucket.acquire(1, self._left(deadline), cancel):
            return False
        try:
            granted = self._global.acquire(1, self._left(deadline), cancel)
        except TaskCancelled:
            chat_bucket.release(1)
            raise
        if not granted:
            chat_bucket.release(1)
        return granted

    def note_retry_after(self, chat_id: ChatId, seconds: float, global_: bool = False) -> None:
        """Record a 429: calls to ``chat_id`` (or all, if ``global_``) wait ``seconds``."""
        self._gates.block(_GLOBAL if global_ else _normalise(chat_id), seconds)

    def wait_time(self, chat_id: ChatId) -> float:
        """Seconds a send to ``chat_id`` would wait now (flood gates and buckets)."""
        key = _normalise(chat_id)
        return max(
            self._gates.wait_time(_GLOBAL),
            self._gates.wait_time(key),
            self._chats.bucket(key).wait_time(),
            self._global.wait_time(),
        )

    def _left(self, deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - self._clock())


class _GlobalKey:
    """Gate key for "every chat"; a class so it cannot collide with a chat id."""

    def __repr__(self) -> str:
        return "<all chats>"


_GLOBAL = _GlobalKey()
