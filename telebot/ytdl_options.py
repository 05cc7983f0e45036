"""Which yt-dlp options a user (``-opt '{...}'``) or the owner (``YTDL_OPTIONS``) may set.

Options arrive as JSON text and are parsed with :func:`json.loads` only (never ``eval``). Each
key must be on :data:`ALLOWED` with a value of the listed type; everything else is refused with
the option named. :data:`REFUSED` lists, with the reason shown to the user, the options that run
commands, write outside the task's folder, read local files or change where requests go
(``YoutubeDL.py`` docstring and ``options.py`` help of yt-dlp 2026.10; docs/ENGINES.md, yt-dlp).
Anything not on ``ALLOWED`` is refused too, so a new yt-dlp option is closed until reviewed.

Three keys are ours, not yt-dlp's: ``embed_subs``, ``embed_thumbnail`` and ``embed_metadata``
become yt-dlp postprocessors we build ourselves, because ``postprocessors`` itself can name
``Exec`` and carry ffmpeg arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from telebot.errors import BadInputError

__all__ = ["ALLOWED", "REFUSED", "parse_options", "to_params"]

# The longest JSON a user may send: far beyond any sane option set, small enough to log.
MAX_JSON_CHARS = 2000
# Longest string value (format selectors are the long ones; 300 covers real-world ones).
MAX_STRING = 300
# yt-dlp's own default is 1; more than 8 parallel fragments only hammers the origin.
MAX_CONCURRENT_FRAGMENTS = 8

_STR, _BOOL, _INT, _NUM, _STRLIST, _DICT = (
    "text",
    "true/false",
    "integer",
    "number",
    "list",
    "object",
)

ALLOWED: dict[str, str] = {
    "format": _STR,
    "format_sort": _STRLIST,
    "merge_output_format": _STR,
    "playlist_items": _STR,
    "playliststart": _INT,
    "playlistend": _INT,
    "playlistreverse": _BOOL,
    "noplaylist": _BOOL,
    "writesubtitles": _BOOL,
    "writeautomaticsub": _BOOL,
    "subtitleslangs": _STRLIST,
    "subtitlesformat": _STR,
    "writethumbnail": _BOOL,
    "embed_subs": _BOOL,
    "embed_thumbnail": _BOOL,
    "embed_metadata": _BOOL,
    "prefer_free_formats": _BOOL,
    "check_formats": _BOOL,
    "allow_multiple_video_streams": _BOOL,
    "allow_multiple_audio_streams": _BOOL,
    "retries": _INT,
    "fragment_retries": _INT,
    "skip_unavailable_fragments": _BOOL,
    "concurrent_fragment_downloads": _INT,
    "ratelimit": _INT,
    "http_chunk_size": _INT,
    "socket_timeout": _NUM,
    "min_filesize": _INT,
    "max_filesize": _INT,
    "age_limit": _INT,
    "geo_bypass": _BOOL,
    "geo_bypass_country": _STR,
    "extractor_args": _DICT,
}

_RUNS = "runs commands"
_FILES = "reads or writes files outside the task folder"
_NET = "changes where requests go"
REFUSED: dict[str, str] = {
    "exec": _RUNS,
    "exec_cmd": _RUNS,
    "postprocessors": _RUNS,
    "postprocessor_args": _RUNS,
    "external_downloader": _RUNS,
    "external_downloader_args": _RUNS,
    "netrc_cmd": _RUNS,
    "ffmpeg_location": _RUNS,
    "plugin_dirs": _RUNS,
    "outtmpl": _FILES,
    "paths": _FILES,
    "cookiefile": _FILES,
    "cookiesfrombrowser": _FILES,
    "netrc_location": _FILES,
    "usenetrc": _FILES,
    "config_locations": _FILES,
    "batchfile": _FILES,
    "load_info_filename": _FILES,
    "download_archive": _FILES,
    "print_to_file": _FILES,
    "enable_file_urls": _FILES,
    "client_certificate": _FILES,
    "client_certificate_key": _FILES,
    "cachedir": _FILES,
    "proxy": _NET,
    "geo_verification_proxy": _NET,
    "source_address": _NET,
    "nocheckcertificate": _NET,
    "http_headers": _NET,
}


def parse_options(text: str, *, origin: str = "-opt") -> dict[str, Any]:
    """Parse and check JSON options; raise :class:`BadInputError` naming the first bad key."""
    if len(text) > MAX_JSON_CHARS:
        raise BadInputError(f"{origin}: the options are too long (over {MAX_JSON_CHARS} chars).")
    try:
        data = json.loads(text)
    except ValueError:
        raise BadInputError(
            f'{origin} takes JSON, e.g. {origin} \'{{"format": "best[height<=720]"}}\'.'
        ) from None
    if not isinstance(data, dict):
        raise BadInputError(f'{origin} takes a JSON object: {{"key": value, ...}}.')
    return check_options(data, origin=origin)


def check_options(data: Mapping[str, Any], *, origin: str = "-opt") -> dict[str, Any]:
    """The options in ``data`` when every key is allowed with a value of the right type."""
    for key, value in data.items():
        name = str(key)[:40]
        if key in REFUSED:
            raise BadInputError(f"{origin}: the option {name} is refused: it {REFUSED[key]}.")
        kind = ALLOWED.get(key)
        if kind is None:
            raise BadInputError(f"{origin}: the option {name} is not allowed.")
        if not _has_type(value, kind):
            raise BadInputError(f"{origin}: the option {name} takes a {kind}.")
    concurrent = data.get("concurrent_fragment_downloads")
    if concurrent is not None and not 1 <= concurrent <= MAX_CONCURRENT_FRAGMENTS:
        raise BadInputError(
            f"{origin}: concurrent_fragment_downloads must be 1 to {MAX_CONCURRENT_FRAGMENTS}."
        )
    return dict(data)


def _has_type(value: Any, kind: str) -> bool:
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if kind == _STR:
        return isinstance(value, str) and 0 < len(value) <= MAX_STRING
    if kind == _STRLIST:
        return (
            isinstance(value, list)
            and len(value) <= 50
            and all(isinstance(v, str) and len(v) <= MAX_STRING for v in value)
        )
    # _DICT (extractor_args): {"extractor": {"arg": ["value", ...]}} of short strings.
    return (
        isinstance(value, dict)
        and len(json.dumps(value)) <= MAX_JSON_CHARS
        and all(
            isinstance(args, dict)
            and all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in args.values()
            )
            for args in value.values()
        )
    )


def to_params(options: Mapping[str, Any]) -> dict[str, Any]:
    """Checked options → yt-dlp params: our ``embed_*`` keys become the postprocessors."""
    params = {k: v for k, v in options.items() if not k.startswith("embed_")}
    post: list[dict[str, Any]] = []
    if options.get("embed_subs"):
        post.append({"key": "FFmpegEmbedSubtitle"})
    if options.get("embed_metadata"):
        post.append({"key": "FFmpegMetadata", "add_metadata": True})
    if options.get("embed_thumbnail"):
        params["writethumbnail"] = True
        post.append({"key": "EmbedThumbnail"})
    if post:
        params["postprocessors"] = post
    return params
