"""The SQLite store's counters and open places always equal what its tables say, under
random labeling, skips, releases, pool versions that retire and bring back items, and
changes of annotators per item."""

from __future__ import annotations

import random

import pytest

from assisted_labeling.errors import LabelingError
from assisted_labeling.store import Item
from assisted_labeling.store.sqlite import SQLiteStore


def assert_consistent(store: SQLiteStore) -> None:
    conn = store._conn()

    def count(sql: str) -> int:
        return conn.execute(sql).fetchone()[0]

    counters = dict(conn.execute("SELECT name, value FROM counters"))
    assert counters["total"] == count("SELECT count(*) FROM items")
    assert counters["retired"] == count("SELECT count(*) FROM items WHERE needed = 0")
    stats = store.stats()
    assert stats.total == count("SELECT count(*) FROM items WHERE needed > 0")
    assert stats.complete == count(
        "SELECT count(*) FROM items WHERE needed > 0 AND labeled >= needed")
    assert counters["complete"] == count("SELECT count(*) FROM items WHERE labeled >= needed")
    assert counters["labeled"] == count(
        "SELECT count(*) FROM annotations WHERE status = 'LABELED'")
    assert counters["skipped"] == count(
        "SELECT count(*) FROM annotations WHERE status = 'SKIPPED'")
    for key, needed, labeled, open_, really_labeled, leases in conn.execute(
            "SELECT key, needed, labeled, open, (SELECT count(*) FROM annotations a "
            "WHERE a.item_id = items.id AND a.status = 'LABELED'), (SELECT count(*) "
            "FROM leases l WHERE l.item_id = items.id) FROM items"):
        assert labeled == really_labeled, key
        assert open_ == needed - labeled - leases, key


@pytest.mark.parametrize("seed", range(30))
def test_counters_hold_under_random_work(tmp_path, seed):
    rng = random.Random(seed)
    store = SQLiteStore(tmp_path / "s.db")
    keys = [f"k{i}" for i in range(8)]
    present, needed, now = set(keys), 1, 1000.0
    store.add_items([Item(k, {"k": k}) for k in keys])
    try:
        for _ in range(150):
            user, key, op = rng.choice("abc"), rng.choice(keys), rng.random()
            now += rng.choice([1, 1, 1, 700])  # now and then past the reservations
            try:
                if op < 0.25:
                    served = store.next_items(user, count=rng.randint(1, 3), now=now)
                    assert {i.key for i in served} <= present  # never a retired item
                elif op < 0.45:
                    store.save_label(user, key, "x", ["x"], now=now)
                elif op < 0.6:
                    store.save_skip(user, key, now=now)
                elif op < 0.67:
                    store.release(user, key)
                elif op < 0.85:  # a new version of the pool file
                    present = set(rng.sample(keys, rng.randint(1, len(keys))))
                    store.sync_items([Item(k, {"k": k}) for k in sorted(present)],
                                     annotators_per_item=needed)
                else:
                    needed = rng.randint(1, 3)
                    store.set_annotators_per_item(needed)
            except LabelingError:
                pass  # e.g. saving an item that was removed
            assert_consistent(store)
    finally:
        store.close()


def test_progress_counts_the_items_of_the_table_not_those_whose_rows_left_it(tmp_path):
    """A team lead reads total, complete and remaining as the table's: an annotated item
    whose row was removed keeps its annotation (labeled, skipped, exports) but is no
    item to label, even one that was only skipped."""
    store = SQLiteStore(tmp_path / "s.db")
    store.add_items([Item(f"k{i}", {"i": i}) for i in range(10)])
    store.save_label("ann", "k0", "x", ["x"])
    store.save_label("ann", "k1", "x", ["x"])
    store.save_skip("ann", "k2")
    store.sync_items([Item(f"k{i}", {"i": i}) for i in (1, 3, 4, 5, 6, 7)])  # k0, k2,
    # k8 and k9 gone
    stats = store.stats().to_dict()
    assert {k: stats[k] for k in ("total", "complete", "remaining", "labeled", "skipped",
                                  "retired")} == {
        "total": 6, "complete": 1, "remaining": 5, "labeled": 2, "skipped": 1, "retired": 2}
    assert_consistent(store)
    store.close()
    # A store of an earlier version, without the count: made once, at opening.
    import sqlite3

    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("DELETE FROM counters WHERE name = 'retired'")
    conn.commit()
    conn.close()
    store = SQLiteStore(tmp_path / "s.db")
    assert store.stats().retired == 2 and store.stats().total == 6
    store.sync_items([Item(f"k{i}", {"i": i}) for i in range(10)])  # all back
    assert store.stats().to_dict()["retired"] == 0 and store.stats().total == 10
    assert_consistent(store)
    store.close()
