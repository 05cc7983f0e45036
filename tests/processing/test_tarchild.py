"""Hostile tar archives against the extract stage and its boxed tar child: links already on disk
(a chain past PATH_MAX, ``lll/..`` where ``lll`` is a link, hard links through them), loops,
extension headers too big to read, and the child's own memory.

Most tests go through :class:`ExtractStage` (the public contract), so they ran against the
in-process ``tarfile`` extraction too, and failed there."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from telebot.errors import ProcessingError, TelebotError
from telebot.processing import sevenzip
from telebot.processing.archivecheck import Limits
from telebot.processing.extract import ExtractStage
from tests.processing.archive_helpers import fresh_out, make_task, tree

pytestmark = pytest.mark.skipif(sevenzip.find() is None, reason="7-Zip is not installed")
STAGE = ExtractStage(Limits())
STEPS = "abcdefghijklmnop"


def add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, link: str = "",
        data: bytes = b"") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    tar.addfile(info, io.BytesIO(data) if data else None)


def chain_archive(path: Path, dest: Path, climb: str, *, extra: list[tuple[str, bytes, str]]
                  ) -> Path:
    """The CVE-2025-4517 shape, sized for ``dest``: 16 links ``a``..``p`` each to a folder whose
    name is long enough that the chain, expanded, passes PATH_MAX (so ``os.path.realpath`` stops
    expanding it and judges the rest by name), a link ``llll`` climbing back to ``dest``, then
    ``escape`` → ``llll`` + ``climb``, then the ``extra`` members (name, type, link or data)."""
    comp = "d" * ((4096 - len(os.path.realpath(dest)) - 1) // (len(STEPS) + 1))
    with tarfile.open(path, "w") as tar:
        folder = ""
        for step in STEPS:
            add(tar, os.path.join(folder, comp), tarfile.DIRTYPE)
            add(tar, os.path.join(folder, step), tarfile.SYMTYPE, comp)
            folder = os.path.join(folder, comp)
        linkpath = os.path.join(*STEPS, "l" * 254)
        add(tar, linkpath, tarfile.SYMTYPE, os.path.join(*[".."] * len(STEPS)))
        add(tar, "escape", tarfile.SYMTYPE, os.path.join(linkpath, climb))
        for name, kind, value in extra:
            if kind == tarfile.REGTYPE:
                add(tar, name, data=value.encode())
            else:
                add(tar, name, kind, value)
    return path


def run_stage(tmp_path: Path, archive: Path) -> tuple[list[str], Path]:
    task = make_task(tmp_path)
    out = fresh_out(task)
    result = STAGE.process(task, archive, out)
    return task.warnings, result


def test_a_link_chain_past_path_max_cannot_redirect_a_write(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    out = fresh_out(task)
    victim = tmp_path / "victim"  # beside the task folder, where escape/.. lands
    victim.mkdir()
    (victim / "flag").write_bytes(b"secret")
    # dest is out/x; escape = dest/../../../victim = tmp_path/victim
    archive = chain_archive(
        tmp_path / "x.tar", out / "x", "../../../victim",
        extra=[("flaglink", tarfile.LNKTYPE, "escape/flag"),
               ("flaglink", tarfile.REGTYPE, "overwrite"),
               ("escape/new.pth", tarfile.REGTYPE, "import os")],
    )
    result = STAGE.process(task, archive, out)
    assert sorted(p.name for p in victim.iterdir()) == ["flag"]
    assert (victim / "flag").read_bytes() == b"secret"
    assert (result / "flaglink").read_bytes() == b"overwrite"  # a new file, not through a link
    notes = "\n".join(task.warnings)
    assert "skipped hard link through a link: flaglink" in notes
    assert "skipped an entry whose folder is a link or a file: escape/new.pth" in notes
    assert not (result / "escape").is_symlink() or \
        Path(os.path.realpath(result / "escape")).is_relative_to(os.path.realpath(result))


def test_lll_dotdot_is_judged_on_disk_where_lll_is_a_link(tmp_path: Path) -> None:
    """``lll`` → ``.`` is harmless, but ``lll/..`` is then the folder above the output, though
    by name it cancels out to ``.``."""
    archive = tmp_path / "dots.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "lll", tarfile.SYMTYPE, ".")
        add(tar, "up", tarfile.SYMTYPE, "lll/..")
        add(tar, "sub/in", tarfile.SYMTYPE, "../lll/x")  # stays inside: kept
        add(tar, "up/evil.txt", data=b"pwned")
    notes, result = run_stage(tmp_path, archive)
    assert "skipped symbolic link pointing outside: up" in notes
    assert os.readlink(result / "lll") == "." and os.readlink(result / "sub" / "in") == "../lll/x"
    assert (result / "up").is_dir() and not (result / "up").is_symlink()  # a real folder
    assert not (tmp_path / "work" / ".stage-0-extract" / "evil.txt").exists()


@pytest.mark.parametrize(
    ("kind", "target", "why"),
    [(tarfile.SYMTYPE, "/etc/passwd", "symbolic link pointing outside"),
     (tarfile.SYMTYPE, "../../x", "symbolic link pointing outside"),
     (tarfile.LNKTYPE, "/etc/passwd", "hard link pointing outside"),
     (tarfile.LNKTYPE, "sub/../../x", "hard link pointing outside"),
     (tarfile.LNKTYPE, "d/ok.txt", "hard link through a link")],
)
def test_link_targets_absolute_climbing_or_through_links_are_skipped(
    tmp_path: Path, kind: bytes, target: str, why: str
) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "ok.txt", data=b"fine")
        add(tar, "d", tarfile.SYMTYPE, ".")
        add(tar, "bad", kind, target)
    notes, result = run_stage(tmp_path, archive)
    assert f"skipped {why}: bad" in notes
    assert not os.path.lexists(result / "bad")
    assert (result / "ok.txt").read_bytes() == b"fine"


def test_a_symlink_loop_is_one_clear_note_never_an_internal_error(tmp_path: Path) -> None:
    archive = tmp_path / "loop.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "a", tarfile.SYMTYPE, "b")
        add(tar, "b", tarfile.SYMTYPE, "a")
        add(tar, "self", tarfile.SYMTYPE, "self/x")
        add(tar, "c", tarfile.SYMTYPE, "a/x")
        add(tar, "ok.txt", data=b"fine")
    notes, result = run_stage(tmp_path, archive)
    assert tree(result) == {"ok.txt": b"fine"}
    text = "\n".join(notes)
    for name in ("a", "b", "self", "c"):
        assert f"loop: {name}" in text, text


def gnu_long_name_tar_gz(path: Path, length: int) -> Path:
    """A .tar.gz whose one header is a GNU long name of ``length`` bytes (about 1/1000 of it
    once gzipped), streamed: nothing that size is ever in memory here."""
    with gzip.open(path, "wb", compresslevel=9) as out:
        header = tarfile.TarInfo("././@LongLink")
        header.type, header.size = tarfile.GNUTYPE_LONGNAME, length
        out.write(header.tobuf(format=tarfile.GNU_FORMAT))
        block = b"a" * (1 << 20)
        left = length
        while left:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))
        out.write(b"\0" * (-length % 512))
        info = tarfile.TarInfo("short")
        out.write(info.tobuf(format=tarfile.GNU_FORMAT))
        out.write(b"\0" * 1024)
    return path


def test_a_huge_gnu_long_name_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = gnu_long_name_tar_gz(tmp_path / "long.tar.gz", 20 << 20)
    task = make_task(tmp_path)
    out = fresh_out(task)
    with pytest.raises(ProcessingError, match=r"^the archive has a GNU long name header of "
                       r"20,971,520 bytes \(at most 65,536\)$"):
        STAGE.process(task, archive, out)
    assert list(out.iterdir()) == []


def test_a_big_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "pax.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("f.txt")
        info.pax_headers = {"comment": "x" * (1 << 20)}
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    task = make_task(tmp_path)
    with pytest.raises(ProcessingError, match=r"a pax header of 1,048,\d{3} bytes"):
        STAGE.process(task, archive, fresh_out(task))


def test_the_child_reads_a_300_mb_long_name_in_bounded_memory(tmp_path: Path) -> None:
    """The child itself, as extract runs it: its peak RSS (rusage of the reaped child) stays
    far below the header's size, and it says why it stopped in one JSON line."""
    from telebot.processing import tarchild

    archive = gnu_long_name_tar_gz(tmp_path / "long.tar.gz", 300 << 20)
    assert archive.stat().st_size < 400 << 10
    dest = tmp_path / "dest"
    dest.mkdir()
    with archive.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", tarchild.__file__, "--dest", str(dest),
             "--max-entries", "100", "--max-bytes", "1000000"],
            stdin=stdin, stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        lines = proc.stdout.read().decode().splitlines()
    assert proc.wait() == 1
    last = json.loads(lines[-1])
    assert last["why"].startswith("the archive has a GNU long name header of 314,572,800 bytes")
    # VmHWM of the child's own image (rusage's ru_maxrss would count the pages of this test
    # process inherited at fork). Python and tarfile take about 10 MiB.
    assert last["peak_kib"] < 24 << 10, f"child peak RSS {last['peak_kib']} KiB"


def test_every_failure_of_the_child_is_a_telebot_error(tmp_path: Path) -> None:
    for name, data in (("junk.tar", b"not a tar at all" * 100), ("cut.tar.gz", b"\x1f\x8b\x08")):
        (tmp_path / name).write_bytes(data)
        (tmp_path / name.split(".")[0]).mkdir()
        task = make_task(tmp_path / name.split(".")[0])
        with pytest.raises(TelebotError) as failure:
            STAGE.process(task, tmp_path / name, fresh_out(task))
        assert "internal" not in str(failure.value) and "\n" not in str(failure.value)


def test_cancel_stops_the_tar_child_within_a_second(tmp_path: Path) -> None:
    import threading
    import time

    from telebot.errors import TaskCancelled
    from telebot.processing.archivecheck import tree_usage
    from tests.polling import wait_until

    archive = tmp_path / "zeros.tar.gz"
    with gzip.open(archive, "wb", compresslevel=1) as out:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 768 << 20
        out.write(info.tobuf())
        block = b"\0" * (1 << 20)
        for _ in range(768):
            out.write(block)
        out.write(b"\0" * 1024)
    task = make_task(tmp_path)
    out_dir = fresh_out(task)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            STAGE.process(task, archive, out_dir)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_until(lambda: tree_usage(out_dir)[0] > 0, 30, "the child writing")
    asked = time.monotonic()
    task.cancel("cancelled by the user")
    worker.join(10)
    assert time.monotonic() - asked < 1.0
    assert failure and isinstance(failure[0], TaskCancelled), failure
    assert list(out_dir.iterdir()) == []


def test_the_boxs_file_size_limit_is_one_line_naming_it(tmp_path: Path) -> None:
    """The box's RLIMIT_FSIZE (what STORAGE_THRESHOLD still allows, at least 16 MiB) stops a
    bigger entry: EFBIG in the child (Python ignores SIGXFSZ), one line, nothing kept."""
    import shutil

    from telebot import sandbox

    archive = tmp_path / "big.tar.gz"
    with gzip.open(archive, "wb", compresslevel=1) as out:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 40 << 20
        out.write(info.tobuf() + b"\0" * info.size + b"\0" * 1024)
    task = make_task(tmp_path)
    out_dir = fresh_out(task)
    # A threshold above the free space leaves the 16 MiB every box may write. Above it by
    # far: other tests write and delete beside this one, and when the box measured 40 MiB
    # more free space than this line had, the entry fitted (a CI run saw DID NOT RAISE).
    free = shutil.disk_usage(tmp_path).free
    sandbox.configure(storage_threshold=free + (1 << 40))
    try:
        with pytest.raises(ProcessingError, match=r"^file size limit: an entry is larger than "
                           r"the box allows$"):
            ExtractStage(Limits(min_free=0)).process(task, archive, out_dir)
    finally:
        sandbox.configure()
    assert list(out_dir.iterdir()) == []


def test_over_long_names_are_skipped_with_a_short_note(tmp_path: Path) -> None:
    """A 300-byte component (NAME_MAX is 255) and a 5,000-byte path (PATH_MAX is 4,096): each
    one note, its name cut to 100 characters, the rest extracted."""
    archive = tmp_path / "long.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "n" * 300, data=b"x")
        add(tar, "/".join(["p" * 200] * 25), data=b"y")
        add(tar, "ok.txt", data=b"fine")
    notes, result = run_stage(tmp_path, archive)
    assert tree(result) == {"ok.txt": b"fine"}
    assert f"skipped an entry whose name is too long for the disk: {'n' * 99}…" in notes
    assert f"skipped an entry whose path is too long (PATH_MAX): {'p' * 99}…" in notes


def test_the_boxs_memory_limit_is_one_line_naming_sandbox_memory(tmp_path: Path) -> None:
    """xz at preset 9 asks the decoder for a 64 MiB window whatever the data's size: under
    SANDBOX_MEMORY=64mb (the least allowed) the child cannot have it, and says so."""
    import lzma

    from telebot import sandbox

    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        add(tar, "a.txt", data=b"hello")
    archive = tmp_path / "a.tar.xz"
    archive.write_bytes(lzma.compress(plain.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    task = make_task(tmp_path)
    out_dir = fresh_out(task)
    sandbox.configure(memory=64 << 20)
    try:
        with pytest.raises(ProcessingError, match=r"^memory limit SANDBOX_MEMORY: "):
            STAGE.process(task, archive, out_dir)
    finally:
        sandbox.configure()
    assert list(out_dir.iterdir()) == []
    (tmp_path / "again").mkdir()
    _notes, result = run_stage(tmp_path / "again", archive)
    assert (result / "a.txt").read_bytes() == b"hello"  # with the default 1 GiB it extracts


def test_many_skipped_entries_are_twenty_notes_and_a_count(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(30):
            add(tar, f"out{i:02d}", tarfile.SYMTYPE, "/etc/passwd")
        add(tar, "ok.txt", data=b"fine")
    notes, result = run_stage(tmp_path, archive)
    assert tree(result) == {"ok.txt": b"fine"}
    skipped = [n for n in notes if n.startswith("skipped symbolic link pointing outside: ")]
    assert len(skipped) == 20 and notes[-1] == "... and 10 more skipped entries"


@pytest.mark.parametrize(
    "name",
    ["a/b", "../x", "a/../../x", "/abs", "\\\\abs", "C:x", "a\\\\..\\\\x", "..", "a/..", "ok.."],
)
def test_the_child_refuses_the_same_names_as_archivecheck(name: str) -> None:
    """The child cannot import telebot, so it carries its own copy of the rule."""
    from telebot.processing import tarchild
    from telebot.processing.archivecheck import unsafe_path

    assert tarchild.unsafe_name(name) == unsafe_path(name)
