"""The one tree walker, and that everything sizing, counting or listing a tree agrees with it."""

from __future__ import annotations

import os
from pathlib import Path

from telebot.fileio.walk import regular_files, tree_size
from telebot.sinks import local, telegram


def make_tree(root: Path, outside: Path) -> dict[str, int]:
    """A tree with nested folders, a symlink to a file, one to a folder outside, and a fifo;
    returns its regular files (relative path -> size)."""
    files = {"a.bin": 10, "sub/b.bin": 200, "sub/deep/c.bin": 3000, "empty.bin": 0}
    for rel, size in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * size)
    (outside / "secret.bin").write_bytes(b"s" * 50_000)
    os.symlink(root / "a.bin", root / "sub" / "link-to-file")
    os.symlink(outside, root / "link-to-outside")
    os.mkfifo(root / "sub" / "pipe")
    return files


def test_regular_files_neither_follow_nor_count_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    files = make_tree(root, outside)
    found = {os.path.relpath(e.path, root): e.stat().st_size for e in regular_files(root)}
    assert found == files
    assert tree_size(root) == sum(files.values())


def test_sinks_and_copy_progress_agree_on_a_tree(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    files = make_tree(root, outside)
    listed = telegram.files_of(root)
    assert [p.relative_to(root).as_posix() for p in listed] == sorted(
        files, key=lambda rel: [telegram.natural_key(part) for part in rel.split("/")]
    )
    assert local._count_files(root) == len(listed) == len(files)
    assert local._size_of(root) == sum(p.stat().st_size for p in listed) == tree_size(root)
