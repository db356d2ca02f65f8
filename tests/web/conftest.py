"""An app on a temp SQLite store with a few rows written here."""

from __future__ import annotations

import pytest

from assisted_labeling.config import build_config
from assisted_labeling.project import LabelingProject
from assisted_labeling.store import Item
from assisted_labeling.store.sqlite import SQLiteStore
from assisted_labeling.web.app import create_app

ROWS = [
    {"id": "r1", "text": "good", "hint": "pos"},
    {"id": "r2", "text": "bad", "hint": "neg"},
    {"id": "r3", "text": "<b>meh</b>", "hint": ""},
]


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(tmp_path / "labels.db")
    store.add_items(Item(row["id"], row) for row in ROWS)
    yield store
    store.close()


def _make_app(store, local_mode=True, **settings):
    config = build_config({"categories": "pos,neg,neutral",
                           "existing_labels_column": "hint", **settings})
    return create_app(LabelingProject(config, store), local_mode=local_mode,
                      test_config={"TESTING": True})


@pytest.fixture
def make_app():
    """Build an app on a store with other settings."""
    return _make_app


@pytest.fixture
def app(store):
    return _make_app(store)


@pytest.fixture
def client(app):
    return app.test_client()
