"""The intake without PTB: requests from a chat and from elsewhere pass the same checks (who,
what, admission), links are classified by the pipeline, and many tasks start all or none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from telebot.config import Config
from telebot.engine.limits import Limits, LimitValues
from telebot.intake.args import parse_task_args
from telebot.intake.auth import Authorizer
from telebot.intake.desk import NOT_AUTHORIZED, Intake
from telebot.intake.request import Replied, ReplyFile, Request, Requester
from telebot.intake.specs import UNSUPPORTED_LINK, SpecBuilder
from telebot.store import Store
from tests.intake.fakes import FakeConversation, FakeQueue, Said, link_pipeline

OWNER, USER, STRANGER, GROUP = 1, 3, 4, -100


def make(tmp_path: Path, user_tasks: int = 0) -> tuple[Intake, FakeQueue]:
    cfg = Config(bot_token="1:x", owner_id=OWNER, authorized_chats=frozenset({GROUP}))
    queue = FakeQueue(Limits(LimitValues(user_tasks=user_tasks)))
    posts: list[int] = []
    intake = Intake(
        cfg,
        Store(tmp_path / "db"),
        Authorizer(cfg, Store(tmp_path / "db")),
        SpecBuilder(cfg, link_pipeline()),
        queue,
        can_post=lambda chat, user, sudo: posts.append(chat),
    )
    return intake, queue


def feed(user: int, text: str, chat: int = GROUP) -> Request:
    """What an RSS feed or a search would send: no message, no chat to ask."""
    return Request(Requester(user, chat), "mirror", text)


def test_a_chat_command_becomes_one_checked_spec(tmp_path: Path) -> None:
    intake, queue = make(tmp_path)
    request = Request(Requester(USER, GROUP, 55), "leech", "https://h/a.bin -n x.bin -doc")
    outcome = intake.submit(request)
    assert outcome.refusal is None and outcome.gids == ("g1",) and outcome.notice is None
    [spec] = queue.queued
    assert (spec.kind, spec.source, spec.name, spec.as_document) == (
        "leech", "https://h/a.bin", "x.bin", True
    )
    assert (spec.user_id, spec.chat_id, spec.message_id) == (USER, GROUP, 55)


def test_the_link_comes_from_the_reply_and_a_file_becomes_its_telegram_source(
    tmp_path: Path,
) -> None:
    intake, queue = make(tmp_path)
    who = Requester(USER, GROUP, 9)
    text = Replied(8, text="magnet:?xt=urn:btih:abc and words")
    assert not intake.submit(Request(who, "mirror", "-s", replied=text)).refused
    document = Replied(8, file=ReplyFile("FILE", "a.zip", 10))
    assert not intake.submit(Request(who, "mirror", parse_task_args("", "mirror"),
                                     replied=document)).refused
    assert [(s.source, s.select, s.file_name) for s in queue.queued] == [
        ("magnet:?xt=urn:btih:abc", True, None), ("tg:FILE", False, "a.zip"),
    ]
    # -ap alone is a file host's share password: a replied-to file has none, so it is refused.
    with_password = intake.submit(Request(who, "mirror", parse_task_args("-ap pw", "mirror"),
                                          replied=document))
    assert with_password.refusal is not None and "a Telegram file has none" in with_password.refusal
    assert len(queue.queued) == 2


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("ftp://h/a", UNSUPPORTED_LINK),  # no source takes it
        ("tg:SOMEONES_FILE", UNSUPPORTED_LINK),  # typed, it never names a Telegram file
        ("group:abc", UNSUPPORTED_LINK),  # nor a -m group's folder
        ("https://h/a -s", "-s only applies to torrents"),  # the http source does not select
        ("https://h/a -q best", "-q and -opt only apply to /ytdl"),
        ("https://h/a -m out", "-m puts the results of -i or -b into one folder"),
    ],
)
def test_refusals_say_why_and_queue_nothing(tmp_path: Path, text: str, refusal: str) -> None:
    intake, queue = make(tmp_path)
    outcome = intake.submit(feed(USER, text))
    assert outcome.refusal is not None and refusal in outcome.refusal and not outcome.gids
    assert queue.queued == []


def test_ytdl_is_a_command_not_a_link(tmp_path: Path) -> None:
    intake, queue = make(tmp_path)
    who = Requester(USER, GROUP, 9)
    assert not intake.submit(Request(who, "ytdlleech", "https://h/v -q best")).refused
    [spec] = queue.queued
    shaped = (spec.kind, spec.tool, spec.ytdl_format, spec.as_media)
    assert shaped == ("leech", "ytdl", "best", True)


def test_a_caller_without_a_chat_passes_the_same_authorization(tmp_path: Path) -> None:
    intake, queue = make(tmp_path)
    assert intake.submit(feed(STRANGER, "https://h/a", chat=STRANGER)).refusal == NOT_AUTHORIZED
    assert queue.queued == []
    assert not intake.submit(feed(STRANGER, "https://h/a", chat=GROUP)).refused  # chat's right
    assert not intake.submit(feed(OWNER, "https://h/b", chat=OWNER)).refused


def test_a_caller_without_a_chat_passes_the_same_limits(tmp_path: Path) -> None:
    intake, queue = make(tmp_path, user_tasks=1)
    assert intake.submit(feed(USER, "https://h/a")).gids == ("g1",)
    refused = intake.submit(feed(USER, "https://h/b"))
    assert refused.refusal is not None and "USER_TASKS_LIMIT" in refused.refusal
    assert intake.submit(feed(OWNER, "https://h/c")).gids == ("g2",)  # the owner is exempt
    assert [s.source for s in queue.queued] == ["https://h/a", "https://h/c"]


def test_many_need_a_chat_and_start_all_or_none(tmp_path: Path) -> None:
    intake, queue = make(tmp_path, user_tasks=2)
    listed = Replied(8, text="https://h/1\nhttps://h/2 -n two\nhttps://h/3")
    without_chat = intake.submit(Request(Requester(USER, GROUP), "mirror", "-b", replied=listed))
    assert without_chat.refusal is not None and "-b needs a chat" in without_chat.refusal
    chat = FakeConversation()
    three = intake.submit(Request(Requester(USER, GROUP, 9), "mirror", "-b", listed, chat))
    assert three.refusal is not None and "nothing was started: 1 of the 3" in three.refusal
    two = intake.submit(Request(Requester(USER, GROUP, 9), "mirror", "-b :2", listed, chat))
    assert two.gids == ("g1", "g2") and two.notice == "📋 Started 2 tasks."
    assert [(s.source, s.name) for s in queue.queued] == [
        ("https://h/1", None), ("https://h/2", "two"),
    ]


def test_a_bulk_list_file_with_a_password_is_withdrawn_before_it_is_read(tmp_path: Path) -> None:
    intake, queue = make(tmp_path)
    chat = FakeConversation(lists={"LIST": "https://h/1 -au me -ap secret\nnot a link"})
    listed = Replied(8, file=ReplyFile("LIST", "links.txt", 40))
    outcome = intake.submit(Request(Requester(USER, GROUP, 9), "mirror", "-b", listed, chat))
    assert outcome.refusal is not None and outcome.refusal.startswith("line 2:")
    assert chat.withdrawn == [8] and queue.queued == []


def test_multi_takes_the_following_messages_and_m_makes_a_group(tmp_path: Path) -> None:
    intake, queue = make(tmp_path)
    chat = FakeConversation([Said(None, ReplyFile("F", "b.mkv", 5)), Said("https://h/c")])
    first = Replied(8, text="https://h/a")
    outcome = intake.submit(
        Request(Requester(USER, GROUP, 9), "mirror", "-i 3 -m all", first, chat)
    )
    assert outcome.gids == ("group1",) and outcome.notice is not None and "all" in outcome.notice
    [(members, delivery)] = queue.groups
    assert [m.source for m in members] == ["https://h/a", "tg:F", "https://h/c"]
    assert (delivery.name, delivery.kind) == ("all", "mirror")
    short = intake.submit(Request(Requester(USER, GROUP, 9), "mirror", "-i 4", first, chat))
    assert short.refusal is not None and "message 4" in short.refusal


def test_the_intake_imports_no_telegram_library() -> None:
    code = (
        "import sys, telebot.intake.desk, telebot.intake.specs, telebot.intake.many; "
        "print(sorted(m for m in sys.modules if m == 'telegram' or m.startswith('telebot.bot.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
