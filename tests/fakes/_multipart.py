"""Streaming request bodies for :mod:`tests.fakes.bot_api`: a ``Content-Length`` or chunked
body reader and a ``multipart/form-data`` parser that streams file parts to temporary files,
so a 120 MB upload costs bounded memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.fakes._telegram import ApiError, _bad

__all__ = ["UploadedFile"]

_CHUNK = 1 << 16  # socket read size for bodies


@dataclass
class UploadedFile:
    """A file the bot sent: a multipart part streamed to ``path``, or a local-mode path.

    ``path`` is None when the body was over the limit and not kept.
    """

    field: str
    filename: str
    size: int
    sha256: str
    path: Path | None

    def read(self) -> bytes:
        if self.path is None:
            raise FileNotFoundError(f"upload {self.field!r} was not kept")
        return self.path.read_bytes()


class _BodyReader:
    """Reads a request body: ``Content-Length`` bytes or a chunked stream."""

    def __init__(self, rfile: io.BufferedIOBase, length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._left = length or 0
        self._chunked = chunked
        self._done = not chunked and not length

    def read(self, n: int = _CHUNK) -> bytes:
        if self._done:
            return b""
        if self._chunked:
            return self._read_chunk(n)
        data = self._rfile.read(min(n, self._left))
        if not data:
            raise ApiError(400, "Bad Request: truncated request body")
        self._left -= len(data)
        self._done = self._left == 0
        return data

    def _read_chunk(self, n: int) -> bytes:
        if self._left == 0:
            size_line = self._rfile.readline(1024).split(b";")[0].strip()
            self._left = int(size_line or b"0", 16)
            if self._left == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
        data = self._rfile.read(min(n, self._left))
        self._left -= len(data)
        if self._left == 0:
            self._rfile.readline(16)  # CRLF after the chunk
        return data

    def read_all(self, limit: int) -> bytes:
        parts, total = [], 0
        while chunk := self.read():
            total += len(chunk)
            if total > limit:
                raise ApiError(413, "Request Entity Too Large")
            parts.append(chunk)
        return b"".join(parts)

    def drain(self) -> None:
        while self.read():
            pass


class _UploadSink:
    """Hashes and counts a file part, keeping at most ``keep`` bytes on disk."""

    def __init__(self, folder: Path, keep: int) -> None:
        fd, name = tempfile.mkstemp(prefix="upload-", dir=folder)
        self._fh = os.fdopen(fd, "wb")
        self.path = Path(name)
        self._keep = keep
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> None:
        if self.size + len(data) <= self._keep:
            self._fh.write(data)
        self.size += len(data)
        self._hash.update(data)

    def abort(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)

    def finish(self, field_name: str, filename: str) -> UploadedFile:
        self._fh.close()
        path: Path | None = self.path
        if self.size > self._keep:
            self.path.unlink(missing_ok=True)
            path = None
        return UploadedFile(field_name, filename, self.size, self._hash.hexdigest(), path)


_PARAM_RE = re.compile(r';\s*([\w*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _disposition(headers: list[bytes]) -> tuple[str, str | None]:
    """(name, filename-or-None) of a multipart part, from its header lines."""
    params: dict[str, str] = {}
    for raw in headers:
        line = raw.decode("utf-8", "replace")
        key, _, value = line.partition(":")
        if key.strip().lower() != "content-disposition":
            continue
        for pname, pval in _PARAM_RE.findall(value):
            if pval.startswith('"'):
                # httpx and browsers escape quotes as %22 (HTML5 form encoding).
                pval = pval[1:-1].replace('\\"', '"').replace("%22", '"')
            params[pname.lower()] = pval
    filename = params.get("filename")
    if "filename*" in params:  # RFC 5987: UTF-8''percent-encoded
        filename = unquote(params["filename*"].split("'", 2)[-1])
    return params.get("name", ""), filename


class _MultipartParser:
    """Streaming ``multipart/form-data`` parser: a boundary scan over a buffered reader.

    File parts go straight to disk through :class:`_UploadSink`; memory stays bounded by
    one read chunk plus the boundary length whatever the upload size.
    """

    def __init__(self, reader: _BodyReader, boundary: bytes, folder: Path, keep: int) -> None:
        self._reader = reader
        self._delim = b"\r\n--" + boundary
        # A virtual CRLF in front lets the first boundary match like all the others.
        self._buf = bytearray(b"\r\n")
        self._folder = folder
        self._keep = keep

    def parse(self) -> tuple[dict[str, str], dict[str, UploadedFile]]:
        fields: dict[str, str] = {}
        files: dict[str, UploadedFile] = {}
        self._scan(None)  # preamble
        while True:
            self._need(2)
            if self._buf[:2] == b"--":
                self._reader.drain()  # epilogue
                return fields, files
            self._line()  # rest of the boundary line (transport padding)
            headers = list(iter(self._line, b""))
            name, filename = _disposition(headers)
            if filename is None:
                value = bytearray()
                self._scan(value.extend)
                fields[name] = value.decode("utf-8", "replace")
            else:
                files[name] = self._file_part(name, filename)

    def _file_part(self, name: str, filename: str) -> UploadedFile:
        sink = _UploadSink(self._folder, self._keep)
        try:
            self._scan(sink.write)
        except BaseException:
            sink.abort()  # client vanished mid-upload: leave no temp file behind
            raise
        return sink.finish(name, filename)

    def _fill(self) -> None:
        chunk = self._reader.read()
        if not chunk:
            raise _bad("multipart body ended before its closing boundary")
        self._buf += chunk

    def _need(self, n: int) -> None:
        while len(self._buf) < n:
            self._fill()

    def _line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            if len(self._buf) > _CHUNK:
                raise _bad("multipart header line too long")
            self._fill()
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _scan(self, out: Callable[[bytes], Any] | None) -> None:
        """Pass bytes up to the next delimiter to ``out``; consume the delimiter."""
        keep = len(self._delim) - 1  # a delimiter may straddle two reads
        while (end := self._buf.find(self._delim)) < 0:
            if len(self._buf) > keep:
                if out is not None:
                    out(bytes(self._buf[:-keep]))
                del self._buf[:-keep]
            self._fill()
        if out is not None:
            out(bytes(self._buf[:end]))
        del self._buf[: end + len(self._delim)]

def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
