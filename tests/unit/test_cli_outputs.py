"""What `query` and `export` write, and what they refuse to overwrite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assisted_labeling import cli
from assisted_labeling.queries import priorities_from_file
from assisted_labeling.sources import iter_rows, table_columns
from assisted_labeling.standalone import open_project
from assisted_labeling.web.auth import LOCAL_USER


@pytest.fixture
def model(tmp_path):
    """A model on columns x, y."""
    pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8], "y": [0.9, 0.1, 0.8, 0.2],
                  "label": ["b", "a", "b", "a"]}).to_csv(tmp_path / "train.csv", index=False)
    path = tmp_path / "m.skops"
    assert cli.main(["train", str(tmp_path / "train.csv"), "-o", str(path)]) == 0
    return path


def _pool(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.random(n), "y": rng.random(n)})


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


def test_a_parquet_pool_without_rows_is_refused_with_one_line(model, tmp_path, capsys):
    pool = tmp_path / "empty.parquet"
    _pool().iloc[:0].to_parquet(pool)
    out = tmp_path / "q.csv"
    for extra in ([], ["--id-column", "x"]):
        assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o", str(out),
                         *extra]) == 2
        assert "has no rows: nothing to rank" in _error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_queries_of_a_float32_pool_name_its_items_in_every_format(model, tmp_path, fmt):
    pool = tmp_path / "pool.parquet"
    _pool().astype({"x": "float32"}).to_parquet(pool)
    out = tmp_path / f"q.{fmt}"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o", str(out)]) == 0
    items = {row.key for row in iter_rows(pool)}
    named = [p[0] for p in priorities_from_file(out, None, pool=pool)]
    assert len(named) == 20 and set(named) == items


def test_a_column_of_mixed_types_is_written_as_text_to_parquet(model, tmp_path):
    pool = tmp_path / "pool.jsonl"
    frame = _pool(6).assign(m=[1, "txt", 2.5, None, True, "x"])
    frame.to_json(pool, orient="records", lines=True)
    out = tmp_path / "q.parquet"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o", str(out)]) == 0
    written = pd.read_parquet(out)
    order = np.argsort(written["x"].to_numpy())
    expected = np.array(["1", "txt", "2.5", None, "true", "x"], dtype=object)
    assert written["m"].to_numpy()[order].tolist() == expected[np.argsort(frame["x"])].tolist()
    items = {row.key for row in iter_rows(pool)}
    assert {p[0] for p in priorities_from_file(out, None, pool=pool)} == items


def test_query_does_not_overwrite_a_table_that_is_not_its_queries(model, tmp_path, capsys):
    pool = tmp_path / "pool.csv"
    _pool().to_csv(pool, index=False)
    keep = tmp_path / "train.csv"
    before = keep.read_bytes()
    assert cli.main(["query", "--model", str(model), "--input", str(pool),
                     "-o", str(keep)]) == 2
    assert "is not a queries table" in _error(capsys) and keep.read_bytes() == before
    # Its own queries, even with no row left (a JSONL file of none is empty), it replaces.
    out = tmp_path / "q.jsonl"
    for _ in range(2):
        assert cli.main(["query", "--model", str(model), "--input", str(pool),
                         "-o", str(out)]) == 0
    out.write_text("")
    assert cli.main(["query", "--model", str(model), "--input", str(pool),
                     "-o", str(out)]) == 0
    # An empty file of another format is replaced too (it holds nothing to lose).
    for fmt in ("csv", "parquet"):
        empty = tmp_path / f"empty.{fmt}"
        empty.write_bytes(b"")
        assert cli.main(["query", "--model", str(model), "--input", str(pool),
                         "-o", str(empty)]) == 0, _error(capsys)
        assert "uncertainty" in table_columns(empty)


def test_export_does_not_overwrite_the_stores_own_pool(tmp_path, capsys):
    pool = tmp_path / "pool.csv"
    _pool().to_csv(pool, index=False)
    project = open_project(pool, tmp_path / "l.db", {"categories": "a,b"}, progress=False)
    item = project.next_items(LOCAL_USER, 1)[0]
    project.annotate(LOCAL_USER, {"item_id": item["id"], "label": "a"})
    project.store.close()
    before = pool.read_bytes()
    assert cli.main(["export", "--store", str(tmp_path / "l.db"), "-o", str(pool)]) == 2
    assert "is the table the store's items come from" in _error(capsys)
    assert pool.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"not a database at all"])
def test_query_with_a_file_that_is_not_a_store_says_so_and_leaves_it(model, tmp_path,
                                                                     capsys, content):
    pool = tmp_path / "pool.csv"
    _pool().to_csv(pool, index=False)
    store = tmp_path / "empty.db"
    store.write_bytes(content)
    mode = store.stat().st_mode
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "--store",
                     str(store), "-o", str(tmp_path / "q.csv")]) == 2
    err = _error(capsys)
    assert "is not a labeling store" in err and "export" not in err
    assert store.read_bytes() == content and store.stat().st_mode == mode
    assert not (tmp_path / "empty.db.lock").exists()


def test_users_add_refusing_a_short_password_leaves_no_store(tmp_path, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["users", "add", "bob", "--store", str(tmp_path / "u.db"),
                     "--password-stdin"]) == 2
    assert "at least 8 characters" in _error(capsys)
    assert not list(tmp_path.glob("u.db*"))


def test_infinite_values_of_a_parquet_pool_are_exported_as_numbers(tmp_path):
    pool = tmp_path / "pool.parquet"
    pd.DataFrame({"id": ["a", "b", "c"], "x": [1.5, np.inf, -np.inf]}).to_parquet(pool)
    project = open_project(pool, tmp_path / "s.db", {"categories": "p,n", "id_column": "id"},
                           progress=False)
    for key in ("a", "b", "c"):
        project.annotate(LOCAL_USER, {"item_id": key, "label": "p"})
    project.store.close()
    out = tmp_path / "out.parquet"
    assert cli.main(["export", "--store", str(tmp_path / "s.db"), "-o", str(out)]) == 0
    back = pd.read_parquet(out).sort_values("id")
    assert back["x"].tolist() == [1.5, np.inf, -np.inf]


@pytest.mark.parametrize("cells, quoted", [
    (["a\rb", 3], True), ([1.5, "a\r"], True), (["a\nb", "c"], False),
    ([1, 2], False), ([None, None], False), ([[1], [2]], False),
])
def test_csv_cells_are_all_quoted_only_when_a_text_holds_a_lone_carriage_return(
        cells, quoted):
    """Object columns without text (a JSONL pool's numbers) have no .str to look in."""
    import csv

    from assisted_labeling.export import _csv_quoting

    frame = pd.DataFrame({"c": pd.Series(cells, dtype=object), "n": [1, 2]})
    assert _csv_quoting(frame) == (csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL)
