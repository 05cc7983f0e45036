"""Archive benchmark: the bot's extract and compress stages against the 7-Zip command line, on
the same files in the same run.

    python bench/archive.py                          # 1 GiB each, 5 reps (~6 min on 2 cores)
    python bench/archive.py --size-mib 128 --reps 1  # a quick look

Cases (inputs built once, untimed, in a temporary folder under ``--dir``):

* extract a store-mode zip and a 7z (LZMA2 ``-mx=1``) of ``--size-mib`` each: the bot's
  ``extract`` stage against ``7zz x -y -oOUT ARCHIVE``;
* compress a folder of ``--size-mib`` whose bytes are mostly incompressible (random files, as
  video/images are, plus some text: the stage picks store mode), and one of log text (the stage
  picks the fast level): the bot's ``compress`` stage (``-z``) against ``7zz a`` with the
  switches the stage chose, run in the folder's parent like the stage.

"The bot's stage" is found through the Stage interface by name: the bot's own stage list
(``plugins.STAGES``) is asked, through a :class:`Pipeline`, for the stages of a spec that
wants it, and the one whose ``name`` matches is run as the manager runs it (``task.begin``, a
fresh ``out`` folder, ``process``). A stage this build does not have is reported as pending.
Runs alternate between the bot and the CLI after one warm-up of each; before every run the
outputs are removed and ``sync`` writes back what is dirty, untimed. Prints medians of wall time
and of CPU time (user + system, the bot's process and 7-Zip together: on a shared machine it
moves less than wall time) and the ratios bot / CLI (goal ≤ 1.1).
"""

# ruff: noqa: E402  (sys.path must be fixed before the other imports, see bench/download.py)
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import dataclasses
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telebot.config import Config
from telebot.engine.pipeline import Pipeline, Stage
from telebot.engine.task import State, Task, TaskSpec
from telebot.processing import sevenzip
from telebot.processing.storemode import choose_level

MiB = 1 << 20
FILES = 8  # files per folder: a release-sized handful, not a small-file test


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            handle.write(block)
            left -= len(block)


def write_text(path: Path, size: int, seed: int) -> None:
    """Log-like lines; a fresh random pick per line so no window repeats (deflate ~4:1)."""
    pick = random.Random(seed)
    words = ["GET", "POST", "/api/items", "200", "404", "user", "session", "timeout", "ok"]
    with path.open("wb") as handle:
        written = 0
        while written < size:
            lines = "".join(
                " ".join(pick.choice(words) for _ in range(9)) + f" {pick.random()}\n"
                for _ in range(2000)
            ).encode()[: size - written]
            handle.write(lines)
            written += len(lines)


def build_inputs(root: Path, size: int) -> dict[str, Path]:
    media = root / "media"
    media.mkdir(parents=True)
    text_share = size // 16  # ~6 %: a few subtitles and notes beside the videos
    for n in range(FILES):
        write_random(media / f"video{n}.bin", (size - text_share) // FILES)
    write_text(media / "notes.txt", text_share, seed=1)
    logs = root / "logs"
    logs.mkdir()
    for n in range(FILES):
        write_text(logs / f"server{n}.log", size // FILES, seed=n)
    zipped = root / "store.zip"
    sevenzip.run(["a", "-tzip", "-mx=0", "--", str(zipped), "media"], password=None,
                 cancel=None, cwd=root)
    seven = root / "fast.7z"
    sevenzip.run(["a", "-t7z", "-mx=1", "--", str(seven), "logs"], password=None,
                 cancel=None, cwd=root)
    return {"media": media, "logs": logs, "zip": zipped, "7z": seven}


def bot_stage(name: str, spec: TaskSpec, config: Config) -> Stage | None:
    """The stage called ``name`` that the bot's pipeline (``plugins.STAGES``, as the
    bot and its workers build it) gives for ``spec``, or None when this build has none."""
    from telebot import plugins
    from telebot.sinks.telegram import LeechSettings, TelegramSink

    sink = TelegramSink(LeechSettings.from_config(config), messenger=lambda: None)  # type: ignore[arg-type,return-value]
    services = plugins.Services(config, lambda: None, sink)  # type: ignore[arg-type,return-value]
    pipeline = Pipeline([], [], plugins.made(plugins.STAGES, services))
    return next((stage for stage in pipeline.stages_for(spec) if stage.name == name), None)


def spec_for(**wanted: Any) -> TaskSpec | None:
    """A mirror spec with ``wanted`` flags, or None when TaskSpec lacks one (not in this build)."""
    names = {f.name for f in dataclasses.fields(TaskSpec)}
    if not set(wanted) <= names:
        return None
    return TaskSpec(kind="mirror", source="bench", chat_id=1, user_id=1, **wanted)


def run_stage(stage: Stage, spec: TaskSpec, path: Path, work: Path) -> None:
    task = Task("00000bench", spec, work)
    out = work / f".stage-0-{stage.name}"
    out.mkdir(parents=True, mode=0o700)
    task.begin(State.PROCESSING, stage.engine)
    stage.process(task, path, out)


def cli(args: list[str], cwd: Path) -> None:
    binary = sevenzip.require()
    subprocess.run([binary, *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (7-Zip) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_times(runs: dict[str, Callable[[], None]], reps: int, clean: Callable[[], None]
                 ) -> dict[str, float]:
    """Median wall time per tool (key ``name``) and median CPU time (key ``name cpu``)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(-1, reps):  # rep -1: one warm-up of each, not counted
        order = list(runs.items())
        if rep % 2:
            order.reverse()  # alternate who goes first: the page cache favours neither
        for name, run in order:
            clean()
            # Untimed: write back what the last run (or the set-up) left dirty. Without it a
            # 1 GiB store-mode run took 0.6-3.1 s for the same command, by what came before.
            os.sync()
            start, used = time.perf_counter(), cpu_seconds()
            run()
            if rep >= 0:
                times[name].append(time.perf_counter() - start)
                cpu[name].append(cpu_seconds() - used)
    clean()
    medians = {name: statistics.median(values) for name, values in times.items()}
    return medians | {f"{name} cpu": statistics.median(values) for name, values in cpu.items()}


def extract_case(label: str, archive: Path, work: Path, config: Config, reps: int) -> str:
    spec = spec_for(extract=True)
    stage = bot_stage("extract", spec, config) if spec is not None else None
    if spec is None or stage is None:
        return f"| {label} | pending | | | | the extract stage is not in this build |"
    out = work / "cli-out"
    runs = {
        "bot": lambda: run_stage(stage, spec, archive, work / "task"),
        "cli": lambda: cli(["x", "-y", f"-o{out}", "--", str(archive)], work),
    }
    return _row(label, median_times(runs, reps, lambda: _empty(work)))


def compress_case(label: str, folder: Path, work: Path, config: Config, reps: int) -> str:
    spec = spec_for(compress=True, compress_format="zip")
    stage = bot_stage("compress", spec, config) if spec is not None else None
    if spec is None or stage is None:
        return f"| {label} | pending | | | | the compress stage is not in this build |"
    level = choose_level(folder)
    target = work / "cli.zip"
    switches = ["a", "-tzip", f"-mx={level}", "-snl", "-mcu=on"]
    runs = {
        "bot": lambda: run_stage(stage, spec, folder, work / "task"),
        "cli": lambda: cli([*switches, "--", str(target), folder.name], folder.parent),
    }
    return _row(f"{label} (-mx={level})", median_times(runs, reps, lambda: _empty(work)))


def _row(label: str, m: dict[str, float]) -> str:
    ratio, cpu = m["bot"] / m["cli"], m["bot cpu"] / m["cli cpu"]
    return (f"| {label} | {m['bot']:.2f} | {m['cli']:.2f} | {ratio:.3f} | "
            f"{m['bot cpu']:.2f} / {m['cli cpu']:.2f} = {cpu:.3f} | ≤ 1.1 |")


def _empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dir", default="/var/tmp", help="where the inputs are built")
    args = parser.parse_args()
    size = args.size_mib * MiB
    print(f"7-Zip: {sevenzip.require()}; {args.size_mib} MiB per case; medians of {args.reps}")
    with tempfile.TemporaryDirectory(prefix="bench-archive-", dir=args.dir) as tmp:
        base = Path(tmp)
        inputs = build_inputs(base / "in", size)
        work = base / "work"
        work.mkdir()
        config = Config(bot_token="1:bench", owner_id=1, download_dir=base / "dl",
                        mirror_dir=base / "mirror")
        print("| case | bot (s) | 7-Zip CLI (s) | bot / CLI | CPU s bot / CLI | goal |\n"
              "|---|---|---|---|---|---|")
        print(extract_case("extract store-mode zip", inputs["zip"], work, config, args.reps))
        print(extract_case("extract 7z (LZMA2 -mx=1)", inputs["7z"], work, config, args.reps))
        print(compress_case("compress mostly-media folder", inputs["media"], work, config,
                            args.reps))
        print(compress_case("compress log-text folder", inputs["logs"], work, config,
                            args.reps))


if __name__ == "__main__":
    main()
