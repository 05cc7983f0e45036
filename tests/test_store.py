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
    # FULL (2): a commit survives a power cut, not only a kill of the process.
    assert store._query("PRAGMA synchronous")[0][0] == 2
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


# -- credentials at rest (issue 11) -----------------------------------------------------------

SECRET_SPEC = {
    "kind": "mirror",
    "source": "https://bob:linkpw@h.example/f?api_key=LINKKEY",
    "headers": [["Authorization", "Bearer S3CRET-HEADER"]],
    "auth": ["bob", "PASSW0RD-XYZ"],
    "name": "f.bin",
    "extract": True,
    "extract_password": "ARCH1VE-PW",
    "compress": True,
    "compress_password": "ZIP-PASSWORD",
    "share_password": "SHARE-PASSW0RD",
}
NEEDLES = (
    b"PASSW0RD-XYZ", b"S3CRET-HEADER", b"LINKKEY", b"linkpw", b"ARCH1VE-PW", b"ZIP-PASSWORD",
    b"SHARE-PASSW0RD",
)


def _disk_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def test_credentials_are_sealed_at_rest_and_opened_on_restore(tmp_path: Path) -> None:
    db = tmp_path / "db" / "telebot.db"
    store = Store(db, secret_key="111111:token-one")
    store.journal_add("g1", chat_id=1, user_id=2, message_id=3, spec=SECRET_SPEC, state="queued")
    raw = _disk_bytes(db.parent)
    assert raw and not [n for n in NEEDLES if n in raw]
    [row] = store._query("SELECT spec FROM task_journal")
    assert "tbs1:" in row[0] and "PASSW0RD" not in row[0]
    store.close()
    reopened = Store(db, secret_key="111111:token-one")
    [entry] = reopened.journal_entries()
    assert entry.spec == SECRET_SPEC and entry.problem is None
    reopened.close()


def test_a_changed_token_reports_instead_of_crashing(tmp_path: Path) -> None:
    db = tmp_path / "telebot.db"
    store = Store(db, secret_key="111111:token-one")
    store.journal_add("g1", chat_id=1, user_id=2, message_id=3, spec=SECRET_SPEC, state="queued")
    store.close()
    other = Store(db, secret_key="222222:token-two")
    [entry] = other.journal_entries()
    assert entry.spec is None and entry.problem is not None
    assert "credentials cannot be decrypted" in entry.problem
    other.close()


def test_a_sealed_value_is_bound_to_its_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "telebot.db", secret_key="111111:token-one")
    store.journal_add("g1", chat_id=1, user_id=2, message_id=3, spec=SECRET_SPEC, state="queued")
    store.journal_add("g2", chat_id=1, user_id=2, message_id=4, spec={"kind": "x"}, state="queued")
    with store._tx() as conn:  # an attacker swaps the sealed blob into another row
        conn.execute(
            "UPDATE task_journal SET spec = (SELECT spec FROM task_journal "
            "WHERE gid = 'g1') WHERE gid = 'g2'"
        )
    entries = {e.gid: e for e in store.journal_entries()}
    assert entries["g1"].spec == SECRET_SPEC and entries["g2"].spec is None
    store.close()


def test_finished_rows_leave_no_credentials_behind(tmp_path: Path) -> None:
    db = tmp_path / "db" / "telebot.db"
    store = Store(db, secret_key="111111:token-one")
    assert store._query("PRAGMA secure_delete")[0][0] == 1
    store.journal_add("g1", chat_id=1, user_id=2, message_id=3, spec=SECRET_SPEC, state="queued")
    [row] = store._query("SELECT spec FROM task_journal")
    sealed = row[0].split('"sealed": "')[1].split('"')[0].encode()
    store.journal_remove("g1")
    assert sealed[:40] not in _disk_bytes(db.parent)  # not even the sealed form
    store.close()


def test_plain_rows_of_an_older_version_are_sealed_at_open(tmp_path: Path) -> None:
    import json
    import sqlite3

    db = tmp_path / "telebot.db"
    Store(db, secret_key="111111:token-one").close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO task_journal VALUES ('old', 1, 2, 3, ?, 'queued', 0, 0)",
        (json.dumps(SECRET_SPEC),),
    )
    conn.commit()
    conn.close()
    store = Store(db, secret_key="111111:token-one")
    [entry] = store.journal_entries()
    assert entry.spec == SECRET_SPEC
    [row] = store._query("SELECT spec FROM task_journal")
    assert "PASSW0RD" not in row[0]
    store.close()


def test_database_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0)
    try:
        db = tmp_path / "new" / "telebot.db"
        store = Store(db, secret_key="111111:token-one")
        store.journal_add("g1", chat_id=1, user_id=2, message_id=3, spec={}, state="queued")
        for path in (db, db.with_name("telebot.db-wal"), db.with_name("telebot.db-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        store.close()
    finally:
        os.umask(old)
