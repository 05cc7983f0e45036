"""-b parsing (ranges, per-line flags, the limit) and the -i message memory."""

from __future__ import annotations

import pytest

from telebot.bot.recent import NotArrived, RecentMessages, Remembered
from telebot.errors import BadInputError
from telebot.intake.args import parse_task_args
from telebot.intake.many import bulk_items, multi_items

LIST = "\n".join(f"https://h/{n}.bin" for n in range(1, 6))


def test_bulk_range_flag_parses_and_refuses_nonsense() -> None:
    assert parse_task_args("-b 2:4", "mirror").bulk_range == (2, 4)
    assert parse_task_args("-b :3 -m out", "mirror").bulk_range == (None, 3)
    assert parse_task_args("-b", "mirror").bulk_range is None
    assert parse_task_args("-b 5: -m out", "mirror").folder == "out"
    for bad in ("-b 0:2", "-b 4:2"):
        with pytest.raises(BadInputError, match="range of lines"):
            parse_task_args(bad, "mirror")


def test_bulk_items_take_the_range_and_line_flags_override() -> None:
    base = parse_task_args("-b 2:3 -n all.bin", "mirror")
    text = LIST.replace("https://h/3.bin", "https://h/3.bin -n own.bin")
    items = bulk_items(base, "\n\n" + text, "mirror", limit=100)  # blank lines do not count
    assert [(i.label, i.args.link, i.args.name) for i in items] == [
        ("line 2", "https://h/2.bin", "all.bin"),
        ("line 3", "https://h/3.bin", "own.bin"),
    ]
    assert not any(i.args.bulk or i.args.bulk_range for i in items)


def test_a_line_choosing_doc_replaces_the_commands_med() -> None:
    [item] = bulk_items(parse_task_args("-b -med", "leech"), "https://h/a -doc", "leech", 100)
    assert item.args.as_document and not item.args.as_media


def test_bulk_limit_and_bad_lines_are_refused_by_name() -> None:
    base = parse_task_args("-b", "mirror")
    with pytest.raises(BadInputError, match=r"BULK_LIMIT allows \(4\).*-b 1:4"):
        bulk_items(base, LIST, "mirror", limit=4)
    with pytest.raises(BadInputError, match=r"line 2: .*-i"):
        bulk_items(base, "https://h/a\nhttps://h/b -i 2", "mirror", limit=100)
    with pytest.raises(BadInputError, match="picks no line"):
        bulk_items(parse_task_args("-b 9:", "mirror"), LIST, "mirror", limit=100)


def item(message_id: int, at: float, text: str = "https://h/x") -> Remembered:
    return Remembered(message_id, text, None, at, text.startswith("/"))


def test_memory_is_bounded_and_says_what_it_forgot() -> None:
    now = [0.0]
    recent = RecentMessages(per_chat=3, max_age=100.0, clock=lambda: now[0])
    for n in range(1, 6):
        recent.add(7, item(n, now[0]))
    assert [m.message_id for m in recent.following(7, 3, 3)] == [4, 5]
    with pytest.raises(BadInputError, match=r"message 2 of 2 .*older than my memory"):
        recent.following(7, 2, 2)  # 1 and 2 were dropped: only 3 are kept
    recent.add(7, item(6, now[0], "/mirror -i 2"))  # commands are never one of the messages
    with pytest.raises(NotArrived, match="message 3 of 3 has not arrived"):
        recent.following(7, 4, 3)  # only 5 follows 4 (6 is a command)
    now[0] = 500.0  # everything is older than max_age now
    with pytest.raises(BadInputError, match="older than my memory"):
        recent.following(7, 4, 2)
    with pytest.raises(BadInputError, match="before I started"):
        recent.following(8, 1, 2)  # a chat it never heard from


def test_multi_keeps_only_the_first_word_and_refuses_an_overlong_link() -> None:
    from types import SimpleNamespace

    from telebot.bot.recent import remembered

    message = SimpleNamespace(
        message_id=3, text="https://h/a.bin and some words", caption=None,
        document=None, video=None, audio=None,
    )  # fmt: skip
    assert remembered(message, 0.0).text == "https://h/a.bin"  # type: ignore[arg-type]
    long = item(4, 0.0, "https://h/" + "x" * 5000)
    with pytest.raises(BadInputError, match="message 2: the link is too long"):
        multi_items(parse_task_args("-i 2", "mirror"), [item(3, 0.0), long])
