"""``python -m telebot``: load the config, then run the bot until SIGINT/SIGTERM.

Exit codes: 0 clean stop (and ``--help``), 2 bad configuration (one line naming the variable;
also a bot token the Bot API rejects, and a folder or file the bot cannot write), 1 anything else.
"""

from __future__ import annotations

import os
import sys
import time


def _process_start_time() -> float:
    """When the OS started this process, so start-up timing includes interpreter start.

    From ``/proc/self/stat`` (start time in clock ticks since boot) and CLOCK_BOOTTIME: psutil's
    create_time() adds the boot time, which /proc/stat rounds down to whole seconds and so
    overstates the age by up to a second.
    """
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started_after_boot
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()  # not Linux: count from here


USAGE = """\
usage: python -m telebot [-h]

Runs the bot until SIGINT/SIGTERM. Settings come from the environment and from {config}
(KEY=value lines; the environment wins; quotes around a value and a trailing " # comment" are
removed). Required: BOT_TOKEN, OWNER_ID. Paths are relative to this folder: DOWNLOAD_DIR
(downloads), MIRROR_DIR (mirror), DATABASE_PATH (telebot.db), LOG_FILE (telebot.log).
Every setting (README "Configuration" explains each):
{names}
Exit status: 0 stopped cleanly, 2 a setting, folder or file is unusable (one line says which),
1 anything else."""


def usage() -> str:
    import textwrap

    from telebot.config import CONFIG_FILE, KNOWN_KEYS

    names = textwrap.fill(" ".join(sorted(KNOWN_KEYS)), 96, initial_indent="  ",
                          subsequent_indent="  ")
    return USAGE.format(config=os.path.join(os.getcwd(), CONFIG_FILE), names=names)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):  # before anything reads config or makes a folder
        print(usage())
        return 0
    if args:
        print(f"telebot: unknown argument {args[0]!r}\n{usage()}", file=sys.stderr)
        return 2
    started = _process_start_time()
    from telebot import startgc

    startgc.pause()  # until the first getUpdates (startgc.py says why)
    try:
        return _run(started)
    finally:
        startgc.resume()  # a start that ended early (a config error) must not leave it off


def _run(started: float) -> int:
    # PTB 22 returns durations (RetryAfter.retry_after, ...) as timedelta only with this set;
    # without it they are deprecated ints with a warning per use (docs/TELEGRAM.md, errors).
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    from telebot import folders
    from telebot.config import load_config
    from telebot.errors import ConfigError, StoreError

    try:
        config = load_config()
        folders.prepare(config)
    except ConfigError as exc:
        print(f"telebot: config error: {exc}", file=sys.stderr)
        return 2
    from telebot.app import App

    app = App(config, process_started_at=started)
    try:
        code = app.run()
    except ConfigError as exc:  # found only at start-up, e.g. the Bot API rejected the token
        print(f"telebot: config error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"telebot: {exc}", file=sys.stderr)
        return 1
    if app.restart_requested:  # /restart: everything is stopped and closed by now
        from telebot.bot.handlers.restart import reexec

        try:
            reexec()  # returns only on failure
        except OSError as exc:  # exit 1: a supervisor (Docker's restart policy) starts us again
            print(f"telebot: could not restart: {exc}", file=sys.stderr)
            return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
