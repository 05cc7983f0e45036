from __future__ import annotations

from telebot.bot.commands import NOT_YET, help_text
from telebot.intake.auth import Level


def test_help_lists_only_flags_that_work() -> None:
    text = help_text(Level.OWNER)
    for flag in ("-n name", "-up dest", "-sp size", "-doc / -med", "-h &quot;Key:", "-au"):
        assert flag in text
    shown = {
        line.split("</code>")[0].removeprefix("<code>").split()[0]
        for line in text.splitlines()
        if line.startswith("<code>")
    }
    assert shown and not shown & set(NOT_YET.values()), shown


def test_help_explains_compression_and_its_aes_caveat() -> None:
    text = help_text(Level.USER)
    assert "<code>-z [password]</code>" in text and "<code>-zf zip|7z</code>" in text
    assert "AES-256" in text and "old unzip" in text
