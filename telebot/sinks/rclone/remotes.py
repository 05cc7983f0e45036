"""Which rclone destinations the bot accepts, read from the operator's ``rclone.conf``.

A destination is ``remote:path`` where ``remote`` is a section of the file ``RCLONE_CONFIG``
names. Everything else is refused, because rclone would happily write to the bot's own disk
(docs/ENGINES.md, rclone: a bare path or ``:local:`` as destination writes locally):

- a bare path (no ``remote:``), a ``:backend:`` connection string, a name with ``,`` (rclone
  reads ``remote,param=value:`` as a per-call override of the remote's settings, e.g. its URL);
- ``..`` as a path segment, control characters;
- a remote that the file does not name;
- a remote that reaches local disk: type ``local``; wrappers (``alias``, ``crypt``, ``chunker``,
  ``compress``, ``hasher``, ``cache``) whose ``remote`` is a bare path, a connection string or a
  refused remote; ``union``/``combine`` with any such upstream. Checked to :data:`MAX_DEPTH`.

Network remotes that point at this machine (an sftp remote to 127.0.0.1) are the operator's
choice and are accepted: the file is theirs, users only pick a name from it. But a path that
starts with ``/`` on a remote whose "/" is the server's root (:data:`ABSOLUTE_TYPES`, directly
or through wrappers) reaches anywhere the remote's user can: it is refused unless it lies in one
of the operator's ``RCLONE_ALLOWED_ROOTS``.

The file stays where the operator put it; rclone gets its path (``--config``), never its
contents, and children get a scrubbed environment (no ``RCLONE_*`` variables, which could define
or override remotes). Values of secret-looking keys are registered with the one redactor.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
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
# Backends where a path starting with "/" is the server's own root, not the remote's home
# (``sf:/etc`` is the sftp server's /etc): such paths are refused unless an operator's
# ``RCLONE_ALLOWED_ROOTS`` folder holds them. webdav, s3 and the like read "/" as their top.
ABSOLUTE_TYPES = frozenset({"sftp", "ftp", "smb", "hdfs", "local"})
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

    def normalized(self) -> Destination:
        """The same place with ``.`` segments and repeated or trailing slashes removed; a
        leading ``/`` is kept (on sftp and ftp it means the server's root, not the home)."""
        return Destination(self.remote, normalize_path(self.path))

    @property
    def segments(self) -> tuple[str, ...]:
        """The normalised path's segments (``()`` for the remote's root)."""
        return tuple(part for part in self.path.split("/") if part not in ("", "."))

    @property
    def absolute(self) -> bool:
        return self.path.startswith("/")


def looks_remote(text: str | None) -> bool:
    """True when ``text`` is written like ``remote:path`` (not checked against any file)."""
    return bool(text) and text != "local" and ":" in (text or "")


class Remotes:
    """The remotes of one ``rclone.conf``, read afresh by :meth:`load` (it touches the disk:
    call it from a worker thread)."""

    def __init__(
        self,
        config_path: Path,
        sections: dict[str, dict[str, str]],
        allowed_roots: Sequence[str] = (),
    ) -> None:
        self.config_path = config_path
        self._sections = sections
        # RCLONE_ALLOWED_ROOTS, checked by config.py ("remote:/absolute/path" each).
        self._allowed = tuple(parse_destination(root).normalized() for root in allowed_roots)

    @classmethod
    def load(cls, config_path: Path | None, allowed_roots: Sequence[str] = ()) -> Remotes:
        """Read the config at ``config_path``; ``allowed_roots`` are the operator's
        ``RCLONE_ALLOWED_ROOTS`` (without them no absolute path passes :meth:`check` on a
        remote whose "/" is the server's root)."""
        if config_path is None:
            raise BadInputError("No rclone remotes are configured (RCLONE_CONFIG is not set).")
        import configparser  # deferred: only when an rclone config is read

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
        return cls(config_path, sections, allowed_roots)

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
        if self._escapes(dest):
            allowed = [str(root) for root in self._allowed if root.remote == dest.remote]
            where = f" (allowed: {', '.join(allowed)})" if allowed else ""
            raise BadInputError(
                f"{dest} is an absolute path on the server behind remote {dest.remote!r}; "
                f"write a path inside the remote (without the leading /){where}."
            )
        return dest

    def _escapes(self, dest: Destination) -> bool:
        """True when ``dest``'s leading ``/`` takes it to the server's root rather than the
        remote's home (sftp, ftp...; also through an alias of ``sf:``, as rclone joins
        ``al:/etc`` to ``sf:/etc``), outside every allowed root."""
        if not dest.absolute or not self._reaches_absolute(dest.remote, 0):
            return False
        where = self.resolve(dest)
        if where == self.resolve(Destination(dest.remote, dest.path.lstrip("/"))):
            return False  # an alias to a folder: "/x" is the same as "x" inside it
        return not any(_within(where, self.resolve(root)) for root in self._allowed)

    def _reaches_absolute(self, name: str, depth: int) -> bool:
        """Whether remote ``name`` stores on an :data:`ABSOLUTE_TYPES` backend, itself or
        through wrappers and unions (call after :meth:`_refusal` found the chain sound)."""
        values = self._sections.get(name, {})
        kind = values.get("type", "").strip()
        if kind in ABSOLUTE_TYPES or depth > MAX_DEPTH:
            return True
        for text in _stored_on(kind, values):
            target = _target_of(text)
            if target is None or self._reaches_absolute(target.remote, depth + 1):
                return True
        return False

    def resolve(self, dest: Destination) -> Destination:
        """Where ``dest`` really is: through ``alias`` remotes (which only prefix a path) to the
        remote that stores it, normalised; a leading ``/`` is kept only where it means the
        server's root (:data:`ABSOLUTE_TYPES`): on webdav ``wd:/keep`` is ``wd:keep``. Other
        wrappers rename what they store (crypt), so the chain stops at them. Call after
        :meth:`check` (the chain is then known to be sound)."""
        dest = dest.normalized()
        for _ in range(MAX_DEPTH + 1):
            values = self._sections.get(dest.remote, {})
            if values.get("type", "").strip() != "alias":
                if dest.absolute and not self._reaches_absolute(dest.remote, 0):
                    return Destination(dest.remote, dest.path.lstrip("/"))
                return dest
            target = _target_of(values.get("remote", ""))
            if target is None:
                return dest
            # rclone's alias joins like fspath.JoinRootPath: an alias of "sf:" passes "/etc" on
            # as "sf:/etc" (checked with a local remote); an alias of "sf:dir" gives "dir/etc".
            if not target.path:
                joined = dest.path
            else:
                joined = f"{target.path.rstrip('/')}/{dest.path.lstrip('/')}"
            dest = Destination(target.remote, normalize_path(joined))
        return dest

    def roots(self) -> list[tuple[str, Destination]]:
        """Every remote's root, resolved (:meth:`resolve`), with the remote it belongs to; and
        the folders wrappers and unions keep their data in (deleting ``wd:vault`` empties a crypt
        remote on ``wd:vault`` as surely as deleting ``enc:`` does)."""
        found: list[tuple[str, Destination]] = []
        for name, values in self._sections.items():
            found.append((name, self.resolve(Destination(name, ""))))
            kind = values.get("type", "").strip()
            for text in _stored_on(kind, values):
                target = _target_of(text)
                if target is not None:
                    found.append((name, self.resolve(target)))
        return found

    def root_holder(self, dest: Destination) -> str | None:
        """The remote whose root ``dest`` is or contains (deleting it would remove that whole
        remote), or None. ``dest`` must have passed :meth:`check`."""
        if not dest.normalized().segments:
            return dest.remote
        where = self.resolve(dest)
        if not where.segments:
            return where.remote
        for name, root in self.roots():
            if _within(root, where):
                return name
        return None

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


def _target_of(text: str) -> Destination | None:
    """A wrapper's ``remote = name:path`` value as a destination (None: a bare path or a
    connection string, which :meth:`Remotes.check` refuses anyway)."""
    match = _DESTINATION.fullmatch(text.strip())
    if match is None:
        return None
    return Destination(match.group("name"), normalize_path(match.group("path")))


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


def normalize_path(path: str) -> str:
    """``path`` without ``.`` segments, empty segments or a trailing slash; ``/`` stays first
    when it was. ``..`` never gets here (:func:`parse_destination` refuses it)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return ("/" if path.startswith("/") else "") + "/".join(parts)


def _within(inner: Destination, outer: Destination) -> bool:
    """True when ``inner`` is ``outer`` or lies under it (both normalised, same remote)."""
    if inner.remote != outer.remote:
        return False
    if outer.segments and inner.absolute != outer.absolute:
        return False  # "sf:/srv" and "sf:srv" are different folders on sftp
    return inner.segments[: len(outer.segments)] == outer.segments


def _stored_on(kind: str, values: dict[str, str]) -> list[str]:
    """The remotes (as written) a wrapper or union of ``kind`` keeps its data on."""
    if kind in WRAPPER_TYPES:
        return [values.get("remote", "")]
    if kind in UPSTREAM_TYPES:
        return _upstreams(kind, values.get("upstreams", ""))
    return []


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
