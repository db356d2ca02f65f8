"""Bulk writes (ranking or importing a whole pool, as a retraining or a new version of the
table does) let labelers' saves in between their transactions, instead of keeping the
write lock to themselves until they are done.

The pauses themselves are checked deterministically (recorded); the test of a waiting
save shows their effect, but a save may also win the lock by luck without them."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest

from assisted_labeling.store import Item
from assisted_labeling.store import sqlite as sqlite_module
from assisted_labeling.store.sqlite import SQLiteStore

N_ITEMS = 60

BULK_WRITES: dict[str, Callable[[SQLiteStore, bool], object]] = {
    "set_priorities": lambda store, pause: store.set_priorities(
        [(f"k{i}", i / N_ITEMS) for i in range(N_ITEMS)], batch_size=10, pause=pause),
    "sync_items": lambda store, pause: store.sync_items(
        [Item(f"k{i}", {"v": i, "new": 1}) for i in range(N_ITEMS)], batch_size=10,
        pause=pause),
}


class SlowFirstWrite(SQLiteStore):
    """A store (another process, as far as the lock knows) whose first bulk transaction
    takes a while, and which records each bulk transaction before it commits."""

    def __init__(self, path, events: list[str], started: threading.Event) -> None:
        super().__init__(path)
        self.events, self.started, self.slow = events, started, False

    @contextmanager
    def _bulk_write(self, pause: bool) -> Iterator:
        with super()._bulk_write(pause) as conn:
            if self.slow and not self.started.is_set():
                self.started.set()
                time.sleep(0.2)  # the save below now waits for the lock
            yield conn
            self.events.append("bulk transaction")


@pytest.fixture
def stores(tmp_path):
    labeler = SQLiteStore(tmp_path / "s.db")
    labeler.add_items([Item(f"k{i}", {"v": i}) for i in range(N_ITEMS)])
    events: list[str] = []
    started = threading.Event()
    bulk = SlowFirstWrite(tmp_path / "s.db", events, started)
    yield labeler, bulk, events, started
    bulk.close()
    labeler.close()


@pytest.mark.parametrize("write", sorted(BULK_WRITES))
def test_a_save_waiting_for_a_bulk_write_goes_in_before_the_next_transaction(stores, write):
    labeler, bulk, events, started = stores

    def save() -> None:
        started.wait(10)
        labeler.save_label("ann", "k0", "x", ["x"])
        events.append("save")

    saver = threading.Thread(target=save)
    saver.start()
    bulk.slow = True
    BULK_WRITES[write](bulk, True)
    events.append("bulk done")
    saver.join(10)
    assert labeler.get_annotation("ann", "k0").label == "x"
    # The save came right after the transaction it waited for, not after the whole write.
    assert events.index("save") == events.index("bulk transaction") + 1, events
    assert events.count("bulk transaction") > 3


@pytest.mark.parametrize("write", sorted(BULK_WRITES))
def test_bulk_writes_pause_as_long_as_each_transaction_took_unless_told_not_to(
        stores, write, monkeypatch):
    _, bulk, events, _ = stores
    pauses: list[float] = []
    monkeypatch.setattr(sqlite_module.time, "sleep", pauses.append)
    BULK_WRITES[write](bulk, False)
    assert pauses == []
    transactions = len(events)
    BULK_WRITES[write](bulk, True)
    assert len(pauses) >= N_ITEMS // 10
    assert len(pauses) <= len(events) - transactions
    assert all(p > 0 for p in pauses)


def test_serve_imports_its_pool_without_pausing(tmp_path, monkeypatch):
    """`serve` reads its pool before it serves: no labeler waits, new store or not."""
    from assisted_labeling.standalone import open_project

    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n" + "".join(f"{i},row {i}\n" for i in range(50)))
    pauses: list[float] = []
    monkeypatch.setattr(sqlite_module.time, "sleep", pauses.append)
    settings = {"categories": ["a", "b"], "id_column": "id"}
    open_project(pool, tmp_path / "s.db", settings, progress=False).store.close()
    pool.write_text(pool.read_text() + "50,row 50\n")  # a new version of the pool
    project = open_project(pool, tmp_path / "s.db", settings, progress=False)
    assert project.stats().total == 51
    project.store.close()
    assert pauses == []
