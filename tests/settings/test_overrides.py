"""/bsetting's settings: parsed like config.env, laid over it at start, bad rows skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.config import Config, load_config
from telebot.errors import BadInputError
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
    with pytest.raises(BadInputError, match="LEECH_SPLIT_SIZE must be at most 50 MB"):
        overrides.parse(cfg, "LEECH_SPLIT_SIZE", "2gb")
    with pytest.raises(BadInputError, match="DOWNLOAD_DIR cannot be changed here"):
        overrides.parse(cfg, "DOWNLOAD_DIR", "/etc")
    with pytest.raises(BadInputError, match="STOP_DUPLICATE must be true or false"):
        overrides.parse(cfg, "STOP_DUPLICATE", "perhaps")
