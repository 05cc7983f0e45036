"""The one redactor: every log line and every chat message passes through :func:`redact`.

What it removes, and why each can appear:

- the bot token (registered at start with :func:`register_secret`, and anything shaped like a
  token): httpx/urllib3 errors quote request URLs, and Bot API file URLs hold the token;
- URL credentials (``https://user:pass@host``) and query parameters named like keys
  (``?api_key=…``, ``&sig=…``): links users send and the exception texts quoting them;
- task flags that carry credentials: ``-au user``, ``-ap pass``, the archive passwords of
  ``-e pass`` / ``-z pass`` (optional: a following flag is not a password) and the values of
  ``-h "Key: value"``: command texts echoed in errors and logs;
- values of credential headers (``Authorization: …``, ``Cookie: …``) wherever they appear.

Replacements are ``***``, which is plain text in both log lines and Telegram HTML. The module
imports nothing from telebot, so every layer (logs, resilience, engine, Telegram facade) may use
it without creating an import cycle.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "LINE_CAP",
    "MASK",
    "cap_line",
    "carries_credentials",
    "redact",
    "redact_url",
    "register_secret",
    "strip_credentials",
]

MASK = "***"

# A bot token is "<bot id>:<35 url-safe base64 characters>" (Bot API docs, "Authorizing your
# bot"); be generous about the length of the secret part.
_TOKEN = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")
# user:password@ in a URL (RFC 3986 userinfo).
_USERINFO = re.compile(r"(?<=://)[^/@\s\"'<>]+@")
# A quote as it appears in raw text or in escaped HTML (html.escape(quote=True)).
_Q = r"(?:\"|'|&quot;|&#x27;|&#39;)"
# Flags start a word, or follow an HTML tag ("<code>-ap x</code>").
# -au/-ap and their value: quoted (any characters up to the same quote) or one word. A bare
# word stops at "<", so a redacted value never swallows the HTML tag that follows it. A quote
# left open runs to the end: a log line cut short (:func:`cap_line`) may end inside one.
_CRED_FLAG = re.compile(
    rf"(?<![^\s>])(-a[up])\s+(?:(?P<q>{_Q})(?P<qv>.*?)(?:(?P=q)|\Z)|(?P<bv>[^\s<]+))", re.S
)
# -e/-z [password]: the password is optional, so a following flag ("-e -n x"), a link (the
# parser reads "-z <link>" as the link) or a help placeholder ("-z [password]") is no password.
_ARCHIVE_VALUE = r"(?!-)(?!\S*://)(?!magnet:)(?!\[)"
_ARCHIVE_FLAG = re.compile(
    rf"(?<![^\s>])(-[ez])\s+{_ARCHIVE_VALUE}"
    rf"(?:(?P<q>{_Q})(?P<qv>.*?)(?:(?P=q)|\Z)|(?P<bv>[^\s<]+))",
    re.S,
)
# -h "Key: value": keep the key (it helps to read the log), drop the value.
_HEADER_FLAG_QUOTED = re.compile(
    rf"(?<![^\s>])(-h\s+(?P<q>{_Q})[^:\n]{{0,100}}:)(.*?)(?:(?P=q)|\Z)", re.S
)
_HEADER_FLAG_BARE = re.compile(rf"(?<![^\s>])(-h\s+(?!{_Q})[^\s:\"'<]{{1,100}}:)([^\s<]*)")
# Help and usage texts write placeholders such as <password> or <value> (HTML: &lt;value&gt;):
# those are not secrets, and masking them would make the help unreadable.
_PLACEHOLDER = re.compile(r"\s*(?:<|&lt;)[\w-]{1,20}(?:>|&gt;)\s*")
# Credential headers written anywhere ("Authorization: Bearer x", "'cookie': 'a=b'").
_CRED_HEADER = re.compile(
    rf"\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token)"
    rf"({_Q}?\s*[:=]\s*{_Q}?)[^\n\"'<>&]+",
    re.I,
)
# Query parameters whose name says they carry a secret. Not one regex: a lazy name prefix, a
# keyword and a greedy name suffix over the same characters backtrack cubically on "?key" * N
# (4.2 s at 4 KB). :func:`_mask_params` takes each name whole (possessive, so a name is read once)
# and only then asks whether it holds a keyword. A name runs from one of "?&;" to the "=";
# "?" and ";" may sit inside a name, exactly as in the old pattern.
_PARAM_NAME = re.compile(r"[?&;][^=&\s#\"'<>]*+")
_PARAM_VALUE = re.compile(r"[^&\s#\"'<>]++")
_KEY_WORD = re.compile(
    r"key|token|sig|signature|secret|passw(?:or)?d|pass|pwd|auth|session|credential|code", re.I
)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(secret: str) -> None:
    """Remember a literal secret (the bot token) so every later :func:`redact` removes it,
    also in its percent-encoded form. Called once at start-up; thread-safe."""
    global _secrets
    if not secret:
        return
    forms = {secret, quote(secret, safe=""), quote(secret)}
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` without any secret listed in the module docstring."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _TOKEN.sub(MASK, text)
    text = _USERINFO.sub(MASK + "@", text)
    text = _CRED_FLAG.sub(_mask_flag, text)
    text = _ARCHIVE_FLAG.sub(_mask_flag, text)
    text = _HEADER_FLAG_QUOTED.sub(_mask_quoted_header, text)
    text = _HEADER_FLAG_BARE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _CRED_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _mask_params(text)


def _mask_params(text: str) -> str:
    """Mask the values of key-like query parameters in linear time.

    A name that fails (no keyword, no "=", an empty value) is skipped whole: every separator
    inside it starts a suffix of the same name, which fails the same way. The value is not
    skipped, since a separator inside it ("?id=x;api_key=S") starts a new parameter.
    """
    out: list[str] = []
    pos = done = 0
    while (name := _PARAM_NAME.search(text, pos)) is not None:
        pos = name.end()
        if not text.startswith("=", pos) or not _KEY_WORD.search(name.group()):
            continue
        value = _PARAM_VALUE.match(text, pos + 1)
        if value is None:
            continue
        out.append(text[done : pos + 1])
        out.append(MASK)
        pos = done = value.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


#: Longest log message kept, in characters. A log line is read by a person; 8 KiB holds any
#: sane one, and the rest (a 1 MB link quoted in an error) only costs disk and redaction time.
LINE_CAP = 8 * 1024
# Characters no shaped secret runs across: a token ("123:abc…"), "user:pass@" and a key are
# made of other characters, so a line cut back to one of these never ends inside one of them.
_CUT_AFTER = re.compile(r"(?s:.*)[\s/?&=#;,\"'<>()\[\]{}]")


def cap_line(text: str, limit: int = LINE_CAP) -> str:
    """``text`` cut to at most ``limit`` characters plus "… (N characters cut)"; call it
    *before* :func:`redact`, which then reads at most ``limit`` characters.

    The cut must not leave the head of a secret that :func:`redact` only recognises whole: it
    moves back before any registered secret that crosses the cut, then back to the last
    separator (:data:`_CUT_AFTER`), so a token or "user:pass" cut in two goes entirely.
    Quoted flag values left open are masked to the end by :func:`redact` itself.
    """
    if len(text) <= limit:
        return text
    end = limit
    for secret in _secrets:
        at = text.find(secret, max(0, limit - len(secret) + 1), limit + len(secret) - 1)
        if -1 < at < end:
            end = at
    if end > 0 and not text[end].isspace():
        tail = _CUT_AFTER.match(text, 0, end)
        end = tail.end() if tail else 0
    return f"{text[:end]}… ({len(text) - end} characters cut)"


def _placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(value)) or value == "[password]"  # /help: -e [password]


def _mask_flag(m: re.Match[str]) -> str:
    quote_mark = m.group("q") or ""
    value = m.group("qv") if quote_mark else m.group("bv")
    if _placeholder(value):
        return m.group(0)
    return f"{m.group(1)} {quote_mark}{MASK}{quote_mark}"


def _mask_quoted_header(m: re.Match[str]) -> str:
    if _placeholder(m.group(3)):
        return m.group(0)
    return f"{m.group(1)} {MASK}{m.group('q')}"


def redact_url(url: str) -> str:
    """A link as logs show it: scheme, host and (short) path; never credentials or a query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable link>"
    if not parts.scheme:
        return redact(url[:60])
    return redact(f"{parts.scheme}://{parts.hostname or ''}{parts.path[:80]}")


def strip_credentials(url: str) -> str:
    """``url`` without "user:pass@" and with the values of key-like parameters masked, by the
    same rule as :func:`redact`: what a file may record to recognise a link again, never
    something to fetch (the journal keeps the sealed link for that)."""
    try:
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    except ValueError:  # e.g. an unbalanced "[" in the host: mask what the pattern finds
        url = _USERINFO.sub("", url)
    return _mask_params(url)


# -ap, -au USER, -e/-z PASSWORD, or an Authorization header given with -h: a command message
# carrying any of them is deleted from the chat when the bot may (bot/application.py), and so is a
# -b list (intake/desk.py). A user name is half of a credential, and the list's lines are not
# echoed anywhere else, so -au counts too.
_CARRIES = re.compile(
    rf"(?<!\S)-ap(?!\S)|(?<!\S)-au\s+(?!-)\S|(?<!\S)-[ez]\s+{_ARCHIVE_VALUE}\S"
    r"|\b(?:proxy-)?authorization\s*:",
    re.I,
)


def carries_credentials(text: str) -> bool:
    """True when a command text (or a -b list) holds a password (``-ap``, ``-e pass``,
    ``-z pass``), a user name (``-au user``) or an ``Authorization`` header."""
    return bool(_CARRIES.search(text))
