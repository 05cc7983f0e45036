"""TORZNAB_URL and TORZNAB_API_KEY: one key for all URLs or one per URL, refused otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.config import load_config
from telebot.errors import ConfigError
from telebot.logs import RedactingFilter
from telebot.redact import redact


def env(**extra: str) -> dict[str, str]:
    return {"BOT_TOKEN": "123456:ABCdef", "OWNER_ID": "1", **extra}


def test_off_by_default(tmp_path: Path) -> None:
    config = load_config(env(), cwd=tmp_path)
    assert config.torznab_urls == () and config.torznab_api_keys == ()


def test_one_key_serves_every_url(tmp_path: Path) -> None:
    config = load_config(env(TORZNAB_URL="http://127.0.0.1:9117/api, http://lan:9696/1/api",
                             TORZNAB_API_KEY="onekey"), cwd=tmp_path)
    assert config.torznab_urls == ("http://127.0.0.1:9117/api", "http://lan:9696/1/api")
    assert config.torznab_api_keys == ("onekey", "onekey")
    assert "onekey" in config.secrets and "onekey" not in repr(config)


def test_one_key_per_url_in_order(tmp_path: Path) -> None:
    config = load_config(env(TORZNAB_URL="http://a/api http://b/api",
                             TORZNAB_API_KEY="ka,kb"), cwd=tmp_path)
    assert list(zip(config.torznab_urls, config.torznab_api_keys, strict=True)) == [
        ("http://a/api", "ka"), ("http://b/api", "kb")]


@pytest.mark.parametrize(("values", "name", "words"), [
    ({"TORZNAB_URL": "http://a/api"}, "TORZNAB_API_KEY", "is required"),
    ({"TORZNAB_API_KEY": "k"}, "TORZNAB_API_KEY", "TORZNAB_URL is not"),
    ({"TORZNAB_URL": "http://a/api,http://b/api,http://c/api", "TORZNAB_API_KEY": "k1,k2"},
     "TORZNAB_API_KEY", "holds 2 keys for 3 URLs"),
    ({"TORZNAB_URL": "ftp://a/api", "TORZNAB_API_KEY": "k"}, "TORZNAB_URL", "http(s)"),
    ({"TORZNAB_URL": "http://user:secretpw@a/api", "TORZNAB_API_KEY": "k"}, "TORZNAB_URL",
     "http(s)"),
])
def test_mismatches_are_refused_with_a_clear_line(
    tmp_path: Path, values: dict[str, str], name: str, words: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(env(**values), cwd=tmp_path)
    assert refused.value.name == name and words in str(refused.value)
    assert "secretpw" not in str(refused.value)


def test_the_key_is_redacted_once_registered(tmp_path: Path) -> None:
    config = load_config(env(TORZNAB_URL="http://a/api", TORZNAB_API_KEY="zz9plural8alpha"),
                         cwd=tmp_path)
    RedactingFilter(config.secrets)  # what setup_logging does at start
    assert "zz9plural8alpha" not in redact("indexer said: zz9plural8alpha is wrong")
