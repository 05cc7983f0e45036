"""Who may do what: the owner, sudo users and authorized chats.

Sources of truth are the config (fixed at start) plus the store (changed by /auth and /addsudo).
The store's sets are cached in memory as frozensets and replaced whole after each change, so the
hot path (every update) is two set look-ups with no lock and no SQL.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable

from telebot.config import Config
from telebot.store import Store


class Level(enum.IntEnum):
    """What a command needs. Higher levels include the lower ones."""

    USER = 1  # an authorized chat or user
    SUDO = 2  # sudo users: admin commands
    OWNER = 3  # the owner alone: managing sudo users


class Authorizer:
    """Answers "may this user, in this chat, use a command of this level?"."""

    def __init__(self, config: Config, store: Store) -> None:
        self._config = config
        self._store = store
        self._lock = threading.Lock()
        self._chats = store.chats()
        self._sudo = store.sudo_users()

    def level_of(self, user_id: int, chat_id: int) -> Level | None:
        if user_id == self._config.owner_id:
            return Level.OWNER
        if user_id in self._config.sudo_users or user_id in self._sudo:
            return Level.SUDO
        authorized = self._config.authorized_chats | self._chats
        if chat_id in authorized or user_id in authorized:
            return Level.USER
        return None

    def allowed(self, needed: Level, user_id: int, chat_id: int) -> bool:
        level = self.level_of(user_id, chat_id)
        return level is not None and level >= needed

    def is_sudo(self, user_id: int) -> bool:
        level = self.level_of(user_id, 0)
        return level is not None and level >= Level.SUDO

    # -- changes (persisted, then the cache is swapped) -----------------------------------

    def authorize(self, chat_id: int) -> bool:
        return self._change(self._store.add_chat, chat_id)

    def unauthorize(self, chat_id: int) -> bool:
        return self._change(self._store.remove_chat, chat_id)

    def add_sudo(self, user_id: int) -> bool:
        return self._change(self._store.add_sudo, user_id)

    def remove_sudo(self, user_id: int) -> bool:
        return self._change(self._store.remove_sudo, user_id)

    def _change(self, write: Callable[[int], bool], ident: int) -> bool:
        """Persist one change, then swap in fresh caches (admin commands are rare)."""
        with self._lock:
            changed = write(ident)
            self._chats, self._sudo = self._store.chats(), self._store.sudo_users()
        return changed

    def describe(self) -> dict[str, list[int]]:
        """Everyone with access, for /users."""
        return {
            "owner": [self._config.owner_id],
            "sudo": sorted(self._config.sudo_users | self._sudo),
            "chats": sorted(self._config.authorized_chats | self._chats),
        }

    def config_setting_for(self, ident: int, *, sudo: bool) -> str | None:
        """The config setting that grants ``ident`` its access (a command cannot take it away),
        or None when only the database does: ``sudo`` asks about sudo rights, else about
        authorization."""
        if sudo:
            if ident == self._config.owner_id:
                return "OWNER_ID"
            return "SUDO_USERS" if ident in self._config.sudo_users else None
        return "AUTHORIZED_CHATS" if ident in self._config.authorized_chats else None

    def is_config_entry(self, chat_or_user: int) -> bool:
        """Ids given in the config cannot be removed by a command (the config would win)."""
        return (
            chat_or_user in self._config.authorized_chats or chat_or_user in self._config.sudo_users
        )


class RefusalThrottle:
    """At most one refusal per user per ``period`` seconds, so a stranger cannot make us flood."""

    MAX_TRACKED = 10_000

    def __init__(self, period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._period = period
        self._clock = clock
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def should_reply(self, user_id: int) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(user_id)
            if last is not None and now - last < self._period:
                return False
            if len(self._last) >= self.MAX_TRACKED:
                # Forget stale entries rather than grow without bound under a spam wave.
                self._last = {u: t for u, t in self._last.items() if now - t < self._period}
            self._last[user_id] = now
            return True
