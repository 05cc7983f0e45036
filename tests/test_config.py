from __future__ import annotations

from pathlib import Path

import pytest

from telebot.config import CLOUD_UPLOAD_LIMIT, LOCAL_UPLOAD_LIMIT, load_config, parse_size
from telebot.errors import ConfigError

TOKEN = "123456:ABC-def_ghi"


def base_env(**extra: str) -> dict[str, str]:
    return {"BOT_TOKEN": TOKEN, "OWNER_ID": "42", **extra}


def test_defaults_follow_design(tmp_path: Path) -> None:
    cfg = load_config(base_env(), cwd=tmp_path)
    assert cfg.owner_id == 42
    assert cfg.bot_api_url == "https://api.telegram.org"
    assert cfg.leech_split_size == CLOUD_UPLOAD_LIMIT
    assert (cfg.queue_all, cfg.queue_download, cfg.queue_upload) == (4, 3, 2)
    assert cfg.status_update_interval == 10.0 and cfg.status_limit == 4
    assert cfg.allow_private_links is False


def test_environment_wins_over_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.env").write_text(
        "# comment\nBOT_TOKEN=1:file\nOWNER_ID=7\nAUTHORIZED_CHATS='-100 5'\nexport SUDO_USERS=9\n"
    )
    cfg = load_config({"OWNER_ID": "8"}, cwd=tmp_path)
    assert cfg.owner_id == 8
    assert cfg.bot_token == "1:file"
    assert cfg.authorized_chats == frozenset({-100, 5})
    assert cfg.sudo_users == frozenset({9})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OWNER_ID": "42"}, "BOT_TOKEN is required but not set"),
        ({"BOT_TOKEN": TOKEN}, "OWNER_ID is required but not set"),
        (base_env(OWNER_ID="abc"), "OWNER_ID must be an integer user id, got 'abc'"),
        (base_env(BOT_API_LOCAL="maybe"), "BOT_API_LOCAL must be true or false, got 'maybe'"),
        (base_env(STATUS_UPDATE_INTERVAL="-1"), "STATUS_UPDATE_INTERVAL must be a positive"),
        (base_env(BOT_API_URL="ftp://x"), "BOT_API_URL must be an http(s) URL"),
        (base_env(LEECH_SPLIT_SIZE="60mb"), "LEECH_SPLIT_SIZE must be at most 50000000"),
        (base_env(QUEUE_ALL="many"), "QUEUE_ALL must be a whole number"),
    ],
)
def test_invalid_values_name_the_variable(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env, cwd=tmp_path)
    assert str(info.value).startswith(message)


def test_malformed_token_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(base_env(BOT_TOKEN="secret-but-wrong"), cwd=tmp_path)
    assert "secret-but-wrong" not in str(info.value)


def test_local_mode_raises_split_limit(tmp_path: Path) -> None:
    cfg = load_config(base_env(BOT_API_LOCAL="true", LEECH_SPLIT_SIZE="2gb"), cwd=tmp_path)
    assert cfg.leech_split_size == LOCAL_UPLOAD_LIMIT
    assert (
        load_config(base_env(BOT_API_LOCAL="true"), cwd=tmp_path).leech_split_size
        == LOCAL_UPLOAD_LIMIT
    )


def test_unknown_config_file_keys_are_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config.env").write_text("OWNR_ID=3\n")
    load_config(base_env(), cwd=tmp_path)
    assert "unknown key OWNR_ID" in caplog.text


def test_bad_config_line(tmp_path: Path) -> None:
    (tmp_path / "config.env").write_text("just words\n")
    with pytest.raises(ConfigError, match="line 1"):
        load_config(base_env(), cwd=tmp_path)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("50mb", 50_000_000),
        ("2GiB", 2 * 1024**3),
        ("1.5k", 1500),
        ("10 MB", 10**7),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-5mb", "0", "5 parsecs"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)
