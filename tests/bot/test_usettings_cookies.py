"""/usetting cookies without Telegram: asked for in private chats only, a pasted text is
refused and withdrawn (or the user asked to delete it), the menu shows a count and never a
cookie, and only /ytdl specs carry them (hidden from repr, kept by the journal form)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telebot.bot.menus.usettings import KEEP_COOKIES_NOTE, Input, SettingsMenu, menu_text
from telebot.cookiefile import check_cookies
from telebot.engine.task import TaskSpec
from telebot.settings.user import UserSettings
from telebot.store import Store
from tests.bot.test_usettings import Sent, config, spec_for

SECRET = "c00k1e-value-3e9a"
COOKIES = check_cookies(
    f"# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tTRUE\t0\tSID\t{SECRET}\n"
    f".example.com\tTRUE\t/\tTRUE\t0\tHSID\tother\n"
)[0]


@dataclass
class Bridge:
    texts: list[tuple[int, str]] = field(default_factory=list)
    deleted: list[tuple[int, int]] = field(default_factory=list)
    may_delete: bool = True

    def send_text(self, chat_id: int, text: str, **_: Any) -> Sent:
        self.texts.append((chat_id, text))
        return Sent(chat_id, 100 + len(self.texts))

    def edit_text(self, chat_id: int, message_id: int, text: str, **_: Any) -> bool:
        return True

    def delete(self, chat_id: int, message_id: int) -> bool:
        self.deleted.append((chat_id, message_id))
        return self.may_delete


def test_cookies_are_asked_for_in_private_only_and_a_pasted_text_is_withdrawn(
    tmp_path: Path,
) -> None:
    bridge = Bridge(may_delete=False)
    menu = SettingsMenu(config(tmp_path), Store(":memory:"), lambda: bridge, lambda _u: False)  # type: ignore[arg-type,return-value]
    assert "private chat" in menu.press(7, "i", "cookies", (-100, 50))
    assert menu.take(Input(-100, 7, 3, "anything")) is False  # no prompt was opened there
    menu.press(7, "i", "cookies", (7, 50))
    assert menu.take(Input(7, 7, 4, f"pasted {SECRET}")) is True
    assert (7, 4) in bridge.deleted
    assert "as a file" in bridge.texts[-2][1] and bridge.texts[-1][1] == KEEP_COOKIES_NOTE
    assert all(SECRET not in text for _c, text in bridge.texts)


def test_the_menu_counts_cookies_and_only_ytdl_specs_carry_them(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    user = UserSettings(cookies=COOKIES)
    text = menu_text(user, cfg)
    assert "Cookies: set (2 entries)" in text and SECRET not in text
    assert "Cookies: not set" in menu_text(UserSettings(), cfg)
    assert SECRET not in repr(user)
    ytdl = spec_for(cfg, "https://h/v", "mirror", user, tool="ytdl")
    assert ytdl.cookies == COOKIES and SECRET not in repr(ytdl)
    assert TaskSpec.from_json(ytdl.to_json()) == ytdl  # the journal form keeps them
    assert spec_for(cfg, "https://h/f", "mirror", user).cookies is None
    assert spec_for(cfg, "https://h/v", "mirror", UserSettings(), tool="ytdl").cookies is None
