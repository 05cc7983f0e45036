"""Parsing task commands: ``/mirror <link> [flags]`` into :class:`TaskArgs`.

Every mistake becomes a :class:`~telebot.errors.BadInputError` whose text says what is wrong
and how to write it; the handler sends that text back. The parser never evaluates anything: the
text is split with :mod:`shlex` (so ``-h "Key: value"`` keeps its spaces) and every value is
checked before it becomes part of a task.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from telebot.config import parse_size
from telebot.errors import BadInputError
from telebot.processing.media.shotflags import parse_grid, parse_sample, parse_shots
from telebot.processing.rename import parse_rules

# Longest link we accept: far beyond any real URL (browsers cap near 2 MB, servers near 8 KiB),
# short enough that nothing we store or log can be bloated by it.
MAX_LINK_LENGTH = 4096
# Real requests need one or two extra headers (a cookie, a token, a referer); ten leaves room
# and keeps one command from making a request huge.
MAX_HEADERS = 10
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # RFC 9110 token
_REFUSED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "range"})

USAGE = 'Write: /{command} <link> [-n <name>] [-h "Key: <value>"] [-au <user> -ap <password>]'

# Flags with a value, flags without, and flags whose value is optional (-e/-z [password]).
VALUE_FLAGS = frozenset(
    {"-n", "-h", "-au", "-ap", "-up", "-sp", "-i", "-q", "-opt", "-ns", "-m", "-zf"}
    | {"-tl"}  # leech media (processing/media/shotflags.py)
    | {"-cv", "-ca", "-ff", "-meta"}  # media tools (docs/MEDIA.md)
)
SWITCH_FLAGS = frozenset(
    {"-doc", "-med", "-s", "-b", "-j", "-overwrite", "-html"} | {"-es"} | {"-keep", "-t"}
)
OPTIONAL_VALUE_FLAGS = frozenset({"-e", "-z", "-d"} | {"-ss", "-sv"})


@dataclass(frozen=True)
class TaskArgs:
    link: str | None
    name: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    upload: str | None = None
    split_size: int | None = None
    as_document: bool = False
    as_media: bool = False
    extract: bool = False
    compress: bool = False
    select: bool = False
    multi: int | None = None
    bulk: bool = False
    quality: str | None = None  # -q: a yt-dlp format string (/ytdl only)
    options: str | None = None  # -opt: yt-dlp options as JSON (/ytdl only; allow-listed later)
    seed: tuple[float | None, float | None] | None = None  # -d [ratio][:minutes]
    extract_password: str | None = field(default=None, repr=False)  # -e PASSWORD
    join: bool = False  # -j
    name_subst: str | None = None  # -ns old/new|/re/new/r (checked by processing/rename.py)
    bulk_range: tuple[int | None, int | None] | None = None  # -b start:end (1-based, inclusive)
    folder: str | None = None  # -m folder: every result of -i/-b into one folder
    compress_password: str | None = field(default=None, repr=False)  # -z PASSWORD
    compress_format: str | None = None  # -zf zip|7z
    overwrite: bool = False  # -overwrite: replace a same-named file on an rclone remote (sudo)
    # No flag: set by a feed or a search that knows its link is a .torrent (TaskSpec.torrent_link).
    torrent_link: bool = False
    equal_split: bool = False  # -es: leech parts of equal size
    screenshots: int = 0  # -ss [n] (or the cells of -tl)
    screenshot_grid: tuple[int, int] | None = None  # -tl RxC: (rows, columns)
    sample: tuple[float, float | None] | None = None  # -sv [duration[:start]]
    convert_video: str | None = None  # -cv mp4|mkv
    convert_audio: str | None = None  # -ca mp3|m4a|opus|flac[:bitrate]
    keep_original: bool = False  # -keep
    ffmpeg_presets: tuple[str, ...] = ()  # -ff a,b (names; known ones checked by the specs)
    metadata: str | None = None  # -meta "key=value|..." (checked)
    task_thumbnail: bool = False  # -t: the replied-to photo is this task's thumbnail
    keep_html: bool = False  # -html: save a link's web page as a file instead of refusing it

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.user is None:
            return None
        return (self.user, self.password or "")

    @property
    def share_password(self) -> str | None:
        """``-ap`` without ``-au``: the password of a file host's share (MediaFire, GoFile...)."""
        return self.password if self.user is None else None


def split_words(text: str, command: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise BadInputError(
            f"Could not read the command ({exc}). {USAGE.format(command=command)}"
        ) from None


def parse_task_args(text: str, command: str) -> TaskArgs:
    """Parse the words after the command. ``command`` (``"mirror"``) only shapes the help.

    Nothing is dropped silently: an unknown flag, a flag given twice, a flag without its value,
    and too many ``-h`` are each a :class:`BadInputError`. ``-ap`` alone is a file host's share
    password; with ``-au`` it is the link's HTTP login.
    """
    words = split_words(text, command)
    link: str | None = None
    values: dict[str, list[str]] = {}
    switches: set[str] = set()
    i = 0
    while i < len(words):
        word = words[i]
        if word in VALUE_FLAGS:
            values.setdefault(word, []).append(_value_of(words, i, command))
            i += 2
        elif word in SWITCH_FLAGS or word in OPTIONAL_VALUE_FLAGS:
            if word in switches:
                raise BadInputError(f"{word} is given twice: give it once.")
            switches.add(word)
            if word == "-b" and i + 1 < len(words) and _BULK_RANGE.match(words[i + 1]):
                values["-b"] = [words[i + 1]]  # -b start:end; a bare -b takes every line
                i += 1
            has_value = i + 1 < len(words) and not words[i + 1].startswith("-")
            if word in OPTIONAL_VALUE_FLAGS and has_value and link is not None:
                values.setdefault(word, []).append(words[i + 1])
                i += 1
            i += 1
        elif word.startswith("-") and len(word) > 1:
            raise BadInputError(f"Unknown flag {word[:20]}. /help lists the flags.")
        elif link is None:
            link = word
            i += 1
        else:
            raise BadInputError(
                f"Unexpected {word[:40]!r}: give one link, then flags. "
                + USAGE.format(command=command)
            )
    return _build(link, values, switches)


KNOWN_FLAGS = VALUE_FLAGS | SWITCH_FLAGS | OPTIONAL_VALUE_FLAGS


def _value_of(words: list[str], i: int, command: str) -> str:
    """The value after ``words[i]``; another flag there means the value was left out."""
    flag = words[i]
    if i + 1 >= len(words) or words[i + 1] in KNOWN_FLAGS:
        example = {"-h": '-h "Key: <value>"', "-au": "-au <user> -ap <password>"}.get(
            flag, f"{flag} <value>"
        )
        raise BadInputError(
            f"{flag} needs a value: write {example}. " + USAGE.format(command=command)
        )
    return words[i + 1]


def _one(values: dict[str, list[str]], flag: str) -> str | None:
    found = values.get(flag)
    if not found:
        return None
    if len(found) > 1:
        raise BadInputError(f"{flag} is given {len(found)} times: give it once.")
    return found[0]


def _build(link: str | None, values: dict[str, list[str]], switches: set[str]) -> TaskArgs:
    if link is not None and len(link) > MAX_LINK_LENGTH:
        raise BadInputError(f"The link is too long (over {MAX_LINK_LENGTH} characters).")
    name = _one(values, "-n")
    if name is not None and not name.strip():
        raise BadInputError("-n needs a non-empty name.")
    split = _one(values, "-sp")
    multi = _one(values, "-i")
    if "-doc" in switches and "-med" in switches:
        raise BadInputError("Choose one of -doc and -med.")
    user, password = _one(values, "-au"), _one(values, "-ap")
    return TaskArgs(
        link=link,
        name=name,
        headers=_headers(values.get("-h", [])),
        user=user,
        password=password,
        upload=_one(values, "-up"),
        split_size=_parse_split(split) if split is not None else None,
        as_document="-doc" in switches,
        as_media="-med" in switches,
        extract="-e" in switches,
        compress="-z" in switches,
        select="-s" in switches,
        multi=_parse_multi(multi) if multi is not None else None,
        bulk="-b" in switches,
        quality=_one(values, "-q"),
        options=_one(values, "-opt"),
        seed=parse_seed(_one(values, "-d")) if "-d" in switches else None,
        extract_password=_one(values, "-e"),
        join="-j" in switches,
        name_subst=_name_subst(_one(values, "-ns")),
        bulk_range=_parse_range(_one(values, "-b")),
        folder=_folder(_one(values, "-m")),
        compress_password=_one(values, "-z"),
        compress_format=_compress_format(_one(values, "-zf"), "-z" in switches),
        overwrite="-overwrite" in switches,
        equal_split="-es" in switches,
        **_media_flags(values, switches),
        **_media_tools(values, switches),
        keep_html="-html" in switches,
    )


def _media_flags(values: dict[str, list[str]], switches: set[str]) -> dict[str, Any]:
    """-ss, -tl and -sv: a grid is -ss of rows x columns pictures."""
    grid_text = _one(values, "-tl")
    grid = parse_grid(grid_text) if grid_text is not None else None
    shots = parse_shots(_one(values, "-ss")) if "-ss" in switches else 0
    if grid is not None:
        if "-ss" in switches and _one(values, "-ss") is not None and shots != grid[0] * grid[1]:
            raise BadInputError(f"-tl {grid_text} is {grid[0] * grid[1]} pictures: leave out "
                                "-ss's number, or make them agree.")
        shots = grid[0] * grid[1]
    sample = parse_sample(_one(values, "-sv")) if "-sv" in switches else None
    return {"screenshots": shots, "screenshot_grid": grid, "sample": sample}


def _media_tools(values: dict[str, list[str]], switches: set[str]) -> dict[str, Any]:
    """-cv, -ca, -keep, -ff, -meta and -t, each value checked now (docs/MEDIA.md)."""
    # Here, not at the top: the stages' modules bring ffmpeg's runner, which the bot need not
    # import before it polls (commands are parsed in worker threads).
    from telebot.processing.media.convert import parse_audio_target, parse_video_target
    from telebot.processing.media.metadata import parse_metadata
    from telebot.processing.media.presets import parse_preset_names

    video, audio = _one(values, "-cv"), _one(values, "-ca")
    presets, meta = _one(values, "-ff"), _one(values, "-meta")
    keep = "-keep" in switches
    if keep and not (video or audio or presets):
        raise BadInputError("-keep keeps the original of -cv, -ca or -ff: add one of them.")
    if audio is not None:
        fmt, rate = parse_audio_target(audio)
        audio = f"{fmt}:{rate}" if rate else fmt
    if meta is not None:
        parse_metadata(meta)
    return {
        "convert_video": parse_video_target(video) if video is not None else None,
        "convert_audio": audio,
        "keep_original": keep,
        "ffmpeg_presets": parse_preset_names(presets) if presets is not None else (),
        "metadata": meta,
        "task_thumbnail": "-t" in switches,
    }


def _name_subst(text: str | None) -> str | None:
    if text is not None:
        parse_rules(text)  # refuse a bad rule now, not after the download
    return text


def _headers(given: list[str]) -> tuple[tuple[str, str], ...]:
    if len(given) > MAX_HEADERS:
        raise BadInputError(
            f"Too many -h: {len(given)} given, at most {MAX_HEADERS} per task. "
            'Write one -h "Key: <value>" per header.'
        )
    headers = tuple(parse_header(h) for h in given)
    names = [key.lower() for key, _ in headers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadInputError(f"The header {twice[0]} is given twice with -h: give it once.")
    return headers


def parse_header(text: str) -> tuple[str, str]:
    """``"Key: value"`` → ``("Key", "value")``; refuses names that would break the request."""
    key, sep, value = text.partition(":")
    key, value = key.strip(), value.strip()
    if not sep or not _HEADER_NAME.match(key):
        # The text is not echoed: a malformed header may still hold a secret.
        raise BadInputError('Bad header: write each one as -h "Key: <value>".')
    if key.lower() in _REFUSED_HEADERS:
        raise BadInputError(f"The header {key} is set by the bot itself and cannot be changed.")
    if any(ch in value for ch in "\r\n\0"):
        raise BadInputError(f"The value of header {key} has a line break.")
    return key, value


def _parse_split(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError:
        raise BadInputError(
            f"-sp {text[:30]!r} is not a size: write e.g. -sp 500mb, -sp 2gb or -sp 1048576."
        ) from None


def _compress_format(text: str | None, compress: bool) -> str | None:
    if text is None:
        return None
    if not compress:
        raise BadInputError("-zf needs -z: write -z -zf 7z (or -z <password> -zf 7z).")
    # Here, not at the top: the compress stage brings 7-Zip's runner and the sandbox, which
    # the bot need not import before it starts polling (args are parsed in worker threads).
    from telebot.processing.compress import archive_format

    return archive_format(text)


def _parse_multi(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise BadInputError("-i needs a number from 1 to 50.")
    return int(text)


_BULK_RANGE = re.compile(r"^\d*:\d*$")


def _parse_range(text: str | None) -> tuple[int | None, int | None] | None:
    """``-b start:end`` → (start, end), 1-based and inclusive, either side optional."""
    if text is None:
        return None
    start_text, _, end_text = text.partition(":")
    start = int(start_text) if start_text else None
    end = int(end_text) if end_text else None
    if start == 0 or end == 0 or (start and end and start > end):
        raise BadInputError(
            f"-b {text[:30]} is not a range of lines: write -b 2:10 (lines 2 to 10), "
            "-b 5: or -b :20; lines count from 1."
        )
    return start, end


def _folder(text: str | None) -> str | None:
    if text is not None and not text.strip(" ./"):
        raise BadInputError("-m needs a folder name, e.g. -m holiday.")
    return text


# -d with no value: seed to ratio 1 (give back what was taken). Upper bounds only stop typos
# from pinning a torrent for ever: ratio 100, 30 days.
DEFAULT_SEED = (1.0, None)
MAX_SEED_RATIO = 100.0
MAX_SEED_MINUTES = 30 * 24 * 60
SEED_USAGE = "write -d, -d 2 (ratio), -d :30 (minutes) or -d 1.5:60 (whichever comes first)."


def parse_seed(text: str | None) -> tuple[float | None, float | None]:
    """``-d`` value ``ratio[:minutes]`` → (ratio or None, minutes or None); one must be given."""
    if text is None:
        return DEFAULT_SEED
    ratio_text, _, minutes_text = text.partition(":")
    try:
        ratio = float(ratio_text) if ratio_text else None
        minutes = float(minutes_text) if minutes_text else None
    except ValueError:
        raise BadInputError(f"-d {text[:30]!r} is not a seeding limit: {SEED_USAGE}") from None
    if ratio is None and minutes is None:
        raise BadInputError(f"-d needs a ratio or minutes: {SEED_USAGE}")
    if ratio is not None and not 0 < ratio <= MAX_SEED_RATIO:
        raise BadInputError(f"-d ratio must be above 0 and at most {MAX_SEED_RATIO:g}.")
    if minutes is not None and not 0 < minutes <= MAX_SEED_MINUTES:
        raise BadInputError(f"-d minutes must be above 0 and at most {MAX_SEED_MINUTES}.")
    return ratio, minutes
