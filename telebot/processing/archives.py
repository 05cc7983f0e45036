"""Which files are archives, which volumes belong to one set, and what an extracted archive's
folder is called: names only, nothing is opened here.

Recognised by name (a download's name is all a stage sees before it opens a file):

* tar, read by the boxed tar child (:mod:`telebot.processing.tarchild`): ``.tar``,
  ``.tar.gz``/``.tgz``, ``.tar.bz2``/``.tbz2``/``.tbz``, ``.tar.xz``/``.txz``;
  ``.tar.zst``/``.tzst`` through the ``zstd`` binary;
* 7-Zip: ``.zip``, ``.7z``, ``.rar``, and single compressed files ``.gz``, ``.bz2``, ``.xz``;
* multi-volume sets, opened by their first volume (7-Zip reads the rest itself): ``x.001``
  (``x.7z.001``, ``x.zip.001``, plain splits), ``x.part1.rar`` (any zero padding), ``x.zip``
  with ``x.z01``, ``x.z02`` beside it, and old-style RAR sets, ``x.rar`` with ``x.r00``,
  ``x.r01`` beside it. Later volumes are "members" of the set.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
ZSTD_TAR_SUFFIXES = (".tar.zst", ".tzst")
SEVENZIP_SUFFIXES = (".zip", ".7z", ".rar", ".gz", ".bz2", ".xz")

_SPLIT = re.compile(r"^(?P<base>.+)\.(?P<num>\d{3})$")  # x.001, x.7z.002
_RAR_PART = re.compile(r"^(?P<base>.+)\.part(?P<num>\d+)\.rar$", re.I)  # x.part01.rar
_ZIP_PART = re.compile(r"^(?P<base>.+)\.z(?P<num>\d{2,})$", re.I)  # x.z01 beside x.zip
_RAR_OLD = re.compile(r"^(?P<base>.+)\.r(?P<num>\d{2,})$", re.I)  # x.r00 beside x.rar


class Kind(enum.Enum):
    TAR = "tar"
    ZSTD_TAR = "tar.zst"
    SEVENZIP = "7-Zip"


class Role(enum.Enum):
    PLAIN = "plain"  # not an archive: passes through
    FIRST = "first"  # an archive, or the first volume of a set: extracted
    MEMBER = "member"  # a later volume: read through its first volume, never on its own


def kind_of(name: str) -> Kind:
    """How an archive named ``name`` (already known to be one) is read."""
    lower = name.lower()
    if lower.endswith(ZSTD_TAR_SUFFIXES):
        return Kind.ZSTD_TAR
    if lower.endswith(TAR_SUFFIXES):
        return Kind.TAR
    return Kind.SEVENZIP


def role_of(name: str, siblings: Iterable[str] = ()) -> Role:
    """The part ``name`` plays among the files of its folder (``siblings``, itself included)."""
    lower = name.lower()
    split = _SPLIT.match(name)
    if split:
        return Role.FIRST if int(split["num"]) == 1 else Role.MEMBER
    rar = _RAR_PART.match(name)
    if rar:
        return Role.FIRST if int(rar["num"]) == 1 else Role.MEMBER
    for part, suffix in ((_ZIP_PART, ".zip"), (_RAR_OLD, ".rar")):
        match = part.match(name)
        if match:
            first = (match["base"] + suffix).lower()
            return Role.MEMBER if first in {s.lower() for s in siblings} else Role.PLAIN
    if lower.endswith(TAR_SUFFIXES + ZSTD_TAR_SUFFIXES + SEVENZIP_SUFFIXES):
        return Role.FIRST
    return Role.PLAIN


def volumes_of(first: str, siblings: Iterable[str]) -> list[str]:
    """The names of the set whose first volume is ``first`` (itself included), for its size."""
    names = list(siblings)
    split = _SPLIT.match(first)
    if split:
        base = split["base"]
        return [n for n in names if (m := _SPLIT.match(n)) and m["base"] == base]
    rar = _RAR_PART.match(first)
    if rar:
        base = rar["base"]
        return [n for n in names if (m := _RAR_PART.match(n)) and m["base"] == base]
    for part, suffix in ((_ZIP_PART, ".zip"), (_RAR_OLD, ".rar")):
        if first.lower().endswith(suffix):
            base = first[: -len(suffix)]
            return [first] + [n for n in names if (m := part.match(n)) and m["base"] == base]
    return [first]


def stem_of(name: str) -> str:
    """The folder an archive extracts into: its name without the archive suffixes
    (``a.tar.gz`` → ``a``, ``a.7z.001`` → ``a``, ``a.part1.rar`` → ``a``)."""
    split = _SPLIT.match(name)
    if split:
        name = split["base"]
    rar = _RAR_PART.match(name)
    if rar:
        return rar["base"]
    lower = name.lower()
    for suffix in sorted(TAR_SUFFIXES + ZSTD_TAR_SUFFIXES + SEVENZIP_SUFFIXES, key=len)[::-1]:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
