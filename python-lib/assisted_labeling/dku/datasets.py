"""Reading and writing DSS datasets in the shapes the plugin uses (DSS.md).

Functions take ``dataiku.Dataset`` handles, so this module needs no import of ``dataiku``.
Every write goes through one writer per call (a DSS write session) and sends dataframes
whose columns are exactly the dataset's schema, in schema order: DSS reads the streamed
rows positionally.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from .. import loop
from ..config import LabelingConfig
from ..errors import ConfigError, LabelingError
from ..sampler import (
    MODEL_UNCERTAINTY_COLUMN,
    QUERY_COLUMNS,
    SESSION_COLUMN,
    UNCERTAINTY_COLUMN,
)
from ..sources import RowIdentifier, canonical_text, frame_rows, json_value
from ..store import Annotation, Item, Status

log = logging.getLogger(__name__)

Schema = list[dict[str, Any]]
INT_TYPES = {"tinyint", "smallint", "int", "bigint"}
FLOAT_TYPES = {"float", "double"}
WRITE_CHUNK = 5000
#: Rows per chunk whenever the unlabeled (or queries) dataset is read. DSS guesses column
#: types chunk by chunk ("007" is the number 7 in a chunk of digits, text in a chunk with
#: letters), and content-hash item ids depend on those types: the webapp, the sampler and
#: the stopping-metric step must cut the dataset at the same rows to agree on ids.
POOL_CHUNK = 10_000


def read_schema(dataset: Any) -> Schema:
    """The dataset's columns, or [] when it exists but has none yet (an output dataset
    never written).

    ``read_schema(raise_if_empty=False)`` answers [] for such a dataset; it raises when
    DSS cannot give the schema: the dataset does not exist (a typo, a deleted or renamed
    dataset) or cannot be read. That is a ConfigError naming the dataset, not "no data
    yet", which would hide the mistake.
    """
    try:
        schema = dataset.read_schema(raise_if_empty=False)
    except Exception as exc:
        raise ConfigError(f'Cannot read the dataset "{dataset.full_name}": {exc}. Check '
                          "that it exists in the project (the name in the settings) and "
                          "that it can be read") from exc
    return [{"name": str(c["name"]), "type": c.get("type", "string")} for c in schema or []]


def names(schema: Schema) -> list[str]:
    return [c["name"] for c in schema]


def labels_schema(unlabeled: Schema, label_col: str) -> Schema:
    """Labels dataset: the input columns + ``<label_col>`` + ``<label_col>_id`` (4.x)."""
    return [*unlabeled, {"name": label_col, "type": "string"},
            {"name": f"{label_col}_id", "type": "bigint"}]


def metadata_schema(label_col: str) -> Schema:
    """Metadata dataset, in the 4.x column set."""
    return [
        {"name": "date", "type": "date"},
        {"name": "data_id", "type": "string"},
        {"name": "comment", "type": "string"},
        {"name": "session", "type": "bigint"},
        {"name": "status", "type": "string"},
        {"name": "annotator", "type": "string"},
        {"name": label_col, "type": "string"},
        {"name": f"{label_col}_id", "type": "bigint"},
    ]


def merge_schema(existing: Schema, required: Schema) -> Schema:
    """The existing columns (their order and extras kept) + the required ones missing."""
    have = set(names(existing))
    return [*existing, *(c for c in required if c["name"] not in have)]


def _cast(series: pd.Series, kind: str) -> pd.Series:
    if kind in INT_TYPES:
        numbers = pd.to_numeric(series, errors="coerce")
        whole = numbers.dropna()
        if (whole == whole.round()).all():
            return numbers.round().astype("Int64")
        return numbers
    if kind in FLOAT_TYPES:
        return pd.to_numeric(series, errors="coerce")
    if kind == "date":
        return pd.to_datetime(series, errors="coerce", utc=True)
    return series


def frame_for(rows: Sequence[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    """Rows as a dataframe with exactly the schema's columns, typed for the writer."""
    frame = pd.DataFrame(list(rows), columns=names(schema), dtype=object)
    for col in schema:
        frame[col["name"]] = _cast(frame[col["name"]], col["type"])
    return frame


def append_rows(dataset: Any, rows: Sequence[dict[str, Any]], schema: Schema) -> None:
    """Append rows in one write session (``spec_item["appendMode"] = True``)."""
    if not rows:
        return
    dataset.spec_item["appendMode"] = True
    with dataset.get_writer() as writer:
        writer.write_dataframe(frame_for(rows, schema))


def rewrite_rows(dataset: Any, rows: Iterable[dict[str, Any]], schema: Schema) -> int:
    """Replace the dataset's content and schema, streaming rows in chunks; returns the
    number of rows written."""
    dataset.write_schema(schema)
    dataset.spec_item["appendMode"] = False
    written = 0
    chunk: list[dict[str, Any]] = []
    with dataset.get_writer() as writer:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= WRITE_CHUNK:
                writer.write_dataframe(frame_for(chunk, schema))
                written += len(chunk)
                chunk = []
        # Always write at least the empty frame so the session carries the schema.
        if chunk or not written:
            writer.write_dataframe(frame_for(chunk, schema))
            written += len(chunk)
    return written


def plugin_type(dataset: Any, client: Any) -> str | None:
    """The type of ``dataset`` when it is a plugin dataset ("CustomPython_…"), None
    otherwise or when DSS does not tell (then appends are assumed to work).

    Why: a plugin connector appends only if it declares ``supportAppend``; otherwise DSS
    overwrites the dataset at each append, which would keep only the last batch of
    labels. Managed file-based and SQL datasets append."""
    try:
        settings = client.get_project(dataset.project_key).get_dataset(
            dataset.short_name).get_settings()
        kind = str(settings.get_raw().get("type") or "")
    except Exception as exc:
        log.warning("Could not read the settings of %s (%s): labels are appended to it",
                    dataset.full_name, exc)
        return None
    return kind if kind.startswith("Custom") else None


def iter_frames(dataset: Any, *, chunksize: int, columns: list[str] | None = None,
                infer_with_pandas: bool = True, exact_decimals: bool = False
                ) -> Iterator[pd.DataFrame]:
    """The dataset in chunks; nothing when it has no schema yet. ``exact_decimals``:
    decimals read back as the very floats written (pandas' default parser is off by
    one unit in the last place for some 17-digit texts)."""
    if not read_schema(dataset):
        return
    kwargs: dict[str, Any] = {"chunksize": chunksize}
    if not infer_with_pandas:
        kwargs["infer_with_pandas"] = False
    if exact_decimals:
        kwargs["float_precision"] = "round_trip"
    if columns is not None:
        kwargs["columns"] = columns
    yield from dataset.iter_dataframes(**kwargs)


def same_cells(guessed: pd.Series, stored: pd.Series) -> bool:
    """Whether a column read with DSS's type guess and the same column read as stored
    hold the same rows ("01234" and 1234 agree, "true" and True; a cell empty on either
    side proves nothing). Two reads of a dataset are paired by position, and a SQL or
    cloud warehouse table may come back in another order the second time: this tells."""
    if len(guessed) != len(stored):
        return False
    g = guessed.reset_index(drop=True)
    s = stored.reset_index(drop=True)
    known = (g.notna() & s.notna()).to_numpy()
    g, s = g[known], s[known]
    if pd.api.types.is_numeric_dtype(g) and not pd.api.types.is_bool_dtype(g):
        numbers = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        return bool(np.isclose(numbers, g.to_numpy(dtype=float), rtol=1e-12, atol=0).all())
    equal = g.to_numpy(dtype=object) == s.to_numpy(dtype=object)
    # Cells of other types than text (booleans, or numbers in a column that mixes them
    # with text, as pandas gives for wide chunks) are compared one by one.
    return all(_same_cell(a, b) for a, b in zip(g.to_numpy(dtype=object)[~equal],
                                                 s.to_numpy(dtype=object)[~equal]))


def _same_cell(guessed: Any, stored: Any) -> bool:
    text = str(stored).strip()
    if isinstance(guessed, (bool, np.bool_)):
        return text.lower() == str(bool(guessed)).lower()
    if isinstance(guessed, (int, float, np.number)):
        try:
            return math.isclose(float(text), float(guessed), rel_tol=1e-12)
        except ValueError:
            return False
    return str(guessed) == str(stored)


def _guessed_not_text(column: pd.Series) -> bool:
    """Whether DSS's guess turned some cell of a text column into another type."""
    return pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty") \
        and bool(column.notna().any())


def misaligned(dataset: Any) -> LabelingError:
    """The error for two reads of ``dataset`` that do not pair up row by row."""
    return LabelingError(
        f"The dataset {dataset.full_name} gave other rows, or its rows in another order, "
        "on two reads of it: they cannot be paired. If it was rewritten meanwhile (the "
        "labeling webapp compacts its datasets now and then), run again; a SQL table "
        "without an order must be built as a file-based dataset, or sorted in a recipe "
        "first")


def iter_text_frames(dataset: Any, *, chunksize: int, texts: Sequence[str],
                     numbers: Sequence[str] = (), exact_decimals: bool = False
                     ) -> Iterator[pd.DataFrame]:
    """The columns ``texts`` as the text stored and ``numbers`` typed by pandas, in
    chunks of one frame each (``exact_decimals``: see :func:`iter_frames`).

    Ids and labels must not be guessed: DSS guesses the types of each chunk on its own,
    so a chunk of digit-only ids would come back as numbers ("007" as 7) and the next
    one as text. Integer columns are read apart, with the guess: read by the schema, an
    empty cell fails them. The second read also brings the first text column, to check
    that both reads gave the rows in the same order (:func:`same_cells`). Rows appended
    between the two reads (a webapp flush while a trigger reads the metadata) are at the
    end of the second read only: they are left for the next read.
    """
    if not texts:
        # No empty column list is ever sent: DSS may take it as "every column".
        yield from iter_frames(dataset, chunksize=chunksize, columns=list(numbers),
                               exact_decimals=exact_decimals)
        return
    text_frames = iter_frames(dataset, chunksize=chunksize, columns=list(texts),
                              infer_with_pandas=False)
    if not numbers:
        yield from text_frames
        return
    witness = texts[0]
    number_frames = iter_frames(dataset, chunksize=chunksize,
                                columns=[*numbers, witness], exact_decimals=exact_decimals)
    # The text read is opened first: rows appended meanwhile (a webapp flush) can only
    # end the number read. The text read longer means other rows (a rewrite).
    for text_frame, number_frame in itertools.zip_longest(text_frames, number_frames):
        if text_frame is None:
            return  # rows appended between the two reads: the next read has them
        if number_frame is None or len(text_frame) > len(number_frame):
            raise misaligned(dataset)
        rows = len(text_frame)
        appended = len(number_frame) > rows
        text_frame = text_frame.reset_index(drop=True)
        number_frame = number_frame.iloc[:rows].reset_index(drop=True)
        if not same_cells(number_frame[witness], text_frame[witness]):
            raise misaligned(dataset)
        yield pd.concat([text_frame, number_frame.drop(columns=[witness])], axis=1)
        if appended:
            return


# -- items and queries ------------------------------------------------------------------
class _StoredText:
    """The columns ``columns`` of a dataset as stored (no type guess), chunk by chunk,
    read only once some chunk needs them and then paired with the guessed read by
    position: ``chunk(i)`` is the i-th chunk, asked in increasing order."""

    def __init__(self, dataset: Any, columns: list[str], chunksize: int) -> None:
        self.dataset = dataset
        self.columns = columns
        self.chunksize = chunksize
        self._frames: Iterator[pd.DataFrame] | None = None
        self._read = 0

    def chunk(self, index: int) -> pd.DataFrame | None:
        if self._frames is None:
            self._frames = iter_frames(self.dataset, chunksize=self.chunksize,
                                       columns=self.columns, infer_with_pandas=False)
        frame = None
        while self._read <= index:
            frame = next(self._frames, None)
            self._read += 1
        return frame


def iter_pool_frames(dataset: Any, *, chunksize: int, id_column: str | None
                     ) -> Iterator[pd.DataFrame]:
    """The unlabeled dataset in chunks with DSS's type guess, except a text id column,
    which keeps its text as stored: guessed, a chunk of digit-only ids gives numbers
    ("007" and "7" would both be the item 7). Every DSS piece that names rows reads the
    pool through this, so that they agree on ids (:func:`iter_items` in one read with
    the other text columns). The stored text is read again only for chunks where the
    guess changed it, paired by position, checked on another text column too (ids alone
    read 7 for "007" and for "7"); two reads that do not pair up are an error (the ids
    would be another row's)."""
    schema = read_schema(dataset)
    frames = iter_frames(dataset, chunksize=chunksize)
    if not any(c["name"] == id_column and c["type"] == "string" for c in schema):
        yield from frames
        return
    checked = [id_column, *_witness(schema, id_column)]
    stored = _StoredText(dataset, checked, chunksize)
    for index, frame in enumerate(frames):
        if id_column in frame.columns and _guessed_not_text(frame[id_column]):
            shown = _stored_text(frame, index, stored, checked, replace=[id_column])
            if shown is None:
                raise misaligned(dataset)
            frame = shown
        yield frame


def _witness(schema: Schema, id_column: str) -> list[str]:
    """A column to check the pairing of two reads on besides the ids, which read 7 for
    "007" and for "7": another text column, which reads as stored whatever its cells (a
    number column read by its schema type fails on a cell that is no number). One is
    enough, and reads less than all of them. A pool of text ids and numbers alone has
    none: its pairing rests on the ids."""
    return [c["name"] for c in schema
            if c["type"] == "string" and c["name"] != id_column][:1]


def _stored_text(frame: pd.DataFrame, index: int, stored: _StoredText,
                 texts: list[str], replace: list[str] | None = None
                 ) -> pd.DataFrame | None:
    """Chunk ``index`` with its columns ``replace`` (default: ``texts``) as stored; None
    when the second read does not give the same rows in ``texts`` (a table read back in
    another order)."""
    text_frame = stored.chunk(index)
    if text_frame is None or len(text_frame) != len(frame) \
            or not all(same_cells(frame[c], text_frame[c]) for c in texts):
        return None
    shown = frame.copy()
    for name in texts if replace is None else replace:
        shown[name] = text_frame[name].to_numpy()
    return shown


def _with_stored_text(dataset: Any, *, chunksize: int, texts: list[str],
                      needed: str | None = None
                      ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """Each chunk as DSS guesses its types, with the same chunk whose ``texts`` are as
    stored ("01234", not 1234), or None when the guess changed none of them. They are
    read again only for chunks that need it, paired by position; reads that do not pair
    up give None from then on, with a warning, unless the guess changed the column
    ``needed`` (a text id column): an error, since its text names the row."""
    stored = _StoredText(dataset, texts, chunksize)
    paired = True
    for index, frame in enumerate(iter_frames(dataset, chunksize=chunksize)):
        shown = None
        must = needed is not None and needed in frame and _guessed_not_text(frame[needed])
        if (paired or must) and any(_guessed_not_text(frame[c]) for c in texts if c in frame):
            shown = _stored_text(frame, index, stored, texts)
            if shown is None and must:
                raise misaligned(dataset)
            if shown is None and paired:
                paired = False
                log.warning("%s gave its rows in another order on a second read: its text "
                            "columns are read as DSS guesses their types (\"01234\" as "
                            "1234)", dataset.full_name)
        yield frame, shown


def iter_stored_text_frames(dataset: Any, *, chunksize: int) -> Iterator[pd.DataFrame]:
    """The dataset in chunks with DSS's type guess, but for its text columns, kept as
    stored (:func:`_with_stored_text`): rows written back must not change."""
    texts = [c["name"] for c in read_schema(dataset) if c["type"] == "string"]
    for frame, shown in _with_stored_text(dataset, chunksize=chunksize, texts=texts):
        yield frame if shown is None else shown


def iter_items(dataset: Any, config: LabelingConfig, *, chunksize: int) -> Iterator[Item]:
    """Every row of the unlabeled dataset as an item with a stable id.

    Ids hash the values as DSS guesses their types (the sampler's and every earlier
    store's ids), but for a text id column, whose text is the id (as
    :func:`iter_pool_frames` reads it). Items keep their text columns as stored
    (:func:`_with_stored_text`): a chunk of digits guessed as numbers would show, and
    reach the labels dataset, as numbers ("01234" as 1234)."""
    identifier = RowIdentifier(config.id_column)
    texts = [c["name"] for c in read_schema(dataset) if c["type"] == "string"]
    id_text = config.id_column if config.id_column in texts else None
    for frame, shown in _with_stored_text(dataset, chunksize=chunksize, texts=texts,
                                          needed=id_text):
        keyed = frame
        if shown is not None and id_text is not None:
            keyed = frame.copy()
            keyed[id_text] = shown[id_text].to_numpy()
        for row in frame_rows(keyed, identifier, shown=shown):
            yield Item(row.key, row.data)


def iter_priorities(dataset: Any, config: LabelingConfig, input_columns: Sequence[str], *,
                    chunksize: int, unreadable: dict[str, Any] | None = None,
                    session: int | None = None
                    ) -> Iterator[tuple[str, float, float | None]]:
    """``(item id, uncertainty, model uncertainty)`` of each scored row of the queries
    dataset, in the dataset's order (the store serves ties in it). ``uncertainty`` orders
    the queue; ``model_uncertainty`` is what the UI shows (None when the queries have no
    such column, as 4.x wrote them: the uncertainty is then shown; NaN for ``random``).

    The id is computed on the queries row restricted to the unlabeled dataset's columns
    (``uncertainty``, ``model_uncertainty`` and ``session`` are the sampler's additions),
    so it matches the id of the same row read from the unlabeled dataset.

    ``unreadable``: receives how many ``uncertainty`` values are no number (``count``,
    those rows rank nothing) and the first of them (``example``). A queries dataset with
    no column of the unlabeled dataset is refused.

    ``session``: the session variable's; only the rows of that ``session`` rank items,
    when some are: a recipe output that appends rather than overwrites keeps the rows of
    every earlier run, with their older scores. Queries without rows of that session (a
    variable unreadable or changed by hand) are read a second time: the rows of their
    latest session when they hold several, else all of them.
    """
    schema = read_schema(dataset)
    if not schema:
        return
    available = names(schema)
    if UNCERTAINTY_COLUMN not in available:
        raise ConfigError(f'Setting "Queries": the dataset {dataset.full_name} has no '
                          f"\"uncertainty\" column (columns: {', '.join(available)})",
                          setting="Queries")
    keep = set(input_columns)
    columns = [c for c in available if c not in QUERY_COLUMNS and (not keep or c in keep)]
    if not columns:
        raise ConfigError(
            f'Setting "Queries": the dataset {dataset.full_name} has none of the unlabeled '
            f"data's columns (it has {', '.join(available)}): was it made from another "
            "dataset? Run the query sampler on the unlabeled data", setting="Queries")
    has_shown = MODEL_UNCERTAINTY_COLUMN in available
    scores_columns = [UNCERTAINTY_COLUMN] + ([MODEL_UNCERTAINTY_COLUMN] if has_shown else [])
    by_session = session is not None and SESSION_COLUMN in available
    if by_session:
        scores_columns.append(SESSION_COLUMN)
    # The queries are in another order than the pool, so a chunk of them guesses other
    # types than the pool's chunk did ("0042" alone in a chunk would read as 42): text
    # columns are read as stored, which is the pool's value as the sampler read it
    # (``query_frame`` writes it as its canonical text when types were mixed).
    texts = [c["name"] for c in schema if c["name"] in columns and c["type"] == "string"]
    numbers = [c for c in [*columns, *scores_columns] if c not in texts]
    # The sampler wrote the pool's floats as the pool's read gave them: they must come
    # back as those very floats to name the same items.
    only: float | None = session if by_session else None
    for second in (False, True):
        identifier = RowIdentifier(config.id_column)
        kept = left_out = 0
        seen: set[float] = set()
        for frame in iter_text_frames(dataset, chunksize=chunksize, texts=texts,
                                      numbers=numbers, exact_decimals=True):
            if only is not None:
                sessions = pd.to_numeric(frame[SESSION_COLUMN], errors="coerce")
                seen.update(sessions.dropna().unique())
                ours = sessions == only
                left_out += int((~ours).sum())
                frame = frame[ours]
            kept += len(frame)
            yield from _scored_rows(frame, columns, identifier, has_shown, unreadable)
        if kept or only is None or second:
            if left_out:
                log.info("The queries dataset %s: %d rows of other sessions than %s left "
                         "out (an output that appends)", dataset.full_name, left_out, only)
            return
        # No row of the variable's session (unreadable, changed by hand): the latest
        # run's rows when there are several runs, else every row.
        only = max(seen) if len(seen) > 1 else None


def _scored_rows(frame: pd.DataFrame, columns: list[str], identifier: RowIdentifier,
                 has_shown: bool, unreadable: dict[str, Any] | None
                 ) -> Iterator[tuple[str, float, float | None]]:
    """``(item id, uncertainty, model uncertainty)`` of the rows of one chunk of queries
    that have an uncertainty; the others are counted in ``unreadable``."""
    raw = frame[UNCERTAINTY_COLUMN]
    # An infinite uncertainty is unreadable too, as in standalone: no sampler wrote it,
    # and it would rank first with nothing to show.
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    values = values.where(np.isfinite(values))
    bad = raw[values.isna() & raw.notna()]
    if unreadable is not None and len(bad):
        unreadable.setdefault("example", bad.iloc[0])
        unreadable["count"] = unreadable.get("count", 0) + len(bad)
    scores = values.tolist()
    shown = (pd.to_numeric(frame[MODEL_UNCERTAINTY_COLUMN], errors="coerce").tolist()
             if has_shown else scores)
    for row, score, own in zip(frame_rows(frame[columns], identifier), scores, shown):
        if not math.isnan(score):
            yield row.key, float(score), None if math.isnan(own) else float(own)


def query_frame(frame: pd.DataFrame, pool_columns: Sequence[str]) -> pd.DataFrame:
    """The sampler's queries as written: a pool column of mixed types (text in one chunk,
    numbers in another) becomes a text column, where a number or a bool is written as
    the text its item id hashes ("3" for 3.0, "true"), so that :func:`iter_priorities`
    reads back the same id."""
    out = frame.copy()
    for name in pool_columns:
        values = out[name]
        if values.dtype != object:
            continue
        mixed = [not isinstance(v, str) and v is not None and json_value(v) is not None
                 for v in values]
        if any(mixed):
            out[name] = [canonical_text(v) if m else v for v, m in zip(values, mixed)]
    return out


# -- metadata ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MetadataRow:
    """One metadata row read back, with its position in the dataset for tie-breaks."""

    position: int
    values: dict[str, Any]
    data_id: str | None
    annotator: str | None
    status: Status | None
    label: str | None
    label_id: int | None
    session: int
    comment: str
    timestamp: float | None

    @property
    def order(self) -> tuple[float, int]:
        """Later rows win: by date, then by position in the dataset (appends are in
        time order; compaction writes one row per key)."""
        return (-math.inf if self.timestamp is None else self.timestamp, self.position)

    def annotation(self) -> Annotation:
        when = self.timestamp or 0.0
        return Annotation(
            id=0, item_key=self.data_id or "", annotator=self.annotator or "",
            status=self.status or Status.SKIPPED, label=self.label, label_id=self.label_id,
            comment=self.comment, session=self.session, created_at=when, updated_at=when,
        )


def as_text(value: Any) -> str | None:
    """A cell read back as the text it was written as (pandas may have parsed a
    numeric id or label as a float); None for an empty cell."""
    value = json_value(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_int(value: Any) -> int | None:
    """A cell holding a count or an id (label ids, sessions) as an int; None when
    empty, unreadable, negative or past 64 bits: no webapp wrote it, and SQLite could not
    keep it."""
    value = json_value(value)
    if value is None or value == "":
        return None
    if isinstance(value, int):  # exact, however large: no float to overflow
        return value if 0 <= value < 2**63 else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and 0 <= number < 2**63 else None


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch of a DSS date (Timestamp or ISO text); None if unreadable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.timestamp()


def iter_metadata(dataset: Any, label_col: str, *, chunksize: int) -> Iterator[MetadataRow]:
    """Every row of the metadata dataset, parsed leniently: 4.x rows (hashed data ids,
    rows without comments…) are read as they are."""
    schema = read_schema(dataset)
    if not schema:
        return
    available = names(schema)
    missing = [c for c in ("data_id", "annotator", "status") if c not in available]
    if missing:
        raise ConfigError(f'Setting "Labeling metadata dataset": {dataset.full_name} has no '
                          f"column {', '.join(missing)} (columns: {', '.join(available)})",
                          setting="Labeling metadata dataset")
    id_col = f"{label_col}_id"
    texts = [c for c in ("data_id", "annotator", "status", label_col, "comment", "date")
             if c in available]
    numbers = [c for c in ("session", id_col) if c in available]
    position = 0
    for frame in iter_text_frames(dataset, chunksize=chunksize, texts=texts, numbers=numbers):
        for values in frame.to_dict(orient="records"):
            raw_status = as_text(values.get("status"))
            status = Status(raw_status) if raw_status in ("LABELED", "SKIPPED") else None
            yield MetadataRow(
                position=position, values=values, data_id=as_text(values.get("data_id")),
                annotator=as_text(values.get("annotator")), status=status,
                label=as_text(values.get(label_col)), label_id=as_int(values.get(id_col)),
                session=as_int(values.get("session")) or 0,
                comment=as_text(values.get("comment")) or "",
                timestamp=timestamp(values.get("date")),
            )
            position += 1


def latest_rows(rows: Iterable[MetadataRow], first_seen: dict[tuple[str, str], int] | None = None
                ) -> dict[tuple[str, str], MetadataRow]:
    """The latest row per (data_id, annotator); rows without either are dropped.
    ``first_seen`` receives the position of each key's first row: rows are appended in
    the order annotations were first saved, so it gives the history order."""
    latest: dict[tuple[str, str], MetadataRow] = {}
    for row in rows:
        if not row.data_id or not row.annotator:
            continue
        key = (row.data_id, row.annotator)
        if first_seen is not None:
            first_seen.setdefault(key, row.position)
        current = latest.get(key)
        if current is None or row.order >= current.order:
            latest[key] = row
    return latest


def _seconds(column: pd.Series) -> list[float | None]:
    """Seconds since the epoch of a date column (parsed by DSS, or text); None if unreadable."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
        dates = column if isinstance(column.dtype, pd.DatetimeTZDtype) \
            else column.dt.tz_localize("UTC")
        values = (dates - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        return [None if math.isnan(v) else float(v) for v in values]
    return [timestamp(v) for v in column]  # text: parse each value on its own


def metadata_events(dataset: Any, *, chunksize: int, setting: str,
                    kind: str = "Setting") -> Iterator[loop.MetadataEvent]:
    """What counts labels in a metadata dataset (the trigger's count, the sampler's
    labeled items): reads only the columns needed, ids and statuses as the text stored
    (see :func:`iter_text_frames`). Only ``data_id`` and ``status`` are required: a row
    without an annotator is one annotator's ("") label, so that hand-made or imported
    metadata counts the same everywhere. Errors name the ``kind`` ("Setting", "Input")
    called ``setting``."""
    schema = read_schema(dataset)  # a ConfigError if DSS cannot find the dataset
    if not schema:  # never written: no labels yet
        return
    available = names(schema)
    missing = [c for c in ("data_id", "status") if c not in available]
    if missing:
        raise ConfigError(f'{kind} "{setting}": {dataset.full_name} has no column '
                          f"{', '.join(missing)}; choose the labeling webapp's metadata "
                          f"dataset (columns: {', '.join(available)})", setting=setting)
    texts = [c for c in ("data_id", "annotator", "status", "date") if c in available]
    numbers = ["session"] if "session" in available else []
    position = 0
    for frame in iter_text_frames(dataset, chunksize=chunksize, texts=texts, numbers=numbers):
        size = len(frame)
        ids = frame["data_id"].tolist()
        annotators = frame["annotator"].tolist() if "annotator" in frame else [None] * size
        statuses = frame["status"].tolist()
        sessions = (pd.to_numeric(frame["session"], errors="coerce").tolist()
                    if "session" in frame else [0] * size)
        stamps = _seconds(frame["date"]) if "date" in frame else [None] * size
        for data_id, annotator, status, session, stamp in zip(ids, annotators, statuses,
                                                              sessions, stamps):
            key = as_text(data_id)
            if key:  # rows without an id are not annotations
                yield loop.MetadataEvent(
                    data_id=key, annotator=as_text(annotator) or "",
                    status=str(status) if isinstance(status, str) else "",
                    session=loop.session_number(session), timestamp=stamp,
                    position=position)
            position += 1


def read_error(what: str, dataset: Any, exc: Exception) -> LabelingError:
    """A user-facing error for a dataset DSS could not read."""
    if isinstance(exc, LabelingError):
        return exc
    return ConfigError(f'Could not read the {what} "{dataset.full_name}": {exc}')
