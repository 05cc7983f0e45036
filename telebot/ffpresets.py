"""FFMPEG_PRESETS: the owner's named ffmpeg recipes, checked once at start-up.

A preset is an ffmpeg argument list with two placeholders, ``{input}`` (the file being
processed) and ``{output}`` (the file the bot names). Users pick presets by name with ``-ff``;
they never pass ffmpeg arguments themselves. The owner writes the list, but the files it runs
on are untrusted, and a careless preset could still make ffmpeg read or write where the task
may not: so every preset must pass :func:`check_preset` before the bot starts (a refused one
stops start-up with a ConfigError naming the preset and the reason). The box around ffmpeg
(``telebot/fftools.py``) is the wall behind these checks.

Forms accepted in the JSON object (name → preset)::

    {"x265": ["-i", "{input}", "-c:v", "libx265", "-crf", "28", "-c:a", "copy", "{output}"],
     "small": {"args": ["-i", "{input}", "-vf", "scale=640:-2", "{output}"], "ext": "mp4"}}

The output keeps the input's extension unless the object form names one (``ext``, from
:data:`OUTPUT_EXTENSIONS`).

What is refused, and why:

* a network or nested protocol anywhere (``://``, or ``http:``, ``tcp:``, ``concat:``, ...
  at the start of an argument): ffmpeg opens URLs wherever it takes a file;
* any file name but the placeholders: every ``-i`` must be followed by ``{input}``, exactly one
  ``{output}`` ends the list, and an argument that is neither an option, an option's value, nor
  the final ``{output}`` is an output file to ffmpeg, so it is refused;
* options that read or write files of their own (:data:`FILE_OPTIONS`: ``-filter_script``,
  ``-attach``, ``-dump_attachment``, ``-passlogfile``, ``-progress``, ``-/option`` ...) and those
  that would undo the bot's input whitelists;
* ``-f`` other than :data:`SAFE_MUXERS` (``tee``, ``segment``, ``hls``, ``image2`` ... write
  other files), and any ``-f`` before an input (``lavfi`` and other devices);
* filters that open files (``movie=``, ``amovie=``, ``subtitles=``, ``sendcmd``, ``fontfile=``
  ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telebot.errors import BadInputError

INPUT = "{input}"
OUTPUT = "{output}"
MAX_PRESETS = 50
MAX_ARGS = 100
MAX_ARG_LENGTH = 1000
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

# Output formats that write exactly the one file they are given.
SAFE_MUXERS = frozenset({
    "mp4", "mov", "matroska", "webm", "mp3", "ipod", "adts", "flac", "ogg", "opus", "wav",
    "mpegts", "avi", "flv",
})  # fmt: skip
OUTPUT_EXTENSIONS = frozenset({
    "mp4", "m4v", "mov", "mkv", "webm", "mp3", "m4a", "aac", "flac", "ogg", "opus", "wav",
    "ts", "avi", "flv",
})  # fmt: skip
# Options that name a file, a URL or a script, or undo the bot's whitelists.
FILE_OPTIONS = frozenset({
    "-filter_script", "-filter_complex_script", "-attach", "-dump_attachment", "-passlogfile",
    "-pass", "-progress", "-vstats", "-vstats_file", "-report", "-sdp_file", "-fpre", "-pre",
    "-vpre", "-apre", "-spre", "-stats_enc_pre", "-stats_enc_post", "-stats_mux_pre",
    "-protocol_whitelist", "-protocol_blacklist", "-format_whitelist", "-codec_whitelist",
    "-dumpgraph", "-init_hw_device", "-filter_hw_device", "-hwaccel_device", "-i",
})  # fmt: skip
# Options without a value (the rest take the argument after them).
SWITCHES = frozenset({
    "-an", "-vn", "-sn", "-dn", "-y", "-n", "-shortest", "-nostdin", "-hide_banner", "-copyts",
    "-start_at_zero", "-re", "-nostats", "-stats", "-accurate_seek", "-noaccurate_seek",
    "-autorotate", "-noautorotate", "-ignore_unknown", "-copy_unknown", "-copyinkf",
    "-apad",
})  # fmt: skip
# ffmpeg's protocols (``ffmpeg -protocols``) and other URL schemes: none may start an argument.
PROTOCOLS = frozenset({
    "async", "bluray", "cache", "concat", "concatf", "crypto", "data", "fd", "ffrtmpcrypt",
    "ffrtmphttp", "file", "ftp", "gopher", "gophers", "hls", "http", "httpproxy", "https",
    "icecast", "ipfs", "ipns", "md5", "mmsh", "mmst", "pipe", "prompeg", "rist", "rtmp",
    "rtmpe", "rtmps", "rtmpt", "rtmpte", "rtmpts", "rtp", "rtsp", "sctp", "sftp", "smb",
    "srt", "srtp", "subfile", "tcp", "tee", "tls", "udp", "udplite", "unix", "zmq", "libssh",
    "librist", "libsrt", "libsmbclient", "ws", "wss", "dvd", "sap", "mms", "ssh",
})  # fmt: skip
_PROTOCOL_START = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)\s*:")
# Filters (and filter options) that open files or sockets by name.
_FILE_FILTERS = re.compile(
    r"(?:^|[\s,;\[\]'\"=:])(movie|amovie|subtitles|ass|sendcmd|asendcmd|zmq|azmq|lut3d|"
    r"frei0r|frei0r_src|ladspa|lv2|textfile|fontfile|filename|file|shader_file|model)\s*="
)


# Encoder parameter strings (``-x265-params a=1:b=2``) whose keys name files to read or write.
_PARAM_OPTIONS = frozenset({
    "-x264opts", "-x264-params", "-x265-params", "-svtav1-params", "-aom-params",
    "-rav1e-params", "-kvazaar-params", "-vvenc-params",
})  # fmt: skip
_FILE_PARAMS = re.compile(
    r"(?:^|[:,])\s*(stats|csv|analysis-save|analysis-load|analysis-reuse-file|qpfile|"
    r"zonefile|zones-file|lambda-file|scaling-list|dhdr10-info|dump-yuv|dump_yuv|recon|"
    r"fgs-table|film-grain-table|passlogfile|input|output|stats-file|log-file|cdef-file|"
    r"vbv-file|qp-file)\s*="
)


@dataclass(frozen=True)
class Preset:
    """One checked preset: its arguments (placeholders kept) and the output extension (None:
    the input's)."""

    name: str
    args: tuple[str, ...]
    ext: str | None = None

    def argv(self, input_options: list[str], input_url: str, output_url: str) -> list[str]:
        """The arguments with the placeholders filled in: each ``-i {input}`` gets
        ``input_options`` (the bot's whitelists) before it."""
        out: list[str] = []
        for index, arg in enumerate(self.args):
            if arg == "-i":
                out += input_options
                out.append(arg)
            elif arg == INPUT:
                out.append(input_url)
            elif arg == OUTPUT and index == len(self.args) - 1:
                out.append(output_url)
            else:
                out.append(arg)
        return out


def parse_presets(text: str) -> dict[str, Preset]:
    """FFMPEG_PRESETS text → presets by name; :class:`BadInputError` naming the preset and the
    reason for the first one refused."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadInputError(f"is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadInputError("must be a JSON object: name → argument list")
    if len(data) > MAX_PRESETS:
        raise BadInputError(f"has {len(data)} presets; at most {MAX_PRESETS}")
    return {name: check_preset(name, value) for name, value in data.items()}


def check_preset(name: str, value: Any) -> Preset:
    """One preset checked (see the module docstring); BadInputError("preset 'x': reason")."""
    try:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("a name is 1-32 letters, digits, _ or -")
        ext: str | None = None
        args = value
        if isinstance(value, Mapping):
            unknown = set(value) - {"args", "ext"}
            if unknown:
                raise ValueError(f"unknown key {sorted(unknown)[0]!r} (keys: args, ext)")
            args = value.get("args")
            ext = value.get("ext")
            if ext is not None and (not isinstance(ext, str) or ext not in OUTPUT_EXTENSIONS):
                raise ValueError(f"ext must be one of {', '.join(sorted(OUTPUT_EXTENSIONS))}")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError("the arguments must be a list of strings")
        check_arguments(args)
    except ValueError as exc:
        raise BadInputError(f"preset {str(name)[:32]!r}: {exc}") from None
    return Preset(name, tuple(args), ext)


def check_arguments(args: list[str]) -> None:
    """ValueError saying why ``args`` could make ffmpeg touch anything but its input and
    output."""
    if not args or len(args) > MAX_ARGS:
        raise ValueError(f"needs 1 to {MAX_ARGS} arguments")
    for arg in args:
        _check_text(arg)
    if args.count(OUTPUT) != 1 or args[-1] != OUTPUT:
        raise ValueError(f"exactly one {OUTPUT}, as the last argument")
    inputs = [i for i, arg in enumerate(args) if arg == "-i"]
    if not inputs:
        raise ValueError(f"needs -i {INPUT}")
    last_input = inputs[-1]
    index = 0
    while index < len(args) - 1:
        arg = args[index]
        if arg == INPUT:
            raise ValueError(f"{INPUT} may only follow -i")
        if not _is_option(arg):
            raise ValueError(f"{arg[:60]!r} would be a file name: only {INPUT} and {OUTPUT} are")
        if arg == "-i":
            if args[index + 1] != INPUT:
                raise ValueError(f"-i must be followed by {INPUT}, not {args[index + 1][:60]!r}")
            index += 2
            continue
        base = arg.split(":", 1)[0]  # -dump_attachment:t is -dump_attachment for stream t
        if base in FILE_OPTIONS or arg.startswith("-/"):
            raise ValueError(f"{arg} is not allowed (it reads or writes files of its own)")
        if base in SWITCHES:
            index += 1
            continue
        if index + 1 >= len(args) - 1:
            raise ValueError(f"{arg} needs a value before {OUTPUT}")
        value = args[index + 1]
        if value in (INPUT, OUTPUT):
            raise ValueError(f"{arg} may not take {value}")
        if base in _PARAM_OPTIONS and (found := _FILE_PARAMS.search(value)):
            raise ValueError(f"{arg} {found.group(1)}= is not allowed (it names a file)")
        if base == "-f":
            if index < last_input:
                raise ValueError("-f before an input is not allowed (input formats are the bot's)")
            if value not in SAFE_MUXERS:
                raise ValueError(
                    f"-f {value[:30]} is not allowed (output formats: "
                    f"{', '.join(sorted(SAFE_MUXERS))})"
                )
        index += 2


def _is_option(arg: str) -> bool:
    return len(arg) > 1 and arg[0] == "-" and (arg[1].isalpha() or arg[1] == "/")


def _check_text(arg: str) -> None:
    if len(arg) > MAX_ARG_LENGTH:
        raise ValueError(f"an argument is over {MAX_ARG_LENGTH} characters")
    if any(ord(ch) < 32 for ch in arg):
        raise ValueError("an argument has a control character")
    if arg in (INPUT, OUTPUT):
        return
    if INPUT in arg or OUTPUT in arg:
        raise ValueError(f"{INPUT} and {OUTPUT} must be whole arguments")
    if "://" in arg:
        raise ValueError(f"{arg[:60]!r} names a URL: no network in presets")
    start = _PROTOCOL_START.match(arg)
    if start and start.group(1).lower() in PROTOCOLS:
        raise ValueError(f"{arg[:60]!r} starts with the protocol {start.group(1)}:")
    found = _FILE_FILTERS.search(arg)
    if found:
        raise ValueError(f"{found.group(1)}= is not allowed (it opens files)")
