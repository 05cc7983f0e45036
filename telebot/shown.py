"""How names appear in chat: cut to :data:`NAME_SHOWN` characters.

A name can be long: a ``-n`` of a few thousand characters, a magnet's ``dn=``, a torrent or a
page title; names on disk are trimmed to 240 bytes, still three lines of a phone screen. Every
status, done and error message shows names through :func:`short_name`, so a name never crowds
out what the message is for (and a page of the status board stays far below 4096).
"""

from __future__ import annotations

import html
import re

__all__ = ["NAME_SHOWN", "html_name", "short_name", "short_words"]

#: Characters of a name shown in a chat message.
NAME_SHOWN = 100
# The end of a name is kept too: the extension or part number ("….part3.mp4") tells files apart.
_TAIL = 20
_LONG_WORD = re.compile(rf"\S{{{NAME_SHOWN + 1},}}")


def short_name(name: str, limit: int = NAME_SHOWN) -> str:
    """``name`` itself when it fits ``limit`` characters, else its head, "…" and its tail."""
    if len(name) <= limit:
        return name
    tail = min(_TAIL, limit // 4)
    return f"{name[: limit - tail - 1]}…{name[len(name) - tail :]}"


def html_name(name: str, limit: int = NAME_SHOWN) -> str:
    """:func:`short_name`, escaped for Telegram HTML (cut first: never cut an entity)."""
    return html.escape(short_name(name, limit), quote=False)


def short_words(text: str, names: tuple[str, ...] = ()) -> str:
    """``text`` (an error, a note) with each of ``names`` and any other run of over
    :data:`NAME_SHOWN` non-blank characters (a path, a name quoted by a library) cut."""
    for name in sorted(names, key=len, reverse=True):
        if len(name) > NAME_SHOWN and name in text:
            text = text.replace(name, short_name(name))
    return _LONG_WORD.sub(lambda m: short_name(m.group()), text)
