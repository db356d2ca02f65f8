"""Column names as the file has them, and JSONL lines that say where they are wrong.

pandas renames a repeated CSV column ("label", "label" -> "label", "label.1") and a
nameless one ("Unnamed: 2"): train then learnt from a copy of the answer, and query
wrote columns the pool does not have. A bad JSONL line gave "Expected object or value"
with no line number, and a line holding an array was read as a row of other columns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assisted_labeling import cli
from assisted_labeling.errors import ConfigError
from assisted_labeling.sources import iter_rows, iter_table, read_table, table_columns


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- CSV headers --------------------------------------------------------------------------
@pytest.mark.parametrize("header, words", [
    ("x,color,label,label", 'column "label" appears twice (columns 3 and 4)'),
    ('"x",color,"x"', 'column "x" appears twice (columns 1 and 3)'),
    ("\ufeffx,color,x", 'column "x" appears twice (columns 1 and 3)'),
    ("x,color,", "column 3 has no name"),
    ('x,"",color', "column 2 has no name"),
])
def test_a_csv_header_that_pandas_would_rename_is_refused(tmp_path, header, words):
    path = tmp_path / "pool.csv"
    path.write_text(header + "\n" + "\n".join(
        ",".join(["1"] * len(header.split(","))) for _ in range(2)) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        list(iter_table(path))
    assert words in caught.value.message and str(path) in caught.value.message
    for read in (lambda: read_table(path), lambda: table_columns(path),
                 lambda: list(iter_rows(path)), lambda: list(iter_rows(path, id_column="x"))):
        with pytest.raises(ConfigError, match="appears twice|has no name"):
            read()


def test_csv_names_that_only_look_renamed_are_kept(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text('a,a.1,"b,c",Unnamed: 3\n1,2,3,4\n', encoding="utf-8")
    assert table_columns(path) == ["a", "a.1", "b,c", "Unnamed: 3"]
    assert [r.data for r in iter_rows(path, id_column="a")] == [
        {"a": "1", "a.1": "2", "b,c": "3", "Unnamed: 3": "4"}]


def test_train_refuses_a_repeated_label_column_instead_of_learning_it(tmp_path, capsys):
    path = tmp_path / "duplab.csv"
    path.write_text("x,color,label,label\n1,red,a,b\n2,blue,b,a\n")
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(path), "-o", str(model)]) == 2
    assert 'column "label" appears twice' in _one_line_error(capsys)
    assert not model.exists()


def _trained_model(tmp_path) -> Path:
    """A model on the columns x, color."""
    train = tmp_path / "train.csv"
    train.write_text("x,color,label\n1,red,a\n2,blue,b\n3,red,a\n")
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(train), "-o", str(model)]) == 0
    return model


def test_query_refuses_a_pool_with_a_repeated_column(tmp_path, capsys):
    model = _trained_model(tmp_path)
    pool = tmp_path / "dupcol.csv"
    pool.write_text("x,color,x\n1,red,2\n2,blue,3\n")
    out = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(pool),
                     "-o", str(out)]) == 2
    assert 'column "x" appears twice (columns 1 and 3)' in _one_line_error(capsys)
    assert not out.exists()


# -- Parquet column names -----------------------------------------------------------------
def test_a_parquet_file_with_a_repeated_column_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_arrays(
        [pa.array([1, 2]), pa.array(["a", "b"]), pa.array(["b", "a"])],
        names=["x", "label", "label"]), path)
    with pytest.raises(ConfigError, match='column "label" appears twice'):
        list(iter_table(path))
    with pytest.raises(ConfigError, match='column "label" appears twice'):
        read_table(path)
    pq.write_table(pa.Table.from_arrays([pa.array([], pa.int64())] * 2, names=["x", "x"]),
                   path)  # no rows: its schema still names the columns
    with pytest.raises(ConfigError, match='column "x" appears twice'):
        table_columns(path)


# -- JSONL lines --------------------------------------------------------------------------
ROWS = '{"x": 1, "color": "red"}\n{"x": 2, "color": "blue"}\n'


def test_a_jsonl_file_with_a_byte_order_mark_is_read_like_one_without(tmp_path):
    plain, marked = tmp_path / "plain.jsonl", tmp_path / "marked.jsonl"
    plain.write_text(ROWS, encoding="utf-8")
    marked.write_text(ROWS, encoding="utf-8-sig")
    assert marked.read_bytes().startswith(b"\xef\xbb\xbf")
    assert list(iter_rows(marked)) == list(iter_rows(plain))
    assert table_columns(marked) == ["x", "color"]


@pytest.mark.parametrize("chunksize", [1, 2, 50_000])
def test_a_malformed_jsonl_line_is_named_by_its_number(tmp_path, chunksize):
    path = tmp_path / "pool.jsonl"
    path.write_text(ROWS + "\n" + '{"x": 3, "color": \n' + ROWS, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        list(iter_table(path, chunksize=chunksize))
    message = caught.value.message
    assert str(path) in message and "line 4 is not valid JSON" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("line, what", [("[1, 2]", "an array"), ("3", "a number"),
                                        ('"red"', "a string"), ("null", "null"),
                                        ('[{"x": 3, "color": "red"}]', "an array")])
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_jsonl_line_that_is_not_an_object_is_named(tmp_path, line, what, where):
    path = tmp_path / "pool.jsonl"
    text, number = (f"{line}\n{ROWS}", 1) if where == "first" else (f"{ROWS}{line}\n", 3)
    path.write_text(text, encoding="utf-8")
    for chunksize in (1, 50_000):
        with pytest.raises(ConfigError) as caught:
            list(iter_table(path, chunksize=chunksize))
        assert f"line {number} is not a JSON object (it holds {what})" in caught.value.message


def test_jsonl_objects_with_number_like_keys_are_still_read(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"0": "a", "1": 2}\n\n{"0": "b", "1": 3}\n', encoding="utf-8")
    assert [r.data for r in iter_rows(path)] == [{"0": "a", "1": 2}, {"0": "b", "1": 3}]


@pytest.mark.parametrize("name, text", [("empty.jsonl", ""), ("blank.jsonl", "\n  \n"),
                                        ("empty.csv", "")])
def test_an_empty_file_has_no_rows(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    for read in (lambda: table_columns(path), lambda: read_table(path)):
        with pytest.raises(ConfigError, match=f'"{path}" has no rows: the file is empty'):
            read()


def test_an_empty_jsonl_file_is_still_an_empty_table_chunk_by_chunk(tmp_path):
    # `query` writes an empty queries table when every row is labeled; its next run
    # reads that table back for its session count.
    path = tmp_path / "q.jsonl"
    path.write_text("", encoding="utf-8")
    assert list(iter_table(path)) == []
    path.write_text("\n\n" + ROWS, encoding="utf-8")  # blank lines give no empty chunk
    assert [len(c) for c in iter_table(path, chunksize=1)] == [1, 1]


def test_query_of_an_empty_jsonl_pool_says_it_has_no_rows(tmp_path, capsys):
    model = _trained_model(tmp_path)
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b"")
    assert cli.main(["query", "--model", str(model), "--input", str(pool),
                     "-o", str(tmp_path / "q.csv")]) == 2
    assert "has no rows" in _one_line_error(capsys)
