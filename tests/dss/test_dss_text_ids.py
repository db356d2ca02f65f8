"""An Id column typed string keeps its text ("007") in every DSS piece.

DSS guesses column types chunk by chunk: read with the guess, a chunk of digit-only ids
gives numbers, so "007" would become the item id "7" (and "007" beside "7" a repeated
id). The webapp, the sampler and the stopping-metric step must all name the row "007".
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataiku import fake

from assisted_labeling.project import Principal

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "custom-recipes" / "active-learning-query-sampler" / "recipe.py"
ALICE = Principal("alice", "annotator")
IDS = ["007", "7", "0042"]


def _pool(dss) -> None:
    # Digit-only ids in a column typed string: read with DSS's guess, they are numbers.
    dss.create_dataset("reviews", pd.DataFrame({"rid": IDS, "text": ["a", "b", "c"]}))
    assert dss.dataset("reviews").schema[0] == {"name": "rid", "type": "string"}


def test_the_webapp_names_items_by_the_id_text(dss, open_labeling, config_4x):
    _pool(dss)
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    webapp = open_labeling({**config_4x, "id_column": "rid"})
    items = webapp.project.next_items(ALICE, 5)
    assert sorted(i["id"] for i in items) == sorted(IDS)
    assert sorted(i["data"]["rid"] for i in items) == sorted(IDS)
    webapp.project.annotate(ALICE, {"item_id": "007", "label": "pos"})
    assert webapp.sync.flush() == 1
    metadata = dss.dataset("labels_metadata")
    assert [c["type"] for c in metadata.schema if c["name"] == "data_id"] == ["string"]
    import dataiku

    stored = dataiku.Dataset("labels_metadata").get_dataframe(infer_with_pandas=False)
    assert stored["data_id"].tolist() == ["007"]
    labels = dataiku.Dataset("labels").get_dataframe(infer_with_pandas=False)
    assert labels["rid"].tolist() == ["007"]


def _model(dss) -> list:
    scored: list = []

    def probabilities(df: pd.DataFrame) -> np.ndarray:
        scored.extend(df["rid"].tolist())
        p = np.array([{"007": 0.5, "7": 0.6, "0042": 0.9}[r] for r in df["rid"]])
        return np.column_stack([1 - p, p])

    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion("v1", probabilities,
                                                            active=True)])
    return scored


def _sample(dss, labeled: str | None = None) -> None:
    """Run the query sampler on the pool by its Id column, with a metadata input naming
    the item ``labeled`` when given."""
    dss.create_dataset("queries")
    dss.recipe_inputs = {"saved_model": ["clf"], "unlabeled_samples": ["reviews"]}
    if labeled is not None:
        dss.create_dataset("meta", pd.DataFrame({
            "date": pd.to_datetime(["2024-01-01"], utc=True), "data_id": [labeled],
            "comment": "", "session": 1, "status": ["LABELED"], "annotator": ["alice"],
            "label": ["pos"], "label_id": [1]}))
        dss.recipe_inputs["metadata"] = ["meta"]
    dss.recipe_outputs = {"queries": ["queries"]}
    dss.recipe_config = {"strategy": "confidence", "id_column": "rid", "cold_start": False}
    runpy.run_path(str(RECIPE))


def test_the_sampler_keeps_the_id_text_and_leaves_out_labeled_rows(dss):
    _pool(dss)
    scored = _model(dss)
    _sample(dss, labeled="007")
    assert sorted(scored) == ["0042", "7"]  # the model sees the ids as stored
    import dataiku

    queries = dataiku.Dataset("queries").get_dataframe(infer_with_pandas=False)
    assert queries["rid"].tolist() == ["7", "0042"]


def test_the_webapp_ranks_by_the_samplers_queries(dss, open_labeling, config_4x):
    _pool(dss)
    _model(dss)
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    _sample(dss)
    webapp = open_labeling({**config_4x, "id_column": "rid", "queries_ds": "queries"})
    items = webapp.project.next_items(ALICE, 3)
    assert [i["id"] for i in items] == ["007", "7", "0042"]
    assert [i["uncertainty"] for i in items] == pytest.approx([0.5, 0.4, 0.1])


def test_the_step_samples_rows_no_metadata_row_names(dss):
    from assisted_labeling.dku.loop import unlabeled_sample

    _pool(dss)
    import dataiku

    sample = unlabeled_sample(dataiku.Dataset("reviews"), {"007", "0042"}, id_column="rid",
                              size=10, seed=0, chunksize=10)
    assert sample["rid"].tolist() == ["7"]


def test_rows_labeled_with_4x_are_still_found_by_its_hash_of_the_guessed_row(
        dss, v4_row_ids):
    # 4.x hashed rows as DSS guessed them (7 for "007"); the id column is text now.
    _pool(dss)
    scored = _model(dss)
    v4 = v4_row_ids("reviews")
    _sample(dss, labeled=v4[2])
    assert sorted(scored) == ["007", "7"]


def test_pool_reads_that_do_not_pair_up_are_an_error_not_other_rows_ids(
        dss, reversed_unguessed_reads):
    import dataiku

    from assisted_labeling.dku import datasets as dsio
    from assisted_labeling.errors import LabelingError

    _pool(dss)
    reversed_unguessed_reads()
    with pytest.raises(LabelingError, match="another order"):
        list(dsio.iter_pool_frames(dataiku.Dataset("reviews"), chunksize=10,
                                   id_column="rid"))


def test_a_text_id_column_read_as_text_by_dss_is_read_once(dss, monkeypatch):
    import dataiku

    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("reviews", pd.DataFrame({"rid": ["007", "x7"], "text": ["a", "b"]}))
    reads = []
    real = dsio.iter_frames
    monkeypatch.setattr(dsio, "iter_frames",
                        lambda *a, **k: reads.append(k) or real(*a, **k))
    frames = list(dsio.iter_pool_frames(dataiku.Dataset("reviews"), chunksize=10,
                                        id_column="rid"))
    assert frames[0]["rid"].tolist() == ["007", "x7"] and len(reads) == 1


def test_the_4x_hash_recomputes_the_guess_of_ids_as_pandas_makes_it():
    """pandas guesses whole numbers as int64, then uint64, then text past 64 bits."""
    import io

    from assisted_labeling.dku.legacy import _as_guessed

    for ids in (["99999999999999999999999", "1"], ["18446744073709551615", "1"],
                ["10000000000000000000", "2"], ["-9999999999999999999", "3"],
                ["00000000000000000001", "4"], ["007", "1"], ["7", None], ["1.50", "2"]):
        frame = pd.DataFrame({"rid": ids, "x": [1, 2]}, dtype=object)
        guessed = pd.read_csv(io.StringIO(frame.to_csv(index=False)))["rid"]
        mine = _as_guessed(frame, "rid")["rid"]
        assert mine.tolist() == guessed.tolist() or (
            mine.isna().tolist() == guessed.isna().tolist()), ids
        assert mine.dtype == guessed.dtype, ids


@pytest.mark.parametrize("other", [
    {"text": ["row of 007", "row of 7"]},
    {"stars": [1.5, 4.5], "text": ["row of 007", "row of 7"]},
])
def test_ids_that_read_alike_swapped_by_another_order_are_found_out(
        dss, reversed_unguessed_reads, other):
    """7 is "007" and "7" alike: a second read in another order is told by another
    column, not taken for the same rows with their ids swapped."""
    import dataiku

    from assisted_labeling.config import Category, LabelingConfig
    from assisted_labeling.dku import datasets as dsio
    from assisted_labeling.errors import LabelingError

    dss.create_dataset("reviews", pd.DataFrame({"rid": ["007", "7"], **other}))
    reversed_unguessed_reads()
    with pytest.raises(LabelingError, match="another order"):
        list(dsio.iter_pool_frames(dataiku.Dataset("reviews"), chunksize=10,
                                   id_column="rid"))
    config = LabelingConfig("tabular", (Category("pos"), Category("neg")), id_column="rid")
    with pytest.raises(LabelingError, match="another order"):
        list(dsio.iter_items(dataiku.Dataset("reviews"), config, chunksize=10))


def test_items_read_their_text_id_and_other_text_in_one_more_read(dss, monkeypatch):
    import dataiku

    from assisted_labeling.config import Category, LabelingConfig
    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("reviews", pd.DataFrame({"rid": [f"{i:03d}" for i in range(30)],
                                                "zip": [f"{i:05d}" for i in range(30)]}))
    reads = []
    real = dsio.iter_frames
    monkeypatch.setattr(dsio, "iter_frames",
                        lambda *a, **k: reads.append(k) or real(*a, **k))
    config = LabelingConfig("tabular", (Category("pos"), Category("neg")), id_column="rid")
    items = list(dsio.iter_items(dataiku.Dataset("reviews"), config, chunksize=10))
    assert [i.key for i in items][:2] == ["000", "001"]
    assert [i.data["zip"] for i in items][:2] == ["00000", "00001"]
    assert len(reads) == 2


def test_a_number_column_with_a_cell_that_is_no_number_does_not_stop_the_read(dss):
    """Read by its schema type, a decimal column fails on "unknown": the pairing is
    checked on text columns only."""
    import dataiku

    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("reviews", pd.DataFrame({"rid": ["007", "7"],
                                                "score": [1.5, 2.5]}))
    dss.dataset("reviews").schema[1]["type"] = "double"
    (dss.part_files("reviews")[0]).write_text("007,1.5\n7,unknown\n")  # parts: no header
    frames = list(dsio.iter_pool_frames(dataiku.Dataset("reviews"), chunksize=10,
                                        id_column="rid"))
    assert frames[0]["rid"].tolist() == ["007", "7"]
