from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from telebot.errors import StoreError
from telebot.store import MIGRATIONS, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_schema_is_versioned_and_wal(store: Store, tmp_path: Path) -> None:
    assert store.schema_version == len(MIGRATIONS)
    assert store._query("PRAGMA journal_mode")[0][0] == "wal"
    store.close()
    reopened = Store(tmp_path / "db.sqlite")  # migrations are not re-run
    assert reopened.schema_version == len(MIGRATIONS)
    reopened.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "future.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_authorization_sets(store: Store) -> None:
    assert store.add_chat(-100) is True
    assert store.add_chat(-100) is False
    assert store.add_sudo(5) is True
    assert store.chats() == frozenset({-100})
    assert store.sudo_users() == frozenset({5})
    assert store.remove_chat(-100) is True and store.remove_chat(-100) is False
    assert store.remove_sudo(5) is True
    assert store.chats() == frozenset() and store.sudo_users() == frozenset()


def test_settings_roundtrip(store: Store) -> None:
    store.set_setting(1, "split", 1000)
    store.set_setting(1, "split", 2000)
    store.set_setting(1, "doc", True)
    assert store.settings(1) == {"split": 2000, "doc": True}
    assert store.settings(2) == {}


def test_journal(store: Store) -> None:
    store.journal_add("a1", chat_id=1, user_id=2, message_id=3, spec={"url": "x"}, state="queued")
    store.journal_add("b2", chat_id=1, user_id=2, message_id=None, spec={}, state="queued")
    store.journal_set_state("a1", "downloading")
    entries = store.journal_entries()
    assert [e.gid for e in entries] == ["a1", "b2"]
    assert entries[0].state == "downloading" and entries[0].spec == {"url": "x"}
    store.journal_remove("a1")
    assert [e.gid for e in store.journal_entries()] == ["b2"]


def test_concurrent_writers(store: Store) -> None:
    def work(base: int) -> None:
        for i in range(50):
            store.add_chat(base + i)

    threads = [threading.Thread(target=work, args=(n * 1000,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(store.chats()) == 400


WRITER = """
import sys
from telebot.store import Store
s = Store(sys.argv[1], secret_key="crash-test-token")
i = 0
while True:
    s.journal_add(f"g{i}", chat_id=1, user_id=1, message_id=i, spec={"i": i, "pad": "x" * 500},
                  state="downloading")
    s.add_chat(i)
    i += 1
    if i == 200:
        print("ready", flush=True)
"""


def test_kill_9_never_leaves_it_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    for _round in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.kill()  # SIGKILL, mid-write
        proc.wait(timeout=10)
        reopened = Store(path, secret_key="crash-test-token")
        assert reopened.integrity_ok()
        entries = reopened.journal_entries()
        assert len(entries) >= 200
        # Every committed row is whole: its spec decodes and matches its gid.
        assert all(e.spec["i"] == int(e.gid[1:]) for e in entries)
        reopened.close()
