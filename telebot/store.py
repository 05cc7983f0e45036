"""SQLite store: authorized chats, sudo users, per-user settings and the task journal.

One connection guarded by one lock: the bot writes a handful of rows per task, so a connection
per thread would buy nothing but more file handles to close on shutdown. WAL mode with
``synchronous=FULL`` makes every commit durable, also across a power cut (sqlite.org/wal.html:
NORMAL may lose the last commits there). It costs one WAL fsync per commit, a handful per task,
and it matters: a task folder is fsynced before its state is recorded, so with NORMAL a power cut
could keep a task's files but lose its row, and the next start would sweep them as an orphan.
The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` lists each step.

Secrets never rest in plain text: the journal keeps a task's link, headers and basic-auth
credentials (:data:`SEALED_FIELDS`) sealed with a key derived from the bot token
(:mod:`telebot.secretbox`), bound to the row's gid. ``secure_delete`` zeroes what a finished
task's row leaves behind, and the file, its ``-wal`` and ``-shm`` are owner-only (0600).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebot.errors import StoreError
from telebot.monitor.perf import timed
from telebot.secretbox import SecretBox, Unsealable

# Each entry moves the schema from version i to i + 1. Never edit a released step; append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE authorized_chats (chat_id INTEGER PRIMARY KEY, added_at REAL NOT NULL);
    CREATE TABLE sudo_users (user_id INTEGER PRIMARY KEY, added_at REAL NOT NULL);
    CREATE TABLE user_settings (
        user_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (user_id, key)
    );
    CREATE TABLE task_journal (
        gid TEXT PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        message_id INTEGER,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 2: /bsetting overrides, applied on top of config.env at start (telebot/settings/overrides.py).
    """
    CREATE TABLE bot_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        changed_by INTEGER NOT NULL,
        changed_at REAL NOT NULL
    );
    """,
    # 3: -m, a group of tasks delivered together (engine/groups.py). ``members`` is the JSON
    # list of their gids, ``outcomes`` a JSON object gid -> {name, state, reason} filled as each
    # ends, ``spec`` the journal form of the delivery task that runs once every member has one.
    """
    CREATE TABLE task_groups (
        group_id TEXT PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        members TEXT NOT NULL,
        outcomes TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 4: the outbox: messages a user is owed (a task's ✅ with its links, ❌, 🚫) from the moment
    # their task's journal row goes until the Bot API accepted them (bot/announce.py). ``text``
    # is sealed like the journal's credentials: completion texts carry links.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id INTEGER NOT NULL,
        reply_to INTEGER,
        text TEXT NOT NULL,
        gid TEXT,
        created_at REAL NOT NULL
    );
    """,
    # 5: RSS subscriptions (telebot/feeds/rss/book.py). ``url`` and ``flags`` are sealed (a
    # private tracker's feed carries a passkey; -c may carry -ap or a -z password). An item is
    # kept by the SHA-256 of its GUID (some feeds use the passkeyed link as GUID), with the
    # state of its submission: 'seen' (skipped), 'submitting', 'done', 'refused', 'filtered'.
    """
    CREATE TABLE rss_feeds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        command TEXT NOT NULL,
        flags TEXT NOT NULL,
        include TEXT NOT NULL,
        exclude TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        etag TEXT,
        last_modified TEXT,
        created_at REAL NOT NULL,
        UNIQUE (user_id, name)
    );
    CREATE TABLE rss_items (
        feed_id INTEGER NOT NULL REFERENCES rss_feeds (id) ON DELETE CASCADE,
        guid_hash TEXT NOT NULL,
        state TEXT NOT NULL,
        title TEXT NOT NULL,
        gid TEXT,
        seen_at REAL NOT NULL,
        PRIMARY KEY (feed_id, guid_hash)
    );
    """,
)

BUSY_TIMEOUT_MS = 5000
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700

# TaskSpec fields that may carry credentials: the link (user:pass@, ?key=), the -h headers and
# the -au/-ap pair, the -e and -z archive passwords, a file host's share password (-ap alone),
# a user's cookies. They are stored sealed under SEALED_KEY, never as plain JSON.
SEALED_FIELDS = (
    "source", "headers", "auth", "extract_password", "compress_password", "cookies",
    "share_password",
)  # fmt: skip
SEALED_KEY = "sealed"
# /usetting values that are credentials (a cookies.txt signs in as its user): stored sealed,
# bound to their user and key, and opened by :meth:`Store.settings`.
SEALED_SETTINGS = frozenset({"cookies"})
UNREADABLE_CREDENTIALS = "its credentials cannot be decrypted (was the bot token changed?)"


@dataclass(frozen=True)
class JournalEntry:
    """One unfinished task as recorded in the journal."""

    gid: str
    chat_id: int
    user_id: int
    message_id: int | None
    spec: dict[str, Any] | None  # None when the stored text is not valid JSON (a damaged row)
    state: str
    created_at: float
    problem: str | None = None  # why ``spec`` is None, when it is more than damaged JSON


@dataclass(frozen=True)
class OutboxEntry:
    """One message owed to a chat, not yet accepted by the Bot API."""

    id: int
    chat_id: int
    text: str
    reply_to: int | None
    gid: str | None


@dataclass(frozen=True)
class GroupRecord:
    """One -m group: its members' gids, the outcomes recorded so far, its delivery spec."""

    group_id: str
    chat_id: int
    members: tuple[str, ...]
    outcomes: dict[str, dict[str, Any]]
    spec: dict[str, Any]

    @property
    def complete(self) -> bool:
        return all(gid in self.outcomes for gid in self.members)


class Store:
    """Thread-safe facade over one SQLite file.

    ``secret_key`` (the bot token) derives the key that seals journal credentials; without it
    a random key is used, so sealed values are readable by this process only.
    """

    def __init__(self, path: Path | str, *, secret_key: str | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._box = SecretBox.from_token(secret_key) if secret_key else SecretBox.ephemeral()
        on_disk = str(path) != ":memory:"
        try:
            if on_disk:
                _create_private(self.path)
            self._conn = sqlite3.connect(
                str(path),
                check_same_thread=False,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (a finished task's sealed credentials) are overwritten with zeros.
            self._conn.execute("PRAGMA secure_delete=ON")
            self._migrate()
            self._seal_plain_rows()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot create database {self.path}: {exc.strerror}") from exc
        if on_disk:
            _narrow_companions(self.path)

    # -- plumbing -------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path} has schema {version}, newer than this telebot knows"
            )
        for step in range(version, len(MIGRATIONS)):
            # executescript commits on its own, so run the step and the version bump in one
            # explicit transaction to never leave a half-migrated file behind.
            script = f"BEGIN;\n{MIGRATIONS[step]}\nPRAGMA user_version = {step + 1};\nCOMMIT;"
            self._conn.executescript(script)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with timed("store.write"), self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # For the tables a feature keeps of its own (feeds/rss/book.py): the same lock,
    # transaction and sealing as every method here.

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT; rolled back on error)."""
        with self._tx() as conn:
            yield conn

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one read."""
        return self._query(sql, args)

    def seal(self, text: str, *, context: str) -> str:
        """``text`` sealed with the store's key, bound to ``context``."""
        return self._box.seal(text, context=context)

    def unseal(self, sealed: str, *, context: str) -> str | None:
        """What :meth:`seal` sealed, or None when it cannot be opened (the token changed)."""
        try:
            return self._box.open(sealed, context=context)
        except Unsealable:
            return None

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- authorization --------------------------------------------------------------------

    # The two id tables share one shape; their names are constants, never user input.
    _ID_TABLES = {"chats": ("authorized_chats", "chat_id"), "sudo": ("sudo_users", "user_id")}

    def _add_id(self, which: str, ident: int) -> bool:
        table, _ = self._ID_TABLES[which]
        with self._tx() as conn:
            sql = f"INSERT OR IGNORE INTO {table} VALUES (?, ?)"
            return conn.execute(sql, (ident, time.time())).rowcount > 0

    def _remove_id(self, which: str, ident: int) -> bool:
        table, column = self._ID_TABLES[which]
        with self._tx() as conn:
            return conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (ident,)).rowcount > 0

    def _ids(self, which: str) -> frozenset[int]:
        table, column = self._ID_TABLES[which]
        return frozenset(row[0] for row in self._query(f"SELECT {column} FROM {table}"))

    def add_chat(self, chat_id: int) -> bool:
        """Authorize a chat or user id; False when it already was."""
        return self._add_id("chats", chat_id)

    def remove_chat(self, chat_id: int) -> bool:
        return self._remove_id("chats", chat_id)

    def chats(self) -> frozenset[int]:
        return self._ids("chats")

    def add_sudo(self, user_id: int) -> bool:
        return self._add_id("sudo", user_id)

    def remove_sudo(self, user_id: int) -> bool:
        return self._remove_id("sudo", user_id)

    def sudo_users(self) -> frozenset[int]:
        return self._ids("sudo")

    # -- per-user settings ----------------------------------------------------------------

    def set_setting(self, user_id: int, key: str, value: Any) -> None:
        """Store one setting; a key of :data:`SEALED_SETTINGS` is sealed first."""
        text = json.dumps(value)
        if key in SEALED_SETTINGS:
            text = json.dumps(self._box.seal(text, context=_setting_context(user_id, key)))
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO user_settings VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value",
                (user_id, key, text),
            )

    def settings(self, user_id: int) -> dict[str, Any]:
        """A user's settings; sealed ones opened. A sealed value this bot cannot open (the
        token changed) is left out: "not set", like a damaged row."""
        rows = self._query("SELECT key, value FROM user_settings WHERE user_id = ?", (user_id,))
        found: dict[str, Any] = {}
        for key, value in rows:
            found[key] = json.loads(value)
            if key in SEALED_SETTINGS:
                context = _setting_context(user_id, key)
                try:
                    found[key] = json.loads(self._box.open(str(found[key]), context))
                except (Unsealable, ValueError):
                    del found[key]
        return found

    def delete_setting(self, user_id: int, key: str | None = None) -> int:
        """Forget one setting of a user, or all of them (``key`` None); returns rows removed."""
        sql = "DELETE FROM user_settings WHERE user_id = ?"
        args: tuple[Any, ...] = (user_id,)
        if key is not None:
            sql, args = sql + " AND key = ?", (user_id, key)
        with self._tx() as conn:
            return int(conn.execute(sql, args).rowcount)

    # -- bot settings (/bsetting) ---------------------------------------------------------

    def bot_settings(self) -> dict[str, str]:
        """The owner's overrides of config.env: setting name → its text, as typed."""
        rows = self._query("SELECT name, value FROM bot_settings")
        return {str(name): str(value) for name, value in rows}

    def set_bot_setting(self, name: str, value: str | None, changed_by: int) -> None:
        """Override ``name`` with ``value``; None removes the override (config.env again)."""
        with self._tx() as conn:
            if value is None:
                conn.execute("DELETE FROM bot_settings WHERE name = ?", (name,))
                return
            conn.execute(
                "INSERT INTO bot_settings VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "value = excluded.value, changed_by = excluded.changed_by, "
                "changed_at = excluded.changed_at",
                (name, value, changed_by, time.time()),
            )

    # -- task journal ---------------------------------------------------------------------

    def journal_add(
        self,
        gid: str,
        *,
        chat_id: int,
        user_id: int,
        message_id: int | None,
        spec: dict[str, Any],
        state: str,
    ) -> None:
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO task_journal VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (gid, chat_id, user_id, message_id, self._seal(gid, spec), state, now, now),
            )

    def journal_set_state(self, gid: str, state: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE task_journal SET state = ?, updated_at = ? WHERE gid = ?",
                (state, time.time(), gid),
            )

    def journal_remove(self, gid: str) -> None:
        """Forget a finished task. Its sealed credentials go with the row: ``secure_delete``
        zeroes the freed space, and the checkpoint empties the WAL that held the old page."""
        with self._tx() as conn:
            removed = conn.execute("DELETE FROM task_journal WHERE gid = ?", (gid,)).rowcount
        if removed:
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def journal_entries(self) -> list[JournalEntry]:
        rows = self._query(
            "SELECT gid, chat_id, user_id, message_id, spec, state, created_at "
            "FROM task_journal ORDER BY created_at"
        )
        entries = []
        for gid, chat, user, msg, text, state, created in rows:
            spec, problem = self._unseal(gid, _json_or_none(text))
            entries.append(JournalEntry(gid, chat, user, msg, spec, state, created, problem))
        return entries

    # -- outbox ----------------------------------------------------------------------------

    def outbox_add(
        self, chat_id: int, text: str, reply_to: int | None, *, finishes: str | None = None
    ) -> int:
        """Record a message owed to ``chat_id``; returns its id. With ``finishes`` (a gid), the
        task's journal row is removed in the same transaction: a crash keeps one of the two,
        never neither (the task runs again, or its message is sent after the restart)."""
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO outbox (chat_id, reply_to, text, gid, created_at) "
                "VALUES (?, ?, '', ?, ?)",
                (chat_id, reply_to, finishes, time.time()),
            )
            row = int(cursor.lastrowid or 0)
            # Sealed bound to the row id: a text cannot be moved to another row or chat.
            sealed = self._box.seal(text, context=_outbox_context(row, chat_id))
            conn.execute("UPDATE outbox SET text = ? WHERE id = ?", (sealed, row))
            removed = 0
            if finishes is not None:
                removed = conn.execute(
                    "DELETE FROM task_journal WHERE gid = ?", (finishes,)
                ).rowcount
        if removed:  # as in journal_remove: the freed sealed row leaves no copy in the WAL
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return row

    def outbox_remove(self, ids: list[int]) -> None:
        """Forget messages the Bot API accepted (or refused for good)."""
        if not ids:
            return
        with self._tx() as conn:
            conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def outbox_entries(self) -> list[OutboxEntry]:
        """Every owed message, oldest first. A text that cannot be unsealed (the bot token
        changed) is dropped: it could never be sent."""
        rows = self._query("SELECT id, chat_id, reply_to, text, gid FROM outbox ORDER BY id")
        entries, lost = [], []
        for row, chat, reply_to, sealed, gid in rows:
            try:
                text = self._box.open(sealed, context=_outbox_context(row, chat))
            except Unsealable:
                lost.append(row)
                continue
            entries.append(OutboxEntry(row, chat, text, reply_to, gid))
        self.outbox_remove(lost)
        return entries

    # -- task groups (-m) -------------------------------------------------------------------

    def group_add(
        self, group_id: str, *, chat_id: int, members: list[str], spec: dict[str, Any]
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO task_groups VALUES (?, ?, ?, '{}', ?, ?)",
                (group_id, chat_id, json.dumps(members), json.dumps(spec), time.time()),
            )

    def group_note(
        self, group_id: str, gid: str, outcome: dict[str, Any]
    ) -> GroupRecord | None:
        """Record how member ``gid`` ended (a repeat overwrites: idempotent); the group after
        it, or None when there is no such group."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT outcomes FROM task_groups WHERE group_id = ?", (group_id,)
            ).fetchone()
            if row is None:
                return None
            outcomes = {**(_json_or_none(row[0]) or {}), gid: outcome}
            conn.execute(
                "UPDATE task_groups SET outcomes = ? WHERE group_id = ?",
                (json.dumps(outcomes), group_id),
            )
        return self.group(group_id)

    def group(self, group_id: str) -> GroupRecord | None:
        rows = self._query(
            "SELECT group_id, chat_id, members, outcomes, spec FROM task_groups "
            "WHERE group_id = ?",
            (group_id,),
        )
        return _group(rows[0]) if rows else None

    def groups(self) -> list[GroupRecord]:
        rows = self._query(
            "SELECT group_id, chat_id, members, outcomes, spec FROM task_groups "
            "ORDER BY created_at"
        )
        return [_group(row) for row in rows]

    def group_remove(self, group_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM task_groups WHERE group_id = ?", (group_id,))

    # -- sealing credentials --------------------------------------------------------------

    def _seal(self, gid: str, spec: dict[str, Any]) -> str:
        """The row's JSON: the spec without SEALED_FIELDS, plus those fields sealed."""
        plain = {k: v for k, v in spec.items() if k not in SEALED_FIELDS}
        secret = {k: spec[k] for k in SEALED_FIELDS if k in spec}
        plain[SEALED_KEY] = self._box.seal(json.dumps(secret), context=gid)
        return json.dumps(plain)

    def _unseal(
        self, gid: str, stored: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        if stored is None or SEALED_KEY not in stored:
            return stored, None  # damaged, or a row from before sealing (sealed at open)
        spec = {k: v for k, v in stored.items() if k != SEALED_KEY}
        try:
            secret = json.loads(self._box.open(str(stored[SEALED_KEY]), context=gid))
        except (Unsealable, ValueError):
            return None, UNREADABLE_CREDENTIALS
        if not isinstance(secret, dict):
            return None, UNREADABLE_CREDENTIALS
        return {**spec, **secret}, None

    def _seal_plain_rows(self) -> None:
        """Seal rows written before credentials were sealed (a one-time upgrade at open)."""
        rows = self._conn.execute("SELECT gid, spec FROM task_journal").fetchall()
        for gid, text in rows:
            spec = _json_or_none(text)
            if spec is not None and SEALED_KEY not in spec:
                self._conn.execute(
                    "UPDATE task_journal SET spec = ? WHERE gid = ?", (self._seal(gid, spec), gid)
                )


def _setting_context(user_id: int, key: str) -> str:
    """What a sealed /usetting value is bound to: a value copied to another row does not open."""
    return f"user-setting:{user_id}:{key}"


def _group(row: tuple[Any, ...]) -> GroupRecord:
    group_id, chat_id, members, outcomes, spec = row
    listed = json.loads(members) if members else []
    return GroupRecord(
        group_id,
        chat_id,
        tuple(str(gid) for gid in listed) if isinstance(listed, list) else (),
        _json_or_none(outcomes) or {},
        _json_or_none(spec) or {},
    )


def _outbox_context(row: int, chat_id: int) -> str:
    return f"outbox:{row}:{chat_id}"


def _json_or_none(text: str) -> dict[str, Any] | None:
    """One damaged row must not hide the others: it decodes to None and is reported."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _create_private(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it; SQLite then gives its
    ``-wal`` and ``-shm`` files the same mode (it copies the database file's permissions)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask, and narrows an older file
    finally:
        os.close(fd)


def _narrow_companions(path: Path) -> None:
    """Make the -wal and -shm files owner-only too (they hold recent pages of the database)."""
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        with suppress(FileNotFoundError):
            os.chmod(companion, PRIVATE_FILE_MODE)
