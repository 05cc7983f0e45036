"""The -e stage against real archives: formats, volumes, folders, passwords, hostile entries,
bombs, cancel and nesting (unit level: a Task with a real workdir, the real 7-Zip)."""

from __future__ import annotations

import bz2
import os
import shutil
import subprocess
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from telebot.errors import SecurityError, TaskCancelled
from telebot.processing import sevenzip
from telebot.processing.archivecheck import LimitExceeded, Limits, remove_links_out, tree_usage
from telebot.processing.extract import NOTHING, ExtractStage
from tests.polling import wait_until
from tests.processing.archive_helpers import (
    PASSWORD,
    Watcher,
    cmdlines,
    fresh_out,
    make_7z_archive,
    make_tar,
    make_task,
    member,
    source_folder,
    tar_with,
    tree,
    zip_with,
)

pytestmark = pytest.mark.skipif(sevenzip.find() is None, reason="7-Zip is not installed")
STAGE = ExtractStage(Limits())


def extract(tmp_path: Path, archive: Path, stage: ExtractStage = STAGE, **spec: object):
    task = make_task(tmp_path, **spec)
    out = fresh_out(task)
    return task, out, stage.process(task, archive, out)


@pytest.mark.parametrize(
    "name",
    ["a.zip", "a.7z", "a.tar", "a.tar.gz", "a.tgz", "a.tar.bz2", "a.tar.xz", "a.tar.zst"],
)
def test_each_format_round_trips_into_a_folder_named_after_it(tmp_path: Path, name: str) -> None:
    src = source_folder(tmp_path)
    if name.endswith((".zip", ".7z")):
        archive = make_7z_archive(tmp_path, name, src)
    elif name.endswith(".zst"):
        if shutil.which("zstd") is None:
            pytest.skip("zstd is not installed")
        plain = make_tar(tmp_path, "a.tar", src, "w")
        subprocess.run(["zstd", "-q", "--rm", str(plain), "-o", str(tmp_path / name)], check=True)
        archive = tmp_path / name
    else:
        mode = {"gz": "w:gz", "tgz": "w:gz", "bz2": "w:bz2", "xz": "w:xz"}.get(
            name.rsplit(".", 1)[1], "w"
        )
        archive = make_tar(tmp_path, name, src, mode)
    task, out, result = extract(tmp_path, archive)
    assert result == out / "a"
    assert tree(result) == tree(src)
    assert task.done == task.total == archive.stat().st_size
    assert "extracted 1 archive: 2 files" in task.warnings


def test_a_multi_volume_7z_set_is_read_through_its_first_volume(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(300_000))
    vols = tmp_path / "vols"
    vols.mkdir()
    make_7z_archive(vols, "set.7z", src, "-mx=0", "-v100k")
    assert sorted(p.name for p in vols.iterdir()) == [f"set.7z.00{i}" for i in range(1, 4)]
    (vols / "readme.txt").write_bytes(b"kept")
    task, out, result = extract(tmp_path, vols)
    assert result == out / "vols"
    assert tree(result) == {
        "readme.txt": b"kept", "set": None, "set/big.bin": (src / "big.bin").read_bytes(),
    }
    assert task.total == sum(p.stat().st_size for p in vols.glob("set.7z.*"))


@pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP zip is not installed")
def test_a_split_zip_with_z01_parts_is_one_archive(tmp_path: Path) -> None:
    vols = tmp_path / "vols"
    vols.mkdir()
    (tmp_path / "big.bin").write_bytes(os.urandom(200_000))
    subprocess.run(["zip", "-q", "-0", "-s", "64k", str(vols / "s.zip"), "big.bin"],
                   cwd=tmp_path, check=True)
    assert (vols / "s.z01").exists()
    _task, _out, result = extract(tmp_path, vols)
    assert tree(result) == {"s": None, "s/big.bin": (tmp_path / "big.bin").read_bytes()}


def test_a_folder_keeps_its_shape_archives_become_folders_other_files_pass(
    tmp_path: Path,
) -> None:
    src = source_folder(tmp_path)
    folder = tmp_path / "download"
    (folder / "deep").mkdir(parents=True)
    make_7z_archive(folder / "deep", "x.zip", src)
    make_tar(folder, "x.tar.gz", src, "w:gz")
    (folder / "x").write_bytes(b"a file where the tar's folder would go")
    (folder / "notes.txt").write_bytes(b"n")
    task, _out, result = extract(tmp_path, folder)
    got = tree(result)
    assert got["notes.txt"] == b"n" and got["x"] == b"a file where the tar's folder would go"
    assert got["deep/x/sub/b.bin"] == got["x (2)/sub/b.bin"] == (src / "sub/b.bin").read_bytes()
    assert "deep/x.zip" not in got and "x.tar.gz" not in got
    assert "extracted 2 archives: 4 files" in task.warnings


def test_a_result_without_archives_passes_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "movie.mkv").write_bytes(b"frames")
    task, out, result = extract(tmp_path, tmp_path / "movie.mkv")
    assert result == out / "movie.mkv" and result.read_bytes() == b"frames"
    assert task.warnings == [NOTHING]


def test_right_password_extracts_and_never_reaches_a_command_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(os.urandom(1 << 20) * 48)
    # Stored (-mx=0), encrypted: 7-Zip's LZMA2 stores random data uncompressed anyway, so the
    # extraction is the same work, and making it took 7 CPU-s of match-finding (-mx=1).
    archive = make_7z_archive(tmp_path, "locked.7z", src, "-mx=0", password=PASSWORD)
    with Watcher() as watcher:
        _task, _out, result = extract(tmp_path, archive, extract_password=PASSWORD)
    assert (result / "data.bin").read_bytes() == (src / "data.bin").read_bytes()
    assert any(b"locked.7z" in line for line in watcher.seen), "7-Zip was never seen running"
    assert not any(PASSWORD.encode() in line for line in watcher.seen)


@pytest.mark.parametrize("name", ["locked.7z", "locked.zip"])
def test_wrong_and_missing_passwords_are_one_clear_error(tmp_path: Path, name: str) -> None:
    src = source_folder(tmp_path)
    archive = make_7z_archive(tmp_path, name, src, password=PASSWORD)
    task = make_task(tmp_path, extract_password="not it")
    out = fresh_out(task)
    with pytest.raises(sevenzip.WrongPassword, match=r"^wrong password$"):
        ExtractStage(Limits()).process(task, archive, out)
    assert list(out.iterdir()) == []  # zip leaves 0-byte files behind: removed
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(sevenzip.PasswordNeeded, match="give its password"):
        extract(again, archive)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [("../evil.txt", "parent reference"), ("a/../../evil.txt", "parent reference"),
     ("/tmp/evil.txt", "absolute path"), ("C:\\evil.txt", "drive letter")],
)
def test_zip_traversal_refuses_the_whole_archive(tmp_path: Path, entry: str, reason: str) -> None:
    archive = zip_with(tmp_path, "slip.zip", {entry: b"pwned"})
    task = make_task(tmp_path)
    out = fresh_out(task)
    with pytest.raises(SecurityError, match=reason):
        STAGE.process(task, archive, out)
    assert list(out.iterdir()) == []
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil-abs.txt"])
def test_tar_traversal_refuses_the_whole_archive(tmp_path: Path, name: str) -> None:
    archive = tar_with(tmp_path, "slip.tar", member(name, tarfile.REGTYPE, size=5), data=b"pwned")
    task = make_task(tmp_path)
    out = fresh_out(task)
    with pytest.raises(SecurityError, match="refused"):
        STAGE.process(task, archive, out)
    assert list(out.iterdir()) == []
    assert not Path("/tmp/evil-abs.txt").exists()


def test_links_out_devices_and_fifos_are_skipped_with_a_note(tmp_path: Path) -> None:
    archive = tar_with(
        tmp_path, "hostile.tar",
        member("sym-out", tarfile.SYMTYPE, "../../../etc/passwd"),
        member("sym-abs", tarfile.SYMTYPE, "/etc/passwd"),
        member("sub/sym-in", tarfile.SYMTYPE, "../ok.txt"),
        member("hard-in", tarfile.LNKTYPE, "ok.txt"),
        member("hard-out", tarfile.LNKTYPE, "../outside"),
        member("tty", tarfile.CHRTYPE),
        member("pipe", tarfile.FIFOTYPE),
    )
    task, _out, result = extract(tmp_path, archive)
    got = {p.relative_to(result).as_posix(): p for p in result.rglob("*")}
    assert set(got) == {"ok.txt", "sub", "sub/sym-in", "hard-in"}
    assert os.readlink(got["sub/sym-in"]) == "../ok.txt"
    assert got["hard-in"].read_bytes() == b"fine"
    notes = "\n".join(task.warnings)
    for name in ("sym-out", "sym-abs", "hard-out", "tty", "pipe"):
        assert name in notes
    assert "special file: tty" in notes and "hard link pointing outside: hard-out" in notes


def test_zip_symlinks_are_skipped_as_their_target_is_not_listed(tmp_path: Path) -> None:
    archive = zip_with(tmp_path, "links.zip", {"d/x.txt": b"x"}, links={"d/out": "/etc/passwd"})
    task, _out, result = extract(tmp_path, archive)
    assert tree(result) == {"d": None, "d/x.txt": b"x", "ok.txt": b"fine"}
    assert "skipped symbolic link d/out" in task.warnings


def test_a_symlink_pointing_outside_is_removed_after_extraction(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "up").symlink_to("../../..")
    (root / "sub" / "in").symlink_to("../sub")
    (root / "abs").symlink_to("/etc")
    notes = remove_links_out(root)
    assert sorted(p.name for p in root.rglob("*")) == ["in", "sub"]
    assert len(notes) == 2


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 GiB of zeros deflated into about 4.5 MB (zlib level 1 takes about a second)."""
    archive = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zeros = b"\0" * (1 << 20)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("zeros.bin", "w", force_zip64=True) as f:
        for _ in range(1024):
            f.write(zeros)
    assert archive.stat().st_size < 8 << 20
    return archive


def test_a_zip_bomb_is_refused_from_its_declared_size_before_writing(
    tmp_path: Path, zip_bomb: Path
) -> None:
    task = make_task(tmp_path)
    out = fresh_out(task)
    began = time.monotonic()
    with pytest.raises(LimitExceeded, match="EXTRACT_MAX_RATIO"):
        ExtractStage(Limits(ratio_floor=100 << 20)).process(task, zip_bomb, out)
    assert time.monotonic() - began < 10
    assert list(out.iterdir()) == []


def test_a_bomb_whose_size_is_not_declared_is_stopped_while_7zip_writes(tmp_path: Path) -> None:
    # bzip2 stores no size: the listing says nothing, so only watching the output can stop it.
    archive = tmp_path / "zeros.bin.bz2"
    archive.write_bytes(bz2.compress(b"\0" * (16 << 20), 9) * 64)  # 1 GiB in under 3 KB
    task = make_task(tmp_path)
    out = fresh_out(task)
    stage = ExtractStage(Limits(max_ratio=20_000, ratio_floor=0))  # about 60 MB
    began = time.monotonic()
    with pytest.raises(LimitExceeded, match="EXTRACT_MAX_RATIO"):
        stage.process(task, archive, out)
    took = time.monotonic() - began
    assert took < 3, f"stopped after {took:.1f}s: 7-Zip writes all 1 GiB in about 4.5 s"
    assert list(out.iterdir()) == []
    wait_until(lambda: not any(b"zeros.bin.bz2" in c for c in cmdlines()), 5, "7-Zip exited")


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_too_many_entries_stop_the_extraction(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        (src / f"f{i}").write_bytes(b"x")
    archive = (make_7z_archive(tmp_path, "many.zip", src) if fmt == "zip"
               else make_tar(tmp_path, "many.tar", src, "w"))
    task = make_task(tmp_path)
    out = fresh_out(task)
    with pytest.raises(LimitExceeded, match=r"EXTRACT_MAX_FILES \(10\)"):
        ExtractStage(Limits(max_files=10)).process(task, archive, out)
    assert list(out.iterdir()) == []


def test_the_disk_reserve_is_kept(tmp_path: Path) -> None:
    archive = make_7z_archive(tmp_path, "a.7z", source_folder(tmp_path))
    task = make_task(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(LimitExceeded, match="disk would have less than"):
        ExtractStage(Limits(min_free=free + (1 << 30))).process(task, archive, fresh_out(task))


def test_cancel_stops_7zip_within_a_second_and_removes_the_output(tmp_path: Path) -> None:
    archive = tmp_path / "zeros.bin.bz2"  # 1 GiB of zeros: 7-Zip needs about 4.5 s for it
    archive.write_bytes(bz2.compress(b"\0" * (16 << 20), 9) * 64)
    task = make_task(tmp_path)
    out = fresh_out(task)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            ExtractStage(Limits(max_ratio=1e9)).process(task, archive, out)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_until(lambda: tree_usage(out)[0] > 0, 30, "7-Zip writing")
    asked = time.monotonic()
    task.cancel("cancelled by the user")
    worker.join(10)
    assert time.monotonic() - asked < 1.0
    assert failure and isinstance(failure[0], TaskCancelled), failure
    assert list(out.iterdir()) == []
    wait_until(lambda: not any(b"zeros.bin.bz2" in c for c in cmdlines()), 5, "7-Zip exited")


def test_cancel_stops_a_tar_extraction(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(1 << 20) * 8)
    archive = make_tar(tmp_path, "big.tar", src, "w")
    task = make_task(tmp_path)
    task.cancel("cancelled by the user")
    out = fresh_out(task)
    with pytest.raises(TaskCancelled):
        STAGE.process(task, archive, out)
    assert list(out.iterdir()) == []


def test_nested_archives_are_extracted_once_not_forever(tmp_path: Path) -> None:
    level3 = tmp_path / "l3"
    level3.mkdir()
    (level3 / "deepest.txt").write_bytes(b"3")
    level2 = tmp_path / "l2"
    level2.mkdir()
    make_7z_archive(level2, "inner2.zip", level3)
    (level2 / "two.txt").write_bytes(b"2")
    level1 = tmp_path / "l1"
    level1.mkdir()
    make_tar(level1, "inner1.tar.gz", level2, "w:gz")
    archive = make_7z_archive(tmp_path, "outer.7z", level1)
    task, _out, result = extract(tmp_path, archive)
    got = tree(result)
    assert got["inner1/two.txt"] == b"2"
    assert "inner1/inner2.zip" in got and "inner1/inner2" not in got  # one level, no more
    assert "inner1.tar.gz" not in got
    assert "extracted 2 archives: 2 files" in task.warnings


def test_a_damaged_nested_archive_is_kept_with_a_note(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    archive = make_7z_archive(tmp_path, "outer.zip", inner)
    task, _out, result = extract(tmp_path, archive)
    assert (result / "broken.zip").read_bytes() == b"PK\x03\x04 not really"
    assert any(w.startswith("kept broken.zip as it is") for w in task.warnings)
