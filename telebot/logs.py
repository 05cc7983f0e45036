"""Logging: a queue in front of the file and stderr, task ids in lines, secrets redacted.

Worker threads only put records on an in-memory queue (:class:`logging.handlers.QueueHandler`);
one listener thread does the disk writes, so a slow disk never stalls a download or the event
loop. Every line passes through :class:`RedactingFilter` (:func:`telebot.redact.redact`) before it
is written, so a token that slipped into an exception text or a URL (httpx logs full request
URLs, which contain the bot token), a password flag or an ``Authorization`` value becomes ``***``.
The log file is created owner-only (0600), whatever the umask: it may still name hosts and files.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import os
import queue
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from telebot.redact import LINE_CAP, cap_line, redact, register_secret

LINE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(task_tag)s: %(message)s"

# The task a thread is working on; the engine sets it around each task's run.
current_task: contextvars.ContextVar[str] = contextvars.ContextVar("telebot_task", default="")


@contextmanager
def task_context(gid: str) -> Iterator[None]:
    """Tag every log line written inside the block with ``[gid]``."""
    token = current_task.set(gid)
    try:
        yield
    finally:
        current_task.reset(token)


class TaskTagFilter(logging.Filter):
    """Adds ``record.task_tag`` (`` [gid]`` or empty) for :data:`LINE_FORMAT`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "task_tag"):
            gid = current_task.get()
            record.task_tag = f" [{gid}]" if gid else ""
        return True


#: Tracebacks are worth more lines than a message (chained exceptions), so a larger cap.
TRACEBACK_CAP = 8 * LINE_CAP


class RedactingFilter(logging.Filter):
    """Replaces every secret in the rendered message (and traceback) with ``***``.

    ``secrets`` (the bot token) are registered with the one redactor, which chat messages
    share, so the two can never disagree about what is secret.

    A message is cut to :data:`~telebot.redact.LINE_CAP` characters first (a traceback to
    :data:`TRACEBACK_CAP`): this filter runs in the thread that logs, the event loop included,
    so the work per line must stay small whatever a user sent.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        for secret in secrets:
            register_secret(secret)

    @staticmethod
    def redact(text: str) -> str:
        return redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(cap_line(message))
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(cap_line(record.exc_text, TRACEBACK_CAP))
        return True


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def create_private_file(path: Path) -> None:
    """Create ``path`` (and a missing parent folder) readable by the owner only.

    The mode is set explicitly after creation, so a permissive umask (0o000) cannot widen it;
    an existing file made by an older telebot is narrowed too.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        os.chmod(path.parent, PRIVATE_DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def setup_logging(
    log_file: Path, secrets: Iterable[str], level: int = logging.INFO
) -> logging.handlers.QueueListener:
    """Route all logging through a queue; returns the started listener (stop it on exit)."""
    create_private_file(log_file)
    formatter = logging.Formatter(LINE_FORMAT)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    stream_handler = logging.StreamHandler(sys.stderr)
    for handler in (file_handler, stream_handler):
        handler.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    queue_handler = logging.handlers.QueueHandler(records)
    # Filters run in the producing thread, before the record crosses the queue, so the task tag
    # is that of the thread that logged, and no secret is ever held in the queue.
    queue_handler.addFilter(TaskTagFilter())
    queue_handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(queue_handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO, and each URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    listener = logging.handlers.QueueListener(
        records, file_handler, stream_handler, respect_handler_level=True
    )
    listener.start()
    return listener
