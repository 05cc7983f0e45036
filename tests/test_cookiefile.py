"""cookies.txt checks (telebot/cookiefile.py) and the sealed /usetting value (store.py)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from telebot.cookiefile import MAX_COOKIES_BYTES, check_cookies, count_cookies, write_private
from telebot.errors import BadInputError
from telebot.settings.user import UserSettings
from telebot.store import Store

SECRET = "s3cr3t-cookie-value"
GOOD = (
    "# Netscape HTTP Cookie File\r\n"
    "# a comment\r\n"
    "\r\n"
    f".youtube.com\tTRUE\t/\tTRUE\t1900000000\tSID\t{SECRET}\r\n"
    "#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t0\tHSID\tabc\r\n"
)


def test_a_browser_export_is_normalized_and_counted() -> None:
    text, count = check_cookies(GOOD.encode())
    assert count == 2 and count_cookies(text) == 2
    assert text.splitlines()[0] == "# Netscape HTTP Cookie File"
    assert "\r" not in text and "a comment" not in text


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (f"youtube.com SID {SECRET}\n", "line 1: 1 tab-separated fields"),
        (f'[{{"name": "SID", "value": "{SECRET}"}}]', "JSON"),
        (f"# Netscape HTTP Cookie File\nyoutube.com\tTRUE\t/\tFALSE\t0\tSID\t{SECRET}\n",
         "line 2: field 2 is TRUE exactly when"),
        (f"# Netscape HTTP Cookie File\nyoutube.com\tFALSE\t/\tFALSE\tsoon\tSID\t{SECRET}\n",
         "line 2: field 5"),
        ("# Netscape HTTP Cookie File\n", "no cookies"),
        (b"\xff\xfe" + SECRET.encode("utf-16-le"), "not UTF-8"),
        ("#" * (MAX_COOKIES_BYTES + 1), "at most 256 KiB"),
    ],
)  # fmt: skip
def test_refusals_name_the_line_never_its_text(data: str | bytes, problem: str) -> None:
    with pytest.raises(BadInputError) as caught:
        check_cookies(data)
    assert problem in str(caught.value) and SECRET not in str(caught.value)


def test_write_private_is_0600_and_replaces_a_link_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    link = tmp_path / "c.txt"
    link.symlink_to(target)
    write_private(link, "x")
    assert not link.is_symlink() and link.read_text() == "x" and target.read_text() == "keep"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600


def test_stored_cookies_are_sealed_and_bound_to_their_user(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store(db, secret_key="123:token")
    text, _ = check_cookies(GOOD)
    store.set_setting(7, "cookies", text)
    assert UserSettings.load(store, 7).cookies == text
    with sqlite3.connect(db) as conn:
        [(raw,)] = conn.execute("SELECT value FROM user_settings WHERE user_id = 7").fetchall()
        assert SECRET not in raw and raw.startswith('"tbs1:')
        conn.execute("INSERT INTO user_settings VALUES (8, 'cookies', ?)", (raw,))  # copied
    assert UserSettings.load(store, 8).cookies is None
    store.close()
    assert UserSettings.load(Store(db, secret_key="999:other"), 7).cookies is None
    assert SECRET not in db.read_bytes().decode("latin-1")
