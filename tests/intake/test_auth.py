from __future__ import annotations

from pathlib import Path

from telebot.config import Config
from telebot.intake.auth import Authorizer, Level, RefusalThrottle
from telebot.store import Store


def make(tmp_path: Path) -> Authorizer:
    cfg = Config(
        bot_token="1:x", owner_id=1, authorized_chats=frozenset({-100}), sudo_users=frozenset({2})
    )
    return Authorizer(cfg, Store(tmp_path / "db"))


def test_levels(tmp_path: Path) -> None:
    auth = make(tmp_path)
    assert auth.level_of(1, 5) is Level.OWNER
    assert auth.level_of(2, 5) is Level.SUDO
    assert auth.level_of(3, -100) is Level.USER
    assert auth.level_of(3, 5) is None
    assert not auth.allowed(Level.SUDO, 3, -100)


def test_changes_persist_across_restarts(tmp_path: Path) -> None:
    auth = make(tmp_path)
    assert auth.authorize(7) and auth.add_sudo(8)
    again = make(tmp_path)
    assert again.level_of(7, 7) is Level.USER and again.level_of(8, 0) is Level.SUDO
    assert again.unauthorize(7) and again.level_of(7, 7) is None


def test_refusals_are_throttled_per_user() -> None:
    now = [0.0]
    throttle = RefusalThrottle(60, clock=lambda: now[0])
    assert throttle.should_reply(1)
    assert not throttle.should_reply(1)
    assert throttle.should_reply(2)
    now[0] = 61
    assert throttle.should_reply(1)



def test_config_entries_name_their_setting(tmp_path: Path) -> None:
    auth = make(tmp_path)
    assert auth.authorize(-200)
    assert auth.config_setting_for(-100, sudo=False) == "AUTHORIZED_CHATS"
    assert auth.config_setting_for(-200, sudo=False) is None  # only the database has it
    assert auth.config_setting_for(2, sudo=True) == "SUDO_USERS"
    assert auth.config_setting_for(1, sudo=True) == "OWNER_ID"
    assert auth.config_setting_for(2, sudo=False) is None
