"""The status message in a running bot: /status reposts it, its buttons page and cancel."""

from __future__ import annotations

from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import gid_of, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

MiB = 1024 * 1024


def slow_tasks(api: FakeBotAPI, origin: FakeOrigin, count: int) -> None:
    for i in range(count):
        origin.add(f"/s{i}.bin", size=40 * MiB, seed=i)
        origin.fault(f"/s{i}.bin", throttle=128 * 1024)
        api.push_message(f"/mirror {origin.url}/s{i}.bin", chat_id=OWNER, user_id=OWNER)


def test_status_reposts_at_the_bottom(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot()
    since = bot_api.mark()
    slow_tasks(bot_api, origin, 1)
    first = wait_text(bot_api, r"Tasks", chat_id=OWNER, since=since)
    mark = bot_api.mark()
    bot_api.push_message("/status", chat_id=OWNER, user_id=OWNER)
    bot_api.wait_for(
        "deleteMessage",
        lambda c: c.params.get("message_id") == first.result["message_id"],
        since=mark,
        timeout=15,
    )
    again = wait_text(bot_api, r"Tasks", chat_id=OWNER, since=mark)
    assert again.result["message_id"] > first.result["message_id"]


def test_buttons_page_and_cancel(bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any) -> None:
    make_bot(STATUS_LIMIT="1", QUEUE_ALL="3")
    since = bot_api.mark()
    slow_tasks(bot_api, origin, 2)
    gid = gid_of(bot_api, chat_id=OWNER, since=since)
    status = wait_text(
        bot_api, r"page 1/2", chat_id=OWNER, since=since, method="editMessageText", timeout=30
    )
    message = bot_api.chat_messages(OWNER)[status.params["message_id"]]
    mark = bot_api.mark()
    bot_api.push_callback("st:p:1", message=message, user_id=OWNER)
    wait_text(bot_api, r"page 2/2", since=mark, method="editMessageText", timeout=15)
    bot_api.push_callback(f"st:c:{gid}", message=message, user_id=OWNER)
    answer = bot_api.wait_for(
        "answerCallbackQuery",
        lambda c: "Cancelling" in str(c.params.get("text")),
        since=mark,
        timeout=15,
    )
    assert gid in str(answer.params.get("text"))
    wait_text(bot_api, r"🚫", since=mark, timeout=15)
    # A stranger's button press is refused and starts nothing.
    query = bot_api.push_callback("st:p:0", message=message, user_id=999)
    # The refusal answers the stranger's own query (wait_for raises if it never comes).
    bot_api.wait_for(
        "answerCallbackQuery",
        lambda c: c.params.get("callback_query_id") == query["id"]
        and "Not authorized" in str(c.params.get("text")),
        since=mark,
        timeout=15,
    )
    assert not bot_api.unanswered_callbacks()
    assert all(
        "Cancelling" not in text_of(c) for c in bot_api.calls_of("sendMessage") if c.index >= mark
    )
