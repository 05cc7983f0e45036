"""Many tasks from one command: ``-b`` (one link per line of a message or a .txt file) and
``-i N`` (N consecutive messages). Each becomes an :class:`Item`; the intake (intake/desk.py) turns
every item into its own task exactly as it would a single command.

A bulk line is parsed by the command parser itself (:func:`telebot.intake.args.parse_task_args`),
so ``https://host/a.bin -n first`` means what it means after ``/mirror``; a flag given on a
line overrides the same flag on the command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any

from telebot.botapi.messenger import Messenger
from telebot.config import Config
from telebot.errors import BadInputError
from telebot.intake.args import MAX_LINK_LENGTH, TaskArgs, parse_task_args
from telebot.intake.request import Message, ReplyFile
from telebot.units import format_bytes

# A .txt list is read into memory: BULK_LIMIT links of up to 4096 characters (intake/args.py) with
# their flags fit in well under a megabyte at the default limit of 100.
BULK_FILE_LIMIT = 1_000_000
TEXT_TYPES = frozenset({"text/plain"})


@dataclass(frozen=True)
class Item:
    """One task of a -b or -i command."""

    label: str  # "line 3", "message 2": names the item in a refusal
    args: TaskArgs
    text: str | None = None  # the message text to take the link from (-i)
    file: ReplyFile | None = None  # the message's Telegram file (-i)


def single(args: TaskArgs) -> TaskArgs:
    """The command's flags for one of its tasks: without the flags that made it many."""
    return replace(args, multi=None, bulk=False, bulk_range=None, folder=None)


# -- -b -------------------------------------------------------------------------------------


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of ``text``, numbered from 1 (the numbers ``-b start:end`` uses)."""
    lines = [line.strip() for line in text.splitlines()]
    return list(enumerate((line for line in lines if line), start=1))


def pick_range(
    lines: list[tuple[int, str]], chosen: tuple[int | None, int | None] | None
) -> list[tuple[int, str]]:
    if chosen is None:
        return lines
    start, end = chosen
    picked = [(n, line) for n, line in lines if (start or 1) <= n <= (end or n)]
    if not picked:
        raise BadInputError(
            f"-b {start or ''}:{end or ''} picks no line: the list has {len(lines)} line(s)."
        )
    return picked


def bulk_items(base: TaskArgs, text: str, command: str, limit: int) -> list[Item]:
    """The items of ``-b``: each chosen line parsed, its flags over the command's."""
    lines = pick_range(numbered_lines(text), base.bulk_range)
    if not lines:
        raise BadInputError("-b found no links: reply to a message with one link per line.")
    if limit and len(lines) > limit:
        raise BadInputError(
            f"-b: {len(lines)} links, more than BULK_LIMIT allows ({limit}). "
            f"Pick some with -b start:end, e.g. -b 1:{limit}."
        )
    items = []
    for number, line in lines:
        label = f"line {number}"
        try:
            own = parse_task_args(line, command)
        except BadInputError as exc:
            raise BadInputError(f"{label}: {exc}") from None
        if own.bulk or own.multi or own.folder:
            raise BadInputError(f"{label}: -b, -i and -m apply to the whole command, not a line.")
        if own.link is None:
            raise BadInputError(f"{label} has no link.")
        items.append(Item(label, merge(single(base), own)))
    return items


def merge(base: TaskArgs, line: TaskArgs) -> TaskArgs:
    """``line``'s flags where it gives them, ``base``'s elsewhere; the link is ``line``'s."""
    changes: dict[str, Any] = {"link": line.link}
    for item in fields(TaskArgs):
        if item.name == "link":
            continue
        default = item.default if item.default is not MISSING else None
        value = getattr(line, item.name)
        if value != default:
            changes[item.name] = value
    if line.as_document or line.as_media:  # the two exclude each other: the line's choice wins
        changes.update(as_document=line.as_document, as_media=line.as_media)
    return replace(base, **changes)


def is_text_file(file: ReplyFile, mime_type: str | None) -> bool:
    name = (file.file_name or "").lower()
    return name.endswith(".txt") or (mime_type or "").split(";")[0] in TEXT_TYPES


def read_list_file(
    config: Config, messenger: Callable[[], Messenger], chat_id: int, file: ReplyFile
) -> str:
    """Read a .txt list into memory through the Telegram-file source, capped at
    BULK_FILE_LIMIT (checked before, and enforced while, reading). Never through a file on
    disk: a list may carry passwords (-ap, -e/-z), which must not rest anywhere in clear.
    Blocking: never on the event loop."""
    if file.file_size is not None and file.file_size > BULK_FILE_LIMIT:
        raise BadInputError(
            f"-b: the list file is {format_bytes(file.file_size)}, over the "
            f"{format_bytes(BULK_FILE_LIMIT)} a list may have."
        )
    # The Telegram file source (and requests under it) only once a -b list file is read.
    from telebot.sources.tgfile import TelegramFileSettings, TelegramFileSource

    source = TelegramFileSource(TelegramFileSettings.from_config(config), messenger)
    where = source.locate(chat_id, file.file_id, file.file_size)
    if Path(where).is_absolute():  # a local Bot API server: the file is on a shared disk
        with open(where, "rb") as handle:
            data = handle.read(BULK_FILE_LIMIT + 1)
    else:
        data, _ = source.read_range(where, 0, BULK_FILE_LIMIT + 1, threading.Event())
    if len(data) > BULK_FILE_LIMIT:
        raise BadInputError("-b: the list file is larger than a list may be.")
    return data.decode("utf-8", errors="replace")


# -- -i -------------------------------------------------------------------------------------


def first_word(text: str | None) -> str | None:
    """The link of a message: the first word of its text, cut one past the longest link (so
    that an overlong one is still refused as such, without keeping all of it)."""
    words = (text or "").split(maxsplit=1)
    return words[0][: MAX_LINK_LENGTH + 1] if words else None


def multi_items(base: TaskArgs, messages: Sequence[Message]) -> list[Item]:
    """The items of ``-i``: one per message (its first word, or its file), each with the
    command's flags."""
    args = single(base)
    texts = [first_word(m.text) for m in messages]
    for n, text in enumerate(texts, start=1):
        if text is not None and len(text) > MAX_LINK_LENGTH:
            raise BadInputError(f"message {n}: the link is too long (over {MAX_LINK_LENGTH}).")
    return [
        Item(f"message {n}", args, text=text, file=m.file)
        for n, (text, m) in enumerate(zip(texts, messages, strict=True), start=1)
    ]
