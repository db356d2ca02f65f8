"""Write the labels and metadata tables to CSV, Parquet or JSONL files, atomically."""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import math
import os
import re
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError
from .processes import exists
from .sources import TABLE_FORMATS, canonical_text, json_value, typed_like_csv

FORMATS = ("csv", "parquet", "jsonl")


def check_writable(output: str | Path) -> Path:
    """Refuse, before any work, a file path that cannot be written: its directory must
    exist and be writable, and the path must not be a directory."""
    output = Path(output)
    parent = output.parent
    if output.is_dir():
        raise ConfigError(f'Cannot write "{output}": it is a directory; give a file name')
    if not parent.is_dir():
        raise ConfigError(f'Cannot write "{output}": the directory "{parent}" does not '
                          "exist; create it or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f'Cannot write "{output}": the directory "{parent}" is not '
                          "writable; choose another path")
    return output


#: The output name that means the standard output (CSV unless a format is given).
STDOUT = "-"


def check_output(output: str | Path, *, fmt: str | None = None,
                 stdout: bool = False) -> str:
    """The format of a table to write at ``output`` (``fmt``, or from the extension),
    checked before any work along with the path itself (see :func:`check_writable`).
    ``stdout``: ``-`` may stand for the standard output."""
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f'Unknown export format {fmt!r}: expected one of {", ".join(FORMATS)}')
    if str(output) == STDOUT and stdout:
        return fmt or "csv"
    named = TABLE_FORMATS.get(Path(output).suffix.lower())
    if fmt and named and named != fmt:
        # Reading it back goes by the extension, and would fail.
        raise ConfigError(f'Cannot write {fmt} to "{output}", whose extension says '
                          f"{named}: change the extension or the format")
    fmt = fmt or named
    if fmt not in FORMATS:
        raise ConfigError(f'Cannot write "{output}": expected a file ending in '
                          f"{', '.join(sorted(TABLE_FORMATS))}")
    check_writable(output)
    return fmt


def _cell(value: Any) -> Any:
    """A cell for JSON: lists and mappings (multi-label answers) as they are; infinities
    become null, as NaN does (JSON has neither)."""
    if isinstance(value, (list, tuple, dict)):
        return value
    if hasattr(value, "tolist") and getattr(value, "ndim", 0):  # a numpy array
        return value.tolist()
    value = json_value(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_jsonl(frame: pd.DataFrame, handle: Any) -> None:
    """One JSON object per row. Floats are written exactly (shortest round-trip form):
    pandas' ``to_json`` rounds them to at most 15 digits, which changes the values, and
    with them the content ids of rows read back."""
    columns = [str(c) for c in frame.columns]
    for values in frame.itertuples(index=False, name=None):
        handle.write(json.dumps({c: _cell(v) for c, v in zip(columns, values)},
                                ensure_ascii=False, allow_nan=False))
        handle.write("\n")


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


#: What a spreadsheet takes for the start of a formula in a cell it opens from CSV.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_quoting(frame: pd.DataFrame) -> int:
    """Every cell quoted when a text holds a carriage return alone: the CSV writer
    quotes a cell for the line ending it writes ("\\n") but not for "\\r", which readers
    also take for the end of a row. Otherwise only the cells that need it."""
    for _, values in frame.items():
        # An object column holding no text at all has no .str (numbers of a JSONL pool).
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
                "string", "mixed", "mixed-integer") and values.str.contains(
                    "\r", regex=False, na=False).any():
            return csv.QUOTE_ALL
    return csv.QUOTE_MINIMAL


def _no_formulas(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with the text of ``columns`` that a spreadsheet would run as a formula
    ("=HYPERLINK(…)") prefixed with ', which shows it as text."""
    for name in columns:
        if name in frame.columns:
            frame[name] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS)
                           else v for v in frame[name]]
    return frame


def export_rows(rows: Iterable[dict[str, Any]], output: str | Path, *, fmt: str | None = None,
                columns: list[str] | None = None, chunksize: int = 50_000,
                typed: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                whole_numbers: Sequence[str] = (), free_text: Sequence[str] = ()) -> int:
    """Write rows to ``output`` (format from ``fmt`` or the extension; ``-``: the standard
    output, CSV by default); returns the count.

    CSV and JSONL are streamed chunk by chunk; Parquet is written in one go so that
    every column has one type. The file appears only once complete. ``typed`` gives
    the cells their types for Parquet and JSONL (a CSV pool's cells are kept as text,
    which is what a CSV file writes back). ``whole_numbers``: columns of integers that
    may be empty (a skip has no label id), written as 3, not 3.0. ``free_text``: columns
    that labelers write (comments), which a CSV gives with no formula in them
    (:func:`_no_formulas`): whoever opens it in a spreadsheet would run an annotator's.
    """
    fmt = check_output(output, fmt=fmt, stdout=True)
    to_stdout = str(output) == STDOUT
    output = Path(output)
    tmp = partial_path(output)
    count = 0
    try:
        if fmt == "parquet":
            frame = _whole(pd.DataFrame(list(rows), columns=columns), whole_numbers)
            count = len(frame)
            # A column mixing numbers and text (a JSONL pool) as text: Parquet holds one
            # type per column.
            _changed_columns(typed(frame) if typed else frame, _parquet_column).to_parquet(
                sys.stdout.buffer if to_stdout else tmp, index=False)
        else:
            with (_utf8_stdout() if to_stdout
                  else open(tmp, "w", encoding="utf-8", newline="")) as handle:
                for i, chunk in enumerate(_chunks(rows, chunksize)):
                    frame = _whole(pd.DataFrame(chunk, columns=columns), whole_numbers)
                    count += len(frame)
                    if fmt == "csv":
                        frame = _no_formulas(frame, free_text)
                        frame.to_csv(handle, header=i == 0, index=False,
                                     quoting=_csv_quoting(frame))
                    else:
                        write_jsonl(typed(frame) if typed else frame, handle)
                if count == 0 and fmt == "csv" and columns:
                    pd.DataFrame(columns=columns).to_csv(handle, index=False)
        if not to_stdout:
            os.replace(tmp, output)
    finally:
        if not to_stdout and tmp.exists():
            tmp.unlink()
    return count


@contextlib.contextmanager
def _utf8_stdout() -> Iterator[io.TextIOWrapper]:
    """The standard output as UTF-8 text, as files are written, whatever the locale (a
    stand-in without bytes underneath, as a caller's StringIO, is written as it is)."""
    if not hasattr(sys.stdout, "buffer"):
        yield sys.stdout
        return
    sys.stdout.flush()
    handle = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        yield handle
        handle.flush()
    finally:
        handle.detach()  # sys.stdout keeps its buffer


def _whole(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` as nullable integers: pandas makes a column of ints with a missing
    value floats."""
    present = [c for c in columns if c in frame.columns]
    return frame.astype({c: "Int64" for c in present}) if present else frame


def typed_items(frame: pd.DataFrame, *, label_column: str,
                id_column: str | None) -> pd.DataFrame:
    """Labels rows of a CSV pool (``export_rows``' ``typed``): the item columns typed as
    ``train`` reads the pool (the store keeps them as written); labels and id stay text."""
    items = [c for c in frame.columns if c not in (label_column, f"{label_column}_id")]
    typed = frame.copy()
    typed[items] = typed_like_csv(frame[items], text_columns=[id_column])
    return typed


def _changed_columns(frame: pd.DataFrame,
                     change: Callable[[pd.Series], pd.Series | None]) -> pd.DataFrame:
    """``frame`` with each column that ``change`` returns anew replaced (None: kept); the
    frame itself when none is, else a shallow copy: the caller's frame is left as it is."""
    changed = {i: new for i in range(frame.shape[1])
               if (new := change(frame.iloc[:, i])) is not None}
    if not changed:
        return frame
    frame = frame.copy(deep=False)
    for i, column in changed.items():
        frame.isetitem(i, column)
    return frame


def _csv_column(column: pd.Series) -> pd.Series | None:
    """What CSV would write so that rows read back get other content ids: date-times in
    pandas' form ("2024-03-15"), written as the ISO text ids hash (``json_value``); and
    single-precision floats in their own shortest form ("0.1", which reads back as
    another double than the float32 widened, 0.10000000149011612), written as doubles."""
    kind, size = column.dtype.kind, column.dtype.itemsize
    if kind == "M":
        return column.map(json_value).astype(object)
    if kind == "f" and size < 8:
        return column.astype(np.float64)
    return None


def _parquet_column(column: pd.Series) -> pd.Series | None:
    """A column of mixed types (a JSONL pool: 1 in a row, "a" in another), which Parquet
    cannot hold, as its text (``canonical_text``, which content ids hash: the rows keep
    their ids); missing values stay missing."""
    import pyarrow as pa

    if column.dtype.kind != "O":
        return None
    try:
        pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return column.map(canonical_text).where(column.notna(), None)
    return None


#: A partial file untouched this long, whose process is gone, was left by a killed run.
STALE_PARTIAL_SECONDS = 3600


def written_path(path: str | os.PathLike[str]) -> str:
    """The output a :func:`partial_path` stands for, or ``path`` itself."""
    name = os.path.basename(path)
    match = re.fullmatch(r"\.(.+)\.\d+\.partial", name)
    return os.path.join(os.path.dirname(path), match.group(1)) if match else str(path)


def partial_path(output: Path) -> Path:
    """Where ``output`` is written before it appears whole: a name of this process's
    own, so that two runs writing the same output do not write into one file. Those
    that runs killed long ago left (untouched for an hour, and their process gone: a
    writer in another container or on another host has a pid not seen here) are
    removed first."""
    for left in output.parent.glob(f".{glob.escape(output.name)}.*.partial"):
        pid = left.name[len(output.name) + 2:-len(".partial")]
        if not (pid.isascii() and pid.isdigit() and len(pid) < 10) or \
                int(pid) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if time.time() - left.stat().st_mtime > STALE_PARTIAL_SECONDS and \
                    not exists(int(pid)):
                left.unlink()
    return output.with_name(f".{output.name}.{os.getpid()}.partial")


def write_frame(frame: pd.DataFrame, output: str | Path) -> None:
    """Write a whole DataFrame to CSV, Parquet or JSONL (by extension), atomically."""
    output = Path(output)
    fmt = check_output(output)
    tmp = partial_path(output)
    try:
        if fmt == "csv":
            written = _changed_columns(frame, _csv_column)
            written.to_csv(tmp, index=False, quoting=_csv_quoting(written))
        elif fmt == "parquet":
            _changed_columns(frame, _parquet_column).to_parquet(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                write_jsonl(frame, handle)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
