"""RAR through unar/lsar in the -e stage (unit level: a Task with a real workdir, the real
unar; fixtures from libarchive's test suite, tests/fixtures/rar/README.md)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from telebot.errors import ProcessingError, SecurityError
from telebot.processing import unar
from telebot.processing.archivecheck import LimitExceeded, Limits
from telebot.processing.extract import ExtractStage
from telebot.processing.sevenzip import PasswordNeeded, WrongPassword
from tests.processing.archive_helpers import Watcher, fresh_out, make_task, tree
from tests.processing.rar_helpers import (
    PASSWORD,
    PASSWORD5,
    STORED4,
    STORED5,
    VOLUME5_FILES,
    fixture,
    huge_dictionary_rar5,
    renamed_rar5,
)

pytestmark = pytest.mark.skipif(unar.find() is None, reason="unar is not installed")
STAGE = ExtractStage(Limits())


def extract(tmp_path: Path, archive: Path, stage: ExtractStage = STAGE, **spec: object):
    tmp_path.mkdir(parents=True, exist_ok=True)
    task = make_task(tmp_path, **spec)
    out = fresh_out(task)
    return task, out, stage.process(task, archive, out)


def files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if v is not None}


@pytest.mark.parametrize(("name", "expected"), [
    ("rar5-stored.rar", STORED5),
    ("rar4-stored.rar", STORED4),
    ("rar5-compressed.rar", {"test.bin": 1200}),
    ("rar4-compressed.rar", {"lowdist-reset.bin": 64}),
])
def test_rar4_and_rar5_stored_and_compressed_extract(
    tmp_path: Path, name: str, expected: dict[str, object]
) -> None:
    archive = fixture(name, tmp_path / "in")
    task, out, result = extract(tmp_path, archive)
    assert result == out / name.removesuffix(".rar")
    got = files(result)
    assert {k: (v if isinstance(expected[k], bytes) else len(v)) for k, v in got.items()} \
        == expected
    assert task.warnings[0] == f"extracted 1 archive: {len(expected)} file" + (
        "s" if len(expected) != 1 else "")
    assert sorted(os.listdir(out)) == [result.name], "no helper folder is left behind"


def test_links_in_a_rar_are_skipped_with_a_note(tmp_path: Path) -> None:
    task, _out, result = extract(tmp_path, fixture("rar5-links.rar", tmp_path / "in"))
    assert tree(result) == {"dir": None, "file.txt": b"1234\n"}
    assert not [p for p in result.rglob("*") if p.is_symlink()]
    notes = "\n".join(task.warnings)
    assert "skipped symbolic link symlink.txt" in notes and "skipped symbolic link dirlink" in notes
    task, _out, result = extract(tmp_path / "h", fixture("rar5-hardlink.rar", tmp_path / "h"))
    assert tree(result) == {"file.txt": b"1234\n"}
    assert "skipped hard link hardlink.txt" in "\n".join(task.warnings)
    task, _out, result = extract(tmp_path / "4", fixture("rar4-stored.rar", tmp_path / "4"))
    assert "skipped symbolic link testlink" in "\n".join(task.warnings)
    assert not (result / "testlink").exists() and (result / "testemptydir").is_dir()


@pytest.mark.parametrize(("pattern", "stem"), [("vol5.part*.rar", "vol5"),
                                                ("single4.part*.rar", "single4")])
def test_a_volume_set_in_a_folder_becomes_one_folder(
    tmp_path: Path, pattern: str, stem: str
) -> None:
    folder = tmp_path / "in" / "download"
    fixture(pattern, folder)
    (folder / "notes.txt").write_bytes(b"kept")
    task, _out, result = extract(tmp_path, folder)
    assert sorted(os.listdir(result)) == ["notes.txt", stem], "later volumes are dropped"
    got = files(result / stem)
    if stem == "vol5":
        assert {k: len(v) for k, v in got.items()} == VOLUME5_FILES
    else:
        assert {k: len(v) for k, v in got.items()} == {"LibarchiveAddingTest.html": 20_111}
    assert task.warnings[0].startswith("extracted 1 archive")


def test_names_that_look_like_volumes_are_each_only_themselves(tmp_path: Path) -> None:
    # lsar alone read show.s01e02.rar as the 2nd volume of show.s01e01.rar and listed and
    # extracted the first one's content instead of its own.
    folder = tmp_path / "in" / "season"
    fixture("rar5-stored.rar", folder, "show.s01e01.rar")
    fixture("rar5-compressed.rar", folder, "show.s01e02.rar")
    _task, _out, result = extract(tmp_path, folder)
    assert files(result / "show.s01e01") == STORED5
    assert {k: len(v) for k, v in files(result / "show.s01e02").items()} == {"test.bin": 1200}


def test_a_password_opens_a_rar5_and_never_reaches_a_command_line(tmp_path: Path) -> None:
    archive = fixture("rar5-password.rar", tmp_path / "in", "locked.rar")
    with Watcher() as watcher:
        _task, _out, result = extract(tmp_path, archive, extract_password=PASSWORD)
    assert files(result) == PASSWORD5
    # Every process that runs unar or lsar: the tools, and the sandbox step before them.
    tools = [line.replace(str(tmp_path).encode(), b"TMP") for line in watcher.seen
             if b"/unar\0" in line or b"/lsar\0" in line]
    assert any(line.split(b"\0")[0].endswith(b"unar") for line in tools), "unar never seen"
    assert not [line for line in tools if PASSWORD.encode() in line or b"\0-p\0" in line]


def test_missing_and_wrong_passwords_are_one_clear_line(tmp_path: Path) -> None:
    archive = fixture("rar5-password.rar", tmp_path / "in")
    with pytest.raises(PasswordNeeded):
        extract(tmp_path / "a", archive)
    with pytest.raises(WrongPassword):
        extract(tmp_path / "b", archive, extract_password="not it")


def test_rar4_encryption_says_what_unar_cannot_do(tmp_path: Path) -> None:
    archive = fixture("rar4-password.rar", tmp_path / "in")
    with pytest.raises(ProcessingError, match="RAR4 encryption"):
        extract(tmp_path, archive, extract_password=PASSWORD)


def test_names_hidden_behind_the_password_are_refused_with_the_reason(tmp_path: Path) -> None:
    archive = fixture("rar5-hidden-names.rar", tmp_path / "in")
    with pytest.raises(unar.HiddenNames, match="hides its file names"):
        extract(tmp_path, archive, extract_password=PASSWORD)


@pytest.mark.parametrize(("name", "reason"), [
    ("../escaped.txt", "a parent reference"),
    ("/tmp/evil1.txt", "an absolute path"),
    ("ok/../../x.txt", "a parent reference"),
])
def test_hostile_names_refuse_the_whole_rar(tmp_path: Path, name: str, reason: str) -> None:
    source = fixture("rar5-stored.rar", tmp_path / "orig")
    archive = tmp_path / "in" / "evil.rar"
    archive.parent.mkdir()
    archive.write_bytes(renamed_rar5(source, "helloworld.txt", name))
    with pytest.raises(SecurityError, match=reason) as caught:
        extract(tmp_path, archive)
    assert "nothing was extracted" in str(caught.value)
    assert os.listdir(tmp_path / "work" / ".stage-0-extract") == []
    assert not Path("/tmp/evil1.txt").exists() and not (tmp_path / "in" / "escaped.txt").exists()


def test_too_many_entries_stop_the_listing(tmp_path: Path) -> None:
    stage = ExtractStage(Limits(max_files=2))
    with pytest.raises(LimitExceeded, match="EXTRACT_MAX_FILES"):
        extract(tmp_path, fixture("rar4-stored.rar", tmp_path / "in"), stage)


def test_a_missing_unar_is_one_line_naming_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ProcessingError, match="apt install unar"):
        extract(tmp_path, fixture("rar5-stored.rar", tmp_path / "in"))


def test_the_listing_is_parsed_as_it_streams_one_byte_at_a_time() -> None:
    parser = unar._StreamedArray("lsarContents")
    text = (b'{"lsarFormatVersion": 2, "lsarContents": [ {"XADFileName": "a]\\"b", '
            b'"XADIndex": 0}, {"XADFileName": "c", "XADIndex": 1} ], "lsarError": 3}')
    got = [item for i in range(len(text)) for item in parser.feed(text[i:i + 1])]
    assert [g["XADFileName"] for g in got] == ['a]"b', "c"]
    assert parser.complete and parser.trailer_int("lsarError") == 3


def test_one_endless_entry_is_refused_not_buffered() -> None:
    parser = unar._StreamedArray("lsarContents")
    list(parser.feed(b'{"lsarContents": [ {"XADFileName": "'))
    with pytest.raises(ProcessingError, match="too large"):
        for _ in range(unar.MAX_ENTRY_JSON // 65536 + 2):
            list(parser.feed(b"x" * 65536))


def test_a_cancelled_listing_stops_lsar(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    archive = fixture("rar5-stored.rar", tmp_path)
    from telebot import sandbox
    from telebot.errors import TaskCancelled
    with pytest.raises(TaskCancelled):
        list(unar.list_entries(archive, max_entries=10, cancel=cancel,
                               box=sandbox.for_stage(tmp_path, tmp_path)))


def test_lsar_runs_in_its_box_and_reads_nothing_else(tmp_path: Path) -> None:
    from telebot import sandbox

    if not sandbox.status().on:
        pytest.skip("no Landlock here: the box has no walls to show")
    archive = fixture("rar5-stored.rar", tmp_path / "in")
    inside = sandbox.Box(readable=(archive.parent,))
    assert [e.path for e in unar.list_entries(archive, max_entries=10, cancel=None,
                                              box=inside)] == ["helloworld.txt"]
    elsewhere = sandbox.Box(readable=(tmp_path / "other",))
    (tmp_path / "other").mkdir()
    with pytest.raises(ProcessingError, match="could not read"):
        list(unar.list_entries(archive, max_entries=10, cancel=None, box=elsewhere))


def test_a_rar_asking_for_more_memory_than_its_box_fails_naming_the_limit(tmp_path: Path) -> None:
    archive = tmp_path / "in" / "big.rar"
    archive.parent.mkdir()
    archive.write_bytes(huge_dictionary_rar5(fixture("rar5-compressed.rar", tmp_path / "o")))
    with pytest.raises(ProcessingError, match="memory limit of its box"):
        extract(tmp_path, archive)


def test_an_old_style_rar_set_is_one_archive_and_its_parts_are_not_passed_on(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in" / "download"
    for part, name in (("1", "old.rar"), ("2", "old.r00"), ("3", "old.r01")):
        fixture(f"single4.part{part}.rar", folder, name)
    _task, _out, result = extract(tmp_path, folder)
    assert sorted(os.listdir(result)) == ["old"], "x.r00 and x.r01 were read through x.rar"
    assert {k: len(v) for k, v in files(result / "old").items()} \
        == {"LibarchiveAddingTest.html": 20_111}


def test_relative_folders_work_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bot's DOWNLOAD_DIR is relative by default, and unar runs in the archive's folder.
    fixture("rar5-stored.rar", tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    task = make_task(Path("."))
    out = fresh_out(task)
    result = STAGE.process(task, Path("in") / "rar5-stored.rar", out)
    assert not result.is_absolute() and files(result) == STORED5
