"""Write the labels and metadata tables to CSV, Parquet or JSONL files, atomically."""

from __future__ import annotations

import os
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from .errors import ConfigError
from .sources import TABLE_FORMATS

FORMATS = ("csv", "parquet", "jsonl")


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def export_rows(rows: Iterable[dict[str, Any]], output: str | Path, *, fmt: str | None = None,
                columns: list[str] | None = None, chunksize: int = 50_000) -> int:
    """Write rows to ``output`` (format from ``fmt`` or the extension); returns the count.

    CSV and JSONL are streamed chunk by chunk; Parquet is written in one go so that
    every column has one type. The file appears only once complete.
    """
    output = Path(output)
    fmt = fmt or TABLE_FORMATS.get(output.suffix.lower())
    if fmt not in FORMATS:
        raise ConfigError(f'Unknown export format {fmt!r}: expected one of {", ".join(FORMATS)}')
    tmp = output.with_name(f".{output.name}.partial")
    count = 0
    try:
        if fmt == "parquet":
            frame = pd.DataFrame(list(rows), columns=columns)
            count = len(frame)
            frame.to_parquet(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                for i, chunk in enumerate(_chunks(rows, chunksize)):
                    frame = pd.DataFrame(chunk, columns=columns)
                    count += len(frame)
                    if fmt == "csv":
                        frame.to_csv(handle, header=i == 0, index=False)
                    else:
                        frame.to_json(handle, orient="records", lines=True, force_ascii=False)
                        handle.write("\n")
                if count == 0 and fmt == "csv" and columns:
                    pd.DataFrame(columns=columns).to_csv(handle, index=False)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def write_frame(frame: pd.DataFrame, output: str | Path) -> None:
    """Write a whole DataFrame to CSV, Parquet or JSONL (by extension), atomically."""
    output = Path(output)
    fmt = TABLE_FORMATS.get(output.suffix.lower())
    if fmt not in FORMATS:
        raise ConfigError(f'Cannot write "{output}": expected a file ending in '
                          f"{', '.join(sorted(TABLE_FORMATS))}")
    tmp = output.with_name(f".{output.name}.partial")
    try:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
