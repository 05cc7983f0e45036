"""-b parsing (ranges, per-line flags, the limit) and -i's items."""

from __future__ import annotations

import pytest

from telebot.errors import BadInputError
from telebot.intake.args import parse_task_args
from telebot.intake.many import bulk_items, multi_items
from tests.intake.fakes import Said

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


def test_multi_keeps_only_the_first_word_and_refuses_an_overlong_link() -> None:
    first = Said("https://h/a.bin and some words")
    [one, two] = multi_items(parse_task_args("-i 2", "mirror"), [first, Said("https://h/b")])
    assert (one.label, one.text, two.text) == ("message 1", "https://h/a.bin", "https://h/b")
    long = Said("https://h/" + "x" * 5000 + " more")
    with pytest.raises(BadInputError, match="message 2: the link is too long"):
        multi_items(parse_task_args("-i 2", "mirror"), [first, long])
