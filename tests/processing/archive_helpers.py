"""Archives built for the extract/join tests, with the real 7-Zip, zipfile and tarfile."""

from __future__ import annotations

import io
import os
import tarfile
import threading
import zipfile
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
