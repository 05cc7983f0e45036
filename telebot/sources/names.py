"""File-name rules shared by the sources and the local mirror sink.

A name that reaches the disk comes from a user (``-n name``), a server
(``Content-Disposition``) or a URL. None of them may choose *where* the file
goes, only what it is called, so every such name passes through
:func:`sanitize_filename`, which returns a single, harmless path component.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit

# The byte limits and the trimming live in telebot/namefit.py (the engine trims there too).
from telebot.namefit import LONGEST_SUFFIX_BYTES, MAX_BASE_BYTES, MAX_NAME_BYTES, fit_name

__all__ = [
    "LONGEST_SUFFIX_BYTES",
    "MAX_BASE_BYTES",
    "MAX_NAME_BYTES",
    "filename_from_content_disposition",
    "filename_from_url",
    "fit_name",
    "sanitize_filename",
]

# C0/C1 control characters and DEL; NUL is one of them. Path separators of both
# POSIX and Windows are replaced too, so a name can never address a directory.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")


def sanitize_filename(
    name: str, *, fallback: str = "download", max_bytes: int = MAX_BASE_BYTES
) -> str:
    """Return *name* as one safe path component.

    Contract: the result contains no ``/``, ``\\``, NUL or control character;
    does not start with a dot or a space; is never ``""``, ``"."`` or ``".."``;
    and its UTF-8 form fits in *max_bytes* (trimmed in the stem so that the
    extension survives). When nothing usable is left, *fallback* (sanitized the
    same way, and ``"download"`` if even that is empty) is returned.
    """
    cleaned = _clean(name, max_bytes)
    if cleaned:
        return cleaned
    return _clean(fallback, max_bytes) or "download"


def _clean(name: str, max_bytes: int) -> str:
    # NFC first so that the byte trimming below never splits a combining sequence
    # into two different-looking names.
    text = unicodedata.normalize("NFC", name)
    # Only the last path component counts: "../../etc/passwd" is "passwd".
    text = re.split(r"[/\\]", text)[-1]
    text = _UNSAFE.sub("_", text)
    text = text.strip().lstrip(". ").rstrip(" ")
    if text in ("", ".", ".."):
        return ""
    return fit_name(text, max_bytes)


def filename_from_content_disposition(value: str | None) -> str | None:
    """Return the file name a ``Content-Disposition`` header suggests, unsanitized.

    Follows RFC 6266 §4.3: ``filename*`` (RFC 8187 ``charset'lang'pct-encoded``)
    wins over ``filename``. Returns None when the header is absent or names no
    file. The caller must still pass the result through :func:`sanitize_filename`.
    """
    if not value:
        return None
    params = _disposition_params(value)
    extended = params.get("filename*")
    if extended:
        decoded = _decode_ext_value(extended)
        if decoded:
            return decoded
    plain = params.get("filename")
    return plain if plain and plain.strip() else None


# One ``; name=value`` parameter: value is a quoted-string (with quoted-pairs) or a token.
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _disposition_params(value: str) -> dict[str, str]:
    """Parse the parameters of a Content-Disposition value (RFC 6266 §4.1), first wins."""
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value):
        name, raw = match.group(1).lower(), match.group(2).strip()
        params.setdefault(name, _unquote_plain(raw))
    return params


def _decode_ext_value(value: str) -> str | None:
    """Decode an RFC 8187 ext-value ``charset'[lang]'%xx..``; None when malformed."""
    value = value.strip()
    parts = value.split("'", 2)
    if len(parts) != 3:
        return None
    charset, _lang, encoded = parts
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict") or None
    except (LookupError, UnicodeDecodeError):
        return None


def _unquote_plain(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    # quoted-pair (RFC 7230 §3.2.6): a backslash escapes the next character.
    return re.sub(r"\\(.)", r"\1", value)


def filename_from_url(url: str) -> str | None:
    """Return the last non-empty path segment of *url*, %-decoded, or None."""
    path = urlsplit(url).path
    segment = path.rstrip("/").rsplit("/", 1)[-1]
    if not segment:
        return None
    return unquote(segment, errors="replace") or None
