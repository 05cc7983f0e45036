"""/bsetting's settings: parsed like config.env, laid over it at start, bad rows skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.config import Config, load_config
from telebot.errors import BadInputError, ConfigError
from telebot.settings import overrides
from telebot.store import Store

TOKEN = "123456:ABC-def_ghi"


def config(tmp_path: Path) -> Config:
    return load_config({"BOT_TOKEN": TOKEN, "OWNER_ID": "1"}, cwd=tmp_path)


def test_stored_overrides_survive_reopening_and_lay_over_config(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db", secret_key=TOKEN)
    store.set_bot_setting("QUEUE_DOWNLOAD", "7", 1)
    store.set_bot_setting("TORRENT_LIMIT", "10gb", 1)
    store.set_bot_setting("STATUS_LIMIT", "many", 1)  # damaged: skipped, not fatal
    store.set_bot_setting("OLD_NAME", "1", 1)  # a setting this version does not know
    store.close()
    store = Store(tmp_path / "t.db", secret_key=TOKEN)
    cfg = overrides.apply(config(tmp_path), store.bot_settings())
    assert cfg.queue_download == 7 and cfg.torrent_limit == 10**10 and cfg.status_limit == 4
    store.set_bot_setting("QUEUE_DOWNLOAD", None, 1)  # back to config.env
    assert "QUEUE_DOWNLOAD" not in store.bot_settings()
    store.close()


def test_parse_explains_bad_values_and_unknown_names(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert overrides.parse(cfg, "max_download_size", "none")[1] is None
    assert overrides.parse(cfg, "STORAGE_THRESHOLD", "0")[1] == 0
    with pytest.raises(BadInputError, match=r"SPLIT_SIZE must be at most 50000000 bytes \(50 MB\)"):
        overrides.parse(cfg, "LEECH_SPLIT_SIZE", "2gb")
    with pytest.raises(BadInputError, match="DOWNLOAD_DIR cannot be changed here"):
        overrides.parse(cfg, "DOWNLOAD_DIR", "/etc")
    with pytest.raises(BadInputError, match="STOP_DUPLICATE must be true or false"):
        overrides.parse(cfg, "STOP_DUPLICATE", "perhaps")


# Values typed the same way into config.env and into /bsetting: both paths must agree on each.
SAME_TEXT = [
    "none", "off", "no", "-", "0", "-1", "3", "1.5", "10", "90000", "inf", "nan", "many",
    "20gb", "2GiB", "60mb", "40mb", "true", "yes", "false",
]


def through_config_env(tmp_path: Path, name: str, text: str) -> tuple[bool, object]:
    """``NAME=text`` in a config.env: (accepted, the Config value)."""
    home = tmp_path / "env"
    home.mkdir(exist_ok=True)
    (home / "config.env").write_text(f"BOT_TOKEN={TOKEN}\nOWNER_ID=1\n{name}={text}\n")
    try:
        cfg = load_config({}, cwd=home)
    except ConfigError as exc:
        assert str(exc).startswith(f"{name} must be"), exc
        return False, None
    return True, getattr(cfg, name.lower())


def through_bsetting(tmp_path: Path, name: str, text: str) -> tuple[bool, object]:
    """``/bsetting NAME text``: (accepted, the value it would set)."""
    try:
        setting, value = overrides.parse(config(tmp_path), name, text)
    except BadInputError as exc:
        assert str(exc).startswith(f"{name} must be"), exc
        return False, None
    assert setting.name == name
    return True, value


@pytest.mark.parametrize("name", sorted(overrides.SETTINGS))
def test_config_env_and_bsetting_read_every_value_alike(tmp_path: Path, name: str) -> None:
    for text in SAME_TEXT:
        from_file = through_config_env(tmp_path, name, text)
        from_chat = through_bsetting(tmp_path, name, text)
        assert from_file == from_chat, (name, text)


def test_none_lifts_a_size_limit_on_both_paths(tmp_path: Path) -> None:
    """README: empty means no limit in config.env; ``none`` means it on both paths."""
    for name in ("MAX_DOWNLOAD_SIZE", "DIRECT_LIMIT", "TORRENT_LIMIT", "YTDL_LIMIT", "LEECH_LIMIT"):
        assert through_config_env(tmp_path, name, "none") == (True, None)
        assert through_bsetting(tmp_path, name, "none") == (True, None)
        assert through_config_env(tmp_path, name, "") == (True, None)
    # A threshold is off with 0, never with none: refused on both paths.
    assert through_config_env(tmp_path, "STORAGE_THRESHOLD", "none") == (False, None)
    assert through_bsetting(tmp_path, "STORAGE_THRESHOLD", "none") == (False, None)


def test_both_paths_say_the_same_expected_form(tmp_path: Path) -> None:
    home = tmp_path / "env"
    home.mkdir()
    (home / "config.env").write_text(
        f"BOT_TOKEN={TOKEN}\nOWNER_ID=1\nSTATUS_UPDATE_INTERVAL=90000\n"
    )
    with pytest.raises(ConfigError) as from_file:
        load_config({}, cwd=home)
    with pytest.raises(BadInputError) as from_chat:
        overrides.parse(config(tmp_path), "STATUS_UPDATE_INTERVAL", "90000")
    form = "must be a positive number of seconds, at most 86400, got"
    assert form in str(from_file.value) and form in str(from_chat.value)


def test_shown_is_what_the_owner_would_type_back(tmp_path: Path) -> None:
    cfg = overrides.apply(config(tmp_path), {
        "TORRENT_LIMIT": "10gb", "STATUS_UPDATE_INTERVAL": "2.5", "STOP_DUPLICATE": "yes",
        "STORAGE_THRESHOLD": "0",
    })
    for name in overrides.SETTINGS:
        setting = overrides.SETTINGS[name]
        text = overrides.shown(cfg, setting)
        assert overrides.parse(cfg, name, text)[1] == getattr(cfg, setting.field), (name, text)
