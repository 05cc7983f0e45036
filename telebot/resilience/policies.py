"""Ready-made retry policies, and which Bot API calls are safe to repeat.

The danger of retrying is doing a thing twice. A read or an idempotent edit
can be repeated freely; an upload cannot: after ``TimedOut`` the Bot API may
well have received the file and posted it, and sending again posts it twice
(docs/TELEGRAM.md, errors; docs/ARCHITECTURE.md §1). The decision per Bot API method:

=====================================  ============================================
methods                                retried on
=====================================  ============================================
getMe, getUpdates, getFile, getChat,   every transient error (reads)
getChatMember, file downloads
editMessageText, editMessageCaption,   every transient error (repeating an edit or
editMessageReplyMarkup, deleteMessage, a delete ends in the same state; the second
answerCallbackQuery, sendChatAction,   try may get 400 "not modified"/"not found",
setMyCommands                          which the caller ignores)
sendMessage                            every transient error: a duplicated short
                                       text is a lesser harm than a lost
                                       "task done" message
sendDocument, sendVideo, sendAudio,    only errors proving the request was *not*
sendPhoto, sendAnimation, sendVoice,   delivered (:func:`request_not_delivered`):
sendMediaGroup, copyMessage,           429/RetryAfter, connect errors, pool
forwardMessage, and any other method   timeouts. Never after a read timeout.
=====================================  ============================================
"""

from __future__ import annotations

from telebot.errors import HTTPStatusError
from telebot.resilience.retry import RetryPolicy, _module, default_is_transient

__all__ = [
    "DOWNLOAD_POLICY",
    "TELEGRAM_POLICY",
    "TELEGRAM_UPLOAD_POLICY",
    "request_not_delivered",
    "telegram_policy",
    "transient_if_not_delivered",
]

#: Methods whose repetition cannot do harm (reads and idempotent changes).
REPEATABLE_METHODS = frozenset({
    "getme", "getupdates", "getfile", "getchat", "getchatmember", "getmycommands",
    "editmessagetext", "editmessagecaption", "editmessagereplymarkup", "deletemessage",
    "answercallbackquery", "sendchataction", "setmycommands", "deletewebhook",
    "sendmessage",
})


def _httpx_not_sent(cause: BaseException) -> bool:
    httpx = _module("httpx")
    # PTB wraps these in TimedOut/NetworkError with the httpx error as __cause__
    # (telegram/request/_httpxrequest.py: do_request). None of them sent a byte
    # of the request: the connection was never made or never taken from the pool.
    return httpx is not None and isinstance(
        cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
    )


def _requests_not_sent(exc: BaseException) -> bool:
    rex = _module("requests.exceptions")
    if rex is not None and isinstance(exc, rex.ConnectTimeout):
        return True
    uex = _module("urllib3.exceptions")
    if uex is None:
        return False
    if rex is not None and isinstance(exc, rex.ConnectionError) and exc.args:
        # requests wraps urllib3's MaxRetryError as args[0] (not as __cause__);
        # its ``reason`` tells whether a connection was ever made.
        exc = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(exc, uex.NewConnectionError | uex.ConnectTimeoutError)


def request_not_delivered(exc: BaseException) -> bool:
    """True only when ``exc`` proves the other side did not act on the request.

    That is: Telegram's ``RetryAfter`` and HTTP 429/408 (the server refused or
    never got the whole request), connection refused or connect timeouts, and
    PTB's pool timeout. A read timeout or a dropped connection proves nothing.
    """
    ptb = _module("telegram.error")
    if ptb is not None and isinstance(exc, ptb.RetryAfter):
        return True
    if isinstance(exc, HTTPStatusError):
        return exc.status in (408, 429)
    if isinstance(exc, ConnectionRefusedError) or _requests_not_sent(exc):
        return True
    seen: set[int] = set()
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if _httpx_not_sent(cause) or isinstance(cause, ConnectionRefusedError):
            return True
        cause = cause.__cause__
    return False


def transient_if_not_delivered(exc: BaseException) -> bool:
    """Transient, and certainly not delivered: safe to repeat a non-idempotent call."""
    return default_is_transient(exc) and request_not_delivered(exc)


#: Bot API calls from workers: PTB's own timeouts bound each attempt, so a
#: short overall deadline keeps a status message from lagging far behind.
TELEGRAM_POLICY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=10.0, deadline=120.0)

#: Uploads: retried only when the upload certainly did not happen.
TELEGRAM_UPLOAD_POLICY = RetryPolicy(
    attempts=5, base_delay=1.0, max_delay=30.0, deadline=600.0,
    transient=transient_if_not_delivered,
)

#: HTTP downloads resume from the bytes they have, so retrying is cheap and a
#: flaky origin deserves patience.
DOWNLOAD_POLICY = RetryPolicy(attempts=8, base_delay=1.0, max_delay=60.0, deadline=900.0)


def telegram_policy(method: str) -> RetryPolicy:
    """The retry policy for Bot API ``method`` (any case, e.g. ``"sendDocument"``).

    Methods not known to be repeatable get the upload policy: unknown means
    "assume it may have happened".
    """
    if method.lower() in REPEATABLE_METHODS:
        return TELEGRAM_POLICY
    return TELEGRAM_UPLOAD_POLICY
