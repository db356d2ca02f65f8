"""Queries on local files: score a pool into a queries table, and order the queue by it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .sampler import SESSION_COLUMN, UNCERTAINTY_COLUMN, PoolKeys, score_pool
from .sampling import DEFAULT_COLD_START
from .sources import iter_table
from .store import AnnotationStore, Status

ITEM_ID = "__item_id"


def labeled_keys(store: AnnotationStore) -> set[str]:
    """Items that have at least one LABELED annotation: the sampler leaves them out."""
    return {a.item_key for a in store.iter_annotations(status=Status.LABELED)}


def keyed_chunks(path: str | Path, id_column: str | None,
                 chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
    """The pool's chunks with each row's item id in an extra first column."""
    keys = PoolKeys(id_column)
    for chunk in iter_table(path, chunksize=chunksize):
        chunk = chunk.reset_index(drop=True)
        chunk.insert(0, ITEM_ID, keys(chunk))
        yield chunk


def progress_bar(label: str) -> Any:
    """A tqdm bar on stderr, counting rows."""
    from tqdm import tqdm

    return tqdm(desc=label, unit=" rows", mininterval=1.0, file=sys.stderr, disable=None)


def score_file(pool: str | Path, model: Any, *, strategy: str,
               id_column: str | None, exclude: set[str] | None = None,
               max_queries: int | None = None, seed: int = 0, batch_size: int = 100,
               cold_start: float | None = DEFAULT_COLD_START,
               progress: Any = None) -> pd.DataFrame:
    """Queries of a pool file, with the item id of each row in column ``ITEM_ID``.

    ``model`` is a :class:`~assisted_labeling.models.TrainedModel`: its probabilities
    rank the items, its encoded inputs describe them for diversity and the cold start,
    and the number of labels it learned from decides the cold start."""

    def pool_rows(chunk: pd.DataFrame) -> pd.DataFrame:
        return chunk.drop(columns=[ITEM_ID])

    return score_pool(
        keyed_chunks(pool, id_column), lambda chunk: model.predict_proba(pool_rows(chunk)),
        strategy=strategy, max_queries=max_queries, exclude_keys=exclude or None,
        key_fn=lambda chunk: chunk[ITEM_ID].to_numpy(), seed=seed, progress=progress,
        features=lambda chunk: model.embed(pool_rows(chunk)), batch_size=batch_size,
        n_labeled=model.n_labels, cold_start=cold_start,
    )


def queue_priorities(store: AnnotationStore, queries: pd.DataFrame) -> int:
    """Order the labeling queue by the queries' uncertainty (others after them)."""
    pairs = zip(queries[ITEM_ID].tolist(), queries[UNCERTAINTY_COLUMN].tolist())
    return store.set_priorities(pairs)


def priorities_from_file(path: str | Path, id_column: str | None) -> Iterator[tuple[str, float]]:
    """(item id, uncertainty) of a queries table written by `query`: ids are recomputed
    on the pool's columns, so they match the labeling webapp's. Without an id column the
    n-th copy of a row cannot be told from the others here: pass these pairs with
    ``set_priorities(..., to_duplicates=True)``."""
    keys = PoolKeys(id_column)
    for chunk in iter_table(path):
        if UNCERTAINTY_COLUMN not in chunk.columns:
            from .errors import ConfigError

            raise ConfigError(f'"{path}" has no "{UNCERTAINTY_COLUMN}" column: is it a '
                              "queries table?")
        pool_columns = [c for c in chunk.columns if c not in (UNCERTAINTY_COLUMN,
                                                               SESSION_COLUMN)]
        ids = keys(chunk[pool_columns].reset_index(drop=True))
        yield from zip(ids.tolist(), chunk[UNCERTAINTY_COLUMN].astype(float).tolist())
