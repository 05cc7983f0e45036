"""The 7-Zip boundary, against the real binary: finding it, passwords, failures, cancel, names."""

from __future__ import annotations

import os
import shutil
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from telebot import childproc
from telebot.errors import ProcessingError, TaskCancelled
from telebot.processing import sevenzip
from tests.polling import wait_until
from tests.processing.archive_helpers import cmdlines, empty_files_7z

BINARY = sevenzip.find()
pytestmark = pytest.mark.skipif(BINARY is None, reason="7-Zip (7zz or 7z) is not installed")
PASSWORD = "s3cret-Pass phrase"


def make_7z(tmp_path: Path, name: str, payload: bytes, password: str | None = None) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "data.bin").write_bytes(payload)
    archive = tmp_path / name
    args = ["a", "-mx=0", *(["-p", "-mhe=on"] if password else []), "--", str(archive), "data.bin"]
    sevenzip.run(args, password=password, cancel=None, cwd=src)
    return archive


def test_found_under_either_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert BINARY is not None
    for name in sevenzip.BINARIES:
        folder = tmp_path / name
        folder.mkdir()
        (folder / name).symlink_to(BINARY)
        monkeypatch.setenv("PATH", str(folder))
        assert sevenzip.find() == str(folder / name)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ProcessingError, match="not installed"):
        sevenzip.require()


def test_password_right_wrong_and_missing(tmp_path: Path) -> None:
    archive = make_7z(tmp_path, "locked.7z", b"abc" * 1000, PASSWORD)
    (entry,) = sevenzip.list_entries(archive, password=PASSWORD, cancel=None)
    assert (entry.path, entry.size, entry.encrypted) == ("data.bin", 3000, True)
    with pytest.raises(sevenzip.WrongPassword, match=r"^wrong password$"):
        sevenzip.list_entries(archive, password="nope", cancel=None)
    with pytest.raises(sevenzip.PasswordNeeded):
        sevenzip.list_entries(archive, password=None, cancel=None)


def test_the_password_never_reaches_a_command_line(tmp_path: Path) -> None:
    archive = make_7z(tmp_path, "big.7z", os.urandom(1 << 20) * 64, PASSWORD)
    seen: list[bytes] = []
    done = threading.Event()

    def extract() -> None:
        try:
            sevenzip.run(
                ["x", "-y", f"-o{tmp_path / 'out'}", "--", str(archive)],
                password=PASSWORD, cancel=None, on_percent=lambda _p: None,
            )
        finally:
            done.set()

    worker = threading.Thread(target=extract)
    worker.start()
    while not done.is_set():  # look while 7-Zip runs, as often as we can
        seen.extend(line for line in cmdlines() if b"big.7z" in line)
    worker.join()
    assert seen, "7-Zip was never seen running"
    assert not any(PASSWORD.encode() in line for line in seen)
    assert (tmp_path / "out" / "data.bin").stat().st_size == 64 << 20


def test_cancel_stops_7zip_within_a_second(tmp_path: Path) -> None:
    archive = make_7z(tmp_path, "slow.7z", b"\0" * (1 << 20))
    cancel = threading.Event()
    started = threading.Event()
    big = tmp_path / "big"
    big.mkdir()
    for i in range(4):
        (big / f"f{i}").write_bytes(os.urandom(1 << 20) * 64)
    failure: list[BaseException] = []

    def compress() -> None:
        try:
            sevenzip.run(
                ["a", "-mx=9", "--", str(tmp_path / "slow2.7z"), "big"],
                password=None, cancel=cancel, cwd=tmp_path,
                on_percent=lambda _p: started.set(),
            )
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=compress)
    worker.start()
    assert started.wait(30), "7-Zip reported no progress"
    asked = time.monotonic()
    cancel.set()
    worker.join(10)
    stopped_after = time.monotonic() - asked
    assert not worker.is_alive() and failure and isinstance(failure[0], TaskCancelled)
    assert stopped_after < 1 + childproc.STOP_GRACE  # a generous bound: 7-Zip obeys SIGTERM
    assert archive.exists()
    wait_until(lambda: not any(b"slow2.7z" in line for line in cmdlines()), 5, "7-Zip exited")


def test_names_with_wildcards_and_dashes_are_only_themselves(tmp_path: Path) -> None:
    archive = make_7z(tmp_path, "-a*.7z", b"one")
    shutil.copy(make_7z(tmp_path, "other.7z", b"two"), tmp_path / "-aXX.7z")
    entries = sevenzip.list_entries(archive, password=None, cancel=None)
    assert [e.path for e in entries] == ["data.bin"]
    out = tmp_path / "out"
    sevenzip.run(["x", "-y", f"-o{out}", "--", str(archive)], password=None, cancel=None)
    assert (out / "data.bin").read_bytes() == b"one"


def test_a_damaged_archive_is_a_processing_error_naming_7zips_reason(tmp_path: Path) -> None:
    archive = tmp_path / "broken.7z"
    archive.write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 100)
    with pytest.raises(ProcessingError, match=r"^7-Zip failed: "):
        sevenzip.run(["x", "-y", f"-o{tmp_path}", "--", str(archive)], password=None, cancel=None)


def test_symlinks_are_recognised_in_zip_and_tar_listings(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
        zf.writestr("plain", "x")
    with tarfile.open(tmp_path / "l.tar", "w") as tf:
        member = tarfile.TarInfo("link")
        member.type, member.linkname = tarfile.SYMTYPE, "../../outside"
        tf.addfile(member)
    listed = sevenzip.list_entries(tmp_path / "l.zip", password=None, cancel=None)
    zipped = {e.path: e.is_symlink for e in listed}
    tarred = sevenzip.list_entries(tmp_path / "l.tar", password=None, cancel=None)
    assert zipped == {"link": True, "plain": False}
    assert [(e.path, e.is_symlink, e.link) for e in tarred] == [("link", True, "../../outside")]


def test_the_listing_streams_and_closing_it_early_stops_7zip(tmp_path: Path) -> None:
    """Entries arrive while 7-Zip still lists (nothing is buffered whole), and a consumer that
    stops (EXTRACT_MAX_FILES passed) stops 7-Zip."""
    import contextlib

    archive = tmp_path / "many-entries.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(50_000):
            zf.writestr(f"dir/file-{i:05d}.txt", b"")
    with contextlib.closing(sevenzip.iter_entries(archive, password=None, cancel=None)) as it:
        first = [next(it) for _ in range(3)]
        assert any(b"many-entries.zip" in line for line in cmdlines()), "7-Zip already exited"
    assert [e.path for e in first] == [f"dir/file-{i:05d}.txt" for i in range(3)]
    wait_until(lambda: not any(b"many-entries.zip" in line for line in cmdlines()), 5,
               "7-Zip stopped")
    assert len(sevenzip.list_entries(archive, password=None, cancel=None)) == 50_000


def test_7zip_reads_the_hand_written_archive_of_empty_files(tmp_path: Path) -> None:
    """archive_helpers.empty_files_7z (tests/e2e/test_extract.py's 200,000 empty files) is a
    7z that 7-Zip lists, tests and extracts: every name, every file empty, no folder."""
    archive = tmp_path / "empty.7z"
    archive.write_bytes(empty_files_7z(1003))  # not a multiple of 8: a partial last bit byte
    names = [f"f{i:06d}" for i in range(1003)]
    entries = sevenzip.list_entries(archive, password=None, cancel=None)
    assert [(e.path, e.size, e.is_dir, e.attributes) for e in entries] == [
        (n, 0, False, "A -rw-------") for n in names
    ]
    sevenzip.run(["t", "--", str(archive)], password=None, cancel=None)
    out = tmp_path / "out"
    sevenzip.run(["x", "-y", f"-o{out}", "--", str(archive)], password=None, cancel=None)
    assert sorted(p.name for p in out.iterdir()) == names
    assert all(p.is_file() and p.stat().st_size == 0 for p in out.iterdir())
    assert {p.stat().st_mtime for p in out.iterdir()} == {1_767_225_600}  # 2026-01-01
