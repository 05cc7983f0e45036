"""The compress stage (-z) against the real 7-Zip: round trips, passwords, store mode, volumes,
cancel, and what it refuses."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from telebot import childproc
from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError, ProcessingError, TaskCancelled
from telebot.processing import sevenzip
from telebot.processing.compress import CompressStage, archive_format, archive_name
from tests import proctree
from tests.polling import wait_until

pytestmark = pytest.mark.skipif(sevenzip.find() is None, reason="7-Zip is not installed")
PASSWORD = "zip-Secret pass"
MIB = 1 << 20  # the smallest -z volume
WORDS = ["alpha", "beta", "server", "request", "error", "value", "GET", "/index.html", "404"]


def text(size: int, seed: int = 0) -> bytes:
    """Log-like text: deflate shrinks it to about a quarter."""
    pick = random.Random(seed)
    lines = []
    length = 0
    while length < size:
        line = " ".join(pick.choice(WORDS) for _ in range(8)) + f" {pick.randint(0, 10**6)}\n"
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()[:size]


def make_tree(root: Path, *, noise: int = 300_000, prose: int = 200_000) -> Path:
    """A folder with a nested file of random bytes, text, an empty file and a UTF-8 name."""
    folder = root / "My Files"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "noise.bin").write_bytes(os.urandom(noise))
    (folder / "notes.txt").write_bytes(text(prose))
    (folder / "empty").write_bytes(b"")
    (folder / "résumé ☃.txt").write_bytes(b"utf-8 name")
    return folder


def task_for(workdir: Path, *, fmt: str | None = None, password: str | None = None,
             kind: str = "mirror") -> Task:
    spec = TaskSpec(kind=kind, source="http://x/y", chat_id=1, user_id=1, compress=True,
                    compress_password=password, compress_format=fmt)
    return Task("g1", spec, workdir)


def run_stage(tmp_path: Path, path: Path, *, volume: int | None = None, slot: int = 0,
              **kwargs: str | None) -> tuple[Task, Path, Path]:
    out = tmp_path / f".stage-{slot}-compress"
    out.mkdir(mode=0o700)
    task = task_for(tmp_path, **kwargs)
    result = CompressStage(lambda _spec: volume).process(task, path, out)
    return task, out, result


def contents(root: Path) -> dict[str, bytes]:
    """Relative path → bytes for the files under ``root`` (folders as None-free keys)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def extract(archive: Path, dest: Path, password: str | None = None) -> Path:
    sevenzip.run(["x", "-y", f"-o{dest}", "--", str(archive)], password=password, cancel=None)
    return dest


def methods(archive: Path, password: str | None = None) -> set[str]:
    out, _ = sevenzip.run(["l", "-slt", "--", str(archive)], password=password, cancel=None)
    body = out.decode().partition("\n----------\n")[2]
    return {
        line.split(" = ", 1)[1]
        for block in body.split("\n\n")
        if "Folder = -" in block or "Attributes = A" in block
        for line in block.splitlines()
        if line.startswith("Method = ")
    }


@pytest.mark.parametrize("fmt", ["zip", "7z"])
@pytest.mark.parametrize("password", [None, PASSWORD])
def test_a_folder_round_trips_byte_for_byte(
    tmp_path: Path, fmt: str, password: str | None
) -> None:
    folder = make_tree(tmp_path / "dl")
    task, out, archive = run_stage(tmp_path, folder, fmt=fmt, password=password)
    assert archive == out / f"My Files.{fmt}"
    assert sorted(p.name for p in out.iterdir()) == [archive.name]  # no work files left
    assert task.done == task.total == sum(len(b) for b in contents(folder).values())
    if password:
        with pytest.raises((sevenzip.PasswordNeeded, sevenzip.WrongPassword)):
            extract(archive, tmp_path / "nopw")
        with pytest.raises(sevenzip.WrongPassword):
            extract(archive, tmp_path / "wrong", "not it")
    got = extract(archive, tmp_path / "x", password)
    # Relative names only: the archive holds "My Files/...", nothing of the bot's disk.
    assert [p.name for p in got.iterdir()] == ["My Files"]
    assert contents(got / "My Files") == contents(folder)
    assert (got / "My Files" / "empty").stat().st_size == 0


@pytest.mark.parametrize("fmt", ["zip", "7z"])
def test_a_single_file_round_trips(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "dl").mkdir()
    movie = tmp_path / "dl" / "-movie.mkv"  # a leading dash is only ever a name
    movie.write_bytes(os.urandom(200_000))
    _, out, archive = run_stage(tmp_path, movie, fmt=fmt, password=PASSWORD)
    assert archive == out / f"-movie.mkv.{fmt}"
    got = extract(archive, tmp_path / "x", PASSWORD)
    assert contents(got) == {"-movie.mkv": movie.read_bytes()}


def test_7z_with_a_password_hides_the_names_zip_does_not(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "dl")
    _, _, seven = run_stage(tmp_path, folder, fmt="7z", password=PASSWORD)
    _, _, zipped = run_stage(tmp_path, folder, slot=1, fmt="zip", password=PASSWORD)
    with pytest.raises(sevenzip.PasswordNeeded):
        sevenzip.list_entries(seven, password=None, cancel=None)
    assert b"notes.txt" not in seven.read_bytes()
    listed = sevenzip.list_entries(seven, password=PASSWORD, cancel=None)
    assert {e.path for e in listed} >= {"My Files/notes.txt", "My Files/sub/noise.bin"}
    assert all(e.encrypted for e in listed if e.size)  # an empty file has no data to encrypt
    assert methods(zipped) <= {"AES-256 Deflate", "AES-256 Store"}  # zip: AES, names visible
    assert b"notes.txt" in zipped.read_bytes()


@pytest.mark.parametrize(("fmt", "stored"), [("zip", "Store"), ("7z", "Copy")])
def test_store_mode_for_incompressible_data_deflate_for_text(
    tmp_path: Path, fmt: str, stored: str
) -> None:
    noise = tmp_path / "noise" / "data"
    noise.mkdir(parents=True)
    for i in range(3):
        (noise / f"part{i}.bin").write_bytes(os.urandom(400_000))
    (noise / "readme.txt").write_bytes(text(50_000))  # a little text: most bytes are noise
    words = tmp_path / "words" / "data"
    words.mkdir(parents=True)
    (words / "log.txt").write_bytes(text(1_000_000))
    _, _, noisy = run_stage(tmp_path, noise, fmt=fmt)
    _, _, texty = run_stage(tmp_path, words, slot=1, fmt=fmt)
    assert methods(noisy) == {stored}
    assert methods(texty) & {"Copy", "Store"} == set()
    assert texty.stat().st_size < 500_000  # really compressed


def test_volumes_each_at_most_the_size_open_together(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "dl", noise=2_500_000)
    _, out, result = run_stage(tmp_path, folder, volume=MIB, fmt="7z")
    assert result == out / "My Files.7z" and result.is_dir()
    volumes = sorted(result.iterdir())
    assert [v.name for v in volumes] == [f"My Files.7z.00{i}" for i in (1, 2, 3)]
    assert all(v.stat().st_size <= MIB for v in volumes)
    assert volumes[0].stat().st_size == MIB
    got = extract(volumes[0], tmp_path / "x")  # 7-Zip opens the set from the first volume
    assert contents(got / "My Files") == contents(folder)


def test_zip_volumes_join_into_a_plain_zip(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "dl", noise=2_500_000)
    _, _, result = run_stage(tmp_path, folder, volume=MIB, fmt="zip", password=PASSWORD)
    volumes = sorted(result.iterdir())
    assert len(volumes) == 3 and all(v.stat().st_size <= MIB for v in volumes)
    joined = tmp_path / "joined.zip"
    joined.write_bytes(b"".join(v.read_bytes() for v in volumes))
    got = extract(joined, tmp_path / "x", PASSWORD)
    assert contents(got / "My Files") == contents(folder)


def test_one_volume_when_everything_fits_has_no_number(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "dl")
    _, out, result = run_stage(tmp_path, folder, volume=50_000_000, fmt="zip")
    assert result == out / "My Files.zip" and result.is_file()
    assert sorted(p.name for p in out.iterdir()) == ["My Files.zip"]
    assert contents(extract(result, tmp_path / "x") / "My Files") == contents(folder)


def test_the_password_never_reaches_a_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "big"
    folder.mkdir(parents=True)
    (folder / "log.txt").write_bytes(text(1_000_000) * 40)  # compressed: takes a while
    seen: list[bytes] = []
    done = threading.Event()

    def compress() -> None:
        try:
            run_stage(tmp_path, folder, fmt="7z", password=PASSWORD)
        finally:
            done.set()

    worker = threading.Thread(target=compress)
    worker.start()
    while not done.is_set():
        seen.extend(line for line in proctree.cmdlines() if b"big.7z" in line)
    worker.join()
    assert seen, "7-Zip was never seen running"
    assert not any(PASSWORD.encode() in line for line in seen)
    assert all(b"-p\0" in line for line in seen)  # -p without a value: read from stdin


def snapshot(root: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1)
            for p in root.rglob("*")}


def test_cancel_mid_compression_stops_within_a_second_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # 7-Zip must not put temp files there either
    folder = tmp_path / "dl" / "slow"
    folder.mkdir(parents=True)
    for i in range(4):  # ~4 s of 7z -mx=1 here: still running when the cancel comes
        (folder / f"log{i}.txt").write_bytes(text(1_000_000, seed=i) * 40)
    out = tmp_path / ".stage-0-compress"
    out.mkdir()
    before = snapshot(tmp_path)
    task = task_for(tmp_path, fmt="7z", password=PASSWORD)
    failure: list[BaseException] = []

    def compress() -> None:
        try:
            CompressStage(lambda _s: None).process(task, folder, out)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=compress)
    worker.start()
    wait_until(lambda: task.done > 0, 60, "7-Zip reported progress")
    asked = time.monotonic()
    task.cancel_event.set()
    worker.join(10 + childproc.STOP_GRACE)
    stopped_after = time.monotonic() - asked
    assert not worker.is_alive() and failure and isinstance(failure[0], TaskCancelled)
    assert stopped_after < 1.0 + 0.5  # one poll interval plus 7-Zip's exit; slack for load
    assert list(out.iterdir()) == []  # the half-written archive is gone
    assert snapshot(tmp_path) == before  # and nothing was written anywhere else
    assert list(temp.iterdir()) == []


def test_symlinks_are_stored_as_links_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"host secret")
    folder = tmp_path / "dl" / "linked"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "escape").symlink_to(secret)
    _, _, archive = run_stage(tmp_path, folder, fmt="zip")
    assert b"host secret" not in archive.read_bytes()
    (link,) = [e for e in sevenzip.list_entries(archive, password=None, cancel=None)
               if e.path.endswith("escape")]
    assert link.is_symlink and link.size == len(str(secret))


def test_a_fifo_is_refused_instead_of_hanging_7zip(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "odd"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "pipe")
    with pytest.raises(ProcessingError, match=r"cannot archive odd/pipe: not a file"):
        run_stage(tmp_path, folder, fmt="zip")
    assert list((tmp_path / ".stage-0-compress").iterdir()) == []


def test_format_and_name_rules() -> None:
    assert archive_format(None) == "zip" and archive_format("7Z") == "7z"
    with pytest.raises(BadInputError, match="-zf takes zip or 7z"):
        archive_format("rar")
    long = "é" * 200 + ".mkv"  # 404 bytes of UTF-8
    name = archive_name(long, "7z")
    assert name.endswith(".mkv.7z") and len((name + ".0001").encode()) <= 255
    assert archive_name("a", "zip") == "a.zip"


def test_progress_reaches_the_total(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "p"
    folder.mkdir(parents=True)
    (folder / "log.txt").write_bytes(text(3_000_000))
    task, _, archive = run_stage(tmp_path, folder, fmt="zip")
    assert task.total == 3_000_000 and task.done == 3_000_000
    assert hashlib.sha256(contents(extract(archive, tmp_path / "x"))["p/log.txt"]).digest() \
        == hashlib.sha256((folder / "log.txt").read_bytes()).digest()


def test_relative_task_folders_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DOWNLOAD_DIR may be relative, and 7-Zip runs in another folder than the bot."""
    make_tree(tmp_path / "downloads" / "g1")
    monkeypatch.chdir(tmp_path)
    workdir = Path("downloads") / "g1"
    for volume in (None, MIB):
        _, out, result = run_stage(workdir, workdir / "My Files", volume=volume,
                                   slot=1 if volume else 0, fmt="zip")
        assert out in result.parents and result.exists()
    assert not list(Path("downloads/g1/My Files").glob("*.zip*"))


def test_the_bots_stage_list_runs_compress_last_with_the_leech_sinks_live_part_size(
    tmp_path: Path,
) -> None:
    from telebot import plugins
    from telebot.config import Config
    from telebot.engine.pipeline import Pipeline
    from telebot.sinks.telegram import LeechSettings, TelegramSink

    config = Config(bot_token="1:x", owner_id=1, download_dir=tmp_path / "d",
                    mirror_dir=tmp_path / "m")
    sink = TelegramSink(LeechSettings.from_config(config), messenger=lambda: None)  # type: ignore[arg-type,return-value]
    services = plugins.Services(config, lambda: None, sink)  # type: ignore[arg-type,return-value]
    pipeline = Pipeline([], [], plugins.made(plugins.STAGES, services))
    spec = TaskSpec(kind="leech", source="http://x/y", chat_id=1, user_id=1, join=True,
                    extract=True, name_prefix="new-", compress=True, compress_format="7z")
    assert [s.name for s in pipeline.stages_for(spec)] == ["join", "extract", "rename",
                                                           "compress"]
    (stage,) = [s for s in pipeline.stages_for(spec) if s.name == "compress"]
    sink.default_part_size = MIB  # /bsetting LEECH_SPLIT_SIZE, changed live
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "a.bin").write_bytes(os.urandom(2_500_000))
    out = tmp_path / ".stage-3-compress"
    out.mkdir()
    result = stage.process(Task("g1", spec, tmp_path), tmp_path / "dl" / "a.bin", out)
    sizes = [v.stat().st_size for v in sorted(result.iterdir())]
    assert len(sizes) == 3 and max(sizes) == MIB
    mirror = TaskSpec(kind="mirror", source="http://x/y", chat_id=1, user_id=1, compress=True)
    (stage,) = pipeline.stages_for(mirror)
    out = tmp_path / ".stage-0-compress"
    out.mkdir()
    assert stage.process(Task("g2", mirror, tmp_path), tmp_path / "dl" / "a.bin", out).is_file()


def test_volumes_under_1_mib_are_refused_before_7zip_runs(tmp_path: Path) -> None:
    """/leech <1 GB> -z -sp 10 made 7-Zip write ~10^8 volumes of 10 bytes."""
    folder = make_tree(tmp_path / "dl", noise=300_000)
    with pytest.raises(BadInputError, match=r"^volumes \(-z\) are at least 1 MiB, and the "
                       r"part size here is 10 B: refused.*raise -sp"):
        run_stage(tmp_path, folder, volume=10)
    assert list((tmp_path / ".stage-0-compress").iterdir()) == []


def test_max_parts_applies_to_volumes_before_and_while_7zip_writes(tmp_path: Path) -> None:
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    (noisy / "a.bin").write_bytes(os.urandom(5 * MIB))  # store mode: five volumes, known now
    out = tmp_path / ".stage-0-compress"
    out.mkdir()
    stage = CompressStage(lambda _spec: MIB, max_parts=3)
    began = time.monotonic()
    with pytest.raises(BadInputError, match=r"more than 3 volumes \(-z\) of 1\.0 MiB; the most "):
        stage.process(task_for(tmp_path), noisy, out)
    assert time.monotonic() - began < 2 and list(out.iterdir()) == []
    # Mostly text: compressed, so only the volumes 7-Zip writes can tell.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.bin").write_bytes(os.urandom(5 * MIB))
    (mixed / "log.txt").write_bytes(text(8 * MIB))
    with pytest.raises(BadInputError, match=r"more than 3 volumes"):
        stage.process(task_for(tmp_path), mixed, out)
    assert list(out.iterdir()) == []
