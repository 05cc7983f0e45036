"""Start-up's connection to the Bot API: backoff, one line per attempt, token rejection, stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

import pytest
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from telebot.botapi.startup import Backoff, connect, display_url
from telebot.errors import ConfigError

URL = "http://127.0.0.1:8081"


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = Backoff().delays()
    assert [next(delays) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_display_url_drops_credentials() -> None:
    assert display_url("http://user:secret@api.local:8081/base") == "http://api.local:8081/base"
    assert display_url("http://[::1]:8081") == "http://[::1]:8081"


class Flaky:
    """An ``initialize`` that raises the given errors, one per call, then succeeds."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def run(initialize: Callable[[], object], **kwargs: object) -> tuple[bool, list[float]]:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    async def main() -> bool:
        return await connect(initialize, URL, asyncio.Event(), sleep=sleep, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(main()), slept


def test_unreachable_is_retried_with_backoff_one_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors = [NetworkError("httpx.ConnectError: All connection attempts failed")] * 3
    flaky = Flaky(*errors, TimedOut(), NetworkError("Internal Server Error"))
    with caplog.at_level(logging.WARNING, logger="telebot"):
        connected, slept = run(flaky)
    assert connected and flaky.calls == 6
    assert slept == [1, 2, 4, 8, 16]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5 and all(URL in line for line in lines)
    assert "attempt 4: Timed out" in lines[3] and "Internal Server Error" in lines[4]


def test_rejected_token_is_a_config_error_without_the_token() -> None:
    rejected = InvalidToken("The token `123:SECRET` was rejected by the server.")
    rejected.__cause__ = InvalidToken("Unauthorized")
    with pytest.raises(ConfigError) as caught:
        run(Flaky(rejected))
    assert caught.value.name == "BOT_TOKEN"
    assert "SECRET" not in str(caught.value) and "(Unauthorized)" in str(caught.value)


def test_a_server_that_is_not_a_bot_api_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        run(Flaky(TelegramError("Invalid server response")))
    assert caught.value.name == "BOT_API_URL"


def test_stop_abandons_the_wait_and_the_attempt() -> None:
    async def stopped_while(phase: str) -> bool:
        stop, entered, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def hang(*_: object) -> None:  # a connect, or a backoff wait, that never ends
            entered.set()
            await never.wait()

        initialize = hang if phase == "attempt" else Flaky(NetworkError("refused"))
        running = asyncio.ensure_future(connect(initialize, URL, stop, sleep=hang))
        await asyncio.wait_for(entered.wait(), timeout=5)
        stop.set()
        return await asyncio.wait_for(running, timeout=5)

    assert asyncio.run(stopped_while("attempt")) is False
    assert asyncio.run(stopped_while("backoff")) is False


def test_flood_wait_at_start_waits_as_long_as_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # as python -m telebot sets it (docs/TELEGRAM.md,
    # errors)
    connected, slept = run(Flaky(RetryAfter(dt.timedelta(seconds=7))))
    assert connected and slept == [7]
