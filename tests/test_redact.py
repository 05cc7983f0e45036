"""The one redactor (telebot/redact.py), the log filter that uses it, and secrets in reprs."""

from __future__ import annotations

import logging
import os
import random
import re
import stat
import time
from pathlib import Path

import pytest

from telebot.engine.task import TaskSpec
from telebot.logs import RedactingFilter, setup_logging
from telebot.redact import (
    LINE_CAP,
    cap_line,
    carries_credentials,
    redact,
    redact_url,
    register_secret,
    strip_credentials,
)
from telebot.secretbox import SecretBox, Unsealable

TOKEN = "4440001:REDACTtestTOKENaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"GET https://api/file/bot{TOKEN}/documents/x failed", TOKEN),
        ("url: /file/bot4440001%3AREDACTtestTOKENaaaaaaaaaaaaaaaaaaaaaa/x", "REDACTtest"),
        ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 leaked", "AAHdqTcv"),
        ("https://bob:hunter2@host.example/f.zip", "hunter2"),
        ("/mirror http://h/f -au bob -ap hunter2 -n x", "hunter2"),
        ('/mirror http://h/f -ap "two words" -n x', "two words"),
        ('-h "Authorization: Bearer S3CRET"', "S3CRET"),
        ("-h &quot;X-Api-Key: S3CRET&quot;", "S3CRET"),
        ("-h X-Api-Key:S3CRET", "S3CRET"),
        ("{'Authorization': 'Basic Ym9iOmh1bnRlcjI='}", "Ym9i"),
        ("Cookie: session=S3CRET", "S3CRET"),
        ("https://h/f?id=1&api_key=S3CRET&x=2", "S3CRET"),
        ("https://h/f?X-Amz-Signature=S3CRET", "S3CRET"),
        ("/mirror http://h/a.zip -e ARCH1VE-PW -n x", "ARCH1VE-PW"),
        ('/mirror http://h/a.zip -e "two words" -j', "two words"),
        ("<code>/leech http://h/a -z ZIP-PW</code>", "ZIP-PW"),
        ("/mirror http://h/f -z S3CRET -zf 7z", "S3CRET"),
        ("/leech http://h/f -z 'two S3CRET words'", "S3CRET"),
        ("<code>/mirror http://h/f -z S3CRET</code>", "S3CRET"),
    ],
)
def test_secrets_are_removed(text: str, gone: str) -> None:
    register_secret(TOKEN)
    out = redact(text)
    assert gone not in out and "***" in out


@pytest.mark.parametrize(
    "text",
    [
        "✅ <b>file.iso</b>\nSize: 1.0 GiB",
        "<code>-au &lt;user&gt; -ap &lt;password&gt;</code>",
        'Write: /mirror <link> [-h "Key: <value>"] [-au <user> -ap <password>]',
        "https://h.example/f?id=1&page=2",
        "<code>-e [password]</code> extract archives",
        "/mirror http://h/a.zip -e -n x.zip -j",
        "<code>-z [password]</code> archive the result",
        "/mirror -z http://h.example/f",  # -z before the link: the link is no password
        "/mirror http://h.example/f -z -zf 7z",
    ],
)
def test_ordinary_text_and_help_placeholders_are_kept(text: str) -> None:
    assert redact(text) == text


def test_a_masked_value_never_eats_the_html_after_it() -> None:
    assert redact("<code>-ap hunter2</code>") == "<code>-ap ***</code>"


def test_redact_url_keeps_host_and_path_only() -> None:
    assert redact_url("https://u:p@h.example/a/b?k=v") == "https://h.example/a/b"


@pytest.mark.parametrize(
    ("text", "carries"),
    [
        ("/mirror http://h -au u -ap p", True),
        ('/mirror http://h -h "Authorization: Bearer x"', True),
        ('/mirror http://h -h "authorization:x"', True),
        ("/mirror http://h -h 'Referer: x'", False),
        ("/mirror http://h/-apple", False),
        ("/mirror http://h/a.zip -e pw", True),
        ("/mirror http://h/a.zip -z pw -n x", True),
        ("/mirror http://h/a.zip -e -n x", False),
        ("/mirror http://h/a.zip -e", False),
        ("/mirror http://h -z pw", True),
        ("/mirror http://h -z 'pw two' -zf 7z", True),
        ("/mirror http://h -z", False),
        ("/mirror http://h -z -zf 7z", False),
        ("/mirror -z http://h", False),
        ("/mirror -z magnet:?xt=urn:btih:x", False),
        ("https://h/a -au bob", True),
        ("https://h/a\nhttps://h/b -au bob -n x", True),
        ("/mirror http://h -au", False),
        ("/mirror http://h -au -n x", False),
        ("https://h/b\nhttps://h/a -h 'Authorization: Basic x'", True),
    ],
)
def test_carries_credentials(text: str, carries: bool) -> None:
    assert carries_credentials(text) is carries


def test_log_lines_and_tracebacks_are_redacted() -> None:
    flt = RedactingFilter([TOKEN])
    try:
        raise RuntimeError(f"boom https://x/bot{TOKEN}/getMe -ap hunter2")
    except RuntimeError:
        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "failed %s", ("-ap hunter2",), exc_info=None
        )
        import sys

        record.exc_info = sys.exc_info()
    flt.filter(record)
    assert "hunter2" not in record.getMessage() and "hunter2" not in (record.exc_text or "")
    assert TOKEN not in (record.exc_text or "")


def test_log_file_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        listener = setup_logging(tmp_path / "logs" / "telebot.log", [TOKEN])
        logging.getLogger("t").info("token %s", TOKEN)
        listener.stop()
    finally:
        os.umask(old)
        logging.getLogger().handlers.clear()
    log = tmp_path / "logs" / "telebot.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert TOKEN not in log.read_text() and "token ***" in log.read_text()


def test_task_spec_repr_shows_no_credentials() -> None:
    spec = TaskSpec(
        kind="mirror",
        source="https://bob:linkpw@h/f",
        chat_id=1,
        user_id=2,
        headers=(("Authorization", "Bearer S3CRET"),),
        auth=("bob", "hunter2"),
    )
    shown = repr(spec)
    assert "S3CRET" not in shown and "hunter2" not in shown and "linkpw" not in shown


def test_secretbox_round_trip_and_wrong_key() -> None:
    box = SecretBox.from_token(TOKEN)
    sealed = box.seal("hunter2", context="gid1")
    assert sealed.startswith("tbs1:") and "hunter2" not in sealed
    assert sealed != box.seal("hunter2", context="gid1")  # a fresh nonce each time
    assert SecretBox.from_token(TOKEN).open(sealed, context="gid1") == "hunter2"
    with pytest.raises(Unsealable):
        SecretBox.from_token("4440001:another").open(sealed, context="gid1")
    with pytest.raises(Unsealable):
        box.open(sealed, context="gid2")
    with pytest.raises(Unsealable):
        box.open("tbs1:!!!", context="gid1")
    assert "key" in repr(box) and TOKEN not in repr(box)


# -- linear time (issue 21) -------------------------------------------------------------------

# Shapes that made one of the patterns backtrack, or could: a repeated separator with a key word
# (the old _SECRET_PARAM was cubic on these), runs of flags, of "user:pass@", of header names
# with no value, of quotes left open, of digits before a colon (the token pattern).
WORST_SHAPES = [
    *("?key", ";key", "?", "?a", "&a=", "&key=", "?key=&", "=?key", "user:pass@", "://a:"),
    *(">-e x", "-ap ", "-ap '", '-ap "', "-e '", '-z "', "-ap &quot;", "-h"),
    *('-h "a:', "-h 'a:", "-h a:", "Authorization: ", "cookie ", "cookie:", "12345:", "1"),
    *("&lt;", "<x>", " ", "a"),
]
SIZE = 64 * 1024


def cpu_seconds_of_redact(text: str) -> float:
    """The CPU time this thread spends in ``redact(text)``: the work the patterns do, which is
    what linear time is about. Wall time also counts the waits for a CPU that other processes
    hold (tests run side by side on the machine's cores), up to 20x here under load."""
    started = time.thread_time()
    redact(text)
    return time.thread_time() - started


@pytest.mark.parametrize("shape", WORST_SHAPES)
def test_redact_is_linear_on_the_worst_shapes(shape: str) -> None:
    text = (shape * (SIZE // len(shape) + 1))[:SIZE]
    # 64 KiB of any shape: ~15 ms here; the old key pattern took 4.2 s on 4 KiB of "?key".
    assert cpu_seconds_of_redact(text) < 0.2


def test_a_long_header_value_and_a_1mb_line_are_read_once() -> None:
    for text in (
        "Authorization: Bearer " + "x" * (1024 * 1024),
        "https://h/f?" + "&api_key=" * (100 * 1024),
        "x" * (1024 * 1024) + "?key",
    ):
        assert cpu_seconds_of_redact(text) < 5.0  # ~0.3 s here; the old pattern: hours


_OLD_SECRET_PARAM = re.compile(
    r"([?&;](?:[^=&\s#\"'<>]*?)(?:key|token|sig|signature|secret|passw(?:or)?d|pass|pwd|auth|"
    r"session|credential|code)[^=&\s#\"'<>]*=)[^&\s#\"'<>]+",
    re.I,
)


def test_the_linear_parameter_scan_masks_what_the_old_pattern_masked() -> None:
    rnd = random.Random(21)
    pieces = ["?", "&", ";", "=", "key", "KEY", "Sig", "x", " ", "#", "'", "<", "pw"]
    for _ in range(20000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        old = _OLD_SECRET_PARAM.sub(lambda m: f"{m.group(1)}***", text)
        assert redact(text) == old or "://" in text, text


def test_a_quoted_value_left_open_is_masked_to_the_end() -> None:
    assert redact('/mirror h -ap "two secret words') == '/mirror h -ap "***"'
    assert "secret" not in redact("/mirror h -z 'two secret words")
    assert "secret" not in redact('-h "X-Custom: two secret words')


def test_a_long_log_line_is_cut_before_redaction() -> None:
    line = "x" * 100 + " " + "?key" * (1024 * 1024 // 4)
    out = cap_line(line)
    assert len(out) < LINE_CAP + 40 and out.endswith("?… (1040487 characters cut)")
    # a cut inside a word goes back to the word's start: what follows may be a secret's head
    word = "x" * 100 + " " + "a" * (1024 * 1024)
    assert cap_line(word) == "x" * 100 + " " + f"… ({len(word) - 101} characters cut)"
    assert cap_line("short") == "short"


@pytest.mark.parametrize(
    ("secret_at_cut", "gone"),
    [
        ("https://bob:hunter2@h.example/f", "hunt"),
        (f"https://api/file/bot{TOKEN}/x", "REDACTtest"),
        (f"{TOKEN}", "REDACTtest"),
        ("4440002:" + "B" * 35, "BBBB"),
        ('-ap "two hidden words"', "hidden"),
        ("https://h/f?api_key=S3CRETVALUE", "S3CR"),
    ],
)
def test_a_cut_never_leaves_the_head_of_a_secret(secret_at_cut: str, gone: str) -> None:
    register_secret(TOKEN)
    for shift in range(1, len(secret_at_cut)):
        # the cut falls `shift` characters into the secret
        line = "a " * ((LINE_CAP - shift) // 2) + " " * ((LINE_CAP - shift) % 2) + secret_at_cut
        line += " tail" * 3000
        assert gone not in redact(cap_line(line)), shift


def test_the_log_filter_caps_messages_and_tracebacks() -> None:
    flt = RedactingFilter([TOKEN])
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "link %s", ("?key" * 10**6,), None)
    started = time.thread_time()
    flt.filter(record)
    assert time.thread_time() - started < 0.5
    assert len(record.getMessage()) < LINE_CAP + 40 and "characters cut" in record.getMessage()


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://bob:pw@h.example/f?id=1&api_key=K", "https://h.example/f?id=1&api_key=***"),
        ("https://a@b:pw@h.example/f", "https://h.example/f"),
        ("https://h.example/f?X-Amz-Signature=S&x=1#t", "https://h.example/f?X-Amz-Signature=***&x=1#t"),
        ("http://u:pw@[::1/f?token=T", "http://[::1/f?token=***"),  # urlsplit refuses this one
        ("https://h.example/f?page=2", "https://h.example/f?page=2"),
    ],
)
def test_strip_credentials_keeps_what_recognises_a_link(url: str, kept: str) -> None:
    assert strip_credentials(url) == kept
