"""Archives built for the extract/join tests, with the real 7-Zip, zipfile and tarfile (and one
7z written here: :func:`empty_files_7z`)."""

from __future__ import annotations

import io
import lzma
import os
import struct
import tarfile
import threading
import zipfile
import zlib
from pathlib import Path

from telebot.engine.task import Task, TaskSpec
from telebot.processing import sevenzip
from tests import proctree

PASSWORD = "s3cret-Pass phrase"


def make_task(tmp_path: Path, **spec: object) -> Task:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    values: dict[str, object] = {
        "kind": "mirror", "source": "http://example.invalid/a", "chat_id": 1, "user_id": 2,
        "extract": True,
    }
    values.update(spec)
    return Task("0123456789", TaskSpec(**values), workdir)  # type: ignore[arg-type]


def fresh_out(task: Task, n: int = 0) -> Path:
    out = task.workdir / f".stage-{n}-extract"
    out.mkdir(mode=0o700)
    return out


def tree(root: Path) -> dict[str, bytes | None]:
    """Relative path → content (None for a folder) of everything under ``root``."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found[rel] = None if path.is_dir() else path.read_bytes()
    return found


def source_folder(base: Path) -> Path:
    src = base / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(os.urandom(3000))
    return src


def seven(args: list[str], cwd: Path, password: str | None = None) -> None:
    sevenzip.run(args, password=password, cancel=None, cwd=cwd)


def make_7z_archive(base: Path, name: str, src: Path, *extra: str,
                    password: str | None = None) -> Path:
    archive = base / name
    pw = ["-p", "-mhe=on"] if password and name.endswith(".7z") else (["-p"] if password else [])
    seven(["a", *pw, *extra, "--", str(archive), "."], cwd=src, password=password)
    return archive


def empty_files_7z(count: int) -> bytes:
    """A .7z of ``count`` empty files ``f000000``, ``f000001``... written here, byte by byte.

    7-Zip itself needs the files on a disk: for 200,000 of them, making, archiving and removing
    the inodes took about 7 s of CPU (30 s of wall time with the xdist workers busy); this takes
    a fraction of a second. An archive of empty files has no data, only its header (7z format,
    7zFormat.txt in 7-Zip's source): the files' count, two bit vectors (every entry is an empty
    stream, and every empty stream a file, not a folder), the names in UTF-16, the times and the
    attributes -- that header packed with LZMA2 (an "encoded header", as 7-Zip writes it), so
    200,000 names take about 50 KiB. tests/processing/test_sevenzip.py checks one with the real
    7-Zip (listed, tested, extracted).
    """
    names = b"".join(f"f{i:06d}".encode("utf-16-le") + b"\0\0" for i in range(count))
    every = b"\xff" * (count // 8) + (bytes([0xFF << (8 - count % 8) & 0xFF]) if count % 8 else b"")
    # As 7-Zip writes each file's: modified (a Windows FILETIME), attributes ("A -rw-------").
    modified = struct.pack("<Q", (1_767_225_600 + 11_644_473_600) * 10**7) * count  # 2026-01-01
    mode = struct.pack("<I", 0o100600 << 16 | 0x8000 | 0x20) * count
    files = (_7z_property(0x0E, every) + _7z_property(0x0F, every)
             + _7z_property(0x11, b"\0" + names) + _7z_property(0x14, b"\1\0" + modified)
             + _7z_property(0x15, b"\1\0" + mode))  # fmt: skip
    header = b"\x01\x05" + _7z_number(count) + files + b"\x00\x00"
    packed = lzma.compress(header, format=lzma.FORMAT_RAW,
                           filters=[{"id": lzma.FILTER_LZMA2, "preset": 3}])  # fmt: skip
    dictionary = 20  # LZMA2's property byte for 1 MiB, enough for preset 3's
    encoded = (
        b"\x17"  # the header is packed:
        + b"\x06" + _7z_number(0) + _7z_number(1) + b"\x09" + _7z_number(len(packed)) + b"\x00"
        + b"\x07\x0b" + _7z_number(1) + b"\x00"  # one folder, stored here
        + _7z_number(1) + b"\x21\x21" + _7z_number(1) + bytes([dictionary])  # one coder: LZMA2
        + b"\x0c" + _7z_number(len(header)) + b"\x00\x00"
    )  # fmt: skip
    start = struct.pack("<QQI", len(packed), len(encoded), zlib.crc32(encoded))
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(start)) + start \
        + packed + encoded


def _7z_property(kind: int, data: bytes) -> bytes:
    return bytes([kind]) + _7z_number(len(data)) + data


def _7z_number(n: int) -> bytes:
    """7z's NUMBER: as many 1 bits lead the first byte as little-endian bytes follow it; the
    first byte's other bits are the number's high part."""
    extra = next(i for i in range(9) if i == 8 or n < 1 << (7 * (i + 1)))
    if extra == 0:
        return bytes([n])
    high = n >> (8 * extra) if extra < 8 else 0
    return bytes([(0xFF << (8 - extra) & 0xFF) | high]) + (n % (1 << (8 * extra))).to_bytes(
        extra, "little"
    )


def make_tar(base: Path, name: str, src: Path, mode: str) -> Path:
    archive = base / name
    with tarfile.open(archive, mode) as tar:  # type: ignore[call-overload]
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=path.relative_to(src).as_posix(), recursive=False)
    return archive


def tar_with(base: Path, name: str, *members: tarfile.TarInfo, data: bytes = b"") -> Path:
    archive = base / name
    with tarfile.open(archive, "w") as tar:
        tar.addfile(_regular("ok.txt", b"fine"), io.BytesIO(b"fine"))
        for member in members:
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return archive


def _regular(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def member(name: str, kind: bytes, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size
    return info


def zip_with(base: Path, name: str, entries: dict[str, bytes],
             links: dict[str, str] | None = None) -> Path:
    archive = base / name
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", b"fine")
        for entry, data in entries.items():
            zf.writestr(zipfile.ZipInfo(entry), data)
        for entry, target in (links or {}).items():
            info = zipfile.ZipInfo(entry)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return archive


def cmdlines() -> list[bytes]:
    """The command lines of this test process's descendants (the bot, 7-Zip, unar...), not of
    every process on the machine: tests running side by side must not see each other's."""
    return proctree.cmdlines()


class Watcher:
    """Collects the command lines of this process's descendants as often as it can until
    stopped."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.extend(cmdlines())
