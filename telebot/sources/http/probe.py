"""What the server says about a link before its body: size, ranges, name, validators, digest."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from telebot.sources.http.options import HttpOptions
from telebot.sources.http.partfile import Validators
from telebot.sources.names import (
    filename_from_content_disposition,
    filename_from_url,
    sanitize_filename,
)

HEAD_REFUSED = frozenset({400, 403, 405, 501})  # servers that refuse HEAD say one of these


@dataclass(frozen=True)
class ProbeResult:
    """What the server said about a link before the body was fetched."""

    url: str  # final URL after redirects
    name: str  # sanitized file name
    size: int | None
    accepts_ranges: bool
    etag: str | None
    checksum: tuple[str, str] | None  # (hashlib name, lowercase hex digest)
    last_modified: str | None = None
    content_type: str | None = None  # a web page (text/html) is refused unless -html

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)


def probe_result(resp: requests.Response, options: HttpOptions) -> ProbeResult:
    headers = resp.headers
    if resp.status_code == 206:
        size = content_range_total(headers.get("content-range"))
        ranges = True
    else:
        size = int_header(headers.get("content-length"))
        if resp.request.method == "GET":  # asked for 1 byte, got everything: no ranges
            ranges = False
        else:
            ranges = "bytes" in headers.get("accept-ranges", "").lower()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        size = None if resp.status_code != 206 else size
    raw_name = (options.name
                or filename_from_content_disposition(headers.get("content-disposition"))
                or filename_from_url(resp.url))
    return ProbeResult(url=resp.url, name=sanitize_filename(raw_name or ""), size=size,
                       accepts_ranges=ranges and size is not None, etag=headers.get("etag"),
                       checksum=checksum(headers, partial=resp.status_code == 206),
                       last_modified=headers.get("last-modified"),
                       content_type=headers.get("content-type"))


def int_header(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def content_range_total(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


HASHES = {"sha-512": "sha512", "sha-256": "sha256", "sha": "sha1", "sha-1": "sha1", "md5": "md5"}


def checksum(headers: Mapping[str, str], *, partial: bool) -> tuple[str, str] | None:
    """The whole file's digest from Repr-Digest/Digest (RFC 9530/3230), Content-MD5, X-Checksum-*.

    Content-MD5 and Content-Digest describe the *body*, so they are ignored on a
    206 (the probe's 1-byte range); the largest available hash wins.
    """
    candidates: list[tuple[str, str]] = []
    for header in ("repr-digest", "digest") + (() if partial else ("content-digest",)):
        for item in headers.get(header, "").split(","):
            algo, _, value = item.strip().partition("=")
            if algo.lower() in HASHES and value:
                candidates.append((HASHES[algo.lower()], b64_hex(value.strip(":"))))
    if not partial and headers.get("content-md5"):  # RFC 1864: digest of *this* body
        candidates.append(("md5", b64_hex(headers["content-md5"])))
    for algo in ("sha256", "sha1", "md5"):
        value = headers.get(f"x-checksum-{algo}", "").strip().lower()
        if re.fullmatch(r"[0-9a-f]+", value):
            candidates.append((algo, value))
    valid = [(algo, hexd) for algo, hexd in candidates
             if hexd and len(hexd) == hashlib.new(algo).digest_size * 2]
    order = ["sha512", "sha256", "sha1", "md5"]
    return min(valid, key=lambda c: order.index(c[0])) if valid else None


def b64_hex(value: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).hex()
    except (binascii.Error, ValueError):
        return ""
