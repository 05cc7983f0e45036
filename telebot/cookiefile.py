"""Netscape cookies.txt: checked when it arrives, written privately for one yt-dlp run.

yt-dlp's ``cookiefile`` is read by ``YoutubeDLCookieJar.load`` (yt_dlp/cookies.py), which
prints a line it skips (cookie value included) to stderr, and then by Python's
``MozillaCookieJar._really_load``, whose ``LoadError`` quotes a line it cannot read. So
:func:`check_cookies` refuses every line either of them would quote, and never quotes a line
itself: errors name the line number only, because a cookie is a password.

The per-run copy (:func:`write_private`) is created 0600 with ``O_EXCL | O_NOFOLLOW``, inside the
task's own folder, and removed by the source when the run ends (``sources/ytdl/source.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from telebot.errors import BadInputError

#: A cookies.txt larger than this is refused (a browser's whole jar for one site is a few KiB).
MAX_COOKIES_BYTES = 256 * 1024
HEADER = "# Netscape HTTP Cookie File"
_HTTPONLY = "#HttpOnly_"
_FIELDS = 7  # domain, include subdomains, path, secure, expires, name, value
_FLAGS = ("TRUE", "FALSE")
_EXPIRES = re.compile(r"[0-9]*")
# Tab separates fields; any other control character has no place in a cookie line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_cookies(data: bytes | str) -> tuple[str, int]:
    """The cookies in a normalized form (header first, ``\\n`` line ends) and their count.

    Raises :class:`BadInputError` saying what is wrong, with a line number but never a line's
    text. Comments and blank lines are kept out of the normalized form.
    """
    if len(data) > MAX_COOKIES_BYTES:
        raise BadInputError(f"a cookies.txt may have at most {MAX_COOKIES_BYTES // 1024} KiB.")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadInputError("that cookies.txt is not UTF-8 text.") from None
    data = data.removeprefix("\ufeff")
    lines = data.splitlines()
    entries: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        body = line[len(_HTTPONLY) :] if line.startswith(_HTTPONLY) else line
        if not body.strip() or body.strip().startswith(("#", "$")):
            continue
        problem = _line_problem(body)
        if problem is not None:
            if number == 1 and body.lstrip()[:1] in ("[", "{"):
                problem = "it is JSON; export the cookies in Netscape (cookies.txt) format"
            raise BadInputError(f"not a Netscape cookies.txt: line {number}: {problem}.")
        entries.append(line)
    if not entries:
        raise BadInputError(
            "no cookies in that file: send a Netscape cookies.txt "
            f"(first line “{HEADER}”, then one tab-separated line per cookie)."
        )
    return "\n".join([HEADER, *entries, ""]), len(entries)


def count_cookies(text: str) -> int:
    """How many cookie lines a normalized text holds (for the /usetting summary)."""
    return sum(
        1 for line in text.splitlines() if line and (not line.startswith("#")
                                                     or line.startswith(_HTTPONLY))
    )  # fmt: skip


def _line_problem(line: str) -> str | None:
    if _CONTROL.search(line):
        return "a control character"
    fields = line.split("\t")
    if len(fields) != _FIELDS:
        return f"{len(fields)} tab-separated fields, not {_FIELDS}"
    domain, subdomains, _path, secure, expires, _name, _value = fields
    if not domain or " " in domain:
        return "no domain"
    if subdomains not in _FLAGS or secure not in _FLAGS:
        return "fields 2 and 4 must be TRUE or FALSE"
    # MozillaCookieJar asserts this (a leading dot means "and its subdomains").
    if (subdomains == "TRUE") != domain.startswith("."):
        return "field 2 is TRUE exactly when the domain starts with a dot"
    if not _EXPIRES.fullmatch(expires):
        return "field 5 (expires) must be a whole number of seconds"
    return None


def read_cookies_file(path: Path) -> str:
    """Read and check an owner's cookies file (YTDL_COOKIES_FILE); the normalized text.

    Raises ``OSError`` when it cannot be read and :class:`BadInputError` when it is not a
    Netscape cookies file."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_COOKIES_BYTES + 1)
    return check_cookies(data)[0]


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, readable by this user only (0600), replacing an earlier
    copy (a restarted task's). Never follows a link at ``path``."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path

