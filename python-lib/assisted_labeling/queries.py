"""Queries on local files: score a pool into a queries table, and order the queue by it.

Item ids in bounded memory. The webapp's id of a row without an id column is its content
hash, plus ``-n`` for the n-th repeat of the same content (``sources.RowIdentifier``).
Counting every hash seen costs memory O(pool); instead, while scoring:

- rows whose hash is that of a labeled item get exact ids (``PoolKeys(only=labeled)``
  counts those hashes only), so excluding labeled items stays exact;
- every other row gets its bare hash, and a fixed-size filter (``SeenDigests``) flags the
  rows that may repeat an earlier one. A row not flagged is certainly the first of its
  content: its bare hash is its id.

After scoring, only the kept rows that are flagged (true repeats, and rare false alarms
of the filter) need their occurrence counted: one more read of the pool, counting those
hashes only, up to the last such row. Memory: O(kept rows + labeled items) + 16 MiB.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Collection, Iterator, Sequence

import numpy as np
import pandas as pd

from .sampler import (
    MODEL_UNCERTAINTY_COLUMN,
    QUERY_COLUMNS,
    UNCERTAINTY_COLUMN,
    PoolKeys,
    SeenDigests,
    among_sorted,
    content_digests,
    integer_keys,
    score_pool,
)
from .sampling import DEFAULT_COLD_START
from .sources import READER, has_value, iter_table, string_columns, table_columns
from .store import AnnotationStore, Priority, Status

ITEM_ID = "__item_id"
_POSITION = "__position"  # the row's index in the pool
#: Columns query adds to the pool's while it works: a pool must not have them.
INTERNAL_COLUMNS = (ITEM_ID, _POSITION)
_MAYBE_SEEN = "__maybe_seen"  # may repeat an earlier row: its id is counted after scoring
#: Helper columns of rows without an id column, dropped once their ids are exact.
_ID_HELPERS = [_POSITION, _MAYBE_SEEN]
CHUNK_ROWS = 50_000


def labeled_keys(store: AnnotationStore) -> set[str]:
    """Items that have at least one LABELED annotation: the sampler leaves them out."""
    return {a.item_key for a in store.iter_annotations(status=Status.LABELED)}


def _helper_columns(id_column: str | None) -> list[str]:
    return [ITEM_ID] if id_column else [ITEM_ID, *_ID_HELPERS]


def keyed_chunks(path: str | Path, id_column: str | None, *,
                 labeled: Collection[str] = frozenset(), chunksize: int = CHUNK_ROWS,
                 seen: SeenDigests | None = None, reader: str = READER,
                 text_columns: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
    """The pool's chunks with each row's item id in an extra first column ``ITEM_ID``.

    With an id column the ids are exact; an integer id column gives its integers (the id
    of ``v`` is ``str(v)``: :func:`text_ids` makes them text). Otherwise the chunks also
    carry ``_POSITION`` and ``_MAYBE_SEEN``, and a flagged row's id may lack its ``-n``
    suffix: ids are exact for unflagged rows and for rows whose content is that of a
    ``labeled`` key, which is all exclusion needs; :func:`resolve_ids` completes the
    others (module doc). ``text_columns`` are read as the text written (CSV).
    """
    keys = PoolKeys(id_column, only=labeled)
    if seen is None and not id_column:
        seen = SeenDigests()
    offset = 0
    for chunk in iter_table(path, chunksize=chunksize, reader=reader,
                            text_columns=[id_column, *text_columns]):
        chunk = chunk.reset_index(drop=True)
        if id_column:
            chunk.insert(0, ITEM_ID, keys.compact(chunk))
        else:
            digests = content_digests(chunk)
            chunk.insert(0, ITEM_ID, keys.from_digests(digests))
            chunk.insert(1, _POSITION, np.arange(offset, offset + len(chunk), dtype=np.int64))
            chunk.insert(2, _MAYBE_SEEN, seen.check_and_add(digests))
        offset += len(chunk)
        yield chunk


def text_ids(queries: pd.DataFrame) -> pd.DataFrame:
    """``queries`` with the integer ids :func:`keyed_chunks` gives made text."""
    ids = queries[ITEM_ID]
    if ids.dtype.kind in "iu":
        queries = queries.assign(**{ITEM_ID: ids.astype(str).astype(object)})
    return queries


def resolve_ids(queries: pd.DataFrame, path: str | Path, *, chunksize: int = CHUNK_ROWS,
                reader: str = READER, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Exact ids for the flagged rows of ``queries`` (from :func:`keyed_chunks` without an
    id column, read with the same ``text_columns``), by counting their contents in the
    pool up to the last of them; the helper columns are dropped."""
    if _MAYBE_SEEN not in queries.columns:
        return queries
    flagged = queries[_MAYBE_SEEN].to_numpy(dtype=bool)
    if flagged.any():
        rows_at = pd.Series(np.flatnonzero(flagged),
                            index=queries[_POSITION].to_numpy()[flagged])
        counter = PoolKeys(None, only=set(queries[ITEM_ID].to_numpy()[flagged].tolist()))
        ids = queries[ITEM_ID].to_numpy(dtype=object, copy=True)
        last, offset = int(rows_at.index.max()), 0
        for chunk in iter_table(path, chunksize=chunksize, reader=reader,
                                text_columns=text_columns):
            keys = counter(chunk.reset_index(drop=True))
            positions = np.arange(offset, offset + len(chunk))
            hit = np.isin(positions, rows_at.index)
            ids[rows_at.loc[positions[hit]].to_numpy()] = keys[hit]
            offset += len(chunk)
            if offset > last:
                break
        queries = queries.assign(**{ITEM_ID: ids})
    return queries.drop(columns=_ID_HELPERS)


def progress_bar(label: str, total: int | None = None) -> Any:
    """A tqdm bar on stderr, counting rows (with a percentage and ETA given ``total``)."""
    from tqdm import tqdm

    return tqdm(desc=label, total=total, unit=" rows", mininterval=1.0, file=sys.stderr,
                disable=None)


def score_file(pool: str | Path, model: Any, *, strategy: str,
               id_column: str | None, exclude: set[str] | None = None,
               max_queries: int | None = None, seed: int = 0, batch_size: int = 100,
               cold_start: float | None = DEFAULT_COLD_START,
               progress: Any = None, rows: bool = True,
               chunksize: int = CHUNK_ROWS, reader: str = READER,
               label_column: str | None = None) -> pd.DataFrame:
    """Queries of a pool file, with the item id of each row in column ``ITEM_ID``.

    ``model`` is a :class:`~assisted_labeling.models.TrainedModel`: its probabilities
    rank the items, its encoded inputs describe them for diversity and the cold start,
    and the number of labels it learned from decides the cold start.

    Left out: the items whose id is in ``exclude`` (labeled in a store) and, given
    ``label_column`` (a column of the pool), the rows holding a value there (the table
    a model was trained on; read as `train` reads it, as text: "NA" is a class). The
    result's ``attrs`` say how many rows the pool has (``"pool_rows"``) and how many of
    them were left out (``"left_out"``).

    ``rows=False`` keeps only the item ids and scores, not the pool's columns (enough to
    order a queue). Memory: O(output + labeled items), not O(pool) (module doc)."""
    helpers = _helper_columns(id_column)
    labeled = exclude or frozenset()
    labeled_ints: np.ndarray | None = None
    counts = {"pool_rows": 0, "left_out": 0}

    def pool_rows(chunk: pd.DataFrame) -> pd.DataFrame:
        return chunk.drop(columns=helpers)

    def left_out(chunk: pd.DataFrame) -> np.ndarray:
        nonlocal labeled_ints
        drop = np.zeros(len(chunk), dtype=bool)
        if labeled:
            ids = chunk[ITEM_ID].to_numpy()
            if ids.dtype.kind in "iu":
                if labeled_ints is None:
                    labeled_ints = integer_keys(labeled)
                drop |= among_sorted(ids, labeled_ints)
            else:
                drop |= np.fromiter((k in labeled for k in ids), dtype=bool, count=len(ids))
        if label_column is not None:
            drop |= has_value(chunk[label_column])
        counts["pool_rows"] += len(chunk)
        counts["left_out"] += int(drop.sum())
        return drop

    as_text = [label_column] if label_column is not None else []
    queries = score_pool(
        keyed_chunks(pool, id_column, labeled=labeled, chunksize=chunksize, reader=reader,
                     text_columns=as_text),
        lambda chunk: model.predict_proba(pool_rows(chunk)),
        strategy=strategy, max_queries=max_queries, exclude_keys=lambda drop: drop,
        key_fn=left_out, seed=seed, progress=progress,
        features=lambda chunk: model.embed(pool_rows(chunk)), batch_size=batch_size,
        n_labeled=model.n_labels, cold_start=cold_start,
        columns=None if rows else helpers,
    )
    if ITEM_ID in queries.columns:
        queries = text_ids(resolve_ids(queries, pool, chunksize=chunksize, reader=reader,
                                       text_columns=as_text))
    else:  # the file gave no chunk (no rows)
        queries.insert(0, ITEM_ID, pd.Series(dtype=object))
    queries.attrs.update(counts)
    return queries


def queue_priorities(store: AnnotationStore, queries: pd.DataFrame) -> int:
    """Order the labeling queue by the queries' uncertainty (ties in their row order,
    others after them), showing each item's model uncertainty; returns how many items
    are scored."""
    return store.set_priorities(_priorities(queries, queries[ITEM_ID].tolist())).items


def _priorities(frame: pd.DataFrame, ids: list[str], *, source: str = "The queries",
                first_row: int = 1) -> Iterator[Priority]:
    """``(id, uncertainty[, model uncertainty])`` per row; an empty cell gives None (the
    item is served after the scored ones). ``source`` and ``first_row`` (the number of
    the frame's first row in its file) name a bad value in the error."""
    order = _finite_or_none(frame, UNCERTAINTY_COLUMN, source, first_row)
    if MODEL_UNCERTAINTY_COLUMN not in frame.columns:  # a 4.x queries table
        return zip(ids, order)
    shown = _finite_or_none(frame, MODEL_UNCERTAINTY_COLUMN, source, first_row)
    return zip(ids, order, shown)


def _finite_or_none(frame: pd.DataFrame, column: str, source: str,
                    first_row: int) -> list[float | None]:
    """A column of uncertainties as floats, None where empty; text or an infinite value
    (which JSON cannot carry to the page) is refused, naming its row."""
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.isinf(numbers)
    missing = np.flatnonzero(np.isnan(numbers))
    if missing.size:  # text that is no number, or an empty cell (only those: costly)
        bad[missing] = has_value(raw.iloc[missing])
    if bad.any():
        from .errors import ConfigError

        at = int(np.flatnonzero(bad)[0])
        raise ConfigError(f'{source}: "{column}" of row {first_row + at} is '
                          f"{str(raw.iloc[at])[:40]!r}, not a finite number")
    return [None if v != v else v for v in numbers.tolist()]


def priorities_from_file(path: str | Path, id_column: str | None, *,
                         reader: str = READER, pool: str | Path | None = None,
                         chunksize: int = 50_000) -> Iterator[Priority]:
    """``(item id, uncertainty, model uncertainty)`` of a queries table written by
    `query`, in its row order (``(item id, uncertainty)`` for a table without model
    uncertainty): ids are recomputed on the pool's columns, so they match the labeling
    webapp's. Without an id column the n-th copy of a row cannot be told from the others
    here: pass these to ``set_priorities(..., to_duplicates=True)``. ``reader``: the one
    the pool's items were read with; ``pool``: its table, whose text columns a CSV of
    queries gives back as text (:func:`~assisted_labeling.sources.string_columns`)."""
    from .errors import ConfigError

    keys = PoolKeys(id_column)
    text = [id_column, *(string_columns(pool) if pool is not None else ())]
    # Ids are made of the pool's columns: queries made from the table `train` learned
    # from also hold its (empty) label column, which the pool served has not. (The
    # columns of a JSONL pool are those of its first record: a column that is not among
    # them is left out only when it is empty.)
    known = set(table_columns(pool)) if pool is not None else None
    row = 1
    for chunk in iter_table(path, reader=reader, text_columns=text, chunksize=chunksize):
        if UNCERTAINTY_COLUMN not in chunk.columns:
            raise ConfigError(f'"{path}" has no "{UNCERTAINTY_COLUMN}" column: is it a '
                              "queries table?")
        if id_column and id_column not in chunk.columns:
            raise ConfigError(f'"{path}" has no column "{id_column}", the id column of '
                              "the items: were these queries made from another table?")
        pool_columns = [c for c in chunk.columns if c not in QUERY_COLUMNS and (
            known is None or c in known or has_value(chunk[c]).any())]
        ids = keys(chunk[pool_columns].reset_index(drop=True))
        yield from _priorities(chunk, ids.tolist(), source=f'"{path}"', first_row=row)
        row += len(chunk)
