"""Registering features (bot/feature.py) with PTB: commands only from the command table, one
pattern handler per button prefix, authorization before any feature sees a press, and the
hooks in list order (stopping in reverse)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from telegram import CallbackQuery, Update, User
from telegram.ext import Application, CallbackQueryHandler

from telebot.bot.application import PollingRequest, _post_stop, build_application
from telebot.bot.context import BotContext
from telebot.bot.feature import Feature, Handler
from telebot.config import load_config
from telebot.intake.auth import Authorizer
from telebot.store import Store

OWNER, STRANGER = 42, 7


def context(tmp_path: Path) -> BotContext:
    config = load_config({"BOT_TOKEN": "1:x", "OWNER_ID": str(OWNER)}, cwd=tmp_path)
    store = Store(":memory:")
    return BotContext(config=config, store=store, auth=Authorizer(config, store))


class Recorded(Feature):
    """A feature that notes what reaches it in a shared log."""

    def __init__(self, name: str, log: list[str], *, commands: tuple[str, ...] = (),
                 prefixes: tuple[str, ...] = ()) -> None:
        self.name, self.log = name, log
        self._commands, self._prefixes = commands, prefixes

    def handler(self, what: str) -> Handler:
        async def handle(update: Update, ctx: BotContext) -> None:
            query = update.callback_query
            self.log.append(f"{self.name} {what} {query.data if query else ''}".strip())

        return handle

    def commands(self) -> Mapping[str, Handler]:
        return {name: self.handler(name) for name in self._commands}

    def buttons(self) -> Mapping[str, Handler]:
        return {prefix: self.handler("press") for prefix in self._prefixes}

    def started(self, ctx: BotContext) -> None:
        self.log.append(f"{self.name} started")

    def stopping(self) -> None:
        self.log.append(f"{self.name} stopping")


def press(app: Application[Any, Any, Any, Any, Any, Any], data: str, user: int) -> None:
    """Dispatch a button press as PTB does: the first handler of group 0 that takes it."""
    query = CallbackQuery("q1", User(user, "u", False), "chat-instance", data=data)
    update = Update(1, callback_query=query)
    handler = next(h for h in app.handlers[0]
                   if isinstance(h, CallbackQueryHandler) and h.check_update(update))
    asyncio.run(handler.callback(update, SimpleNamespace(bot_data=app.bot_data)))


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    said: list[str] = []

    async def answer(self: CallbackQuery, text: str | None = None, **_: Any) -> bool:
        said.append(text or "")
        return True

    monkeypatch.setattr(CallbackQuery, "answer", answer)
    return said


def test_each_prefix_reaches_its_feature_alone(tmp_path: Path, answers: list[str]) -> None:
    log: list[str] = []
    app = build_application(context(tmp_path), [
        Recorded("menu", log, prefixes=("us",)), Recorded("board", log, prefixes=("st", "u")),
    ])
    for data in ("us:42:x", "st:p:0", "u:1", "usx:1", "st", "zz:1"):
        press(app, data, OWNER)
    # "usx:1" is no "us:" press, "st" has no colon: both are the unclaimed ones, answered empty.
    assert log == ["menu press us:42:x", "board press st:p:0", "board press u:1"]
    assert answers == ["", "", ""]


def test_a_stranger_never_reaches_a_feature(tmp_path: Path, answers: list[str]) -> None:
    log: list[str] = []
    app = build_application(context(tmp_path), [Recorded("menu", log, prefixes=("us",))])
    press(app, "us:42:x", STRANGER)
    press(app, "zz:1", STRANGER)
    assert log == [] and answers == ["Not authorized.", "Not authorized."]


def test_a_failing_button_handler_is_answered(tmp_path: Path, answers: list[str]) -> None:
    class Broken(Feature):
        def buttons(self) -> Mapping[str, Handler]:
            async def fail(update: Update, ctx: BotContext) -> None:
                raise RuntimeError("boom")

            return {"bs": fail}

    ctx = context(tmp_path)
    app = build_application(ctx, [Broken()])
    press(app, "bs:l", OWNER)
    assert answers == ["Something went wrong."] and not ctx.handler_tasks


def test_claims_are_checked_against_the_table_and_each_other(tmp_path: Path) -> None:
    log: list[str] = []
    with pytest.raises(ValueError, match="command 'stats'"):
        build_application(context(tmp_path), [Recorded("a", log, commands=("stats",)),
                                              Recorded("b", log, commands=("stats",))])
    with pytest.raises(ValueError, match="button prefix 'us'"):
        build_application(context(tmp_path), [Recorded("a", log, prefixes=("us",)),
                                              Recorded("b", log, prefixes=("us",))])
    with pytest.raises(ValueError, match="command 'help'"):  # the foundation's own
        build_application(context(tmp_path), [Recorded("a", log, commands=("help",))])
    with pytest.raises(ValueError, match=r"missing from bot/commands.py: \['frobnicate'\]"):
        build_application(context(tmp_path), [Recorded("a", log, commands=("frobnicate",))])


def test_features_stop_in_reverse_order(tmp_path: Path) -> None:
    log: list[str] = []
    ctx = context(tmp_path)
    app = build_application(ctx, [Recorded("first", log), Recorded("second", log)])
    asyncio.run(_post_stop(app))
    assert log == ["second stopping", "first stopping"]


def test_both_bot_api_clients_share_the_one_tls_context(tmp_path: Path) -> None:
    # app.py makes one context off the main thread (telebot/tlscontext.py); a client that made
    # its own would load the CA bundle again on the start path. (httpx keeps it privately.)
    tls = ssl.create_default_context()
    app = build_application(context(tmp_path), [], tls=tls)
    polling, requests = app.bot._request  # PTB: (getUpdates' request, every other call's)
    assert isinstance(polling, PollingRequest)
    for request in (polling, requests):
        assert request._client._transport._pool._ssl_context is tls
    # The builder's settings, now given to the request object directly.
    assert requests._client.timeout == httpx.Timeout(connect=10, read=30, write=60, pool=1.0)
    assert requests._client_kwargs["limits"].max_connections == 256
