"""The subscriptions and the items already seen, in the bot's SQLite store (tables of
migration 5, telebot/store.py).

A feed's URL and its task flags are sealed at rest (a private tracker's feed URL carries a
passkey, ``-c`` may carry ``-ap`` or a ``-z`` password), bound to the row's id. An item is
remembered by the SHA-256 of its GUID, never the GUID itself (some feeds use the passkeyed
link as GUID). Blocking (SQLite): never on the event loop.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from telebot.errors import BadInputError
from telebot.feeds.rss.fetch import Validators
from telebot.feeds.rss.filters import Filter
from telebot.store import Store

# The states of an item (rss_items.state).
SEEN = "seen"  # there before the subscription (first fetch without -all)
FILTERED = "filtered"  # its title did not pass the filters
SUBMITTING = "submitting"  # handed to the intake; the outcome is not recorded yet
DONE = "done"  # a task was queued (gid recorded)
REFUSED = "refused"  # the intake refused it; the subscriber was told why
UNSURE = "unsure"  # was 'submitting' when the bot stopped; the subscriber was told


@dataclass(frozen=True)
class Subscription:
    id: int
    user_id: int
    chat_id: int
    name: str
    url: str
    command: str  # mirror | leech | ytdl | ytdlleech
    flags: str  # the task flags of -c, as typed (without the command)
    include: Filter
    exclude: Filter
    paused: bool
    failures: int
    validators: Validators


def guid_hash(guid: str) -> str:
    return hashlib.sha256(guid.encode("utf-8", "surrogatepass")).hexdigest()


def _context(feed_id: int, what: str) -> str:
    return f"rss:{feed_id}:{what}"


_COLUMNS = (
    "id, user_id, chat_id, name, url, command, flags, include, exclude, paused, failures, "
    "etag, last_modified"
)


class FeedBook:
    """Thread-safe (the store serializes every call)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- subscriptions ----------------------------------------------------------------------

    def add(
        self, *, user_id: int, chat_id: int, name: str, url: str, command: str, flags: str,
        include: Filter, exclude: Filter, validators: Validators, seen: Iterable[tuple[str, str]],
    ) -> Subscription:
        """Record a subscription and, in the same transaction, the items ``seen`` (GUID,
        title) already in its feed, which never become tasks."""
        now = time.time()
        try:
            feed_id = self._insert(user_id, chat_id, name, url, command, flags, include, exclude,
                                   validators, seen, now)
        except sqlite3.IntegrityError:  # UNIQUE (user_id, name): an add of the same name won
            raise BadInputError(f"You already have a feed named {name}.") from None
        found = self.get(feed_id)
        assert found is not None
        return found

    def _insert(
        self, user_id: int, chat_id: int, name: str, url: str, command: str, flags: str,
        include: Filter, exclude: Filter, validators: Validators,
        seen: Iterable[tuple[str, str]], now: float,
    ) -> int:
        with self._store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO rss_feeds (user_id, chat_id, name, url, command, flags, include, "
                "exclude, etag, last_modified, created_at) "
                "VALUES (?, ?, ?, '', ?, '', ?, ?, ?, ?, ?)",
                (user_id, chat_id, name, command, include.text(), exclude.text(),
                 validators.etag, validators.last_modified, now),
            )
            feed_id = int(cursor.lastrowid or 0)
            conn.execute(
                "UPDATE rss_feeds SET url = ?, flags = ? WHERE id = ?",
                (self._store.seal(url, context=_context(feed_id, "url")),
                 self._store.seal(flags, context=_context(feed_id, "flags")), feed_id),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO rss_items VALUES (?, ?, ?, ?, NULL, ?)",
                [(feed_id, guid_hash(guid), SEEN, title, now) for guid, title in seen],
            )
        return feed_id

    def name_taken(self, user_id: int, name: str) -> bool:
        return bool(self._store.query(
            "SELECT 1 FROM rss_feeds WHERE user_id = ? AND name = ?", (user_id, name)
        ))

    def get(self, feed_id: int) -> Subscription | None:
        rows = self._store.query(f"SELECT {_COLUMNS} FROM rss_feeds WHERE id = ?", (feed_id,))
        return self._subscription(rows[0]) if rows else None

    def all(self, user_id: int | None = None) -> list[Subscription]:
        """Every subscription (of ``user_id`` only, when given), oldest first. One whose
        sealed values cannot be opened (the bot token changed) is left out."""
        if user_id is None:
            rows = self._store.query(f"SELECT {_COLUMNS} FROM rss_feeds ORDER BY id")
        else:
            rows = self._store.query(
                f"SELECT {_COLUMNS} FROM rss_feeds WHERE user_id = ? ORDER BY id", (user_id,)
            )
        found = (self._subscription(row) for row in rows)
        return [sub for sub in found if sub is not None]

    def set_paused(self, feed_id: int, paused: bool) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE rss_feeds SET paused = ?, failures = CASE WHEN ? THEN failures ELSE 0 "
                "END WHERE id = ?", (int(paused), int(paused), feed_id),
            )

    def remove(self, feed_id: int) -> None:
        with self._store.transaction() as conn:  # its items go with it (ON DELETE CASCADE)
            conn.execute("DELETE FROM rss_feeds WHERE id = ?", (feed_id,))

    def failed(self, feed_id: int, pause_at: int) -> tuple[int, bool]:
        """Count one more failed check in a row; pauses the feed at ``pause_at``. Returns the
        count and whether this call paused it."""
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT failures, paused FROM rss_feeds WHERE id = ?", (feed_id,)
            ).fetchone()
            if row is None or row[1]:
                return (int(row[0]) if row else 0), False
            count = int(row[0]) + 1
            pause = count >= pause_at
            conn.execute(
                "UPDATE rss_feeds SET failures = ?, paused = ? WHERE id = ?",
                (count, int(pause), feed_id),
            )
        return count, pause

    def answered(self, feed_id: int, validators: Validators) -> None:
        """A check succeeded: no failures in a row, and the validators to send next time."""
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE rss_feeds SET failures = 0, etag = ?, last_modified = ? WHERE id = ?",
                (validators.etag, validators.last_modified, feed_id),
            )

    # -- items --------------------------------------------------------------------------

    def known(self, feed_id: int) -> set[str]:
        """The GUID hashes of every item of the feed already handled (in any state)."""
        rows = self._store.query("SELECT guid_hash FROM rss_items WHERE feed_id = ?", (feed_id,))
        return {str(row[0]) for row in rows}

    def claim(self, feed_id: int, guid: str, title: str, state: str) -> bool:
        """Record an item in ``state`` unless it is recorded already, or its feed was removed
        meanwhile (/rss remove during a check); False then."""
        try:
            with self._store.transaction() as conn:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO rss_items VALUES (?, ?, ?, ?, NULL, ?)",
                    (feed_id, guid_hash(guid), state, title, time.time()),
                )
                return cursor.rowcount > 0
        except sqlite3.IntegrityError:  # the feed's row is gone (foreign key)
            return False

    def prune(self, feed_id: int, keep: int) -> int:
        """Forget all but the ``keep`` most recently recorded items of a feed (never one that is
        'submitting'); returns how many went. Feeds list their last tens or hundreds of items,
        and an item that left the feed that long ago does not come back."""
        with self._store.transaction() as conn:
            return int(conn.execute(
                "DELETE FROM rss_items WHERE feed_id = ? AND state != ? AND guid_hash NOT IN "
                "(SELECT guid_hash FROM rss_items WHERE feed_id = ? "
                "ORDER BY seen_at DESC LIMIT ?)",
                (feed_id, SUBMITTING, feed_id, keep),
            ).rowcount)

    def settle(self, feed_id: int, guid: str, state: str, gid: str | None = None) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE rss_items SET state = ?, gid = ? WHERE feed_id = ? AND guid_hash = ?",
                (state, gid, feed_id, guid_hash(guid)),
            )

    def interrupted(self) -> list[tuple[int, str]]:
        """Items left 'submitting' by a stop, as (feed id, title); each is marked UNSURE, so it
        is reported once and never submitted again."""
        with self._store.transaction() as conn:
            rows = conn.execute(
                "SELECT feed_id, title FROM rss_items WHERE state = ?", (SUBMITTING,)
            ).fetchall()
            conn.execute("UPDATE rss_items SET state = ? WHERE state = ?", (UNSURE, SUBMITTING))
        return [(int(feed), str(title)) for feed, title in rows]

    # -- decoding ------------------------------------------------------------------------

    def _subscription(self, row: tuple[object, ...]) -> Subscription | None:
        (feed_id, user_id, chat_id, name, url, command, flags, include, exclude, paused,
         failures, etag, last_modified) = row
        ident = int(str(feed_id))
        opened_url = self._store.unseal(str(url), context=_context(ident, "url"))
        opened_flags = self._store.unseal(str(flags), context=_context(ident, "flags"))
        if opened_url is None or opened_flags is None:
            return None
        return Subscription(
            id=ident, user_id=int(str(user_id)), chat_id=int(str(chat_id)), name=str(name),
            url=opened_url, command=str(command), flags=opened_flags,
            include=Filter.parse(str(include)) if include else Filter(),
            exclude=Filter.parse(str(exclude), "-exf") if exclude else Filter(),
            paused=bool(paused), failures=int(str(failures)),
            validators=Validators(
                str(etag) if etag is not None else None,
                str(last_modified) if last_modified is not None else None,
            ),
        )
