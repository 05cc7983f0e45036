"""Renaming what is delivered: ``-ns`` substitutions, the user's prefix and suffix, and the
extensions a user excludes from a folder.

It runs as the last :class:`~telebot.engine.pipeline.Stage` before the sink rather than inside
each sink, for four reasons: one module serves the local, rclone and Telegram sinks alike; the
manager records a finished stage, so a restart does not redo it; a bad rule (a regular expression
that runs out of time, a name that would become ``..``) fails the task *before* anything is
delivered, never half-way through a folder; and it needs nothing but the :class:`TaskSpec`, so it
runs the same on a remote worker. Its output is a tree of hard links under the new names (same
folder as the input, so the same filesystem): no byte is copied; a copy is the fallback only where
the filesystem has no hard links.

``-ns`` syntax: rules separated by ``|``; ``old/new`` replaces every ``old`` literally (``new``
may be empty); ``/pattern/new/r`` is a regular expression (``new`` may use ``\\1``, and a ``|``
in it is alternation). In a literal rule write ``\\|`` and ``\\/`` for a ``|`` or ``/``.
Regular expressions run through the ``regex`` package with a time limit shared by every name of
the task (:data:`REGEX_BUDGET`), so a pattern with catastrophic backtracking ends in an error
instead of holding a worker.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError, TaskCancelled
from telebot.fileio.walk import regular_files
from telebot.sources.names import MAX_BASE_BYTES, fit_name, sanitize_filename

# Seconds all regular-expression substitutions of one task may take together. A real rename
# takes microseconds per name; one second for a whole folder leaves three orders of magnitude.
REGEX_BUDGET = 1.0
# Rules per -ns: enough for any real clean-up, few enough to keep a command readable.
MAX_RULES = 20
MAX_RULES_TEXT = 1000
REGEX_FLAG = "r"
# link(2) errors that mean "no hard links here": the file is copied instead.
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK})

NS_USAGE = "write -ns old/new, -ns 'a/b|c/' or -ns '/regex/new/r' (\\| and \\/ for | and /)."


@dataclass(frozen=True)
class Rule:
    old: str
    new: str
    is_regex: bool = False


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` not preceded by a backslash; ``\\sep`` becomes ``sep``."""
    parts, current, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "|/":
            if text[i + 1] == sep:
                current.append(sep)
            else:
                current.append(text[i : i + 2])  # the other separator: its pass unescapes it
            i += 2
            continue
        if text[i] == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(text[i])
        i += 1
    parts.append("".join(current))
    return parts


def _split_rules(text: str) -> list[str]:
    """Split ``-ns`` text into rules. A rule that starts with ``/`` runs to the first ``/r``
    that ends the text or comes before a ``|`` and has an unescaped ``/`` before it: a ``|``
    inside a regular expression is alternation, not the end of the rule."""
    rules: list[str] = []
    i = 0
    while i < len(text):
        end = _regex_end(text, i) if text[i] == "/" else -1
        if end < 0:
            piece = _split_unescaped(text[i:], "|")[0]
            consumed = _raw_length(text[i:], piece)
            rules.append(piece)
            i += consumed + 1
        else:
            rules.append(text[i:end])
            i = end + 1
    return rules


def _regex_end(text: str, start: int) -> int:
    """Where the ``/pattern/new/r`` rule at ``start`` ends (exclusive), or -1 if it is none."""
    search = start + 1
    while True:
        found = text.find("/" + REGEX_FLAG, search)
        if found < 0:
            return -1
        after = found + 1 + len(REGEX_FLAG)
        inner = text[start + 1 : found]
        if (after == len(text) or text[after] == "|") and len(_split_unescaped(inner, "/")) > 1:
            return after
        search = found + 1


def _raw_length(raw: str, piece: str) -> int:
    """How many characters of ``raw`` the unescaped ``piece`` (up to the first ``|``) took."""
    i = taken = 0
    while i < len(raw) and taken < len(piece):
        i += 2 if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] == "|" else 1
        taken += 1
    return i


def parse_rules(text: str) -> tuple[Rule, ...]:
    """``-ns`` text → rules, or :class:`BadInputError` saying what is wrong."""
    if len(text) > MAX_RULES_TEXT:
        raise BadInputError(f"-ns is too long (over {MAX_RULES_TEXT} characters).")
    rules = [_parse_rule(part) for part in _split_rules(text) if part]
    if not rules:
        raise BadInputError(f"-ns needs at least one rule: {NS_USAGE}")
    if len(rules) > MAX_RULES:
        raise BadInputError(f"-ns has {len(rules)} rules; at most {MAX_RULES}.")
    return tuple(rules)


def _parse_rule(text: str) -> Rule:
    if text.startswith("/") and text.endswith("/" + REGEX_FLAG) and len(text) > 3:
        pieces = _split_unescaped(text[1 : -1 - len(REGEX_FLAG)], "/")
        if len(pieces) != 2 or not pieces[0]:
            raise BadInputError(f"-ns rule {text[:40]!r} is not /regex/new/r: {NS_USAGE}")
        import regex  # deferred: ~40 ms at start-up (python -X importtime); needed for -ns /r/

        try:
            regex.compile(pieces[0])
        except regex.error as exc:
            raise BadInputError(
                f"-ns: {pieces[0][:40]!r} is no regular expression ({exc})"
            ) from None
        return Rule(pieces[0], pieces[1], is_regex=True)
    pieces = _split_unescaped(text, "/")
    if len(pieces) != 2 or not pieces[0]:
        raise BadInputError(f"-ns rule {text[:40]!r} is not old/new: {NS_USAGE}")
    return Rule(pieces[0], pieces[1])


def check_name_part(text: str, what: str) -> str:
    """A prefix or suffix the user typed: no path separator, NUL or line break."""
    if any(ch in text for ch in "/\0\r\n"):
        raise BadInputError(f"The {what} may not contain /, NUL or line breaks.")
    if len(text.encode()) > 64:
        raise BadInputError(f"The {what} is too long (at most 64 bytes).")
    return text


def parse_extensions(text: str) -> tuple[str, ...]:
    """``"nfo, .TXT jpg"`` → ``(".jpg", ".nfo", ".txt")``."""
    found = set()
    for word in text.replace(",", " ").split():
        ext = "." + word.lower().lstrip(".")
        if ext == "." or any(ch in ext[1:] for ch in "/\\\0") or len(ext) > 20:
            raise BadInputError(f"{word[:20]!r} is not a file extension.")
        found.add(ext)
    return tuple(sorted(found))


def excluded(name: str, extensions: Sequence[str]) -> bool:
    lower = name.lower()
    return any(lower.endswith(ext) for ext in extensions)


class Renamer:
    """Applies rules, prefix and suffix to names; regexes share one time budget."""

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        *,
        prefix: str = "",
        suffix: str = "",
        budget: float = REGEX_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = tuple(rules)
        self._prefix = prefix
        self._suffix = suffix
        self._clock = clock
        self._deadline: float | None = None
        self._budget = budget

    def __call__(self, name: str, *, is_file: bool = True) -> str:
        """The new name for ``name``, or :class:`BadInputError` when it would be unusable."""
        new = name
        for rule in self._rules:
            new = self._apply(rule, new)
        if self._suffix:
            stem, dot, ext = new.rpartition(".")
            new = f"{stem}{self._suffix}.{ext}" if is_file and dot and stem else new + self._suffix
        new = self._prefix + new
        if new in ("", ".", "..") or "/" in new or "\0" in new:
            raise BadInputError(f"renaming {name[:60]!r} gives {new[:60]!r}, which is no name")
        return fit_name(new, MAX_BASE_BYTES)

    def _apply(self, rule: Rule, name: str) -> str:
        if not rule.is_regex:
            return name.replace(rule.old, rule.new)
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self._budget
        left = self._deadline - now
        import regex  # deferred, as in _parse_rule

        try:
            if left <= 0:
                raise TimeoutError
            return str(regex.sub(rule.old, rule.new, name, timeout=left))
        except TimeoutError:
            raise BadInputError(
                f"-ns: /{rule.old[:40]}/ took over {self._budget:g} s; simplify the pattern"
            ) from None
        except (regex.error, IndexError) as exc:  # e.g. \2 with one group
            raise BadInputError(f"-ns: /{rule.old[:40]}/{rule.new[:40]}/ failed ({exc})") from None


def renamer_for(spec: TaskSpec) -> Renamer:
    rules = parse_rules(spec.name_subst) if spec.name_subst else ()
    return Renamer(rules, prefix=spec.name_prefix, suffix=spec.name_suffix)


def renames(spec: TaskSpec) -> bool:
    """True when the spec asks for this stage."""
    return bool(spec.name_subst or spec.name_prefix or spec.name_suffix or spec.exclude_ext)


def delivered_name(spec: TaskSpec, path: Path) -> str:
    """The name a sink gives the result: ``-n`` unless the rename stage already applied it."""
    return path.name if renames(spec) else (spec.name or path.name)


class RenameStage:
    """Links the result under its new names into ``out`` (see the module docstring)."""

    name = "rename"
    engine = "rename"

    def process(self, task: Task, path: Path, out: Path) -> Path:
        spec = task.spec
        rename = renamer_for(spec)
        given = sanitize_filename(spec.name, fallback=path.name) if spec.name else path.name
        top = rename(given, is_file=not path.is_dir())
        target = out / top
        if not path.is_dir():
            _link(path, target)
            task.progress(1, 1)
            return target
        files = [Path(entry.path) for entry in regular_files(path)]
        kept = [f for f in files if not excluded(f.name, spec.exclude_ext)]
        if files and not kept:
            raise BadInputError("every file of the result has an excluded extension")
        target.mkdir()
        for done, file in enumerate(kept, start=1):
            if task.cancel_event.is_set():
                raise TaskCancelled(task.cancel_reason or "cancelled")
            relative = file.relative_to(path)
            folder = target / relative.parent
            folder.mkdir(parents=True, exist_ok=True)
            new = folder / rename(file.name)
            if new.exists():
                raise BadInputError(f"two files would both be called {new.name[:80]!r}")
            _link(file, new)
            task.progress(done, len(kept))
        return target


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        shutil.copy2(src, dst)


def rename_stage_factory(spec: TaskSpec) -> RenameStage | None:
    return RenameStage() if renames(spec) else None
