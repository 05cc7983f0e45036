from __future__ import annotations

import pytest

from telebot.errors import BadInputError
from telebot.tg.args import parse_header, parse_task_args


def test_full_command() -> None:
    args = parse_task_args(
        'https://x.org/a -n "my file.iso" -h "Referer: https://x.org" -h "X-Token: 1" '
        "-au bob -ap secret -sp 500mb -doc",
        "leech",
    )
    assert args.link == "https://x.org/a"
    assert args.name == "my file.iso"
    assert args.headers == (("Referer", "https://x.org"), ("X-Token", "1"))
    assert args.auth == ("bob", "secret")
    assert args.split_size == 500_000_000
    assert args.as_document and not args.as_media


def test_password_is_not_in_repr() -> None:
    assert "secret" not in repr(parse_task_args("http://a -au u -ap secret", "mirror"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://a -x", "Unknown flag -x"),
        ("http://a -n", "-n needs a value"),
        ("http://a http://b", "Unexpected"),
        ("http://a -doc -med", "Choose one of -doc and -med"),
        ("http://a -sp lots", "is not a size"),
        ("http://a -i 0", "-i needs a number"),
        ("http://a -n a -n b", "more than once"),
        ('"http://a', "Could not read"),
    ],
)
def test_mistakes_are_explained(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_task_args(text, "mirror")


@pytest.mark.parametrize("header", ["Host: evil", "Content-Length: 5", "Bad Header", "X: a\nb"])
def test_dangerous_headers_refused(header: str) -> None:
    with pytest.raises(BadInputError):
        parse_header(header)
