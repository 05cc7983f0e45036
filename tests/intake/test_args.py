from __future__ import annotations

import pytest

from telebot.errors import BadInputError
from telebot.intake.args import parse_header, parse_task_args


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


def test_credentials_are_not_in_repr() -> None:
    args = parse_task_args('http://a -au someuser -ap pw -h "Authorization: Bearer S3CRET"', "m")
    assert "someuser" not in repr(args) and "S3CRET" not in repr(args)


def test_ten_headers_are_accepted() -> None:
    text = "http://a " + " ".join(f"-h 'X-{i}: v'" for i in range(10))
    assert len(parse_task_args(text, "mirror").headers) == 10


def test_a_bad_header_is_not_echoed() -> None:
    with pytest.raises(BadInputError) as caught:
        parse_task_args('http://a -h "Authorization Bearer S3CRET"', "mirror")
    assert "S3CRET" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://a -x", "Unknown flag -x"),
        ("http://a -n", "-n needs a value"),
        ("http://a http://b", "Unexpected"),
        ("http://a -doc -med", "Choose one of -doc and -med"),
        ("http://a -sp lots", "is not a size"),
        ("http://a -i 0", "-i needs a number"),
        ("http://a -n a -n b", "-n is given 2 times: give it once"),
        ('"http://a', "Could not read"),
        # Issue 11: bad flags are errors, never silently dropped.
        ("http://a -doc -doc", "-doc is given twice"),
        ("http://a -s -s", "-s is given twice"),
        ("http://a -au a -au b -ap p", "-au is given 2 times"),
        ("http://a -n -doc", "-n needs a value: write -n <value>"),
        ("http://a -au -ap p", "-au needs a value: write -au <user> -ap <password>"),
        ("http://a -h", '-h needs a value: write -h "Key: <value>"'),
        ("http://a -h 'X: 1' -h 'x: 2'", "header x is given twice"),
        ("http://a " + " ".join(f"-h 'X-{i}: v'" for i in range(11)), "Too many -h: 11 given"),
    ],
)
def test_mistakes_are_explained(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_task_args(text, "mirror")


@pytest.mark.parametrize("header", ["Host: evil", "Content-Length: 5", "Bad Header", "X: a\nb"])
def test_dangerous_headers_refused(header: str) -> None:
    with pytest.raises(BadInputError):
        parse_header(header)


def test_compress_password_and_format() -> None:
    args = parse_task_args("http://a -z 'my secret' -zf 7z", "leech")
    wanted = (True, "my secret", "7z")
    assert (args.compress, args.compress_password, args.compress_format) == wanted
    assert "my secret" not in repr(args)
    bare = parse_task_args("http://a -z -n x", "mirror")
    assert (bare.compress, bare.compress_password, bare.compress_format) == (True, None, None)
    assert bare.name == "x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://a -zf 7z", "-zf needs -z"),
        ("http://a -z -zf rar", "-zf takes zip or 7z"),
        ("http://a -z -zf", "-zf needs a value"),
        ("http://a -z a -z b", "-z is given twice"),
    ],
)
def test_compress_mistakes_are_explained(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_task_args(text, "mirror")
def test_extract_join_and_the_archive_password() -> None:
    args = parse_task_args("http://a/x.zip -e pw0rd -j -n y", "mirror")
    assert (args.extract, args.extract_password, args.join, args.name) == (True, "pw0rd", True, "y")
    assert "pw0rd" not in repr(args)
    bare = parse_task_args("http://a/x.zip -e -n y", "mirror")
    assert (bare.extract, bare.extract_password, bare.join) == (True, None, False)


def test_overwrite_is_a_switch() -> None:
    assert parse_task_args("https://x/f -up wd:a -overwrite", "mirror").overwrite
    assert not parse_task_args("https://x/f -up wd:a", "mirror").overwrite
    with pytest.raises(BadInputError, match="given twice"):
        parse_task_args("https://x/f -overwrite -overwrite", "mirror")


def test_ap_alone_is_a_share_password_and_html_keeps_pages() -> None:
    args = parse_task_args("https://www.mediafire.com/folder/k -ap s3cret -html", "mirror")
    assert args.auth is None and args.share_password == "s3cret"
    assert args.keep_html
    login = parse_task_args("https://x.org/a -au bob -ap pw", "mirror")
    assert login.auth == ("bob", "pw") and login.share_password is None
    assert not login.keep_html
    assert "s3cret" not in repr(args)
