"""File-name rules: Content-Disposition (RFC 6266), URLs, and sanitization."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebot.sources.names import (
    filename_from_content_disposition,
    filename_from_url,
    sanitize_filename,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("attachment; filename=report.pdf", "report.pdf"),
        ('attachment; filename="with space.txt"', "with space.txt"),
        ('attachment; filename="q\\"uote.txt"', 'q"uote.txt'),
        ('attachment; filename="semi;colon.txt"', "semi;colon.txt"),
        # RFC 6266 §4.3: filename* wins, whatever the order.
        ("attachment; filename*=UTF-8''%e2%82%ac%20rates.txt; filename=x.txt", "€ rates.txt"),
        ("attachment; filename=x.txt; filename*=UTF-8''na%C3%AFve.txt", "naïve.txt"),
        ("attachment; FILENAME*=utf-8'en'caf%C3%A9", "café"),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates", "£ rates"),
        # A broken filename* falls back to filename.
        ("attachment; filename*=garbage; filename=ok.txt", "ok.txt"),
        ("attachment; filename*=UTF-8''%FF%FE; filename=ok.txt", "ok.txt"),
        ("attachment", None),
        ("", None),
        (None, None),
    ],
)
def test_content_disposition(header: str | None, expected: str | None) -> None:
    assert filename_from_content_disposition(header) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/a/b%20c.zip?x=1#f", "b c.zip"),
        ("http://h/dir/", "dir"),
        ("http://h/", None),
        ("http://h", None),
    ],
)
def test_filename_from_url(url: str, expected: str | None) -> None:
    assert filename_from_url(url) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("/abs/path.txt", "path.txt"),
        ("..", "download"),
        (".", "download"),
        ("", "download"),
        ("   ", "download"),
        (".bashrc", "bashrc"),
        ("a\x00b\x1fc\x7f.txt", "a_b_c_.txt"),
        ("dir/", "download"),
        ("ok name.mkv", "ok name.mkv"),
    ],
)
def test_sanitize_examples(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


def test_sanitize_keeps_extension_when_trimming() -> None:
    name = "é" * 300 + ".tar.gz"
    result = sanitize_filename(name)
    assert result.endswith(".gz")
    assert len(result.encode()) <= 255
    assert result.startswith("é")


def test_sanitize_fallback_is_sanitized_too() -> None:
    assert sanitize_filename("..", fallback="../x") == "x"
    assert sanitize_filename("..", fallback="..") == "download"


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_sanitize_is_always_one_safe_component(name: str, max_bytes: int) -> None:
    result = sanitize_filename(name, max_bytes=max_bytes)
    assert result not in ("", ".", "..")
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in result)
    assert not result.startswith((".", " "))
    assert len(result.encode("utf-8")) <= max(max_bytes, len(b"download"))


@given(st.text(alphabet=st.sampled_from(list("./\\ a\x00é")), max_size=40))
def test_sanitize_resists_dot_and_slash_soup(name: str) -> None:
    result = sanitize_filename(name)
    assert ".." not in result.split("/")
    assert result not in ("", ".", "..") and "/" not in result


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])  # 1- to 4-byte UTF-8
def test_every_derived_name_fits_name_max(char: str) -> None:
    from telebot.processing.media.split import part_name
    from telebot.sinks.local import numbered
    from telebot.sources.names import MAX_NAME_BYTES

    long = char * 300 + ".mkv"
    name = sanitize_filename(long)
    assert name.endswith(".mkv") and name.startswith(char)
    name.encode("utf-8").decode("utf-8")  # cut at a character boundary
    derived = [f"{name}.part", f"{name}.part.state", f"{name}.part.state.tmp",
               numbered(name, 9999), part_name(name, 999)]
    assert all(len(d.encode()) <= MAX_NAME_BYTES for d in derived)
