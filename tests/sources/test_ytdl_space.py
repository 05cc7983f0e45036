"""STORAGE_THRESHOLD for yt-dlp: its progress hook pauses the download while the disk is low."""

from __future__ import annotations

import threading
from pathlib import Path

from telebot.engine.diskguard import DiskGuard
from telebot.engine.task import Task, TaskSpec
from telebot.sources.ytdl.source import _SpaceHook
from tests import polling

MB = 1_000_000


def test_a_growing_video_download_pauses_until_space_returns(tmp_path: Path) -> None:
    free, now = [30 * MB], [0.0]
    task = Task("0123456789", TaskSpec(kind="mirror", source="http://x/v", chat_id=1, user_id=1),
                tmp_path)
    hook = _SpaceHook(task, DiskGuard(20 * MB, lambda: free[0], clock=lambda: now[0], poll=0.01))
    hook({"status": "downloading", "downloaded_bytes": 5 * MB})  # room for 10 MB: goes on
    passed = threading.Event()

    def write_more() -> None:
        free[0] = 22 * MB  # other tasks filled the disk meanwhile
        now[0] += 5.0  # and the gate's last look is old: it looks again
        hook({"status": "downloading", "downloaded_bytes": 10 * MB})
        passed.set()

    thread = threading.Thread(target=write_more)
    thread.start()
    polling.wait_until(lambda: task.note is not None, 10, "the waiting line")
    assert task.note == "⏸ waiting for disk space: 22 MB free, keeping 20 MB"
    assert not passed.is_set()
    free[0] = 40 * MB
    assert passed.wait(10)
    thread.join(10)
    assert task.note is None
