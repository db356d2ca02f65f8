"""A store written by an earlier schema opens in place, with nothing lost."""

from __future__ import annotations

import json
import sqlite3

import pytest

from assisted_labeling.errors import StaleSaveError
from assisted_labeling.store import Item, SaveOrder, Status
from assisted_labeling.store.sqlite import SCHEMA_VERSION, SQLiteStore

# The tables schema 2 changes (items, its queue index) as schema 1 wrote them, and the
# counters and meta rows they go with; SQLiteStore creates the unchanged tables.
SCHEMA_1_ITEMS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    priority REAL,
    qorder REAL NOT NULL,
    rank INTEGER NOT NULL,
    needed INTEGER NOT NULL,
    labeled INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL,
    pgen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX items_queue ON items (qorder, rank) WHERE open > 0;
CREATE INDEX items_scored ON items (pgen) WHERE priority IS NOT NULL;
INSERT INTO meta VALUES ('schema_version', '1'), ('seed', '00112233445566778899');
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counters VALUES ('total', 3);
"""


def schema_1_store(path):
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1_ITEMS)
    conn.executemany(
        "INSERT INTO items (key, data, priority, qorder, rank, needed, open, pgen) "
        "VALUES (?, ?, ?, ?, ?, 1, 1, ?)",
        [("a", json.dumps({"x": 1}), 0.4, -0.4, 7, 1),
         ("b", json.dumps({"x": 2}), 0.9, -0.9, 3, 1),
         ("c", json.dumps({"x": 3}), None, 1.0, 5, 0)])
    conn.commit()
    conn.close()


def reopened_after(path, script: str) -> SQLiteStore:
    """The store at ``path`` (closed) turned back by ``script`` into what an earlier
    schema left, then opened: migrated to the current schema."""
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    store = SQLiteStore(path)
    assert store.get_meta("schema_version") == SCHEMA_VERSION
    return store


def test_a_schema_1_store_opens_and_keeps_its_items_and_queue(tmp_path):
    path = tmp_path / "old.db"
    schema_1_store(path)
    store = SQLiteStore(path)
    assert store.get_meta("schema_version") == SCHEMA_VERSION == "7"
    assert store.get_item("a").data == {"x": 1}
    # Schema 1 showed the priority as the uncertainty: still shown.
    served = store.next_items("u", count=3)
    assert [(i.key, i.priority, i.uncertainty) for i in served] == [
        ("b", 0.9, 0.9), ("a", 0.4, 0.4), ("c", None, None)]
    store.save_label("u", "b", "pos", ["pos"], sent=SaveOrder("page", 2))
    with pytest.raises(StaleSaveError):  # schema 5's order of saves works here too
        store.save_label("u", "b", "neg", ["neg"], sent=SaveOrder("page", 1))
    store.set_priorities([("c", 0.5, 0.25)])
    store.close()

    again = SQLiteStore(path)  # a second open finds nothing to migrate
    assert again.get_annotation("u", "b").status is Status.LABELED
    assert again.get_item("c").uncertainty == 0.25
    assert again.add_items([Item("d", {"x": 4})]) == 1
    assert again.stats().total == 3 + 1
    index = again._conn().execute(
        "SELECT sql FROM sqlite_master WHERE name = 'items_queue'").fetchone()[0]
    assert "qpos" in index
    again.close()


def test_a_schema_2_store_loses_its_cookie_key_and_nothing_else(tmp_path):
    path = tmp_path / "v2.db"
    store = SQLiteStore(path)
    store.add_items([Item("a", {"x": 1})])
    store.add_user("ann", "annotator", "ann-password")
    store.save_label("ann", "a", "pos", ["pos"], comment="sure")
    store.close()
    # As schema 2 left it: no sessions, a signing key
    again = reopened_after(path, "DROP TABLE sessions; DROP TABLE login_failures; "
                                 "UPDATE meta SET value = '2' WHERE key = 'schema_version'; "
                                 "INSERT INTO meta VALUES ('secret_key', 'f00d');")
    assert again.get_meta("secret_key") is None
    assert again.get_annotation("ann", "a").comment == "sure"
    assert again.authenticate("ann", "ann-password").role == "annotator"
    session_id, _ = again.finish_login((), "ann", lifetime=60)
    assert again.get_session(session_id)[0].name == "ann"
    again.close()


def test_a_schema_3_store_serves_its_items_waiting_for_more_annotators_first(tmp_path):
    path = tmp_path / "v3.db"
    store = SQLiteStore(path)
    store.add_items([Item(k, {"k": k}) for k in "abc"], annotators_per_item=2)
    store.set_priorities([("a", 0.9), ("b", 0.5), ("c", 0.1)])
    store.save_label("ann", "c", "pos", ["pos"])
    store.close()
    # As schema 3 left it: "c" in its place by priority
    again = reopened_after(path, "UPDATE items SET qorder = -0.1 WHERE key = 'c'; "
                                 "UPDATE meta SET value = '3' WHERE key = 'schema_version';")
    assert [i.key for i in again.next_items("bob", count=3)] == ["c", "a", "b"]
    again.close()


def test_a_schema_4_store_keeps_its_annotations_and_learns_the_order_of_saves(tmp_path):
    path = tmp_path / "v4.db"
    store = SQLiteStore(path)
    store.add_items([Item(k, {"k": k}) for k in "ab"])
    store.save_label("ann", "a", "pos", ["pos"], comment="sure")
    store.close()
    # As schema 4 left it: no order of saves
    again = reopened_after(path, "DROP TABLE save_orders; "
                                 "UPDATE meta SET value = '4' WHERE key = 'schema_version';")
    kept = again.get_annotation("ann", "a")
    assert (kept.label, kept.comment) == ("pos", "sure")
    again.save_label("ann", "a", "neg", ["neg"], sent=SaveOrder("page", 2))
    with pytest.raises(StaleSaveError):
        again.save_label("ann", "a", "pos", ["pos"], sent=SaveOrder("page", 1))
    assert again.get_annotation("ann", "a").label == "neg"
    again.close()


def test_a_schema_5_store_keeps_its_order_of_saves_and_tells_resends_apart(tmp_path):
    from assisted_labeling.errors import ResendDiffersError

    path = tmp_path / "v5.db"
    store = SQLiteStore(path)
    store.add_items([Item(k, {"k": k}) for k in "ab"])
    store.save_label("ann", "a", "pos", ["pos"], sent=SaveOrder("page", 3))
    store.close()
    # As schema 5 left it: no request digests
    again = reopened_after(path,
        "CREATE TABLE old_orders AS SELECT annotation_id, client, sequence FROM save_orders;"
        "DROP TABLE save_orders;"
        "CREATE TABLE save_orders (annotation_id INTEGER NOT NULL, client TEXT NOT NULL,"
        " sequence INTEGER NOT NULL, PRIMARY KEY (annotation_id, client)) WITHOUT ROWID;"
        "INSERT INTO save_orders SELECT * FROM old_orders; DROP TABLE old_orders;"
        "UPDATE meta SET value = '5' WHERE key = 'schema_version';")
    # A save of schema 5 has no digest: its resend is answered as stored, as then.
    assert again.save_label("ann", "a", "neg", ["neg"], sent=SaveOrder("page", 3)).label == "pos"
    with pytest.raises(StaleSaveError):
        again.save_label("ann", "a", "neg", ["neg"], sent=SaveOrder("page", 2))
    again.save_label("ann", "a", "neg", ["neg"], sent=SaveOrder("page", 4))
    with pytest.raises(ResendDiffersError):
        again.save_label("ann", "a", "pos", ["pos"], sent=SaveOrder("page", 4))
    assert again.get_annotation("ann", "a").label == "neg"
    again.close()


def test_a_schema_6_store_ranks_every_scored_item_before_the_unscored_ones(tmp_path):
    path = tmp_path / "v6.db"
    store = SQLiteStore(path)
    store.add_items([Item(k, {"k": k}) for k in "abc"])
    store.set_priorities([("a", -2.0), ("b", 0.5)])
    store.close()
    # As schema 6 left it: unscored at 1.0, "a" at 2.0
    again = reopened_after(path, "UPDATE items SET qorder = 1.0 WHERE priority IS NULL; "
                                 "UPDATE items SET qorder = 2.0 WHERE key = 'a'; "
                                 "UPDATE meta SET value = '6' WHERE key = 'schema_version';")
    assert [i.key for i in again.next_items("bob", count=3)] == ["b", "a", "c"]
    again.close()
