"""SQLite specifics of keeping accounts safe: private files, what a session leaves in
the file (the contract suite covers sessions and failed logins for every backend)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat

import pytest

from assisted_labeling.store.sqlite import SQLiteStore

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """A usual umask (022), under which files are created readable by everyone."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@posix_only
def test_a_new_store_and_its_side_files_are_private(tmp_path, open_umask):
    store = SQLiteStore(tmp_path / "labels.db")
    store.add_user("ann", "annotator", "ann-password")  # a write: -wal and -shm exist
    files = [tmp_path / name for name in
             ("labels.db", "labels.db-wal", "labels.db-shm", "labels.db.lock")]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    store.close()


@posix_only
def test_an_existing_readable_store_is_made_private_and_logged(tmp_path, open_umask,
                                                               caplog):
    SQLiteStore(tmp_path / "labels.db").close()
    for name in ("labels.db", "labels.db.lock"):
        os.chmod(tmp_path / name, 0o644)
    with caplog.at_level(logging.WARNING, logger="assisted_labeling.store.sqlite"):
        store = SQLiteStore(tmp_path / "labels.db")
    assert mode(tmp_path / "labels.db") == mode(tmp_path / "labels.db.lock") == 0o600
    assert "Made" in caplog.text and "private" in caplog.text
    store.close()


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(tmp_path / "labels.db")
    store.add_user("ann", "annotator", "ann-password")
    yield store
    store.close()


def test_only_a_hash_of_the_session_id_is_stored(store):
    session_id, _ = store.finish_login((), "ann", lifetime=60)
    stored = store._conn().execute("SELECT id_hash FROM sessions").fetchall()
    assert stored == [(hashlib.sha256(session_id.encode()).hexdigest(),)]


def test_expired_sessions_are_purged_at_the_next_login(store):
    store.finish_login((), "ann", lifetime=60, now=1000.0)
    store.finish_login((), "ann", lifetime=60, now=2000.0)  # a login purges expired ones
    assert store._conn().execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
