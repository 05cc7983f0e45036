"""Which rclone destinations the bot accepts, read from the operator's ``rclone.conf``.

A destination is ``remote:path`` where ``remote`` is a section of the file ``RCLONE_CONFIG``
names. Everything else is refused, because rclone would happily write to the bot's own disk
(ENGINE-NOTES §5: a bare path or ``:local:`` as destination writes locally):

- a bare path (no ``remote:``), a ``:backend:`` connection string, a name with ``,`` (rclone
  reads ``remote,param=value:`` as a per-call override of the remote's settings, e.g. its URL);
- ``..`` as a path segment, control characters;
- a remote that the file does not name;
- a remote that reaches local disk: type ``local``; wrappers (``alias``, ``crypt``, ``chunker``,
  ``compress``, ``hasher``, ``cache``) whose ``remote`` is a bare path, a connection string or a
  refused remote; ``union``/``combine`` with any such upstream. Checked to :data:`MAX_DEPTH`.

Network remotes that point at this machine (an sftp remote to 127.0.0.1) are the operator's
choice and are accepted: the file is theirs, users only pick a name from it.

The file stays where the operator put it; rclone gets its path (``--config``), never its
contents, and children get a scrubbed environment (no ``RCLONE_*`` variables, which could define
or override remotes). Values of secret-looking keys are registered with the one redactor.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path

from telebot.errors import BadInputError
from telebot.redact import register_secret

# rclone's own remote-name rule (fs/config/configmap: letters, digits, "_", "-", ".", "+",
# "@" and space, not starting with "-" or space); "," is left out on purpose (see above).
_NAME = r"[A-Za-z0-9_.+@][A-Za-z0-9_.+@ -]*"
_DESTINATION = re.compile(rf"(?P<name>{_NAME}):(?P<path>.*)", re.S)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

LOCAL_TYPES = frozenset({"local"})
# Backends that store through another remote named in their ``remote`` key (rclone docs,
# "Overview of cloud storage systems": wrapper backends).
WRAPPER_TYPES = frozenset({"alias", "crypt", "chunker", "compress", "hasher", "cache"})
UPSTREAM_TYPES = frozenset({"union", "combine"})
# Wrappers of wrappers deeper than this are refused rather than followed (cycles, abuse).
MAX_DEPTH = 8
# Keys whose values are credentials in rclone backends (pass, password2, token, client_secret,
# access_key_id, secret_access_key, service_account_credentials, key_file_pass, ...).
_SECRET_KEY = re.compile(r"pass|token|secret|key|credential|auth|sas_url|bearer", re.I)
# Shortest value worth registering: masking "1" or "no" everywhere would garble every message.
MIN_SECRET_CHARS = 6


@dataclass(frozen=True)
class Destination:
    """A checked destination: ``remote`` is a section of the config, ``path`` has no ``..``."""

    remote: str
    path: str

    def __str__(self) -> str:
        return f"{self.remote}:{self.path}"

    def child(self, name: str) -> Destination:
        """``name`` inside this destination."""
        path = self.path.rstrip("/")
        return Destination(self.remote, f"{path}/{name}" if path else name)


def looks_remote(text: str | None) -> bool:
    """True when ``text`` is written like ``remote:path`` (not checked against any file)."""
    return bool(text) and text != "local" and ":" in (text or "")


class Remotes:
    """The remotes of one ``rclone.conf``, read afresh by :meth:`load` (it touches the disk:
    call it from a worker thread)."""

    def __init__(self, config_path: Path, sections: dict[str, dict[str, str]]) -> None:
        self.config_path = config_path
        self._sections = sections

    @classmethod
    def load(cls, config_path: Path | None) -> Remotes:
        if config_path is None:
            raise BadInputError("No rclone remotes are configured (RCLONE_CONFIG is not set).")
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            text = config_path.read_text(encoding="utf-8")
            if text.startswith("# Encrypted rclone configuration"):
                raise BadInputError("The rclone config is encrypted; the bot needs a plain one.")
            parser.read_string(text, source="rclone.conf")
        except (OSError, UnicodeError, configparser.Error) as exc:
            # Name the file and the kind of problem only: the text may quote a secret line.
            raise BadInputError(
                f"The rclone config cannot be read ({type(exc).__name__})."
            ) from None
        sections = {name: dict(parser.items(name)) for name in parser.sections()}
        for values in sections.values():
            for key, value in values.items():
                if _SECRET_KEY.search(key) and len(value) >= MIN_SECRET_CHARS:
                    register_secret(value)
        return cls(config_path, sections)

    def names(self) -> list[str]:
        """The remotes users may write to, sorted (settings are never shown)."""
        return sorted(name for name in self._sections if self._refusal(name, 0) is None)

    def check(self, text: str) -> Destination:
        """``text`` as a :class:`Destination`, or :class:`BadInputError` saying why not."""
        dest = parse_destination(text)
        if dest.remote not in self._sections:
            raise BadInputError(
                f"There is no remote called {dest.remote!r}; see /stats for the remotes."
            )
        why = self._refusal(dest.remote, 0)
        if why is not None:
            raise BadInputError(f"Remote {dest.remote!r} is refused: {why}.")
        return dest

    def _refusal(self, name: str, depth: int) -> str | None:
        """Why remote ``name`` may reach this machine's disk, or None when it may not."""
        values = self._sections.get(name)
        if values is None:
            return f"it refers to {name!r}, which the config does not name"
        if depth > MAX_DEPTH:
            return "its wrappers nest too deep"
        kind = values.get("type", "").strip()
        if not kind:
            return "it has no type"
        if kind in LOCAL_TYPES:
            return "it writes to the bot's own disk"
        if kind in WRAPPER_TYPES:
            return self._target_refusal(values.get("remote", ""), depth)
        if kind in UPSTREAM_TYPES:
            for upstream in _upstreams(kind, values.get("upstreams", "")):
                why = self._target_refusal(upstream, depth)
                if why is not None:
                    return why
        return None

    def _target_refusal(self, target: str, depth: int) -> str | None:
        match = _DESTINATION.fullmatch(target.strip())
        if match is None:
            return "it wraps a local path or a connection string"
        return self._refusal(match.group("name"), depth + 1)


def remote_names(path: Path | None) -> list[str] | None:
    """Names of the usable remotes in the rclone config at ``path``, for /stats (reads the
    file); None without a config; an unreadable file shows as no remote."""
    if path is None:
        return None
    try:
        return Remotes.load(path).names()
    except BadInputError:
        return []


def parse_destination(text: str) -> Destination:
    """Check the form of ``remote:path`` (not whether the remote exists)."""
    text = text.strip()
    if _CONTROL.search(text):
        raise BadInputError("A destination may not hold control characters.")
    if text.startswith(":"):
        raise BadInputError("Connection strings (:backend:...) are refused; name a remote.")
    match = _DESTINATION.fullmatch(text)
    if match is None:
        raise BadInputError(
            "A destination is remote:path with a remote from the rclone config "
            "(local paths are refused)."
        )
    path = match.group("path")
    if ".." in path.split("/"):
        raise BadInputError("A destination may not contain '..'.")
    return Destination(match.group("name"), path)


def _upstreams(kind: str, text: str) -> list[str]:
    """The remotes of a union (``remote:path[:ro|:nc|:writeback]`` ...) or a combine
    (``dir=remote:path`` ...) ``upstreams`` value (rclone docs, union and combine)."""
    found = []
    for word in text.split():
        word = word.strip("\"'")
        if kind == "combine":
            word = word.partition("=")[2]
        for suffix in (":ro", ":nc", ":writeback"):
            if word.endswith(suffix):
                word = word[: -len(suffix)]
        found.append(word)
    return found


# RCLONE_* variables that only tune speed, passed on to children (the operator sets them in the
# bot's environment, e.g. RCLONE_BWLIMIT=8M); every other RCLONE_* is dropped.
TUNING_ENV = frozenset({
    "RCLONE_BWLIMIT", "RCLONE_TRANSFERS", "RCLONE_CHECKERS", "RCLONE_TPSLIMIT",
    "RCLONE_BUFFER_SIZE",
})


def child_env() -> dict[str, str]:
    """The environment for rclone children: ours without ``RCLONE_*`` other than
    :data:`TUNING_ENV` (they could define remotes, point at another config or add flags)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("RCLONE_") or k in TUNING_ENV
    }
