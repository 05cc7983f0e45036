"""The one tree walker, and that everything sizing, counting or listing a tree agrees with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telebot.engine import diskguard, taskstate
from telebot.errors import ProcessingError
from telebot.fileio.walk import entries, regular_files, tree_size
from telebot.processing import archivecheck, compress
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


def test_entries_yield_links_and_fifos_but_never_enter_a_linked_folder(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    files = make_tree(root, outside)
    found = {os.path.relpath(e.path, root) for e in entries(root)}
    assert found == {*files, "sub", "sub/deep", "sub/link-to-file", "link-to-outside", "sub/pipe"}


def test_an_unlistable_folder_raises_unless_errors_are_ignored(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(entries(tmp_path / "gone"))
    assert list(entries(tmp_path / "gone", ignore_errors=True)) == []
    assert list(regular_files(tmp_path / "gone", ignore_errors=True)) == []


def test_every_tree_measure_agrees_with_the_walker(tmp_path: Path) -> None:
    """The extract budget, the disk guard, the archive stage and the task state size what the
    walker finds, and none of them reaches through the link to the folder outside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    files = make_tree(root, outside)
    size, count, nondirs = archivecheck.tree_usage(root)
    links = sum(len(os.readlink(root / rel)) for rel in ("sub/link-to-file", "link-to-outside"))
    assert (size, count, nondirs) == (sum(files.values()) + links, len(files) + 5, len(files) + 3)
    assert taskstate.measure(root) == (tree_size(root), len(files))
    assert diskguard.allocated(root) < diskguard.allocated(outside)  # the 50 kB stay outside
    assert diskguard.allocated(root) >= sum(
        e.stat().st_blocks * 512 for e in regular_files(root)
    )
    with pytest.raises(ProcessingError, match="sub/pipe: not a file or folder"):
        compress._size_of(root)
    os.unlink(root / "sub" / "pipe")
    assert compress._size_of(root) == tree_size(root)
