"""Messenger: the one thread-safe way for worker threads to reach Telegram.

PTB's Bot is async-only and bound to the event loop that polls (docs/TELEGRAM.md, worker threads),
so a
worker thread hands a coroutine *factory* to that loop with
``asyncio.run_coroutine_threadsafe(factory(), loop).result(timeout)``. A factory, not a
coroutine, because a retry needs a fresh coroutine.

Every call passes, in order: the Telegram rate limits (per chat, per group, global, plus the
flood gate a 429 closes), the retry policy of its Bot API method, and the breaker of the Bot
API. What is safe to retry per method is decided in :mod:`telebot.resilience.policies`: edits,
deletes and reads are retried on any transient error; uploads only when the error proves the
request never reached Telegram (a ``TimedOut`` may come after Telegram stored the file).

Every text and caption the bot sends passes :func:`telebot.redact.redact` here, the one
boundary all chat output crosses, so an error text quoting a link with credentials, a token or
a password flag never reaches a chat.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from telebot.errors import TaskCancelled, TelebotError
from telebot.monitor.counters import COUNTERS
from telebot.monitor.perf import monitor_performance
from telebot.redact import redact
from telebot.resilience import (
    BREAKERS,
    ERRORS,
    BreakerRegistry,
    ErrorTracker,
    TelegramLimiter,
    guarded_call,
    retry_after_of,
    telegram_policy,
)

if TYPE_CHECKING:
    from telegram import Bot, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

#: Bot API methods that put nothing into a chat: they skip the chat's sending budget (the
#: global rate and any 429 still apply). Edits are not here: Telegram counts them as sends.
_SENDS_NOTHING = frozenset({"deleteMessage", "getChatMember", "getChat", "getFile"})

T = TypeVar("T")

BOT_API_KEY = "Telegram Bot API"


@dataclass(frozen=True)
class Sent:
    """What the rest of the bot needs of a sent message (no PTB objects leak out)."""

    chat_id: int
    message_id: int


class Messenger:
    """Synchronous, rate-limited facade over the PTB bot for worker threads."""

    def __init__(
        self,
        bot: Bot,
        loop: asyncio.AbstractEventLoop,
        *,
        limiter: TelegramLimiter | None = None,
        breakers: BreakerRegistry = BREAKERS,
        errors: ErrorTracker = ERRORS,
        timeout: float = 60.0,
    ) -> None:
        self.bot = bot
        self._loop = loop
        self._limiter = limiter or TelegramLimiter()
        self._breakers = breakers
        self._errors = errors
        self._timeout = timeout
        self.closed = threading.Event()

    # -- the one primitive ----------------------------------------------------------------

    @monitor_performance("telegram.call")
    def call(
        self,
        chat_id: int | str,
        method: str,
        factory: Callable[[], Awaitable[T]],
        *,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> T:
        """Run ``factory()`` on the bot's loop within the limits; returns its result."""
        if self._on_loop_thread():
            raise RuntimeError("Messenger.call must not be used on the event loop thread")

        def attempt() -> T:
            if self.closed.is_set():
                raise TaskCancelled("the bot is shutting down")
            # RateLimited (our own limiter timing out) is ignored by breakers: one busy chat
            # must not open the Bot API breaker for every chat.
            self._limiter.acquire_or_raise(
                chat_id, timeout=self._timeout, sends=method not in _SENDS_NOTHING
            )
            future = asyncio.run_coroutine_threadsafe(_awaitable(factory), self._loop)
            try:
                return _wait(future, timeout or self._timeout, cancel)
            except (FutureTimeout, TaskCancelled):
                future.cancel()  # cancels the coroutine on the loop, aborting the HTTP request
                raise
            except BaseException as exc:
                seconds = retry_after_of(exc)
                if seconds is not None:
                    self._limiter.note_retry_after(chat_id, seconds)
                    COUNTERS.flood_wait(seconds)  # /metrics: 429s leave no state to read
                raise

        return guarded_call(
            BOT_API_KEY,
            attempt,
            policy=telegram_policy(method),
            breakers=self._breakers,
            tracker=self._errors,
            source="telegram",
            cancel=cancel,
            on_retry=_log_retry,
        )

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- conveniences ---------------------------------------------------------------------

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
        cancel: threading.Event | None = None,
    ) -> Sent:
        """``cancel``: give up (TaskCancelled) when it is set while waiting for Telegram."""
        text = redact(text)
        message: Message = self.call(
            chat_id,
            "sendMessage",
            lambda: self.bot.send_message(
                chat_id,
                text,
                reply_markup=markup,
                reply_to_message_id=reply_to,
                allow_sending_without_reply=True,
                disable_web_page_preview=True,
            ),
            cancel=cancel,
        )
        return Sent(message.chat_id, message.message_id)

    def edit_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Edit a message; False when Telegram says it is gone or unchanged (not an error)."""
        from telegram.error import BadRequest

        text = redact(text)
        try:
            self.call(
                chat_id,
                "editMessageText",
                lambda: self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                    disable_web_page_preview=True,
                ),
            )
        except BadRequest as exc:
            reason = str(exc).lower()
            if "not modified" in reason or "not found" in reason:
                return False
            raise
        return True

    def delete(self, chat_id: int, message_id: int) -> bool:
        """Delete a message; False when Telegram refuses (gone, too old (48 h), or not ours to
        delete: in groups the bot needs admin rights for other people's messages)."""
        from telegram.error import BadRequest, Forbidden

        try:
            return bool(
                self.call(
                    chat_id,
                    "deleteMessage",
                    lambda: self.bot.delete_message(chat_id, message_id),
                )
            )
        except (BadRequest, Forbidden):
            return False

    def send_file(
        self,
        chat_id: int,
        method: str,
        payload: Callable[[], dict[str, Any]],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> Message:
        """Send one upload (``send_document`` etc.); never retried after a TimedOut.

        ``payload`` builds the keyword arguments afresh for each attempt, so a retried upload
        gets a new file handle that starts at byte 0.
        """
        send = getattr(self.bot, method)
        api_method = "send" + method.removeprefix("send_").title().replace("_", "")
        return self.call(
            chat_id,
            api_method,
            lambda: send(chat_id=chat_id, **_redact_caption(payload())),
            timeout=timeout,
            cancel=cancel,
        )

    def send_album(
        self,
        chat_id: int,
        count: int,
        items: Callable[[], list[tuple[str, dict[str, Any]]]],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
    ) -> list[Message]:
        """Send one album of ``count`` items (``sendMediaGroup``, 2-10); never retried after a
        TimedOut.

        ``items`` builds, afresh for each attempt, ``(kind, fields)`` per item: ``kind`` is
        ``video``, ``audio``, ``photo`` or ``document`` and ``fields`` the InputMedia keywords
        (``media``, ``caption``, ...). Telegram counts an album as one message per item against
        the chat's limits, so the chat's budget is charged for every item before the request.
        Returns the sent messages in the album's order.
        """
        from telegram import InputMediaAudio, InputMediaDocument, InputMediaPhoto, InputMediaVideo

        kinds: dict[str, Any] = {
            "video": InputMediaVideo, "audio": InputMediaAudio, "photo": InputMediaPhoto,
            "document": InputMediaDocument,
        }

        def media() -> list[Any]:
            return [kinds[kind](**_redact_caption(dict(fields))) for kind, fields in items()]

        for _ in range(max(0, count - 1)):  # the call itself takes the last slot
            self._limiter.acquire_or_raise(chat_id, timeout=self._timeout, cancel=cancel)
        result: tuple[Message, ...] = self.call(
            chat_id,
            "sendMediaGroup",
            lambda: self.bot.send_media_group(chat_id=chat_id, media=media(),
                                              read_timeout=timeout, write_timeout=timeout),
            timeout=timeout,
            cancel=cancel,
        )
        return list(result)


def _redact_caption(kwargs: dict[str, Any]) -> dict[str, Any]:
    caption = kwargs.get("caption")
    if isinstance(caption, str):
        kwargs["caption"] = redact(caption)
    return kwargs


# How often a waiting worker checks its task's cancel flag: a cancel lands within this time.
CANCEL_POLL = 0.25


def _wait(future: Future[T], timeout: float, cancel: threading.Event | None) -> T:
    """``future.result(timeout)``, but giving up early when ``cancel`` is set."""
    if cancel is None:
        return future.result(timeout)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FutureTimeout()
        done, _ = futures_wait([future], timeout=min(CANCEL_POLL, left))
        if done:
            return future.result()
        if cancel.is_set():
            raise TaskCancelled("cancelled while waiting for Telegram")


async def _awaitable(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def _log_retry(attempt: int, exc: BaseException, delay: float) -> None:
    log.warning(
        "Bot API call failed (%s: %s); retry %d in %.1f s", type(exc).__name__, exc, attempt, delay
    )


def describe_error(exc: BaseException) -> str:
    """One line for the chat; telebot errors carry their own user-facing text."""
    if isinstance(exc, TelebotError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
