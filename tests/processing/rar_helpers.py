"""The shipped RAR fixtures (tests/fixtures/rar/README.md says where each came from), and
hostile RAR5 archives made from them by renaming an entry in place."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "rar"
PASSWORD = "password"  # libarchive's test_read_format_rar_encryption.c
STORED5 = {"helloworld.txt": b"hello libarchive test suite!\n"}
STORED4 = {"test.txt": b"test text document\r\n", "testdir/test.txt": b"test text document\r\n"}
VOLUME5_FILES = {  # name → size (the set's files; unar checks each one's CRC32 as it writes)
    "home/antek/temp/build/unrar5/libarchive/bin/bsdcat_test": 144_608,
    "home/antek/temp/build/unrar5/libarchive/bin/bsdtar_test": 365_672,
}
PASSWORD5 = {f"{c}.txt": f"This is from {c}.txt".encode() for c in "abcd"}


def fixture(name: str, dest: Path, as_name: str | None = None) -> Path:
    """A copy of one fixture (or a volume set: ``vol5.part*``) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if "*" in name:
        copies = [shutil.copy2(p, dest / p.name) for p in sorted(FIXTURES.glob(name))]
        return Path(copies[0])
    return Path(shutil.copy2(FIXTURES / name, dest / (as_name or name)))


def _vint(data: bytes | bytearray, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def renamed_rar5(src: Path, old: str, new: str) -> bytes:
    """``src`` (RAR5) with the entry ``old`` renamed ``new`` (same length), header CRC fixed.

    RAR5 blocks (RARLAB's "RAR 5.0 archive format"): CRC32 of the header, the header size as a
    vint, then the header (type 2 = file: its name in UTF-8); the CRC covers the size field and
    the header. A same-length name keeps every size and offset as it was."""
    assert len(old.encode()) == len(new.encode())
    data = bytearray(src.read_bytes())
    at = 8  # after the signature "Rar!\x1a\x07\x01\x00"
    while at < len(data):
        start = at
        size, header = _vint(data, at + 4)
        end = header + size
        kind, pos = _vint(data, header)
        flags, pos = _vint(data, pos)
        data_size = 0
        if flags & 1:
            _, pos = _vint(data, pos)
        if flags & 2:
            data_size, pos = _vint(data, pos)
        found = data.find(old.encode(), header, end)
        if kind == 2 and found >= 0:
            data[found:found + len(old.encode())] = new.encode()
            struct.pack_into("<I", data, start, zlib.crc32(bytes(data[start + 4:end])))
            return bytes(data)
        at = end + data_size
    raise AssertionError(f"{old} is not an entry of {src}")


def huge_dictionary_rar5(src: Path) -> bytes:
    """``src`` (RAR5, compressed) claiming a 4 GiB dictionary: unar reserves that much to unpack.

    The file header's "compression information" vint holds the dictionary size as 128 KiB << N
    in bits 10-14; N = 15 is 4 GiB. Fields before it (RAR 5.0 format): file flags, unpacked
    size, attributes, mtime (flag 2), data CRC32 (flag 4)."""
    data = bytearray(src.read_bytes())
    at = 8
    while at < len(data):
        start = at
        size, header = _vint(data, at + 4)
        end = header + size
        kind, pos = _vint(data, header)
        flags, pos = _vint(data, pos)
        data_size = 0
        if flags & 1:
            _, pos = _vint(data, pos)
        if flags & 2:
            data_size, pos = _vint(data, pos)
        if kind == 2:
            file_flags, pos = _vint(data, pos)
            _, pos = _vint(data, pos)
            _, pos = _vint(data, pos)
            pos += 4 * bool(file_flags & 2) + 4 * bool(file_flags & 4)
            info, after = _vint(data, pos)
            info = (info & ~(15 << 10)) | (15 << 10)
            encoded = bytes([(info & 0x7F) | 0x80, info >> 7])
            assert after - pos == 2 and info >> 14 == 0
            data[pos:after] = encoded
            struct.pack_into("<I", data, start, zlib.crc32(bytes(data[start + 4:end])))
            return bytes(data)
        at = end + data_size
    raise AssertionError(f"no file header in {src}")
