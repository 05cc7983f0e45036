"""-ns rules, prefix/suffix, excluded extensions and the rename stage (real files, hard links)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError
from telebot.processing.rename import (
    Renamer,
    RenameStage,
    Rule,
    delivered_name,
    parse_extensions,
    parse_rules,
    rename_stage_factory,
)


def spec(**fields: object) -> TaskSpec:
    return TaskSpec(kind="mirror", source="http://x/y", chat_id=1, user_id=1, **fields)  # type: ignore[arg-type]


def test_literal_and_regex_rules_with_escapes() -> None:
    rules = parse_rules(r"Movie/Film|/\.(\d{4})/ [\1]/r|x\|y/z|a\/b/|/a|aa/b/r")
    assert rules == (
        Rule("Movie", "Film"),
        Rule(r"\.(\d{4})", r" [\1]", is_regex=True),
        Rule("x|y", "z"),
        Rule("a/b", ""),
        Rule("a|aa", "b", is_regex=True),  # | inside a regular expression is alternation
    )
    rename = Renamer(rules[:2])
    assert rename("My.Movie.2020.mkv") == "My.Film [2020].mkv"


@pytest.mark.parametrize("text", ["", "noslash", "/x", "/(/y/r", "a/b/c", "|".join(["a/b"] * 21)])
def test_bad_rules_are_refused(text: str) -> None:
    with pytest.raises(BadInputError):
        parse_rules(text)


def test_prefix_and_suffix_keep_the_extension_of_files_only() -> None:
    rename = Renamer(prefix="[x] ", suffix="-720p")
    assert rename("show.ep1.mkv") == "[x] show.ep1-720p.mkv"
    assert rename("folder", is_file=False) == "[x] folder-720p"
    assert rename("noext") == "[x] noext-720p"


@pytest.mark.parametrize("rule", ["name.bin/", "/^.*$/../r", "/.+/a\\/b/r", "/.+/\x00/r"])
def test_a_rename_that_gives_no_name_is_refused(rule: str) -> None:
    with pytest.raises(BadInputError, match="which is no name"):
        Renamer(parse_rules(rule))("name.bin")


def test_a_catastrophic_pattern_ends_in_an_error_within_the_time_limit() -> None:
    rename = Renamer(parse_rules("/(a+)+$/b/r"), budget=0.5)
    name = "a" * 5000 + "!"  # a long name: (a+)+$ backtracks on every start position
    # The CPU this thread spent, not the wall clock: a loaded host stretches the wall time
    # (5.2 s once under -n 12 with CPU hogs), not the work done before the budget stops it.
    start = time.thread_time()
    with pytest.raises(BadInputError, match=r"took over 0\.5 s; simplify the pattern"):
        rename(name)
    assert time.thread_time() - start < 2.0  # the limit is 0.5 s


def test_the_time_limit_is_shared_by_every_name_of_a_task() -> None:
    now = [0.0]
    rename = Renamer(parse_rules("/a/b/r"), budget=1.0, clock=lambda: now[0])
    assert rename("a.txt") == "b.txt"
    now[0] = 1.5  # the first name started the budget; it is spent
    with pytest.raises(BadInputError, match="took over 1 s"):
        rename("a.txt")


def test_extensions_are_normalised() -> None:
    assert parse_extensions("NFO, .txt  jpg .tar.gz") == (".jpg", ".nfo", ".tar.gz", ".txt")
    with pytest.raises(BadInputError):
        parse_extensions("a/b")


def run_stage(task_spec: TaskSpec, path: Path, tmp: Path) -> Path:
    task = Task("0123456789", task_spec, tmp)
    out = tmp / ".stage-0-rename"
    out.mkdir(parents=True)
    return RenameStage().process(task, path, out)


def test_stage_renames_every_file_of_a_folder_and_skips_excluded_ones(tmp_path: Path) -> None:
    src = tmp_path / "Pack.Movie"
    (src / "sub").mkdir(parents=True)
    (src / "a.Movie.mkv").write_bytes(b"a")
    (src / "sub" / "b.MKV").write_bytes(b"b")
    (src / "info.NFO").write_bytes(b"n")
    (src / "sub" / "c.txt").write_bytes(b"c")
    task_spec = spec(name_prefix="p-", name_subst="Movie/Film", exclude_ext=(".nfo", ".txt"))
    result = run_stage(task_spec, src, tmp_path)
    got = sorted(str(p.relative_to(result)) for p in result.rglob("*") if p.is_file())
    assert result.name == "p-Pack.Film"
    assert got == ["p-a.Film.mkv", "sub/p-b.MKV"]
    assert (result / "p-a.Film.mkv").stat().st_ino == (src / "a.Movie.mkv").stat().st_ino
    assert (src / "info.NFO").exists()  # the input is never changed
    assert delivered_name(task_spec, result) == "p-Pack.Film"


def test_stage_refuses_a_folder_that_is_all_excluded_or_names_that_clash(tmp_path: Path) -> None:
    src = tmp_path / "pack"
    src.mkdir()
    (src / "a.nfo").write_bytes(b"a")
    with pytest.raises(BadInputError, match="excluded"):
        run_stage(spec(exclude_ext=(".nfo",)), src, tmp_path)
    (src / "b.nfo").write_bytes(b"b")
    with pytest.raises(BadInputError, match="both be called"):
        run_stage(spec(name_subst="/^.*$/same/r"), src, tmp_path / "again")


def test_only_specs_that_rename_get_the_stage_and_n_is_its_base(tmp_path: Path) -> None:
    assert rename_stage_factory(spec()) is None
    assert rename_stage_factory(spec(name_suffix="x")) is not None
    file = tmp_path / "download.bin"
    file.write_bytes(b"z")
    result = run_stage(spec(name="given.bin", name_prefix="p-"), file, tmp_path)
    assert result.name == "p-given.bin" and result.read_bytes() == b"z"
    assert delivered_name(spec(name="given.bin"), file) == "given.bin"  # no stage: -n wins
