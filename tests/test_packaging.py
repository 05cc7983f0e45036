"""The set-up commands users read (README) are the ones CI and the Docker files really use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def readme_block(marker: str) -> str:
    """The command in the fenced block right after ``<!-- marker -->``."""
    match = re.search(rf"<!-- {marker} -->\s*```(?:sh|bash)?\n(.*?)```", README, re.S)
    assert match, f"README has no block marked {marker}"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    command = readme_block("test-command")
    assert command in CI.splitlines(), "the README's test command must be a line of .ci/run"
    assert "pytest" in command


def test_readme_run_command_starts_the_bot() -> None:
    command = readme_block("run-command")
    assert "python -m telebot" in command
    assert "requirements.txt" in command and "build_ext --inplace" in command


def test_dockerfile_matches_the_readme() -> None:
    build, run = readme_block("docker-commands").splitlines()[:2]
    assert build.startswith("docker build") and build.rstrip().endswith(" .")
    tag = build.split("-t", 1)[1].split()[0]
    assert run.startswith("docker run") and tag in run
    volume = re.search(r"-v \S+:(/\S+)", run)
    assert volume and f'VOLUME ["{volume.group(1)}"]' in DOCKERFILE
    # The Dockerfile's own header shows the same commands.
    assert build in DOCKERFILE and run in DOCKERFILE


def test_dockerfile_is_hardened() -> None:
    stages = re.findall(r"^FROM (\S+) AS (\w+)", DOCKERFILE, re.M)
    assert [name for _, name in stages] == ["builder", "runtime"]
    assert all(":" in image and not image.endswith(":latest") for image, _ in stages)
    assert re.search(r"^USER \d+:\d+$", DOCKERFILE, re.M), "runs as a non-root user"
    assert 'CMD ["python", "-m", "telebot"]' in DOCKERFILE
    assert re.search(r'HEALTHCHECK .*\n?.*CMD \["python", "-m", "telebot.health"\]', DOCKERFILE)


def test_compose_shares_the_data_volume_with_the_local_api() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    bot, api = compose["services"]["telebot"], compose["services"]["telegram-bot-api"]
    assert api["profiles"] == ["local-api"] and "profiles" not in bot
    assert "telebot-data:/data" in bot["volumes"]
    assert any(v.startswith("telebot-data:/data") for v in api["volumes"])
    assert api["environment"]["TELEGRAM_LOCAL"] == "1"


def test_readme_documents_every_config_variable_and_command() -> None:
    from telebot.config import KNOWN_KEYS
    from telebot.tg.commands import COMMANDS

    for key in KNOWN_KEYS:
        assert f"`{key}`" in README, key
    for spec in COMMANDS:
        assert f"/{spec.name}" in README, spec.name


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed")
def test_hadolint_is_clean() -> None:
    result = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def copy_of_the_tree(dest: Path) -> Path:
    """The files setup.py builds from, without any compiled extension."""
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, dest / name)
    skip = shutil.ignore_patterns("*.so", "__pycache__", "build")
    for folder in ("native", "telebot"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=skip)
    return dest


@pytest.mark.parametrize("no_compiler", ["CC=/nonexistent", "PATH without cc"])
def test_build_without_a_compiler_falls_back_to_python(tmp_path: Path, no_compiler: str) -> None:
    tree = copy_of_the_tree(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    if no_compiler.startswith("CC="):
        env["CC"] = "/nonexistent"
    else:
        env["PATH"] = str(tmp_path / "empty-bin")  # no gcc, cc, ld ... at all
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "the pure-Python IO path will be used" in build.stderr
    assert not list((tree / "telebot" / "fileio").glob("_iocore*"))
    probe = subprocess.run(
        [sys.executable, "-c", "import telebot.fileio as f; print(f.NATIVE, f.active_path())"],
        cwd=tree, capture_output=True, text=True, timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("False python/"), probe.stdout


def test_build_script_run_directly_falls_back_too(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    build = subprocess.run(
        [sys.executable, "native/build_iocore.py"],
        cwd=tree, env={**os.environ, "CC": "/nonexistent"},
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "the pure-Python IO path will be used" in build.stderr
