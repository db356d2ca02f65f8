"""Reading tables in chunks and giving rows stable, unique ids."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from assisted_labeling.errors import ConfigError, ValidationError
from assisted_labeling.sources import (
    RowIdentifier,
    content_hash,
    iter_rows,
    iter_table,
    json_value,
    typed_like_csv,
)


def test_ids_survive_a_dtype_change():
    assert content_hash({"a": 1, "b": "x"}) == content_hash({"b": "x", "a": 1.0})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({"a": None}) == content_hash({"a": json_value(float("nan"))})


def test_duplicate_rows_get_distinct_ids():
    ids = RowIdentifier()
    first, second, other = ids.key({"a": 1}), ids.key({"a": 1}), ids.key({"a": 2})
    assert second == f"{first}-1"
    assert len({first, second, other}) == 3


def test_id_column_must_be_unique_and_filled():
    ids = RowIdentifier("id")
    assert ids.key({"id": 7.0}) == "7"
    with pytest.raises(ValidationError, match='"7" appears twice'):
        ids.key({"id": 7})
    with pytest.raises(ValidationError, match="empty id"):
        RowIdentifier("id").key({"id": None})


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_format_gives_the_same_rows_across_chunks(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["a", "b", "a", None], "n": [1, 2, 1, 3]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    whole = list(iter_rows(path, chunksize=100))
    pieces = list(iter_rows(path, chunksize=1))
    assert whole == pieces
    n = [str(v) for v in (1, 2, 1, 3)] if suffix == ".csv" else [1, 2, 1, 3]  # as written
    assert [r.data for r in whole] == [
        {"text": "a", "n": n[0]}, {"text": "b", "n": n[1]}, {"text": "a", "n": n[2]},
        {"text": None, "n": n[3]}]
    assert whole[2].key == f"{whole[0].key}-1"


def test_unreadable_inputs(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_rows(tmp_path / "nope.csv"))
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(ConfigError, match="expected a file ending in"):
        list(iter_rows(tmp_path / "data.xlsx"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(ConfigError, match="Cannot read"):
        list(iter_rows(broken))


# -- what values are read as --------------------------------------------------------------
def test_jsonl_values_keep_their_json_types(tmp_path):
    # pandas' read_json turns "004" into 4 and columns named like dates into date-times:
    # the labeling page, the queries and the exports then showed other values.
    path = tmp_path / "pool.jsonl"
    path.write_text('{"sku": "004", "zip": "01234", "created_at": "2024-01-02", "x": 1}\n'
                    '{"sku": "4", "zip": "99", "created_at": "2024-01-03", "x": 2.5}\n')
    rows = list(iter_rows(path, id_column="sku"))
    assert [r.key for r in rows] == ["004", "4"]
    assert rows[0].data == {"sku": "004", "zip": "01234", "created_at": "2024-01-02", "x": 1}
    # A store made by an earlier version keeps reading as it did (its ids depend on it).
    older = [r.data for r in iter_rows(path, reader="exact")]
    assert older[0]["zip"] == 1234 and older[0]["created_at"].startswith("2024-01-02T")


def test_csv_cells_are_kept_as_written_and_ids_as_before(tmp_path):
    # pandas' guess showed and exported "01234" as 1234, "3" as 3.0 (a column with
    # blanks is float) and dropped "NA" and "None", real values of a text column.
    path = tmp_path / "pool.csv"
    path.write_text("zip,age,name,ok\n01234,3,NA,True\n02345,,None,false\n")
    rows = list(iter_rows(path))
    assert [r.data for r in rows] == [
        {"zip": "01234", "age": "3", "name": "NA", "ok": "True"},
        {"zip": "02345", "age": None, "name": "None", "ok": "false"}]
    # Ids hash the values as typed, so the stores of earlier versions keep their labels.
    typed = next(iter_table(path))
    assert [r.key for r in rows] == [
        content_hash({c: json_value(v) for c, v in row.items()})
        for row in typed.to_dict("records")]
    # Numbers and booleans typed back as the typed reader reads them (the labels export
    # to Parquet); text stays as written.
    again = typed_like_csv(pd.DataFrame([r.data for r in rows]))
    pd.testing.assert_frame_equal(again[["zip", "age", "ok"]], typed[["zip", "age", "ok"]])
    assert again["name"].tolist() == ["NA", "None"]


def test_a_csv_id_column_is_text(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text("sku,x\n001,0.5\n1,0.25\nNA,1\n")
    rows = list(iter_rows(path, id_column="sku"))
    assert [r.key for r in rows] == ["001", "1", "NA"]
    assert [r.data["x"] for r in rows] == ["0.5", "0.25", "1"]  # as written
    empty = tmp_path / "empty_id.csv"
    empty.write_text("sku,x\n,1\n")
    with pytest.raises(ValidationError, match="empty id"):
        list(iter_rows(empty, id_column="sku"))
    # Older stores: pandas' guess, "001" and "1" are both 1.
    with pytest.raises(ValidationError, match='"1" appears twice'):
        list(iter_rows(path, id_column="sku", reader="exact"))


def test_text_columns_of_a_csv_keep_what_they_say(tmp_path):
    from assisted_labeling.sources import read_table

    path = tmp_path / "labels.csv"
    path.write_text("x,label\nNA,None\n1,01\n2,1.0\n3,NA\n4,\n")
    frame = read_table(path, text_columns=["label", "not a column"])
    assert frame["label"].tolist()[:4] == ["None", "01", "1.0", "NA"]
    assert pd.isna(frame["label"].iloc[4])  # only an empty cell is missing
    assert pd.isna(frame["x"].iloc[0]) and frame["x"].dtype.kind == "f"  # others as before


def test_columns_of_a_parquet_file_without_rows(tmp_path):
    from assisted_labeling.sources import table_columns

    path = tmp_path / "empty.parquet"
    pd.DataFrame({"x1": pd.Series([], dtype=float), "x2": pd.Series([], dtype=str)}).to_parquet(
        path, index=False)
    assert table_columns(path) == ["x1", "x2"]
    indexed = tmp_path / "indexed.parquet"
    pd.DataFrame({"x1": [1.0]}, index=pd.Index([7], name="k")).iloc[:0].to_parquet(indexed)
    assert table_columns(indexed) == ["x1"]


def test_csv_queries_keep_the_ids_of_a_pool_with_dates(tmp_path):
    from assisted_labeling.export import write_frame

    pool = pd.DataFrame({"when": pd.to_datetime(["2024-03-15", "2024-03-16 10:30"],
                                                 format="ISO8601"),
                         "utc": pd.to_datetime(["2024-03-15", None], utc=True),
                         "x": [1.5, 2.5]})
    pool.to_parquet(tmp_path / "pool.parquet", index=False)
    write_frame(pool, tmp_path / "queries.csv")
    from_pool = [r.key for r in iter_rows(tmp_path / "pool.parquet")]
    from_csv = [r.key for r in iter_rows(tmp_path / "queries.csv")]
    assert from_csv == from_pool


def test_nested_cells_are_read_as_json_text(tmp_path):
    frame = pd.DataFrame({"tags": [["a", "b"], [], None], "meta": [{"k": 0}, None, {"k": 1}],
                          "x": [1, 2, 3]})
    frame.to_parquet(tmp_path / "pool.parquet", index=False)
    frame.to_json(tmp_path / "pool.jsonl", orient="records", lines=True)
    for name in ("pool.parquet", "pool.jsonl"):
        rows = [r.data for r in iter_rows(tmp_path / name)]
        assert [r["tags"] for r in rows] == ['["a", "b"]', "[]", None], name
        assert json.loads(rows[0]["meta"]) == {"k": 0}, name


def test_a_jsonl_line_nested_too_deep_is_refused_by_its_number(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text('{"a": 1}\n' + deep + "\n")
    with pytest.raises(ConfigError, match="line 2.*nest"):
        list(iter_table(path))
