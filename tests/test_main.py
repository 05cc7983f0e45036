"""``python -m telebot`` as a real process in an empty folder: --help, and one line with exit
status 2 for every path it cannot use (no traceback, nothing started)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import polling
from tests.conftest import ROOT

TOKEN = "123456:ABC-def_ghi"


def run_bot(cwd: Path, *args: str, prefix: tuple[str, ...] = (),
            **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in settings and not k.startswith("BOT_")}
    # Nothing answers here: a bot that got past its checks would retry for ever (timeout).
    env.update(BOT_TOKEN=TOKEN, OWNER_ID="42", BOT_API_URL="http://127.0.0.1:9",
               PYTHONPATH=str(ROOT), **settings)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "telebot", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_touches_nothing(tmp_path: Path, flag: str) -> None:
    result = run_bot(tmp_path, flag)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m telebot")
    assert str(tmp_path / "config.env") in result.stdout  # where it is read from
    for name in ("BOT_TOKEN", "OWNER_ID", "DOWNLOAD_DIR", "MIRROR_DIR", "LOG_FILE"):
        assert name in result.stdout
    assert list(tmp_path.iterdir()) == [], "no folder, database or log was made"


def test_an_unknown_argument_is_refused_with_the_usage(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "--verbose")
    assert result.returncode == 2
    assert result.stderr.startswith("telebot: unknown argument '--verbose'")
    assert list(tmp_path.iterdir()) == []


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("DOWNLOAD_DIR", "afile/downloads", "Not a directory"),
    ("DOWNLOAD_DIR", "afile", "exists and is not a folder"),
    ("MIRROR_DIR", "afile/mirror", "Not a directory"),
    ("MIRROR_DIR", "afile", "exists and is not a folder"),
    ("LOG_FILE", "afile/telebot.log", "exists and is not a folder"),
    ("LOG_FILE", "adir", "is a folder, not a file"),
    ("DATABASE_PATH", "afile/data/telebot.db", "Not a directory"),
    ("DATABASE_PATH", "adir", "is a folder, not a file"),
])
def test_each_unusable_path_is_one_line_naming_it(
    tmp_path: Path, name: str, value: str, reason: str
) -> None:
    (tmp_path / "afile").write_text("in the way")
    (tmp_path / "adir").mkdir()
    line = one_line(run_bot(tmp_path, **{name: value}))
    assert line.startswith(f"telebot: config error: {name} cannot be used: ")
    assert str(tmp_path / value.split("/")[0]) in line and reason in line


def test_a_data_folder_the_bot_may_not_write_names_the_uid_and_the_fix(tmp_path: Path) -> None:
    """The Docker case: /data mounted from the host, owned by another user than the bot's."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    prefix: tuple[str, ...] = ()
    if os.getuid() == 0:  # root writes anywhere: run it without the capability that allows it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux)")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")
    line = one_line(run_bot(data, prefix=prefix, DATABASE_PATH=str(data / "telebot.db")))
    assert line.startswith("telebot: config error: DATABASE_PATH cannot be used: cannot write ")
    assert "Permission denied" in line and f"{data}" in line
    assert f"the bot runs as uid {os.getuid()}" in line and "chown -R" in line


def test_after_start_one_line_says_where_files_go_and_what_to_do(make_bot: Any) -> None:
    bot = make_bot()
    polling.wait_until(lambda: "ready:" in bot.stderr(), 30, "the ready line")
    [line] = [ln for ln in bot.stderr().splitlines() if "ready:" in ln]
    assert f"downloads go to {bot.download_dir}, mirrors to {bot.mirror_dir}" in line
    assert "send /start to @" in line


def test_a_worker_with_an_unusable_folder_is_one_line_too(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("in the way")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_TOKEN=TOKEN, OWNER_ID="42", PYTHONPATH=str(ROOT), MIRROR_DIR="afile",
               CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    result = subprocess.run([sys.executable, "-m", "telebot.worker"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    line = one_line(result)
    assert line.startswith("telebot.worker: config error: MIRROR_DIR cannot be used: ")
    assert "exists and is not a folder" in line
