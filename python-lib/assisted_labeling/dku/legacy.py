"""Item ids of the 4.x plugin, read back so that upgraded flows keep their labels.

The 4.x webapps wrote, in the metadata dataset's ``data_id``, the file's path for folder
items and, for table rows, a hash of the row. Its tabular and text webapps and its
stopping-metric step computed it as (``python-lib/lal/classifiers/base_classifier.py``,
``TableBasedDataClassifier.raw_row_to_id``, repository
dataiku/dss-plugin-ml-assisted-labeling)::

    for index, row in df.iterrows():
        row_id = str(hashlib.sha256(pd.util.hash_pandas_object(row).values).hexdigest())

where ``df`` is the unlabeled dataset as ``dataiku.Dataset(name).get_dataframe()`` read it
(every column, in the dataset's order, types guessed by pandas). So a 4.x row id is 64 hex
digits, the SHA-256 of the raw bytes (native byte order, little-endian on DSS hosts) of
the uint64 array ``hash_pandas_object`` gives for the row seen as a Series indexed by the
column names. It depends on the column names and the values, not on the row's position;
duplicate rows share one id. (Older code of the plugin hashed ``md5(row.to_csv())``,
32 hex digits; those ids are not recognised.)

Caveats, why the match is best-effort and ours is not computed this way:

- the id depends on the dtype pandas gave the row: ``iterrows`` makes one dtype for the
  whole row (float64 when ints and floats mix, object as soon as there is a string), so
  the same value hashes differently when a column's guessed type changes: a column that
  gains an empty cell becomes float, a re-typed schema, and chunked reads (we read the
  pool chunk by chunk; pandas guesses the types of each chunk, 4.x of the whole table);
- it depends on the pandas version in a few corners: an object row whose non-empty
  values are all numbers or all dates (pandas 1.x, which 4.x ran on Python 3.6, hashed
  them as numbers, pandas 2 as their text);
- when a queries dataset existed, 4.x hashed the rows read from it (restricted to the
  unlabeled columns), typed as pandas guessed them there.

A row whose id we cannot reproduce is treated as not labeled under 4.x: it may be asked
again, it is never lost (its metadata rows are kept).

:func:`legacy_row_ids` computes these ids column-wise (some 50 times faster than the
4.x loop) and falls back to the 4.x computation itself for the rows where the shortcut
could differ. It is only run when a metadata dataset holds 4.x-looking ids
(:func:`legacy_ids`).
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any, Callable, Collection, Iterable, Sequence

import numpy as np
import pandas as pd
from pandas.util import hash_array

from ..sampler import PoolKeys

LEGACY_ROW_ID = re.compile(r"^[0-9a-f]{64}$")
_NA_HASH = np.iinfo(np.uint64).max  # what hash_pandas_object gives a missing value

KeyFunction = Callable[[pd.DataFrame], Sequence[str]]


def legacy_ids(ids: Iterable[str]) -> set[str]:
    """The ids that look like 4.x row ids (64 lowercase hex digits). Our own row ids are
    16 hex digits (+ ``-n``), folder paths or id-column values, so an id column holding
    SHA-256 digests is the only way one of ours lands here: it then costs a pool scan
    and matches nothing."""
    return {i for i in ids if isinstance(i, str) and LEGACY_ROW_ID.match(i)}


def _combine(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``pandas.core.util.hashing.combine_hash_arrays([values, index], 2)``, element-wise
    (its arithmetic is element-wise, so it applies to a 2-D array of row hashes)."""
    out = np.zeros_like(values) + np.uint64(0x345678)
    mult = np.uint64(1000003)
    for i, array in enumerate((values, index)):
        out ^= array
        out *= mult
        mult += np.uint64(82520 + 2 * (2 - i))
    out += np.uint64(97531)
    return out


def _exact(row: np.ndarray, columns: pd.Index) -> np.ndarray | None:
    """The 4.x computation on one row (``iterrows`` builds the same Series)."""
    try:
        return pd.util.hash_pandas_object(pd.Series(row, index=columns)).to_numpy()
    except Exception:  # a value pandas cannot hash: 4.x could not have labeled it
        return None


def _shortcut_ok(row: np.ndarray, na: np.ndarray) -> bool:
    """Whether hashing each value of this object row as ``str(value)`` gives what
    ``hash_pandas_object`` gives the row. That function factorizes the row (values that
    compare equal share the first one's hash) and, when not every distinct value is a
    string, hashes ``str()`` of each: so the shortcut holds when the row has a string
    (its categories then stay object-typed: no numeric or date re-typing), no bytes, and
    no two equal non-string values with different texts (1 and 1.0, 0 and False)."""
    has_text = False
    others: list[Any] = []
    for value, missing in zip(row, na):
        if missing:
            continue
        if isinstance(value, str):
            has_text = True
        elif isinstance(value, (bytes, bytearray)):
            return False
        else:
            others.append(value)
    if not has_text:
        return False
    if len(others) < 2:
        return True
    try:
        return len(set(others)) == len({(v, str(v)) for v in others})
    except TypeError:  # unhashable values
        return False


def _object_hashes(values: np.ndarray, columns: pd.Index, index_hash: np.ndarray
                   ) -> list[np.ndarray | None]:
    flat = values.ravel()
    na = pd.isna(flat).reshape(values.shape)
    texts = np.array([v if isinstance(v, str) else str(v) for v in flat], dtype=object)
    hashed = hash_array(texts).reshape(values.shape)
    hashed[na] = _NA_HASH
    combined = _combine(hashed, np.broadcast_to(index_hash, values.shape))
    rows: list[np.ndarray | None] = []
    for i in range(values.shape[0]):
        if _shortcut_ok(values[i], na[i]):
            rows.append(combined[i])
        else:
            rows.append(_exact(values[i], columns))
    return rows


def legacy_row_ids(frame: pd.DataFrame) -> list[str | None]:
    """The 4.x id of each row of ``frame`` (the unlabeled dataset's columns, in its
    order, as read by ``get_dataframe``/``iter_dataframes``); None for a row pandas
    cannot hash. Equal, row for row, to the 4.x loop in the module doc."""
    if not len(frame):
        return []
    values = frame.to_numpy()  # what iterrows slices its rows from: one dtype per row
    columns = frame.columns
    index_hash = pd.util.hash_pandas_object(columns, index=False).to_numpy()
    kind = values.dtype.kind
    rows: Iterable[np.ndarray | None]
    if kind in "biufcmM":
        # Numbers, booleans, datetimes: hash_pandas_object hashes each value on its own.
        hashed = hash_array(values.ravel()).reshape(values.shape)
        rows = _combine(hashed, np.broadcast_to(index_hash, values.shape))
    elif kind == "O":
        rows = _object_hashes(values, columns, index_hash)
    else:
        rows = [_exact(values[i], columns) for i in range(values.shape[0])]
    return [None if h is None else hashlib.sha256(np.ascontiguousarray(h)).hexdigest()
            for h in rows]


def _as_guessed(frame: pd.DataFrame, id_column: str | None) -> pd.DataFrame:
    """The chunk with its id column as DSS's type guess gives it: the pool is read with
    a text id column as stored ("007"), but 4.x hashed the guess (7). The guess is
    pandas' own parser on the cells (int64, uint64, floats with a missing cell, or text
    past 64 bits), as DSS's reader guesses them."""
    if not id_column or id_column not in frame.columns or frame[id_column].dtype != object:
        return frame
    column = frame[id_column]
    present = column.notna()
    numbers = pd.to_numeric(column, errors="coerce")
    if not present.any() or numbers.notna().sum() != present.sum():
        return frame  # some cell is no number: text to the guess too
    cells = "".join(f"{'' if pd.isna(v) else v}\n" for v in column)
    parsed = pd.read_csv(io.StringIO(cells), header=None, names=["v"],
                         skip_blank_lines=False, keep_default_na=True)["v"]
    if parsed.dtype == object or len(parsed) != len(column):
        return frame
    guessed = frame.copy()
    guessed[id_column] = parsed.to_numpy()
    return guessed


class LegacyKeys:
    """Item keys of consecutive pool chunks where 4.x ids stand in for ours.

    ``keys`` gives our item keys of a chunk (e.g. :class:`~assisted_labeling.sampler.
    PoolKeys`). The first row whose 4.x id is in ``legacy`` gets that 4.x id as its key
    instead (a 4.x id names every duplicate of a row; the first one, whose key is the
    bare content hash, takes it, as the webapp's restore does). ``matched`` maps each
    4.x id found to the key the row has in our scheme. Memory: O(len(legacy)).
    """

    def __init__(self, keys: KeyFunction, legacy: Collection[str]) -> None:
        self.keys = keys
        self.legacy = legacy
        self.matched: dict[str, str] = {}
        self.id_column: str | None = getattr(keys, "id_column", None)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        keys = np.array(self.keys(frame), dtype=object)
        if len(self.matched) == len(self.legacy):
            return keys  # every 4.x id found already
        for i, old in enumerate(legacy_row_ids(_as_guessed(frame, self.id_column))):
            if old is not None and old in self.legacy and old not in self.matched:
                self.matched[old] = str(keys[i])
                keys[i] = old
        return keys


def keys_with_legacy(id_column: str | None, labeled: set[str]) -> LegacyKeys | None:
    """Pool keys that name a row by its 4.x id when ``labeled`` holds that id, or None
    when it holds no 4.x id (the 4.x hash of each row is then never computed)."""
    legacy = legacy_ids(labeled)
    return LegacyKeys(PoolKeys(id_column, only=labeled), legacy) if legacy else None
