"""Read items from tables in chunks and give each row a stable, unique id.

Row ids: the configured id column when there is one; otherwise a hash of the row's
content plus the index of that content's occurrence, so duplicate rows stay distinct
and an int column read back as float (1 vs 1.0) keeps its id.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from .errors import ConfigError, ValidationError, one_line

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
                 ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Row:
    """One item of a table: its id and its values as JSON-safe Python objects."""

    key: str
    data: dict[str, Any]


def table_format(path: str | Path) -> str:
    """The format of a table file, from its extension."""
    suffix = Path(path).suffix.lower()
    try:
        return TABLE_FORMATS[suffix]
    except KeyError:
        raise ConfigError(
            f'Cannot read "{path}": expected a file ending in '
            f"{', '.join(sorted(TABLE_FORMATS))}"
        ) from None


# How a table file's values are read. Content ids hash the values as read, so a store
# keeps the reader its items were first read with (standalone.store_reader):
# - "pandas": pandas' defaults (CSV and JSONL decimals may be a unit off in the last
#   place; JSONL strings that look like numbers or dates, and columns named like dates,
#   are converted);
# - "exact": decimals read to the nearest double, JSONL still converted as pandas does;
# - "typed": exact decimals, JSONL values keep their JSON types ("004" stays text), and
#   the text columns asked for (ids, labels) are read from CSV as text, only an empty
#   cell being missing ("001" and "1" are two ids, "None" and "NA" are classes).
READERS = ("pandas", "exact", "typed")
READER = "typed"  # new stores and files read without a store
# pandas' default missing-value strings, kept for the CSV columns that are not text.
_DEFAULT_NA = sorted(STR_NA_VALUES)


def iter_table(path: str | Path, *, chunksize: int = 50_000, reader: str = READER,
               text_columns: Iterable[str | None] = ()) -> Iterator[pd.DataFrame]:
    """Yield the table in chunks of at most ``chunksize`` rows, read by ``reader``
    (:data:`READERS`); ``text_columns`` (with reader "typed", e.g. the id column) are
    read as text."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f'"{path}" is a directory: give a table file')
    if not path.is_file():
        raise ConfigError(f'Input file "{path}" does not exist')
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}")
    fmt = table_format(path)
    typed = reader == "typed"
    try:
        if fmt == "csv":
            text = [c for c in text_columns if c] if typed else []
            columns = _csv_header(path)
            yield from pd.read_csv(path, chunksize=chunksize,
                                   **_csv_options(columns, text, reader))
        elif fmt == "jsonl":
            for chunk in _iter_jsonl(path, chunksize=chunksize, reader=reader):
                yield _nested_as_json(chunk) if typed else chunk
        else:
            import pyarrow.parquet as pq

            # pre_buffer=False: pre-buffered column chunks stay cached until the file is
            # closed (apache/arrow#39808), which held the whole pool in memory.
            with pq.ParquetFile(path, pre_buffer=False) as parquet:
                _check_names(path, parquet.schema_arrow.names)
                for batch in parquet.iter_batches(batch_size=chunksize):
                    chunk = batch.to_pandas()
                    yield _nested_as_json(chunk) if typed else chunk
    except pd.errors.EmptyDataError:
        raise _empty_file_error(path) from None
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise ConfigError(f'Cannot read "{path}" as {fmt}: {_reading_error(exc)}') from None


def _reading_error(exc: BaseException) -> str:
    """pandas' reason in the user's words: "C error" and "tokenizing" are its own."""
    text = one_line(str(exc))  # pandas' parser messages end with a newline
    cells = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if cells:
        header, line, seen = cells.groups()
        return (f"line {line} has {seen} cells, the header {header} (a comma inside a cell "
                "that is not in double quotes?)")
    return re.sub(r"^Error tokenizing data\. C error: ", "", text)


def _empty_file_error(path: str | Path) -> ConfigError:
    """What an empty CSV or JSONL file (no header, no object) is told with."""
    return ConfigError(f'"{path}" has no rows: the file is empty')


def _check_names(path: str | Path, names: Iterable[Any]) -> None:
    """Refuse column names that pandas would rename or keep twice: a repeated name (read
    as "label" and "label.1", the second a copy a model could learn the answer from) or
    an empty one (read as "Unnamed: 2")."""
    first: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        name = str(name)
        if name == "":
            hint = " (a table saved with its index has a nameless first column)" \
                if position == 1 else ""
            raise ConfigError(f'Cannot read "{path}": column {position} has no name: give '
                              f"every column a name in the header{hint}")
        if name in first:
            raise ConfigError(f'Cannot read "{path}": the column "{name}" appears twice '
                              f"(columns {first[name]} and {position}): rename or remove "
                              "one of them")
        first[name] = position


def _csv_header(path: str | Path) -> list[str]:
    """The column names of a CSV file as its header writes them (checked with
    :func:`_check_names`): pandas' own header, once it renamed them, no longer tells."""
    # The header as a row of text: read by pandas, so parsed as the table will be (quotes,
    # byte order mark, blank lines before it).
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = [str(name) for name in header.iloc[0]]
    _check_names(path, names)
    return names


def _iter_jsonl(path: Path, *, chunksize: int, reader: str) -> Iterator[pd.DataFrame]:
    """The objects of a JSONL file in frames of ``chunksize`` lines, as
    ``pd.read_json(lines=True, chunksize=...)`` reads them (the same chunks, so the
    same types), except that a byte order mark is skipped, a line that is not a JSON
    object is refused by its number, and so is a malformed line (found once pandas fails
    on its chunk). Blank lines are skipped, and a chunk of them gives no frame."""
    options: dict[str, Any] = {"dtype": False, "convert_dates": False} \
        if reader == "typed" else {}
    precise = reader != "pandas"
    start, rows = 0, 0  # the number of the line before the chunk, the rows read
    # newline="": the lines pandas' chunked reader splits the file into.
    with open(path, encoding="utf-8-sig", newline="") as handle:
        while lines := list(islice(handle, chunksize)):
            # Every object line starts with "{"; anything else is not an object (or not
            # JSON): pandas took an array for a row of columns 0, 1…
            starts = [line.lstrip()[:1] for line in lines]
            if any(c != "{" for c in starts if c):
                number = next(i for i, c in enumerate(starts) if c and c != "{")
                raise _jsonl_line_error(path, start + number + 1, lines[number])
            if any(starts):
                try:
                    chunk = pd.read_json(io.StringIO("\n".join(lines)), lines=True,
                                         precise_float=precise, **options)
                except ValueError as exc:
                    for number, line in enumerate(lines, start=start + 1):
                        if line.strip() and _json_problem(line):
                            raise _jsonl_line_error(path, number, line) from None
                    raise ConfigError(f'Cannot read "{path}" as jsonl: {exc} (lines '
                                      f"{start + 1} to {start + len(lines)})") from None
                chunk.index = range(rows, rows + len(chunk))  # as pandas numbers them
                rows += len(chunk)
                yield chunk
            start += len(lines)


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _json_problem(line: str) -> str | None:
    """Why a JSONL line is not one JSON object (None: it is one)."""
    try:
        value = json.loads(line.rstrip("\r\n"))  # columns counted on the line
    except RecursionError:
        return "nests values too deeply to read"
    except ValueError as exc:
        where = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return f"is not valid JSON: {reason}{where}"
    if isinstance(value, dict):
        return None
    return (f"is not a JSON object (it holds {_JSON_TYPES.get(type(value), 'a value')}): "
            'each line must hold one object, {"column": value, …}')


def _jsonl_line_error(path: str | Path, number: int, line: str) -> ConfigError:
    """The error for line ``number`` (from 1) of a JSONL file, which holds ``line``."""
    problem = _json_problem(line) or "cannot be read"
    return ConfigError(f'Cannot read "{path}" as jsonl: line {number} {problem}')


def _csv_options(columns: Iterable[Any], text: list[str], reader: str) -> dict[str, Any]:
    """``pd.read_csv`` options of ``reader`` for a CSV file of these ``columns``, with
    the ``text`` columns read as text (missing only when empty)."""
    options: dict[str, Any] = {
        "float_precision": None if reader == "pandas" else "round_trip"}
    if text:
        options.update(dtype=dict.fromkeys(text, str), keep_default_na=False,
                       na_values={c: [""] if c in text else _DEFAULT_NA for c in columns})
    return options


def typed_like_csv(frame: pd.DataFrame, *, text_columns: Iterable[str | None] = ()
                   ) -> pd.DataFrame:
    """``frame``'s cells as a CSV file holds them (text), with the columns that
    ``iter_table`` reads from that file as numbers or booleans so typed, when no written
    value becomes missing; the other columns keep their text ("NA" stays "NA")."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    text = [c for c in text_columns if c and c in frame.columns]
    typed = pd.read_csv(buffer, **_csv_options(frame.columns, text, READER))
    result = frame.copy()
    for i in range(len(frame.columns)):
        column = typed.iloc[:, i]
        if column.dtype.kind in "biuf" and \
                (column.notna().to_numpy() == frame.iloc[:, i].notna().to_numpy()).all():
            result.isetitem(i, column.set_axis(frame.index))
    return result


def _is_nested(value: Any) -> bool:
    return isinstance(value, (list, dict, tuple)) or getattr(value, "ndim", 0) > 0


def _as_json(value: Any) -> str:
    if getattr(value, "ndim", 0):
        value = value.tolist()
    # Numpy values inside a struct cell, and anything else, as plain JSON or text.
    return json.dumps(value, ensure_ascii=False,
                      default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))


def _nested_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists and objects (Parquet list/struct columns, JSON arrays) as JSON text: their
    Python or numpy form (``['a' 'b']``) is what the labeling page and exports showed."""
    out = frame
    for i, dtype in enumerate(frame.dtypes):
        if dtype.kind != "O":
            continue
        column = frame.iloc[:, i]
        nested = column.map(_is_nested).to_numpy(dtype=bool)
        if nested.any():
            values = column.to_numpy(dtype=object, copy=True)
            values[nested] = [_as_json(v) for v in values[nested]]
            if out is frame:
                out = frame.copy(deep=False)
            out.isetitem(i, values)
    return out


def read_table(path: str | Path, *, progress: Any = None,
               text_columns: Iterable[str | None] = ()) -> pd.DataFrame:
    """A whole table (a training table, queries); pools go through ``iter_table``.
    ``progress``: a bar whose ``update(n)`` counts the rows as they are read. An empty
    JSONL file is refused like an empty CSV file: it names no column either."""
    chunks = []
    for chunk in iter_table(path, text_columns=text_columns):
        chunks.append(chunk)
        if progress is not None:
            progress.update(len(chunk))
    if not chunks and table_format(path) == "jsonl":
        raise _empty_file_error(path)
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def table_columns(path: str | Path) -> list[str]:
    """Column names of a table file, reading as little as possible. An empty JSONL file
    has none to give: it is refused like an empty CSV file (the input of a command)."""
    for chunk in iter_table(path, chunksize=1):
        return [str(c) for c in chunk.columns]
    if table_format(path) == "parquet":  # no rows, but a schema
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).pandas_metadata or {}
        index = {c for c in metadata.get("index_columns", []) if isinstance(c, str)}
        return [str(c) for c in pq.read_schema(path).names if c not in index]
    if table_format(path) == "jsonl":
        raise _empty_file_error(path)
    return []


def string_columns(path: str | Path, *, rows: int = 1000) -> list[str]:
    """Columns of a Parquet or JSONL table holding text in its first ``rows`` rows (a CSV
    has no types: none). A CSV written from the table must read them back as text, or
    codes like "0042" come back as numbers, and their rows' content ids change."""
    if table_format(path) == "csv":
        return []
    for chunk in iter_table(path, chunksize=rows):
        return [str(c) for c in chunk.columns if chunk[c].dtype.kind == "O"
                and pd.api.types.infer_dtype(chunk[c], skipna=True) == "string"]
    return []


def json_value(value: Any) -> Any:
    """A cell as a JSON-safe value: NaN/NaT become None, numpy scalars become Python."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, AttributeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _canonical(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def has_value(column: pd.Series) -> np.ndarray:
    """Which cells hold a value: neither missing nor blank text (a label cell, as `train`
    reads it: the rows it learns from)."""
    present = column.notna().to_numpy(dtype=bool)
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        # Only text can be blank; only the cells present are looked at.
        present[present] = column[present].astype(str).str.strip().to_numpy() != ""
    return present


def canonical_text(value: Any) -> str:
    """A cell as the text its row's id hashes: 3.0 and 3 give "3", True "true", a
    missing value ""."""
    return _canonical(json_value(value))


def content_hash(data: dict[str, Any]) -> str:
    """16 hex digits of a hash over the row's columns and canonical values."""
    h = hashlib.blake2b(digest_size=8)
    for name in sorted(data):
        h.update(name.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
        h.update(_canonical(data[name]).encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()


class RowIdentifier:
    """Gives ids to rows seen in order; keeps occurrence counts across chunks."""

    def __init__(self, id_column: str | None = None) -> None:
        self.id_column = id_column
        self._seen: Counter[str] = Counter()

    def key(self, data: dict[str, Any]) -> str:
        if self.id_column:
            value = data.get(self.id_column)
            if value is None or value == "":
                raise ValidationError(f'A row has an empty id in column "{self.id_column}"')
            key = _canonical(value)
            if self._seen[key]:
                raise ValidationError(
                    f'The id column "{self.id_column}" is not unique: "{key}" appears twice'
                )
            self._seen[key] += 1
            return key
        digest = content_hash(data)
        occurrence = self._seen[digest]
        self._seen[digest] += 1
        return digest if occurrence == 0 else f"{digest}-{occurrence}"


def frame_rows(frame: pd.DataFrame, identifier: RowIdentifier,
               shown: pd.DataFrame | None = None) -> Iterator[Row]:
    """Rows of one chunk, with JSON-safe values and ids. ``shown``: the same rows as
    they are to be kept (same columns), when not as ``frame`` types them."""
    columns = [str(c) for c in frame.columns]
    kept = None if shown is None else shown.itertuples(index=False, name=None)
    for values in frame.itertuples(index=False, name=None):
        data = {name: json_value(v) for name, v in zip(columns, values)}
        key = identifier.key(data)
        if kept is not None:
            data = {name: json_value(v) for name, v in zip(columns, next(kept))}
        yield Row(key, data)


def iter_csv_text(path: str | Path, *, chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
    """A CSV file's cells as written, in chunks: text, with empty cells missing."""
    try:
        yield from pd.read_csv(path, chunksize=chunksize, dtype=str, keep_default_na=False,
                               na_values=[""])
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise ConfigError(f'Cannot read "{path}" as csv: {_reading_error(exc)}') from None


def iter_rows(path: str | Path, *, id_column: str | None = None, chunksize: int = 50_000,
              reader: str = READER) -> Iterator[Row]:
    """Every row of a table file with its id, read chunk by chunk.

    A CSV row keeps its cells as written, so that "01234", "3" (not 3.0 in a column
    with blanks) and "NA" show and export as in the file; its id still hashes the
    values as ``reader`` types them, which keeps the ids of every earlier store."""
    identifier = RowIdentifier(id_column)
    chunks = iter_table(path, chunksize=chunksize, reader=reader, text_columns=[id_column])
    if table_format(path) != "csv":
        for chunk in chunks:
            yield from frame_rows(chunk, identifier)
        return
    written = iter_csv_text(path, chunksize=chunksize)
    for chunk in chunks:
        yield from frame_rows(chunk, identifier, shown=next(written))


def file_fingerprint(path: str | Path) -> str:
    """Cheap identity of a file's version (size + modification time)."""
    stat = Path(path).stat()
    return json.dumps([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
