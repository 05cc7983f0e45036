"""A leecher process for the kill-and-resume test:
``python -m tests.sources.torrent.leech_child WORKDIR MAGNET``.

Saves resume data every 0.3 s so the test can kill it (SIGKILL) at a known point.
"""

from __future__ import annotations

import sys
from pathlib import Path

from telebot.engine.task import Task, TaskSpec
from telebot.sources.torrent.session import TorrentSession
from telebot.sources.torrent.settings import TorrentSettings
from telebot.sources.torrent.source import TorrentSource


def main() -> None:
    workdir, uri = Path(sys.argv[1]), sys.argv[2]
    settings = TorrentSettings(
        port=0, listen="127.0.0.1", dht=False, allow_private=True, resume_interval=0.3
    )
    task = Task("child", TaskSpec(kind="mirror", source=uri, chat_id=1, user_id=1), workdir)
    TorrentSource(TorrentSession(settings)).fetch(task)


if __name__ == "__main__":
    main()
