"""A store path that does not hold a store: a clear error, and the file left alone."""

from __future__ import annotations

import os
import shutil

import pytest

from assisted_labeling.errors import ConfigError
from assisted_labeling.store import Item
from assisted_labeling.store.sqlite import SQLiteStore


def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(tmp_path):
    pool = tmp_path / "pool.csv"
    pool.write_text("text\nhello\n")
    os.chmod(pool, 0o644)
    with pytest.raises(ConfigError, match=r'pool.csv" is not a labeling store'):
        SQLiteStore(pool)
    assert pool.read_text() == "text\nhello\n"
    assert os.stat(pool).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool.csv"]  # no .lock beside it


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a directory: give a file name"):
        SQLiteStore(tmp_path)


def test_a_damaged_store_is_a_clear_error(tmp_path):
    path = tmp_path / "labels.db"
    store = SQLiteStore(path)
    store.add_items([Item(f"k{i}", {"text": "x" * 2000}) for i in range(200)])
    store.close()
    damaged = tmp_path / "damaged.db"
    shutil.copyfile(path, damaged)
    with damaged.open("r+b") as file:  # keep the header, break the pages after it
        file.seek(100)
        file.write(b"\xff" * 8000)
    with pytest.raises(ConfigError, match=r"damaged .*restore it from a backup"):
        SQLiteStore(damaged)


def test_an_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "labels.db"
    path.touch()
    SQLiteStore(path).close()


def test_a_locked_store_is_not_called_damaged(tmp_path):
    import sqlite3

    path = tmp_path / "labels.db"
    SQLiteStore(path).close()
    other = sqlite3.connect(path, isolation_level=None)  # another program writing
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta (key, value) VALUES ('held', 'by another program')")
    try:
        with pytest.raises(ConfigError) as error:
            SQLiteStore(path, busy_timeout=0.2)
    finally:
        other.rollback()
        other.close()
    assert "damaged" not in str(error.value)
    assert "Cannot open the store" in str(error.value) and "database is locked" in str(
        error.value)
    SQLiteStore(path).close()  # once released, it opens


def test_a_store_is_held_for_one_server_whatever_path_names_it(tmp_path):
    """A second server on the store is refused, through a link to it too; the hold ends
    with the server."""
    from assisted_labeling.errors import ConfigError
    from assisted_labeling.store.sqlite import hold_for_serving, release_serving

    store = tmp_path / "labels.db"
    store.touch()
    (tmp_path / "link.db").symlink_to(store)
    held = hold_for_serving(store)
    for other in (store, tmp_path / "link.db", tmp_path / "." / "labels.db"):
        with pytest.raises(ConfigError, match=f"process {os.getpid()}, or its workers"):
            hold_for_serving(other)
    release_serving(held)
    release_serving(hold_for_serving(tmp_path / "link.db"))


def test_a_store_with_another_hard_link_is_not_opened(tmp_path):
    """A hard link is a second name: SQLite keeps its recent changes (-wal) beside the
    name it opened, so a program under the other name would lose them, and the serving
    hold (keyed on a name) would not see it. Refused before anything is opened or made
    beside either name."""
    from assisted_labeling.errors import ConfigError
    from assisted_labeling.store.sqlite import check_store_file, hold_for_serving

    store = tmp_path / "labels.db"
    first = SQLiteStore(store)
    first.add_items([Item("a", {"x": 1})])  # in labels.db-wal while it is open
    os.link(store, tmp_path / "copy.db")
    before = sorted(p.name for p in tmp_path.iterdir())
    for name in (tmp_path / "copy.db", store):
        with pytest.raises(ConfigError, match="2 names .hard links.") as error:
            SQLiteStore(name)
        assert "cp" in str(error.value)
        with pytest.raises(ConfigError, match="2 names"):
            check_store_file(name, existing=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no -wal, .lock…
    assert first.stats().total == 1
    first.close()
    (tmp_path / "copy.db").unlink()
    reopened = SQLiteStore(store)
    assert reopened.stats().total == 1
    reopened.close()
    hold_for_serving(store)


def test_removing_a_store_through_a_link_removes_the_store_and_keeps_the_link(tmp_path):
    from assisted_labeling.store.sqlite import hold_for_serving, release_serving, remove_store

    (tmp_path / "real").mkdir()
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "real" / "labels.db")
    store = SQLiteStore(link)
    store.add_items([Item("a", {"x": 1})])
    store.close()
    release_serving(hold_for_serving(link))
    remove_store(link)
    assert list((tmp_path / "real").iterdir()) == []
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [
        "link.db", "real"]
