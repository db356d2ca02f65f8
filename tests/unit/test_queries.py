"""Queries of pool files: exact item ids in memory bounded by the output, not the pool."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from assisted_labeling.queries import (
    ITEM_ID,
    keyed_chunks,
    priorities_from_file,
    resolve_ids,
    score_file,
)
from assisted_labeling.sampler import SeenDigests, score_pool
from assisted_labeling.sources import iter_rows, read_table


class XModel:
    """A fake trained model: p(class a) = x, so uncertainty peaks at x = 0.5."""

    n_labels = None
    classes = ["a", "b"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame["x"].to_numpy(dtype=float)
        return np.column_stack([x, 1 - x])

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[["x"]].to_numpy(dtype=float)


@pytest.fixture
def pool(tmp_path):
    """Rows repeated within and across chunks (of 4), some of them labeled."""
    xs = [0.5, 0.1, 0.5, 0.9, 0.45, 0.5, 0.1, 0.55, 0.45, 0.3, 0.5, 0.2]
    path = tmp_path / "pool.csv"
    pd.DataFrame({"x": xs, "tag": ["t"] * len(xs)}).to_csv(path, index=False)
    return path


def webapp_ids(path) -> list[str]:
    return [row.key for row in iter_rows(path)]


@pytest.mark.parametrize("max_queries", [None, 5])
@pytest.mark.parametrize("labeled_rows", [(), (0,), (0, 5, 4)])
def test_ids_are_the_webapps_whatever_the_duplicates(pool, max_queries, labeled_rows):
    ids = webapp_ids(pool)
    labeled = {ids[i] for i in labeled_rows}
    out = score_file(pool, XModel(), strategy="margin", id_column=None, exclude=labeled,
                     max_queries=max_queries, chunksize=4)
    frame = pd.read_csv(pool).assign(**{ITEM_ID: ids})
    expected = frame[~frame[ITEM_ID].isin(labeled)]
    assert list(out.columns) == [ITEM_ID, "x", "tag", "uncertainty", "model_uncertainty"]
    assert len(out) == (len(expected) if max_queries is None else max_queries)
    by_id = expected.set_index(ITEM_ID)["x"]
    assert out[ITEM_ID].is_unique and set(out[ITEM_ID]) <= set(by_id.index)
    assert out["x"].tolist() == by_id[out[ITEM_ID]].tolist()  # each id names its own row


def test_false_alarms_of_the_filter_are_resolved_exactly(pool):
    # A tiny filter (8 bits) soon says "maybe" of new rows too; the ids stay exact.
    chunks = keyed_chunks(pool, None, chunksize=4, seen=SeenDigests(bits_log2=3))
    out = score_pool(chunks, lambda c: XModel().predict_proba(c), strategy="margin",
                     columns=[ITEM_ID, "__position", "__maybe_seen"])
    assert out["__maybe_seen"].sum() > 5  # the pool holds 5 true repeats
    resolved = resolve_ids(out, pool, chunksize=5)
    ids = webapp_ids(pool)
    assert list(resolved.columns) == [ITEM_ID, "uncertainty", "model_uncertainty"]
    assert sorted(resolved[ITEM_ID]) == sorted(ids)


def test_rows_false_keeps_ids_and_scores_only(pool):
    full = score_file(pool, XModel(), strategy="margin", id_column=None, chunksize=4)
    slim = score_file(pool, XModel(), strategy="margin", id_column=None, chunksize=4,
                      rows=False)
    assert list(slim.columns) == [ITEM_ID, "uncertainty", "model_uncertainty"]
    pd.testing.assert_frame_equal(slim, full[list(slim.columns)])


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_an_id_column_gives_its_values(tmp_path, suffix):
    """A CSV id column is read as text, a Parquet or JSONL one as integers: the ids,
    the labeled items left out and the duplicates found are the same."""
    from assisted_labeling.errors import ValidationError
    from assisted_labeling.export import write_frame

    path = tmp_path / f"pool.{suffix}"
    frame = pd.DataFrame({"id": [3, 1, 2, -7, 10**12], "x": [0.9, 0.5, 0.6, 0.4, 0.1]})
    write_frame(frame, path)
    out = score_file(path, XModel(), strategy="margin", id_column="id",
                     exclude={"2", "-7", "x"}, chunksize=2)
    assert out[ITEM_ID].tolist() == ["1", "3", str(10**12)]
    assert all(type(i) is str for i in out[ITEM_ID])
    assert list(out.columns) == [ITEM_ID, "id", "x", "uncertainty", "model_uncertainty"]
    assert out.attrs == {"pool_rows": 5, "left_out": 2}
    write_frame(frame.assign(id=[3, 1, 2, 1, 5]), path)
    with pytest.raises(ValidationError, match='"1" appears twice'):
        score_file(path, XModel(), strategy="margin", id_column="id", chunksize=5)


def test_memory_does_not_grow_with_the_pool(tmp_path):
    # Distinct rows: an exact count of every content hash would grow with the pool.
    def peak(n: int) -> int:
        path = tmp_path / f"pool{n}.csv"
        rng = np.random.default_rng(0)
        pd.DataFrame({"x": rng.random(n), "k": np.arange(n)}).to_csv(path, index=False)
        tracemalloc.start()
        try:
            out = score_file(path, XModel(), strategy="margin", id_column=None,
                             max_queries=5, chunksize=5000)
            used = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(out) == 5
        return used

    small, large = peak(20_000), peak(100_000)
    assert large - small < 2_000_000, (small, large)


def test_queries_file_gives_ids_order_and_shown_uncertainty(tmp_path, pool):
    out = score_file(pool, XModel(), strategy="margin", id_column=None, max_queries=4)
    path = tmp_path / "q.csv"
    out.drop(columns=[ITEM_ID]).assign(session=1).to_csv(path, index=False)
    entries = list(priorities_from_file(path, None))
    assert [e[1:] for e in entries] == list(zip(out["uncertainty"], out["model_uncertainty"]))
    # Ids are recomputed on the pool's columns only (copies are told apart by the store).
    assert [e[0].split("-")[0] for e in entries] == [k.split("-")[0] for k in out[ITEM_ID]]
    out.drop(columns=[ITEM_ID, "model_uncertainty"]).to_csv(path, index=False)
    assert [len(e) for e in priorities_from_file(path, None)] == [2] * 4  # a 4.x table


def test_a_pool_without_rows_gives_queries_with_an_id_column(tmp_path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"x": pd.Series(dtype=float), "tag": pd.Series(dtype=object)}).to_parquet(path)
    for rows in (True, False):
        out = score_file(path, XModel(), strategy="margin", id_column=None, rows=rows)
        assert ITEM_ID in out.columns and len(out) == 0 and out.attrs["pool_rows"] == 0


@pytest.mark.parametrize("column", ["uncertainty", "model_uncertainty"])
@pytest.mark.parametrize("bad", ["abc", "inf", "-inf"])
def test_a_queries_table_with_a_value_that_is_no_finite_number_is_refused_by_row(
        tmp_path, column, bad):
    from assisted_labeling.errors import ConfigError

    path = tmp_path / "q.csv"
    rows = pd.DataFrame({"x": ["0.1", "0.2", "0.3"], "uncertainty": ["0.9", "0.5", "0.4"],
                         "model_uncertainty": ["0.9", "0.5", "0.4"], "session": 1})
    rows.loc[1, column] = bad
    rows.to_csv(path, index=False)
    with pytest.raises(ConfigError, match=rf'"{column}".*row 2.*{bad}'):
        list(priorities_from_file(path, None))


def test_a_queries_table_row_without_uncertainty_is_unscored(tmp_path):
    path = tmp_path / "q.csv"
    pd.DataFrame({"x": [0.1, 0.2], "uncertainty": [0.9, np.nan],
                  "model_uncertainty": [0.8, np.nan], "session": 1}).to_csv(path, index=False)
    entries = list(priorities_from_file(path, None))
    assert [e[1:] for e in entries] == [(0.9, 0.8), (None, None)]


def test_rows_are_numbered_across_chunks(tmp_path):
    from assisted_labeling.errors import ConfigError

    path = tmp_path / "q.csv"
    u = ["0.5"] * 5
    u[4] = "x"
    pd.DataFrame({"x": range(5), "uncertainty": u, "session": 1}).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="row 5"):
        list(priorities_from_file(path, None, chunksize=2))


@pytest.mark.parametrize("name", ["q.csv", "q.parquet", "q.jsonl"])
def test_two_runs_writing_one_output_do_not_share_a_temporary_file(tmp_path, monkeypatch,
                                                                   name):
    from assisted_labeling import export

    out = tmp_path / name
    replace, other_ran = export.os.replace, []

    def another_run_finishes_first(src, dst):
        if not other_ran:
            other_ran.append(True)
            with monkeypatch.context() as m:  # another process, meanwhile
                m.setattr(export.os, "getpid", lambda: 2**22 + 1)
                export.write_frame(pd.DataFrame({"a": [2]}), out)
        replace(src, dst)

    monkeypatch.setattr(export.os, "replace", another_run_finishes_first)
    export.write_frame(pd.DataFrame({"a": [1]}), out)
    assert read_table(out)["a"].tolist() == [1]  # the last to finish
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_partial_files_of_runs_killed_long_ago_are_removed(tmp_path):
    """Not those of a run still writing (a live process), nor recent ones (a writer in
    another container has a pid not seen here), nor other files."""
    import os
    import subprocess
    import sys
    import time

    from assisted_labeling import export

    out = tmp_path / "q.csv"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    old = time.time() - export.STALE_PARTIAL_SECONDS - 60
    kept = [f".q.csv.{os.getppid()}.partial", ".other.csv.1.partial",
            ".q.csv.99999999999999999999.partial", ".q.csv.\u00b2.partial"]
    for name in [f".q.csv.{gone}.partial", *kept]:
        (tmp_path / name).write_text("half")
        os.utime(tmp_path / name, (old, old))
    recent = tmp_path / f".q.csv.{int(gone) + 1}.partial"  # maybe another container's
    recent.write_text("being written")
    export.write_frame(pd.DataFrame({"a": [1]}), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, recent.name,
                                                                 "q.csv"])


def test_jsonl_pools_match_queries_whose_rows_have_keys_the_first_record_lacks(tmp_path,
                                                                              capsys):
    import json

    from assisted_labeling import cli
    from assisted_labeling.standalone import open_project

    rows = [{"x": 0, "y": 1}] + [{"x": i, "y": i, "note": f"n{i}"} for i in range(1, 10)]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({**r, "uncertainty": 0.5}) + "\n" for r in rows))
    project = open_project(pool, tmp_path / "s.db", {"categories": "a,b"}, progress=False)
    capsys.readouterr()
    cli._order_queue(project, str(queries), str(pool))
    assert "10 items scored" in capsys.readouterr().err
