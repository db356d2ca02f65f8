"""Build a labeling project from local files: the standalone host."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping

from .config import LabelingConfig, build_config, check_columns
from .errors import ConfigError
from .project import LabelingProject
from .sources import (
    READER,
    TABLE_FORMATS,
    Row,
    file_fingerprint,
    iter_rows,
    iter_table,
    table_columns,
)
from .store import Item
from .store.sqlite import SQLiteStore

CONFIG_META = "config"
#: What last ordered the queue: the fingerprint of a queries file, or "retraining".
RANKED_BY = "ranked_by"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (any case): the only hosts served
    without accounts."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _progress(rows: Iterator[Row], label: str) -> Iterator[Row]:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        yield from rows
        return
    yield from tqdm(rows, desc=label, unit=" rows", mininterval=1.0, file=sys.stderr,
                    disable=None)


#: How a store's CSV pool is parsed: "exact" (nearest double) or "pandas" (pandas' default
#: parser, which may be a unit off in the last place: stores made before 2026-11-25).
READER_META = "reader"
FLOATS_META = "csv_floats"  # what stores recorded before "reader": "pandas" or "exact"


def store_reader(store: SQLiteStore) -> str:
    """How the store's pool is read (:data:`sources.READERS`).

    Content ids hash the values as read, so a store keeps the reader its items were
    first read with: switching would give some rows new ids, and their labels would be
    lost to them. New stores use :data:`sources.READER`."""
    recorded = store.get_meta(READER_META)
    if recorded is None:
        recorded = store.get_meta(FLOATS_META)
        if recorded is None:
            recorded = "pandas" if store.get_meta("input_fingerprint") is not None else READER
        store.set_meta(READER_META, recorded)
    return recorded


def pool_format(store: SQLiteStore) -> str | None:
    """The format of the table the store's items were last read from (None: unknown)."""
    path = pool_path(store)
    return None if path is None else TABLE_FORMATS.get(path.suffix.lower())


def load_items(store: SQLiteStore, input_path: str | Path, config: LabelingConfig, *,
               progress: bool = True) -> int:
    """Import the table's rows as items, unless this version of the file is known already.

    Rows are inserted by id: existing items keep their annotations and take the row's
    values when it was edited; items whose row is gone from the file are served no
    more (never annotated: removed; annotated: kept, with their labels). Said on stderr.
    """
    fingerprint = file_fingerprint(input_path)
    if store.get_meta("input_fingerprint") == fingerprint:
        return 0
    rows = iter_rows(input_path, id_column=config.id_column, reader=store_reader(store))
    if progress:
        rows = _progress(rows, f"Reading {Path(input_path).name}")
    first = store.get_meta("input_fingerprint") is None
    # Read as `serve` starts, before it serves: no labeler waits (see sync_items).
    done = store.sync_items((Item(row.key, row.data) for row in rows),
                            annotators_per_item=config.annotators_per_item, update=not first,
                            pause=False)
    name = Path(input_path).name
    if done.updated:
        print(f"{_items(done.updated)} take{'s' * (done.updated == 1)} new values from "
              f"{name} (rows edited since it was last read); their labels are kept",
              file=sys.stderr)
    if done.removed:
        print(f"{_items(done.removed)} never annotated {'is' if done.removed == 1 else 'are'}"
              f" gone from {name}: no longer served", file=sys.stderr)
    if done.retired:
        examples = ", ".join(done.retired_keys) + (", …" if done.retired > 3 else "")
        edited = "" if config.id_column else (
            " (without an id column, a row edited in the file is a new item: its old "
            "version is one of these)")
        print(f"{_items(done.retired, 'annotated ')} {'is' if done.retired == 1 else 'are'}"
              f" not in {name} ({examples}){edited}: no longer served; the annotations "
              "are kept and exported", file=sys.stderr)
    store.set_meta("input_fingerprint", fingerprint)
    return done.added


def open_project(input_path: str | Path, store_path: str | Path,
                 settings: Mapping[str, Any], *, progress: bool = True,
                 sync: bool = True) -> LabelingProject:
    """Validate settings against the input, open the store, import items. ``sync``
    False: open the store as it is (a helper process of a running server: the server
    imported the items, and the pool may have changed since)."""
    config = build_config(settings)
    if not sync:
        store = SQLiteStore(store_path)
        return LabelingProject(config, store, warnings=lambda: loop_warnings(store))
    check_columns(config, table_columns(input_path))
    first = next(iter_table(input_path, chunksize=1), None)
    if first is None or first.empty:  # a file emptied by mistake would retire every item
        raise ConfigError(f'The pool "{input_path}" has no rows: nothing to label')
    store = SQLiteStore(store_path)
    try:
        _check_same_identity(store, config)
    except BaseException:
        store.close()
        raise
    load_items(store, input_path, config, progress=progress)
    if store.get_meta("annotators_per_item") != str(config.annotators_per_item):
        store.set_annotators_per_item(config.annotators_per_item)
        store.set_meta("annotators_per_item", str(config.annotators_per_item))
    store.set_meta(CONFIG_META, json.dumps({
        "label_col_name": config.label_col_name,
        "multi_label": config.multi_label,
        "categories": list(config.category_names),
        "kind": config.kind,
        "id_column": config.id_column,
    }))
    return LabelingProject(config, store, warnings=lambda: loop_warnings(store))


def _items(n: int, adjective: str = "") -> str:
    return f"{n} {adjective}item{'s' * (n != 1)}"


def _check_same_identity(store: SQLiteStore, config: LabelingConfig) -> None:
    """Refuse settings that would change what the store's items or labels are: another
    id column (the items keep the ids they were given, while exports and queries would
    look them up by the new one), or a switch between single and multi-label once
    labels exist (one label column would mix class names and lists)."""
    raw = store.get_meta(CONFIG_META)
    if raw is None:
        return
    before = json.loads(raw)
    if "id_column" in before and before["id_column"] != config.id_column:
        def named(column: str | None) -> str:
            return f'the column "{column}"' if column else "their content"

        raise ConfigError(
            f'"{store.path}" identifies its items by {named(before["id_column"])}, not '
            f"{named(config.id_column)}: give the --id-column it was served with, or "
            "start another store for other ids")
    if bool(before.get("multi_label")) != config.multi_label and store.stats().per_class:
        mode = "multi-label" if before.get("multi_label") else "single-label"
        raise ConfigError(
            f'"{store.path}" holds {mode} labels: serve it '
            f"{'with' if before.get('multi_label') else 'without'} --multi-label, or "
            "start another store")


def loop_warnings(store: SQLiteStore) -> list[str]:
    """Stopping warnings from the retraining history the standalone loop keeps."""
    from .loop import stopping_warnings
    from .retrain import metrics_history

    return stopping_warnings(metrics_history(store))


def stored_settings(store: SQLiteStore) -> dict[str, Any]:
    """The settings a store was last served with (for exports and queries)."""
    raw = store.get_meta(CONFIG_META)
    if raw is None:
        raise ConfigError(f'"{store.path}" has not been served yet: it holds no items '
                          "(start `serve` with it first)")
    return json.loads(raw)


def pool_path(store: SQLiteStore) -> Path | None:
    """The table the store's items were last read from (None: unknown)."""
    raw = store.get_meta("input_fingerprint")
    return None if raw is None else Path(json.loads(raw)[0])
