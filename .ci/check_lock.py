#!/usr/bin/env python3
"""Check that requirements.lock still answers requirements.txt (issue 28, "the pin that holds").

The Docker build installs requirements.lock with --require-hashes, never requirements.txt; so a
requirement added to or changed in requirements.txt without regenerating the lock would not
reach the image, or would fail its build. This fails CI first, naming each mismatch:

* every requirement of requirements.txt (for Python 3.13 on Linux, the image's) has an entry in
  the lock, pinned with ``==`` to a version its specifier allows;
* every entry of the lock is pinned with ``==`` and carries at least one ``--hash``;
* no entry says it is there "via -r requirements.txt" when requirements.txt no longer asks
  for it (a stale lock).

Extras (``celery[redis]``) are checked for the package itself; what an extra pulls in is the
resolver's business, and a regenerated lock carries it.

Usage: python .ci/check_lock.py [--requirements requirements.txt] [--lock requirements.lock]
Exit status: 0 the lock matches, 1 it does not (one line per problem, then how to regenerate).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

#: The image's interpreter (Dockerfile FROM python:3.13.x): markers are evaluated for it.
TARGET = {"python_version": "3.13", "python_full_version": "3.13.0", "sys_platform": "linux",
          "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
          "platform_python_implementation": "CPython"}
ROOT = Path(__file__).resolve().parent.parent
_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?"  # name, extras
    r"\s*(?P<op>===?|~=|>=|<=|!=|>|<)?\s*(?P<version>[^\s\\;]*)"
)


@dataclass
class LockEntry:
    name: str
    op: str | None
    version: str
    line: int
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of ``path`` (comments, blank lines and pip options skipped)."""
    found = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement as exc:
            raise SystemExit(f"{path.name}:{number}: not a requirement: {line!r} ({exc})") from None
    return found


def read_lock(path: Path) -> dict[str, LockEntry]:
    """The lock's entries by canonical name: ``name==version \\`` lines, their ``--hash=``
    continuation lines and the ``# via`` comments pip-compile and uv write below them."""
    entries: dict[str, LockEntry] = {}
    current: LockEntry | None = None
    in_via = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            continue
        if not raw[0].isspace() and not stripped.startswith("#"):
            match = _ENTRY.match(stripped)
            if match is None:
                raise SystemExit(f"{path.name}:{number}: cannot read {stripped!r}")
            current = LockEntry(canonicalize_name(match["name"]), match["op"], match["version"],
                                number)
            entries[current.name] = current
            in_via = False
        elif current is not None:
            current.hashes += len(re.findall(r"--hash=\w+:[0-9a-f]+", stripped))
            via = re.match(r"#\s+via\s*(.*)$", stripped)
            if via is not None:
                in_via = True
                if via.group(1):
                    current.via.append(via.group(1).strip())
            elif in_via and stripped.startswith("#"):
                current.via.append(stripped.lstrip("#").strip())
    return entries


def problems(requirements: list[Requirement], lock: dict[str, LockEntry]) -> list[str]:
    found = []
    wanted = set()
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate(TARGET):
            continue  # not for the image's Python or platform
        name = canonicalize_name(req.name)
        wanted.add(name)
        entry = lock.get(name)
        if entry is None:
            found.append(f"{req.name}: in requirements.txt ({req}) but not in the lock")
            continue
        try:
            version = Version(entry.version)
        except InvalidVersion:
            found.append(f"{req.name}: the lock's version {entry.version!r} is not a version")
            continue
        if entry.op not in ("==", "===") or not req.specifier.contains(version, prereleases=True):
            pinned = f"{entry.op or ''}{entry.version}"
            found.append(f"{req.name}: requirements.txt asks for {req.specifier or 'any'}, "
                         f"the lock has {pinned or 'no version'}")
    for entry in lock.values():
        if entry.op not in ("==", "==="):
            found.append(f"{entry.name}: line {entry.line} of the lock is not pinned with ==")
        if entry.hashes == 0:
            found.append(f"{entry.name}: line {entry.line} of the lock has no --hash "
                         "(pip --require-hashes refuses it)")
        if entry.name not in wanted and any("-r requirements.txt" in v for v in entry.via):
            found.append(f"{entry.name}: the lock has it via requirements.txt, which no longer "
                         "asks for it (stale lock)")
    return found


def regenerate_hint(lock_path: Path) -> str:
    """The command in the lock's header comment: the one that made it."""
    for line in lock_path.read_text(encoding="utf-8").splitlines()[:5]:
        command = line.lstrip("#").strip()
        if command.startswith(("uv pip compile", "pip-compile")):
            return command
    return "uv pip compile requirements.txt --python-version 3.13 --generate-hashes ..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    args = parser.parse_args(argv)
    if not args.lock.exists():
        print(f"check_lock: {args.lock} is missing", file=sys.stderr)
        return 1
    found = problems(read_requirements(args.requirements), read_lock(args.lock))
    if not found:
        print(f"check_lock: {args.lock.name} matches {args.requirements.name}")
        return 0
    print(f"check_lock: {args.lock.name} does not match {args.requirements.name}:",
          file=sys.stderr)
    for problem in found:
        print(f"  {problem}", file=sys.stderr)
    print(f"regenerate it: {regenerate_hint(args.lock)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
