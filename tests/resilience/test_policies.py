"""Tests of telebot.resilience.policies: what is safe to repeat, with real PTB errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import telegram
import telegram.error as tge

from telebot.errors import HTTPStatusError, TransientError
from telebot.resilience.policies import (
    TELEGRAM_POLICY,
    TELEGRAM_UPLOAD_POLICY,
    request_not_delivered,
    telegram_policy,
    transient_if_not_delivered,
)
from tests.fakes.ports import reserved_port


def wrapped(outer: BaseException, cause: BaseException) -> BaseException:
    """``outer`` raised ``from cause``, as PTB does."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        tge.RetryAfter(3),
        HTTPStatusError(429, "h"),
        ConnectionRefusedError(111, "refused"),
        wrapped(tge.TimedOut("Pool timeout"), httpx.PoolTimeout("pool")),
        wrapped(tge.TimedOut(), httpx.ConnectTimeout("connect")),
        wrapped(tge.NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")),
    ],
    ids=repr,
)
def test_errors_proving_the_request_was_not_delivered(exc: BaseException) -> None:
    assert request_not_delivered(exc)
    assert transient_if_not_delivered(exc)


@pytest.mark.parametrize(
    "exc",
    [
        wrapped(tge.TimedOut(), httpx.ReadTimeout("read")),
        wrapped(tge.TimedOut(), httpx.WriteTimeout("write")),
        wrapped(tge.NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("x")),
        tge.NetworkError("Bad Gateway"),
        HTTPStatusError(502, "h"),
        TransientError("maybe"),
        ConnectionResetError(104, "reset"),
    ],
    ids=repr,
)
def test_errors_that_may_hide_a_delivered_request(exc: BaseException) -> None:
    assert not request_not_delivered(exc)
    assert not transient_if_not_delivered(exc)


def test_bad_request_is_never_repeated() -> None:
    exc = wrapped(tge.BadRequest("Message is not modified"), httpx.ConnectError("x"))
    assert not transient_if_not_delivered(exc)


def test_real_ptb_connect_failure_is_recognised() -> None:
    """PTB against a loopback port with no listener: the error chain it really builds."""
    port = reserved_port()

    async def call() -> None:
        bot = telegram.Bot("123:abc", base_url=f"http://127.0.0.1:{port}/bot")
        async with bot:
            await bot.send_document(42, b"data")

    with pytest.raises(tge.NetworkError) as info:
        asyncio.run(call())
    assert request_not_delivered(info.value)
    assert TELEGRAM_UPLOAD_POLICY.transient(info.value)


@pytest.mark.parametrize("method", ["sendMessage", "editMessageText", "deleteMessage",
                                    "getFile", "ANSWERCALLBACKQUERY"])
def test_repeatable_methods_use_the_plain_policy(method: str) -> None:
    assert telegram_policy(method) is TELEGRAM_POLICY


@pytest.mark.parametrize("method", ["sendDocument", "sendVideo", "sendMediaGroup",
                                    "copyMessage", "someFutureMethod"])
def test_uploads_and_unknown_methods_are_repeated_only_when_undelivered(method: str) -> None:
    policy = telegram_policy(method)
    assert policy is TELEGRAM_UPLOAD_POLICY
    assert not policy.transient(wrapped(tge.TimedOut(), httpx.ReadTimeout("read")))
    assert policy.transient(tge.RetryAfter(5))
