"""Small assertions shared by the end-to-end tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from tests.fakes.bot_api import Call, FakeBotAPI


def text_of(call: Call) -> str:
    return str(call.params.get("text", ""))


def wait_text(
    api: FakeBotAPI,
    pattern: str,
    *,
    chat_id: int | None = None,
    since: int = 0,
    timeout: float = 30.0,
    method: str = "sendMessage",
) -> Call:
    """The first ``method`` call whose text matches the regex ``pattern``."""
    regex = re.compile(pattern, re.S)
    return api.wait_for(
        method,
        lambda c: (
            bool(regex.search(text_of(c)))
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ),
        since=since,
        timeout=timeout,
    )


def gid_of(api: FakeBotAPI, *, chat_id: int, since: int, timeout: float = 30.0) -> str:
    """The gid shown in the chat's status message."""
    call = api.wait_for(
        "sendMessage",
        lambda c: "/cancel" in text_of(c) and c.params.get("chat_id") == chat_id,
        since=since,
        timeout=timeout,
    )
    match = re.search(r"/cancel (?:<code>)?([0-9a-f]{10})", text_of(call))
    assert match, text_of(call)
    return match.group(1)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def message(api: FakeBotAPI, text: str, **kwargs: Any) -> dict[str, Any]:
    return api.push_message(text, **kwargs)


def wait_chat_text(api: FakeBotAPI, chat_id: int, pattern: str, timeout: float = 30.0) -> str:
    """Wait until a live bot message in the chat (after edits) matches ``pattern``."""
    import threading
    import time

    regex = re.compile(pattern, re.S)
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        for msg in api.chat_messages(chat_id).values():
            if regex.search(str(msg.get("text", ""))):
                return str(msg["text"])
        pause.wait(0.05)
    raise AssertionError(f"no message in chat {chat_id} matched {pattern!r} within {timeout}s")


def wait_exists(path: Path, timeout: float = 15.0) -> None:
    """Wait for a file or folder the bot creates in its own time (a worker thread)."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        pause.wait(0.05)


def restart_by_command(api: FakeBotAPI, user_id: int, timeout: float = 60.0) -> int:
    """Send /restart as ``user_id`` (in their private chat) and wait until the bot answered
    "Restarting" and, back up, edited it into "✅ Restarted"; returns the mark taken before the
    command."""
    since = api.mark()
    api.push_message("/restart", chat_id=user_id, user_id=user_id)
    wait_text(api, r"Restarting", chat_id=user_id, since=since)
    wait_chat_text(api, user_id, r"✅ Restarted", timeout=timeout)
    return since
