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


@pytest.mark.parametrize(
    ("folders", "first", "second"),
    [
        ({"DOWNLOAD_DIR": "data", "MIRROR_DIR": "data/mirror"}, "DOWNLOAD_DIR", "MIRROR_DIR"),
        ({"DOWNLOAD_DIR": "data/dl", "MIRROR_DIR": "data"}, "DOWNLOAD_DIR", "MIRROR_DIR"),
        ({"DOWNLOAD_DIR": "same", "MIRROR_DIR": "same/"}, "DOWNLOAD_DIR", "MIRROR_DIR"),
        ({"DOWNLOAD_DIR": "dl", "DATABASE_PATH": "dl/telebot.db"}, "DATABASE_PATH", "DOWNLOAD_DIR"),
        ({"MIRROR_DIR": "m", "DATABASE_PATH": "m/sub/telebot.db"}, "DATABASE_PATH", "MIRROR_DIR"),
        (
            {"DOWNLOAD_DIR": ".", "MIRROR_DIR": "/nonexistent-telebot-mirror"},
            "DATABASE_PATH",
            "DOWNLOAD_DIR",
        ),
    ],
)
def test_overlapping_folders_are_refused_naming_both(
    folders: dict[str, str], first: str, second: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(base_env(**folders), cwd=tmp_path)
    message = str(info.value)
    assert message.startswith(first) and second in message
    assert "\n" not in message


def test_overlap_is_seen_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    env = base_env(DOWNLOAD_DIR=str(tmp_path / "real"), MIRROR_DIR=str(tmp_path / "link" / "out"))
    with pytest.raises(ConfigError, match=r"^DOWNLOAD_DIR and MIRROR_DIR overlap"):
        load_config(env, cwd=tmp_path)


def test_the_usual_layout_is_accepted(tmp_path: Path) -> None:
    # Database in the working folder that contains downloads/ and mirror/; siblings that share
    # a prefix ("dl" and "dl2") do not overlap.
    cfg = load_config(base_env(DOWNLOAD_DIR="dl", MIRROR_DIR="dl2"), cwd=tmp_path)
    assert cfg.database_path == Path("telebot.db")
    load_config(base_env(), cwd=tmp_path)


def test_python_m_telebot_exits_2_with_one_line_for_overlap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from telebot.__main__ import main

    monkeypatch.chdir(tmp_path)
    for key, value in base_env(DOWNLOAD_DIR="data", MIRROR_DIR="data/mirror").items():
        monkeypatch.setenv(key, value)
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DOWNLOAD_DIR" in err and "MIRROR_DIR" in err


def test_ytdl_options_use_the_opt_allow_list(tmp_path: Path) -> None:
    cfg = load_config(
        base_env(YTDL_OPTIONS='{"format": "bv*[height<=720]+ba/b"}', YTDL_SELECT_TIMEOUT="30"),
        cwd=tmp_path,
    )
    assert cfg.ytdl_options == {"format": "bv*[height<=720]+ba/b"}
    assert cfg.ytdl_select_timeout == 30.0
    assert load_config(base_env(), cwd=tmp_path).ytdl_select_timeout == 120.0
    with pytest.raises(ConfigError, match=r"^YTDL_OPTIONS .*exec is refused"):
        load_config(base_env(YTDL_OPTIONS='{"exec": "touch /tmp/x"}'), cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"^YTDL_OPTIONS .*JSON"):
        load_config(base_env(YTDL_OPTIONS="{'format': 'b'}"), cwd=tmp_path)


def test_host_limits_defaults_and_values(tmp_path: Path) -> None:
    cfg = load_config(base_env(), cwd=tmp_path)
    assert cfg.storage_threshold == 2_000_000_000  # the documented default: 2gb
    assert cfg.user_tasks_limit == 0 and cfg.stop_duplicate is False
    assert (cfg.direct_limit, cfg.torrent_limit, cfg.ytdl_limit, cfg.leech_limit) == (None,) * 4
    cfg = load_config(
        base_env(
            STORAGE_THRESHOLD="0", USER_TASKS_LIMIT="3", DIRECT_LIMIT="1gb", TORRENT_LIMIT="10GiB",
            YTDL_LIMIT="500mb", LEECH_LIMIT="4gb", STOP_DUPLICATE="yes",
        ),
        cwd=tmp_path,
    )
    assert cfg.storage_threshold == 0 and cfg.user_tasks_limit == 3 and cfg.stop_duplicate
    assert (cfg.direct_limit, cfg.torrent_limit) == (10**9, 10 * 1024**3)
    assert (cfg.ytdl_limit, cfg.leech_limit) == (500 * 10**6, 4 * 10**9)


@pytest.mark.parametrize(
    ("name", "value"),
    [("STORAGE_THRESHOLD", "lots"), ("USER_TASKS_LIMIT", "-1"), ("TORRENT_LIMIT", "0"),
     ("STOP_DUPLICATE", "maybe")],
)
def test_host_limits_refuse_bad_values_by_name(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(base_env(**{name: value}), cwd=tmp_path)


def test_rclone_allowed_roots(tmp_path: Path) -> None:
    cfg = load_config(base_env(RCLONE_ALLOWED_ROOTS=" sftp:/srv/share, ftp:/pub ,"), cwd=tmp_path)
    assert cfg.rclone_allowed_roots == ("sftp:/srv/share", "ftp:/pub")
    assert load_config(base_env(), cwd=tmp_path).rclone_allowed_roots == ()
    for bad in ("sftp:srv", "/srv", "sftp:/srv/../etc", ":sftp:/x"):
        with pytest.raises(ConfigError, match=r"^RCLONE_ALLOWED_ROOTS must be"):
            load_config(base_env(RCLONE_ALLOWED_ROOTS=bad), cwd=tmp_path)


CONFIG_WITH_QUOTES_AND_COMMENTS = """\
# the README's example, written the way people write .env files
BOT_TOKEN="123456:ABC-def_ghi"   # from @BotFather
OWNER_ID=42  # me
AUTHORIZED_CHATS='-100 5' # two chats
INDEX_URL=https://files.example/#root
DOWNLOAD_DIR="dl # not a comment"
MIRROR_DIR=mirror#kept
"""


def test_config_env_quotes_and_trailing_comments_are_removed(tmp_path: Path) -> None:
    (tmp_path / "config.env").write_text(CONFIG_WITH_QUOTES_AND_COMMENTS)
    cfg = load_config({}, cwd=tmp_path)
    assert cfg.bot_token == TOKEN and cfg.owner_id == 42
    assert cfg.authorized_chats == frozenset({-100, 5})
    assert cfg.index_url == "https://files.example/#root"  # no space before '#': kept
    assert cfg.download_dir == Path("dl # not a comment")  # inside quotes: kept
    assert cfg.mirror_dir == Path("mirror#kept")


def test_docker_env_file_values_read_like_the_file(tmp_path: Path) -> None:
    # `docker run --env-file config.env` passes each line's text as is (docker/cli#3630):
    # the quotes and the comment arrive in the environment.
    env = {"BOT_TOKEN": '"123456:ABC-def_ghi"   # from @BotFather', "OWNER_ID": "42  # me",
           "AUTHORIZED_CHATS": "'-100 5' # two chats"}
    cfg = load_config(env, cwd=tmp_path)
    assert cfg.bot_token == TOKEN and cfg.owner_id == 42
    assert cfg.authorized_chats == frozenset({-100, 5})


@pytest.mark.parametrize(("line", "message"), [
    ('BOT_TOKEN="123:abc', "config.env line 1 (BOT_TOKEN) has an opening \" without a closing"),
    ("OWNER_ID='42' 43", "config.env line 1 (OWNER_ID) has text after its closing '"),
])
def test_a_broken_quote_names_the_line_and_the_key(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "config.env").write_text(line + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(base_env(), cwd=tmp_path)
    assert str(info.value).startswith(message)


def test_none_means_no_limit_as_in_bsetting(tmp_path: Path) -> None:
    """Issue 24: config.env refused ``MAX_DOWNLOAD_SIZE=none`` while /bsetting took it."""
    (tmp_path / "config.env").write_text(
        f"BOT_TOKEN={TOKEN}\nOWNER_ID=42\nMAX_DOWNLOAD_SIZE=none\nTORRENT_LIMIT=off\n"
        "DIRECT_LIMIT=5gb\n"
    )
    cfg = load_config({}, cwd=tmp_path)
    assert (cfg.max_download_size, cfg.torrent_limit, cfg.direct_limit) == (None, None, 5 * 10**9)


def test_status_update_interval_is_at_most_a_day_as_in_bsetting(tmp_path: Path) -> None:
    assert load_config(base_env(STATUS_UPDATE_INTERVAL="86400"), cwd=tmp_path) is not None
    with pytest.raises(ConfigError, match=r"^STATUS_UPDATE_INTERVAL must be .*at most 86400"):
        load_config(base_env(STATUS_UPDATE_INTERVAL="86401"), cwd=tmp_path)


def test_rss_interval_has_a_floor_and_a_ceiling(tmp_path: Path) -> None:
    assert load_config(base_env(), cwd=tmp_path).rss_interval == 900.0
    assert load_config(base_env(RSS_INTERVAL="60"), cwd=tmp_path).rss_interval == 60.0
    for value in ("59.9", "0", "-5", "nan", "inf", "604801", "soon"):
        with pytest.raises(ConfigError, match=r"^RSS_INTERVAL must be a number of seconds "
                                              r"from 60 .* got"):
            load_config(base_env(RSS_INTERVAL=value), cwd=tmp_path)


def test_hosts_base_urls_take_a_scheme_and_an_address_only(tmp_path: Path) -> None:
    cfg = load_config(base_env(HOSTS_BASE_URLS="MediaFire=http://127.0.0.1:8080/, "
                                               "gofile=https://mirror.example"), cwd=tmp_path)
    assert cfg.hosts_base_urls == {"mediafire": "http://127.0.0.1:8080",
                                   "gofile": "https://mirror.example"}
    assert load_config(base_env(), cwd=tmp_path).hosts_base_urls == {}
    for bad in ("mediafire", "mediafire=ftp://x", "mediafire=http://x/path",
                "mediafire=http://u:p@x", "media fire=http://x", "mediafire=http://x?q=1"):
        with pytest.raises(ConfigError, match="HOSTS_BASE_URLS"):
            load_config(base_env(HOSTS_BASE_URLS=bad), cwd=tmp_path)
