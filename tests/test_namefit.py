"""Names trimmed where they enter the bot (telebot/namefit.py): torrents and stage results."""

from __future__ import annotations

import os
from pathlib import Path

from telebot.namefit import MAX_BASE_BYTES, fit_paths, fit_tree

LONG = "a" * 250 + ".mkv"


def test_fit_paths_trims_every_component_and_keeps_paths_apart() -> None:
    twin = "a" * 250 + "b.mkv"  # the same as LONG up to the cut
    paths = {0: f"{'d' * 250}/{LONG}", 1: f"{'d' * 250}/{twin}", 2: f"{'d' * 250}/short.txt",
             3: "other/ok.bin"}  # fmt: skip
    fitted = fit_paths(paths)
    assert set(fitted) == {0, 1, 2}  # 3 fits as it is
    assert len({*fitted.values()}) == 3
    for path in fitted.values():
        assert all(len(part.encode()) <= MAX_BASE_BYTES for part in path.split("/"))
    assert fitted[0].endswith(".mkv") and fitted[1].endswith(" (1).mkv")
    assert {p.split("/")[0] for p in fitted.values()} == {"d" * MAX_BASE_BYTES}
    assert fitted[2].endswith("/short.txt")


def test_fit_tree_renames_deepest_first_and_never_follows_links(tmp_path: Path) -> None:
    root = tmp_path / ("r" * 250)
    deep = root / ("s" * 250)
    deep.mkdir(parents=True)
    (deep / LONG).write_bytes(b"x")
    (deep / "fine.txt").write_bytes(b"y")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ("o" * 250)).write_bytes(b"z")
    os.symlink(outside, root / ("l" * 250))
    new = fit_tree(root)
    assert new.name == "r" * MAX_BASE_BYTES and not root.exists()
    names = sorted(p.relative_to(new).as_posix() for p in new.rglob("*"))
    assert all(len(part.encode()) <= MAX_BASE_BYTES for n in names for part in n.split("/"))
    assert (outside / ("o" * 250)).exists()  # through the link: untouched
    assert len(names) == 4


def test_fit_tree_of_a_fitting_file_is_a_no_op(tmp_path: Path) -> None:
    file = tmp_path / "x.bin"
    file.write_bytes(b"")
    assert fit_tree(file) == file
    long = tmp_path / LONG
    long.write_bytes(b"")
    assert fit_tree(long) == tmp_path / ("a" * (MAX_BASE_BYTES - 4) + ".mkv")
