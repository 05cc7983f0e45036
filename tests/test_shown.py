"""Names in chat messages are cut (telebot/shown.py)."""

from __future__ import annotations

from telebot.shown import NAME_SHOWN, html_name, short_name, short_words


def test_a_short_name_is_kept_and_a_long_one_keeps_its_head_and_end() -> None:
    assert short_name("a.bin") == "a.bin"
    assert short_name("x" * NAME_SHOWN) == "x" * NAME_SHOWN
    cut = short_name("h" * 300 + ".part3.mp4")
    assert len(cut) == NAME_SHOWN and cut.startswith("hhh") and cut.endswith(".part3.mp4")
    assert "…" in cut


def test_html_name_cuts_before_escaping() -> None:
    shown = html_name("&" * 300)
    assert shown.count("&amp;") == NAME_SHOWN - 1 and "&am…" not in shown


def test_short_words_cuts_the_task_names_and_any_long_path() -> None:
    name = "n a m e " * 40
    text = f"{name}: [Errno 36] File name too long: '/d/{'p' * 300}.001'"
    out = short_words(text, (name,))
    assert name not in out and short_name(name) in out
    assert "p" * (NAME_SHOWN + 1) not in out and out.endswith(".001'")
    assert short_words("HTTP 404 from h.example") == "HTTP 404 from h.example"
