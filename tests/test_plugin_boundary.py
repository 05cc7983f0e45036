"""``.ci/plugin_imports.py``: plug-ins import from the engine only task, pipeline and runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "plugin_imports.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60
    )


def plant(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_lists_each_planted_violation_with_file_and_line(tmp_path: Path) -> None:
    plant(tmp_path, "telebot/engine/manager.py", "")
    plant(
        tmp_path,
        "telebot/sources/http/evil.py",
        "from telebot.engine.pipeline import Source\n"  # the API: fine
        "from telebot.engine import taskstate\n"
        "from ...engine.manager import TaskManager\n"  # relative, resolved to the engine
        "from ..names import fit_name\n",  # another plug-in module: not the engine
    )
    plant(
        tmp_path,
        "telebot/sinks/sneaky.py",
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from telebot.engine.diskguard import DiskGuard\n"
        "def later() -> None:\n"
        "    import telebot.engine.limits\n"
        "from telebot.engine import task, runner\n",  # API modules by name: fine
    )
    plant(tmp_path, "telebot/processing/ok.py", "import telebot.engine.task\n")
    # Outside the plug-ins, the engine is anyone's to import.
    plant(tmp_path, "telebot/bot/handler.py", "from telebot.engine.manager import TaskManager\n")

    result = check(tmp_path)

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "telebot/sources/http/evil.py:2 from telebot.engine import taskstate",
        "telebot/sources/http/evil.py:3 from ...engine.manager import TaskManager",
        "telebot/sinks/sneaky.py:3 from telebot.engine.diskguard import DiskGuard",
        "telebot/sinks/sneaky.py:5 import telebot.engine.limits",
    ]


def test_the_real_tree_keeps_to_the_plugin_api() -> None:
    result = check(ROOT)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr
