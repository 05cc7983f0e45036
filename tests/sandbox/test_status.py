"""Whether the walls are up, and saying so: start-up line, /stats, and a host without Landlock.

A host without Landlock is simulated for real: an ``LD_PRELOAD`` shim makes libc's
``syscall()`` answer the three Landlock calls as an old kernel (ENOSYS) or a seccomp profile
(EPERM) would, in a bot process that is otherwise the real one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telebot import sandbox
from telebot.childproc import run_tool
from telebot.sandbox import Box
from tests.conftest import OWNER, ROOT
from tests.e2e.helpers import text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI

NO_LANDLOCK = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
long syscall(long number, ...)
{
    if (number >= 444 && number <= 446) {
        errno = ERRNO;
        return -1;
    }
    va_list ap;
    va_start(ap, number);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a, b, c, d, e, f);
}
"""


def _shim(tmp_path: Path, errno_name: str) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler for the shim")
    source = tmp_path / f"nolandlock-{errno_name}.c"
    source.write_text(NO_LANDLOCK.replace("ERRNO", errno_name))
    shim = source.with_suffix(".so")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(shim), str(source), "-ldl"],
                   check=True, capture_output=True)
    return shim


PROBE = """
import json, sys
from pathlib import Path
from telebot import sandbox
from telebot.childproc import run_tool
state = sandbox.status()
out = Path(sys.argv[1])
big = run_tool([sys.executable, "-c", "b = bytearray(512 << 20)"],
               box=sandbox.Box(writable=(out,), memory=256 << 20))
small = run_tool(["true"], box=sandbox.Box(writable=(out,)))
print(json.dumps({"on": state.on, "line": state.line(), "big": big.error_line(),
                  "small": small.returncode}))
"""


@pytest.mark.parametrize(("errno_name", "words"), [
    ("ENOSYS", "the kernel has no Landlock"),
    ("EPERM", "seccomp profile refuses"),
])  # fmt: skip
def test_without_landlock_the_status_says_off_and_rlimits_still_hold(
    tmp_path: Path, errno_name: str, words: str
) -> None:
    shim = _shim(tmp_path, errno_name)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "out")], cwd=ROOT, capture_output=True,
        text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "LD_PRELOAD": str(shim)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["on"] is False
    assert seen["line"].startswith("sandbox: off — ") and words in seen["line"]
    assert "memory limit" in seen["big"]  # the rlimits do not depend on Landlock
    assert seen["small"] == 0  # tools still run


@pytest.fixture
def configured() -> Iterator[None]:
    yield
    sandbox.configure()  # back to the defaults for the other tests


def test_sandbox_off_in_the_configuration(configured: None, tmp_path: Path) -> None:
    state = sandbox.configure(enabled=False)
    assert (state.on, state.line()) == (
        False, "sandbox: off — SANDBOX=off in the configuration (rlimits and in-code checks "
        "still apply)")
    secret = tmp_path / "elsewhere" / "secret"
    secret.parent.mkdir()
    secret.write_text("x")
    # With the walls down the tool reads what it is given: the configuration is obeyed.
    done = run_tool(["cat", str(secret)], box=Box(writable=(tmp_path / "out",)))
    assert done.stdout == b"x"


@pytest.mark.skipif(not sandbox.status().on, reason="Landlock is not available here")
def test_the_bot_says_the_sandbox_is_on(bot_api: FakeBotAPI, make_bot: Any) -> None:
    bot = make_bot()
    since = bot_api.mark()
    bot_api.push_message("/stats", chat_id=OWNER, user_id=OWNER)
    text = text_of(wait_text(bot_api, r"Bot stats", since=since))
    assert f"Sandbox</b>: on (Landlock ABI {sandbox.status().abi}" in text
    assert bot.log_text().count("sandbox: on (Landlock ABI") == 1


def test_the_bot_says_once_why_the_sandbox_is_off(
    bot_api: FakeBotAPI, make_bot: Any, tmp_path: Path
) -> None:
    bot = make_bot(LD_PRELOAD=str(_shim(tmp_path, "ENOSYS")))
    since = bot_api.mark()
    bot_api.push_message("/stats", chat_id=OWNER, user_id=OWNER)
    text = text_of(wait_text(bot_api, r"Bot stats", since=since))
    assert "Sandbox</b>: off — the kernel has no Landlock" in text
    log = bot.log_text()
    assert log.count("sandbox: off — the kernel has no Landlock") == 1
    assert "WARNING" in next(line for line in log.splitlines() if "sandbox: off" in line)
