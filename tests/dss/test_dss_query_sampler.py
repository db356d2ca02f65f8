"""The active-learning query sampler recipe on the fake DSS (a saved model with fixed
probabilities, used through ``get_predictor().predict``)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataiku import fake

from assisted_labeling.dku.sampler import run_query_sampler
from assisted_labeling.errors import ConfigError, LabelingError
from assisted_labeling.project import Principal
from assisted_labeling.sources import RowIdentifier, frame_rows

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "custom-recipes" / "active-learning-query-sampler" / "recipe.py"
SESSION = "ML-ASSISTED-LABELING__queries__session"

# p(pos) per row id; confidence uncertainty 1 - max(p, 1 - p).
P_POS = {10: 0.9, 11: 0.6, 12: 0.5, 13: 0.2, 14: 0.7}
BY_CONFIDENCE = [12, 11, 14, 13, 10]  # uncertainties 0.5, 0.4, 0.3, 0.2, 0.1


class FixedModel:
    """A saved-model version's probabilities by row id, recording what it scored."""

    def __init__(self, key: str = "id", table: dict = P_POS) -> None:
        self.key = key
        self.table = table
        self.scored: list = []

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        ids = df[self.key].tolist()
        self.scored.extend(ids)
        pos = np.array([self.table[i] for i in ids], dtype=float)
        return np.column_stack([1 - pos, pos])


def meta(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Metadata rows ``(data_id, annotator, status, date)`` in the webapp's 4.x schema."""
    return pd.DataFrame({
        "date": pd.to_datetime([r[3] for r in rows], utc=True),
        "data_id": [r[0] for r in rows], "comment": "", "session": 1,
        "status": [r[2] for r in rows], "annotator": [r[1] for r in rows],
        "label": ["pos" if r[2] == "LABELED" else None for r in rows],
        "label_id": range(1, len(rows) + 1)})


@pytest.fixture
def model(dss) -> FixedModel:
    dss.create_dataset("pool", pd.DataFrame({"id": list(P_POS), "text": list("abcde")}))
    dss.create_dataset("queries")  # a recipe output: no schema before the first run
    scorer = FixedModel()
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion("v1", scorer, active=True)])
    return scorer


def run(dss, config=None, *, unlabeled="pool", metadata=None) -> pd.DataFrame:
    """Run recipe.py as DSS would, with its roles; returns the queries dataset."""
    dss.recipe_inputs = {"saved_model": ["clf"], "unlabeled_samples": [unlabeled]}
    if metadata:
        dss.recipe_inputs["metadata"] = [metadata]
    dss.recipe_outputs = {"queries": ["queries"]}
    dss.recipe_config = {"strategy": "confidence", "id_column": "id"} if config is None \
        else config
    runpy.run_path(str(RECIPE))
    return dss.table("queries")


def session(dss) -> int | None:
    return dss.project_variables()["standard"].get(SESSION)


# -- ranking and output -----------------------------------------------------------------
def test_queries_are_the_rows_plus_uncertainty_and_session_most_uncertain_first(dss, model):
    out = run(dss)
    assert list(out.columns) == ["id", "text", "uncertainty", "model_uncertainty", "session"]
    assert out["id"].tolist() == BY_CONFIDENCE
    assert out["uncertainty"].tolist() == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1])
    # No metadata, no cold start: the queue's order is the model's own uncertainty.
    assert out["model_uncertainty"].tolist() == out["uncertainty"].tolist()
    assert out["session"].tolist() == [1] * 5
    assert [c["type"] for c in dss.dataset("queries").schema] == [
        "bigint", "string", "double", "double", "bigint"]


@pytest.mark.parametrize("strategy, expected", [
    ("margin", [12, 11, 14, 13, 10]),  # 1 - |2p - 1|: 1.0, 0.8, 0.6, 0.4, 0.2
    ("entropy", [12, 11, 14, 13, 10]),
])
def test_other_strategies(dss, model, strategy, expected):
    out = run(dss, {"strategy": strategy})
    assert out["id"].tolist() == expected
    if strategy == "margin":
        assert out["uncertainty"].tolist() == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


def test_random_does_not_call_the_model_and_keeps_every_row(dss, model):
    out = run(dss, {"strategy": "random"})
    assert sorted(out["id"]) == sorted(P_POS)
    assert out["uncertainty"].is_monotonic_decreasing
    assert model.scored == []


def test_diverse_margin_returns_every_row_in_batches(dss, model):
    out = run(dss, {"strategy": "diverse_margin", "diversity_batch_size": 2.0})
    assert sorted(out["id"]) == sorted(P_POS)
    assert out["uncertainty"].is_monotonic_decreasing  # the webapp serves in this order
    assert out["uncertainty"].between(0, 1).all()


def test_diverse_margin_does_not_fill_a_batch_with_near_duplicates(dss):
    # The recipe clusters the class probabilities: rows 1-4 are four near-copies of the
    # most uncertain point, row 5 hesitates between two other classes, 6-7 are sure.
    probas = {1: (0.50, 0.49, 0.01), 2: (0.501, 0.489, 0.01), 3: (0.499, 0.491, 0.01),
              4: (0.502, 0.488, 0.01), 5: (0.01, 0.45, 0.54), 6: (0.98, 0.01, 0.01),
              7: (0.01, 0.98, 0.01)}
    dss.create_dataset("pool", pd.DataFrame({"id": list(probas), "text": list("abcdefg")}))
    dss.create_dataset("queries")
    dss.add_model("clf", ["a", "b", "c"], [fake.ModelVersion(
        "v1", lambda df: np.array([probas[i] for i in df["id"]]), active=True)])
    margin = run(dss, {"strategy": "margin", "id_column": "id"})
    assert margin["id"].tolist()[:2] == [3, 1]  # two near-copies: one teaches the other
    diverse = run(dss, {"strategy": "diverse_margin", "diversity_batch_size": 2.0,
                        "id_column": "id"})
    assert diverse["id"].tolist()[:2] == [3, 5]
    assert diverse["uncertainty"].is_monotonic_decreasing
    # What labelers see is each row's own margin, not the rank it was given.
    own = {i: 1 - (sorted(p)[-1] - sorted(p)[-2]) for i, p in probas.items()}
    assert diverse["model_uncertainty"].tolist() == pytest.approx(
        [own[i] for i in diverse["id"]])


def test_max_queries_keeps_the_most_uncertain(dss, model):
    assert run(dss, {"max_queries": 2.0})["id"].tolist() == [12, 11]  # DSS sends 2.0


@pytest.mark.parametrize("value", [None, 0, ""])
def test_empty_or_zero_max_queries_keeps_every_row(dss, model, value):
    assert len(run(dss, {"max_queries": value})) == 5


def test_chunked_reading_gives_the_same_queries(dss, model):
    whole = run_query_sampler({}, model="clf", unlabeled="pool", queries="queries")
    small = run_query_sampler({}, model="clf", unlabeled="pool", queries="queries",
                              chunksize=2)
    pd.testing.assert_frame_equal(whole.drop(columns="session"),
                                  small.drop(columns="session"))


def test_rows_the_model_does_not_score_come_last(dss, model):
    model.table = {**P_POS, 12: float("nan")}  # e.g. dropped by the model's preprocessing
    out = run(dss)
    assert out["id"].tolist() == [11, 14, 13, 10, 12]
    assert out["uncertainty"].iloc[-1] == 0.0


# -- 4.x configurations -----------------------------------------------------------------
def test_a_4x_config_runs_unchanged(dss, model):
    # As the 4.x form saved it: its GPU options are ignored; no metadata input, no id.
    out = run(dss, {"strategy": "margin", "should_use_gpu": False, "list_gpu": "",
                    "gpu_allocation": 0.5})
    assert out["id"].tolist() == [12, 11, 14, 13, 10]
    assert session(dss) == 1


def test_an_empty_config_uses_the_4x_default_strategy(dss, model):
    assert run(dss, {})["uncertainty"].tolist() == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1])


def test_a_4x_session_variable_is_continued(dss, model):
    dss.project_variables()["standard"][SESSION] = 7
    assert run(dss)["session"].tolist() == [8] * 5
    assert session(dss) == 8


# -- session ----------------------------------------------------------------------------
def test_each_successful_run_increments_the_session_once(dss, model):
    dss.project_variables()["standard"]["other"] = "kept"
    dss.project_variables()["local"]["mine"] = 1
    assert run(dss)["session"].iloc[0] == 1
    assert run(dss)["session"].iloc[0] == 2
    variables = dss.project_variables()
    # The sampler also records the saved model that ranked the queries.
    assert variables["standard"] == {"other": "kept", SESSION: 2,
                                     "ML-ASSISTED-LABELING__queries__model": "clf"}
    assert variables["local"] == {"mine": 1}


def test_a_session_kept_in_local_variables_stays_there(dss, model):
    dss.project_variables()["local"][SESSION] = 3
    run(dss)
    assert dss.project_variables()["local"][SESSION] == 4
    assert SESSION not in dss.project_variables()["standard"]


def test_a_failed_run_changes_neither_the_session_nor_the_queries(dss, model):
    run(dss)
    before = dss.table("queries")

    def broken(df):
        raise RuntimeError("feature 'text' missing")

    dss.model("clf").versions[0].proba = broken
    with pytest.raises(LabelingError, match="could not score the rows of .*pool.*'text'"):
        run(dss)
    assert session(dss) == 1
    pd.testing.assert_frame_equal(dss.table("queries"), before)


def test_the_session_is_counted_once_the_queries_are_whole(dss, model, monkeypatch):
    """The webapp re-ranks when the session variable changes: while the queries are
    written, it must still hold the last session, or the webapp would rank by a dataset
    half written and take that for the new session's ranking."""
    import dataiku

    run(dss)
    real = dataiku.Dataset.write_with_schema
    seen = []

    def write(self, df, dropAndCreate=False):
        seen.append(session(dss))
        real(self, df, dropAndCreate=dropAndCreate)

    monkeypatch.setattr(dataiku.Dataset, "write_with_schema", write)
    run(dss)
    assert seen == [1] and session(dss) == 2


def test_a_session_that_cannot_be_counted_says_what_it_means(dss, model, monkeypatch):
    import dataiku

    run(dss)

    def refused(self, variables):
        raise RuntimeError("Action forbidden")

    monkeypatch.setattr(dataiku.Project, "set_variables", refused)
    with pytest.raises(LabelingError, match="could not be counted .*Action forbidden.*keeps "
                                            "its ranking"):
        run(dss)
    assert session(dss) == 1


def test_a_model_the_plugins_environment_cannot_load_says_why(dss, model):
    """A model trained in a visual ML code environment with a package the plugin's lacks
    fails to unpickle: the error says where the model is loaded and what to do."""
    dss.model("clf").versions[0].requires = ("a_package_of_the_visual_ml_env",)
    with pytest.raises(ConfigError) as caught:
        run(dss)
    message = caught.value.message
    assert "cannot load the saved model LABELING.clf" in message
    assert "No module named 'a_package_of_the_visual_ml_env'" in message
    assert "the plugin's code environment" in message
    assert session(dss) is None


def test_a_missing_model_is_told_without_the_code_environment_hint(dss, model):
    dss.recipe_inputs = {"saved_model": ["nope"], "unlabeled_samples": ["pool"]}
    dss.recipe_outputs = {"queries": ["queries"]}
    dss.recipe_config = {"strategy": "confidence", "id_column": "id"}
    with pytest.raises(ConfigError) as caught:
        runpy.run_path(str(RECIPE))
    assert "cannot load the saved model" in caught.value.message
    assert "code environment" not in caught.value.message


# -- labeled items ----------------------------------------------------------------------
def test_labeled_items_are_left_out_and_not_scored(dss, model):
    dss.create_dataset("meta", meta([
        ("10", "alice", "LABELED", "2024-01-01"),
        ("10", "alice", "SKIPPED", "2024-01-02"),  # turned into a skip: unlabeled again
        ("11", "alice", "SKIPPED", "2024-01-01"),
        ("11", "alice", "LABELED", "2024-01-03"),  # skipped, then labeled
        ("12", "bob", "LABELED", "2024-01-01"),
        ("12", "alice", "SKIPPED", "2024-01-02"),  # labeled by one annotator is enough
        ("13", "alice", "LABELED", "2024-01-05"),
        ("13", "alice", "SKIPPED", "2024-01-05"),  # same date: the later row wins
        ("14", "carol", "SKIPPED", "2024-01-01"),  # skipped only
    ]))
    out = run(dss, metadata="meta")
    assert out["id"].tolist() == [14, 13, 10]
    assert sorted(model.scored) == [10, 13, 14]


@pytest.mark.parametrize("annotators", ["empty", "no column"])
def test_labels_without_an_annotator_are_left_out_as_the_trigger_counts_them(
        dss, model, annotators):
    """Hand-made or imported metadata: a LABELED row is a label whoever gave it, for the
    sampler as for the every-nb-labeling trigger."""
    from assisted_labeling.dku.loop import every_n_labels_fire_state

    rows = meta([("10", "", "LABELED", "2024-01-01"), ("12", "", "LABELED", "2024-01-01"),
                 ("13", "", "SKIPPED", "2024-01-01")])
    if annotators == "no column":
        rows = rows.drop(columns="annotator")
    dss.create_dataset("meta", rows)
    out = run(dss, {"strategy": "confidence", "id_column": "id", "cold_start": False},
              metadata="meta")
    assert out["id"].tolist() == [11, 14, 13]
    assert every_n_labels_fire_state({"i_labeling_count": 2, "ds_metadata": "meta"})
    assert not every_n_labels_fire_state({"i_labeling_count": 3, "ds_metadata": "meta"})


def test_metadata_ids_are_compared_as_text(dss):
    # A text id column keeps "007"; the metadata's digit-only ids must stay text too.
    dss.create_dataset("pool", pd.DataFrame({"id": ["007", "x7"], "x": [1, 2]}))
    dss.create_dataset("queries")
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion(
        "v1", lambda df: np.tile([0.5, 0.5], (len(df), 1)), active=True)])
    dss.create_dataset("meta", meta([("007", "alice", "LABELED", "2024-01-01")]))
    assert run(dss, metadata="meta")["id"].tolist() == ["x7"]


def test_without_id_column_rows_are_recognized_by_the_webapps_content_ids(dss, model):
    ids = [row.key for row in frame_rows(dss.table("pool"), RowIdentifier())]
    dss.create_dataset("meta", meta([(ids[0], "alice", "LABELED", "2024-01-01"),
                                     (ids[2], "alice", "LABELED", "2024-01-01")]))
    out = run(dss, {"strategy": "confidence", "cold_start": False}, metadata="meta")
    assert out["id"].tolist() == [11, 14, 13]


@pytest.mark.parametrize("config", [{"strategy": "confidence"},
                                    {"strategy": "confidence", "id_column": "id"}])
def test_rows_labeled_with_4x_are_recognized_by_its_row_hash(dss, model, v4_row_ids, config):
    # An upgraded flow: the 4.x webapp named rows 10 and 12 by its hash of the row.
    v4 = v4_row_ids("pool")
    dss.create_dataset("meta", meta([(v4[0], "alice", "LABELED", "2021-01-01"),
                                     (v4[2], "alice", "LABELED", "2021-01-01"),
                                     (v4[4], "alice", "SKIPPED", "2021-01-01")]))
    out = run(dss, {**config, "cold_start": False}, metadata="meta")
    assert out["id"].tolist() == [11, 14, 13]
    assert sorted(model.scored) == [11, 13, 14]


def spread_pool_and_labels(dss, labeled: tuple[int, ...]) -> None:
    """41 rows whose p(pos) spreads over [0, 1] (confidence ranks those near 0.5 first),
    a model of 2 classes, and a metadata dataset with the ``labeled`` rows."""
    p_pos = {i: i / 40 for i in range(41)}
    dss.create_dataset("pool", pd.DataFrame({"id": list(p_pos), "x": 0.0}))
    dss.create_dataset("queries")
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion(
        "v1", FixedModel(table=p_pos), active=True)])
    dss.create_dataset("meta", meta([(str(i), "alice", "LABELED", "2024-01-01")
                                     for i in labeled]))


def test_cold_start_counts_the_labels_of_the_metadata(dss):
    spread_pool_and_labels(dss, (0, 40))
    config = {"strategy": "confidence", "id_column": "id", "diversity_batch_size": 8}
    plain = run(dss, {**config, "cold_start": False}, metadata="meta")["id"].tolist()
    assert set(plain[:8]) == set(range(16, 24))  # ties (0.4, 0.6) keep pool order
    cold = run(dss, config, metadata="meta")["id"].tolist()
    # 2 labels: 7 items typical of the pool's probabilities, then 1 by uncertainty.
    assert cold[7] == plain[0] and sorted(cold) == sorted(plain)
    assert min(cold[:7]) < 10 and max(cold[:7]) > 30
    # Without the metadata, the number of labels is unknown: no cold start.
    assert run(dss, config)["id"].tolist()[:8] == plain[:8]


def test_cold_start_goes_on_while_the_model_has_few_labels_per_class(dss):
    # 8 labels: enough for a batch of 4, fewer than 5 for each of the model's 2 classes.
    spread_pool_and_labels(dss, (0, 1, 2, 3, 37, 38, 39, 40))
    config = {"strategy": "confidence", "id_column": "id", "diversity_batch_size": 4}
    plain = run(dss, {**config, "cold_start": False}, metadata="meta")["id"].tolist()
    cold = run(dss, config, metadata="meta")["id"].tolist()
    assert cold[2:4] == plain[:2] and sorted(cold) == sorted(plain)
    assert not set(cold[:2]) & set(plain[:4])  # 2 typical items first


def test_an_empty_metadata_dataset_excludes_nothing(dss, model):
    dss.create_dataset("meta")  # created by the webapp, nothing labeled yet
    assert len(run(dss, metadata="meta")) == 5


def test_when_every_item_is_labeled_the_queries_are_empty_with_their_columns(dss, model):
    dss.create_dataset("meta", meta([(str(i), "alice", "LABELED", "2024-01-01")
                                     for i in P_POS]))
    run(dss)  # a first run: session 1
    out = run(dss, metadata="meta")
    assert len(out) == 0
    assert list(out.columns) == ["id", "text", "uncertainty", "model_uncertainty", "session"]
    assert session(dss) == 1  # no label can follow an empty table: no new session


def test_the_webapp_serves_the_top_query_and_never_the_labeled_item(dss, open_labeling):
    """The loop end to end: label in the webapp, sample, the webapp ranks by the queries."""
    dss.create_dataset("pool", pd.DataFrame({"text": list("abcde"), "n": list(P_POS)}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    dss.create_dataset("queries")
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion("v1", FixedModel("n"),
                                                            active=True)])
    webapp = open_labeling({"unlabeled": "pool", "labels_ds": "labels",
                            "metadata_ds": "labels_metadata", "queries_ds": "queries",
                            "categories": [{"from": "neg"}, {"from": "pos"}]})
    alice = Principal("alice", "annotator")
    labeled = webapp.project.next_items(alice, 1)[0]
    webapp.project.annotate(alice, {"item_id": labeled["id"], "label": "pos"})
    webapp.sync.flush()

    out = run(dss, {"strategy": "confidence"}, metadata="labels_metadata")
    assert labeled["data"]["n"] not in out["n"].tolist()
    assert len(out) == 4
    webapp.refresh_queue(force=True)
    served = webapp.project.next_items(Principal("bob", "annotator"), 1)[0]
    assert served["data"]["n"] == out["n"].iloc[0]


def test_rows_named_by_their_content_keep_their_rank_whatever_their_floats(
        dss, open_labeling, caplog):
    """Without an Id column an item is named by its values. Floats of full precision
    come back from the queries' text a bit off with pandas' default parser (about 1 in
    300, such as these four): read back exactly, every query ranks its item."""
    x = [*np.random.default_rng(3).normal(size=56), 1.9783288003861852, 2.4462100833030638,
         -3.7415191085327947e-06, 1.8119303759064052]
    dss.create_dataset("pool", pd.DataFrame({"text": [f"t{i}" for i in range(60)], "x": x}))
    for name in ("labels", "labels_metadata", "queries"):
        dss.create_dataset(name)

    def proba(frame: pd.DataFrame) -> np.ndarray:
        pos = 1 / (1 + np.exp(-frame["x"].to_numpy(dtype=float)))
        return np.column_stack([1 - pos, pos])

    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion("v1", proba, active=True)])
    out = run(dss, {"strategy": "confidence"})
    assert len(out) == 60
    webapp = open_labeling({"unlabeled": "pool", "labels_ds": "labels",
                            "metadata_ds": "labels_metadata", "queries_ds": "queries",
                            "categories": [{"from": "neg"}, {"from": "pos"}]})
    with caplog.at_level("WARNING"):
        webapp.refresh_queue(force=True)
    assert "no row of" not in caplog.text and webapp.queue_warnings() == []
    served = webapp.project.next_items(Principal("bob", "annotator"), 50)
    assert [i["data"]["text"] for i in served] == out["text"].tolist()[:50]
    assert all(i["uncertainty"] is not None for i in served)


# -- folders ----------------------------------------------------------------------------
def test_a_folder_is_scored_through_a_path_column(dss):
    dss.create_folder("images", files={"/cats/1.png": b"1", "/cats/2.png": b"2",
                                       "/dogs/3.png": b"3"})
    dss.create_dataset("queries")
    scorer = FixedModel("path", {"/cats/1.png": 0.9, "/cats/2.png": 0.5, "/dogs/3.png": 0.7})
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion("v1", scorer, active=True)])
    dss.create_dataset("meta", meta([("/dogs/3.png", "alice", "LABELED", "2024-01-01")]))
    out = run(dss, {"strategy": "confidence"}, unlabeled="images", metadata="meta")
    assert list(out.columns) == ["path", "uncertainty", "model_uncertainty", "session"]
    assert out["path"].tolist() == ["/cats/2.png", "/cats/1.png"]
    assert out["uncertainty"].tolist() == pytest.approx([0.5, 0.1])
    assert scorer.scored == ["/cats/1.png", "/cats/2.png"]


def test_a_folder_with_a_model_that_needs_other_features_fails_clearly(dss, model):
    dss.create_folder("images", files={"/a.png": b"1"})
    with pytest.raises(LabelingError) as caught:
        run(dss, {"strategy": "confidence"}, unlabeled="images")
    assert "could not score the files of the folder" in caught.value.message
    assert 'given a "path" column' in caught.value.message
    assert session(dss) is None


# -- clear errors -----------------------------------------------------------------------
@pytest.mark.parametrize("config, words", [
    ({"strategy": "smallest"}, 'Setting "Query strategy": choose one of confidence, margin'),
    ({"id_column": "rid"}, 'Setting "Id column": LABELING.pool has no such column'),
    ({"max_queries": -1}, 'Setting "Maximum number of queries": expected a whole number'),
    ({"max_queries": 2.5}, 'Setting "Maximum number of queries"'),
    ({"strategy": "diverse_margin", "diversity_batch_size": 0}, 'Setting "Batch size"'),
    ({"cold_start": "sometimes"}, 'Setting "Cold start": expected true or false'),
])
def test_bad_settings_name_the_setting(dss, model, config, words):
    with pytest.raises(ConfigError, match=words):
        run(dss, config)
    assert session(dss) is None


@pytest.mark.parametrize("with_metadata", [True, False])
def test_a_duplicated_id_is_reported_on_the_id_column_setting(dss, model, with_metadata):
    # The webapp refuses such an id column: so does the sampler, metadata input or not.
    dss.create_dataset("pool", pd.DataFrame({"id": [10, 11, 10], "text": list("abc")}))
    dss.create_dataset("meta", meta([("11", "alice", "LABELED", "2024-01-01")]))
    with pytest.raises(ConfigError, match='Setting "Id column": .*"10" appears twice'):
        run(dss, metadata="meta" if with_metadata else None)
    assert session(dss) is None


def test_an_id_column_named_with_spaces_is_taken_as_the_picker_sends_it(dss, model):
    dss.create_dataset("pool", pd.DataFrame({"id ": list(P_POS), "text": list("abcde")}))
    model.key = "id "
    dss.create_dataset("meta", meta([("11", "alice", "LABELED", "2024-01-01")]))
    out = run(dss, {"strategy": "confidence", "id_column": "id "}, metadata="meta")
    assert out["id "].tolist() == [12, 14, 13, 10]


def test_a_pool_that_is_a_queries_dataset_is_refused(dss, model):
    dss.create_dataset("pool", pd.DataFrame({"id": [10], "uncertainty": [0.3]}))
    with pytest.raises(ConfigError, match="already has a column uncertainty"):
        run(dss)


def test_a_regression_model_is_refused(dss, model, monkeypatch):
    import dataiku

    class Regressor:
        def predict(self, df, with_probas=True):
            return pd.DataFrame({"prediction": [1.5] * len(df)}, index=df.index)

    monkeypatch.setattr(dataiku.Model, "get_predictor",
                        lambda self, version_id=None: Regressor())
    with pytest.raises(ConfigError, match="only classification models"):
        run(dss)


def test_a_missing_metadata_column_is_explained(dss, model):
    dss.create_dataset("meta", pd.DataFrame({"data_id": ["10"], "label": ["pos"]}))
    with pytest.raises(ConfigError, match='Input "Labeling metadata": .*no column status'):
        run(dss, metadata="meta")


def test_a_pool_without_rows_is_refused(dss, model):
    dss.create_dataset("pool", pd.DataFrame({"id": [], "text": []}))
    with pytest.raises(ConfigError, match='"Unlabeled Data": LABELING.pool has no rows'):
        run(dss)
    assert session(dss) is None


def test_an_empty_folder_is_refused(dss, model):
    dss.create_folder("images", files={})
    with pytest.raises(ConfigError, match="the folder .*images has no files"):
        run(dss, unlabeled="images")
    assert session(dss) is None


# -- how many labeled items were found ----------------------------------------------------
def _logged(caplog, level: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == level]


def test_the_log_counts_the_labeled_items_found_in_the_pool(dss, model, caplog):
    # "99" is labeled in the metadata but no longer in the pool: 2 of 3 are left out.
    dss.create_dataset("meta", meta([(i, "alice", "LABELED", "2024-01-01")
                                     for i in ("10", "11", "99")]))
    with caplog.at_level("INFO"):
        out = run(dss, metadata="meta")
    assert out["id"].tolist() == [12, 14, 13]
    assert any("2 of the 3 labeled items were found in LABELING.pool and left out" in m
               for m in _logged(caplog, "INFO"))
    assert not any("Id column" in m for m in _logged(caplog, "WARNING"))


@pytest.mark.parametrize("webapp_id, recipe_id", [("id", None), (None, "id")])
def test_labeled_ids_matching_no_row_get_a_warning_naming_the_id_column(
        dss, model, caplog, webapp_id, recipe_id):
    # The webapp names its rows by one scheme (its "Id column" setting), the recipe by
    # another: no labeled row is recognised, and they would all be queried again.
    ids = [row.key for row in frame_rows(dss.table("pool"), RowIdentifier(webapp_id))]
    dss.create_dataset("meta", meta([(i, "alice", "LABELED", "2024-01-01")
                                     for i in ids[:2]]))
    config = {"strategy": "confidence", "cold_start": False}
    if recipe_id:
        config["id_column"] = recipe_id
    with caplog.at_level("INFO"):
        out = run(dss, config, metadata="meta")
    assert len(out) == 5  # not an error: a pool may already leave the labeled rows out
    assert any("0 of the 2 labeled items were found in LABELING.pool" in m
               for m in _logged(caplog, "INFO"))
    warnings = [m for m in _logged(caplog, "WARNING") if 'Setting "Id column"' in m]
    assert len(warnings) == 1
    assert "none of the 2 labeled items" in warnings[0]
    assert "the labeling webapp" in warnings[0]
    assert "already leaves out the labeled rows" in warnings[0]


def test_labeled_files_missing_from_the_folder_get_a_warning(dss, caplog):
    dss.create_folder("images", files={"/cats/1.png": b"1", "/cats/2.png": b"2"})
    dss.create_dataset("queries")
    scorer = FixedModel("path", {"/cats/1.png": 0.9, "/cats/2.png": 0.5})
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion("v1", scorer, active=True)])
    dss.create_dataset("meta", meta([("/dogs/3.png", "alice", "LABELED", "2024-01-01")]))
    with caplog.at_level("INFO"):
        out = run(dss, {"strategy": "confidence"}, unlabeled="images", metadata="meta")
    assert len(out) == 2
    warnings = [m for m in _logged(caplog, "WARNING") if "none of the 1 labeled" in m]
    assert len(warnings) == 1 and "folder" in warnings[0]
    assert "Id column" not in warnings[0]


# -- rows the model's preprocessing drops --------------------------------------------------
def test_a_chunk_whose_rows_the_model_all_drops_comes_last(dss, caplog):
    # DSS's predictor answers a chunk whose rows it all drops with a lone "prediction"
    # column of NaN: those rows are unscored, not a sign of a regression model.
    dss.create_dataset("pool", pd.DataFrame({"id": range(6),
                                             "x": [np.nan, np.nan, 1.0, 2.0, np.nan, 3.0]}))
    dss.create_dataset("queries")
    probas = {2: (0.5, 0.3, 0.2), 3: (0.9, 0.05, 0.05), 5: (0.4, 0.4, 0.2)}
    dss.add_model("clf", ["a", "b", "c"], [fake.ModelVersion(
        "v1", lambda df: np.array([probas[i] for i in df["id"]]), active=True,
        drop_row_features=("x",))])
    with caplog.at_level("WARNING"):
        out = run_query_sampler({"strategy": "confidence", "id_column": "id"}, model="clf",
                                unlabeled="pool", queries="queries", chunksize=2)
    assert out["id"].tolist()[:3] == [5, 2, 3]
    assert sorted(out["id"].tolist()[3:]) == [0, 1, 4]
    assert out["uncertainty"].tolist()[3:] == [0.0, 0.0, 0.0]
    assert any("3 items could not be scored by the model" in m
               for m in _logged(caplog, "WARNING"))


def test_the_strategy_choices_say_what_they_rank_first():
    form = json.loads((RECIPE.parent / "recipe.json").read_text())
    strategy = next(p for p in form["params"] if p["name"] == "strategy")
    labels = {c["value"]: c["label"] for c in strategy["selectChoices"]}
    # Each strategy asks first for the items the model is least sure of.
    assert labels["confidence"] == "Lowest confidence sampling"
    assert labels["margin"] == "Smallest margin sampling"
    assert labels["entropy"] == "Highest entropy sampling"
    assert labels["diverse_margin"].startswith("Smallest margin")


def test_a_regression_model_that_drops_every_row_is_still_refused(dss, model, monkeypatch):
    import dataiku

    class Regressor:
        def get_classes(self):
            return None  # DSS: "None if a regressor"

        def predict(self, df, with_probas=True):
            return pd.DataFrame(columns=["prediction"], index=df.index)  # every row dropped

    monkeypatch.setattr(dataiku.Model, "get_predictor",
                        lambda self, version_id=None: Regressor())
    with pytest.raises(ConfigError, match="only classification models"):
        run(dss)


# Codes whose type DSS guesses per chunk: "0042" is text beside "AB-7", a number alone.
CODES = {"0042": 0.5, "AB-7": 0.9, "0107": 0.52, "XZ-1": 0.95, "0009": 0.99}
MIXED = {"0042": 0.5, "3": 0.9, "AB-7": 0.6, "": 0.8, "TRUE": 0.7, "4.5": 0.55}
# In chunks of 2: text | numbers 4.5 and 7.0 | booleans, mixed in the queries.
CHUNKED = {"AB-7": 0.9, "x": 0.6, "4.5": 0.52, "7": 0.55, "TRUE": 0.5, "FALSE": 0.8}


@pytest.mark.parametrize("codes, config", [
    (CODES, {"strategy": "confidence", "max_queries": 2}),  # the two digit-only codes
    (CODES, {"strategy": "confidence", "id_column": "sku"}),
    (MIXED, {"strategy": "confidence"}),
    (CHUNKED, {"strategy": "confidence"}),
])
@pytest.mark.parametrize("chunksize", [10_000, 2])
def test_every_query_finds_its_item_whatever_types_dss_guesses(dss, open_labeling, codes,
                                                              config, chunksize):
    """The queries are in another order than the pool, so DSS guesses other types for
    their chunks; each query must still name its item, and the queue follow them."""
    dss.create_dataset("pool", pd.DataFrame({"sku": list(codes),
                                             "n": range(len(codes))}, dtype=object))
    for name in ("labels", "labels_metadata", "queries"):
        dss.create_dataset(name)
    p_pos = dict(enumerate(codes.values()))
    dss.add_model("clf", ["neg", "pos"],
                  [fake.ModelVersion("v1", FixedModel("n", p_pos), active=True)])
    # The recipe and the webapp cut the pool at the same rows (dsio.POOL_CHUNK).
    run_query_sampler(config, model="clf", unlabeled="pool", queries="queries",
                      chunksize=chunksize)
    webapp = open_labeling({"unlabeled": "pool", "labels_ds": "labels",
                            "metadata_ds": "labels_metadata", "queries_ds": "queries",
                            "id_column": config.get("id_column"),
                            "categories": [{"from": "neg"}, {"from": "pos"}]},
                           chunksize=chunksize)
    webapp.refresh_queue(force=True)
    assert webapp.queue_warnings() == []
    served = webapp.project.next_items(Principal("bob", "annotator"), len(codes))
    ranked = sorted(range(len(codes)), key=lambda n: abs(p_pos[n] - 0.5))
    scored = len(dss.table("queries"))
    assert [int(i["data"]["n"]) for i in served][:scored] == ranked[:scored]


def test_class_scores_that_do_not_sum_to_1_are_rescaled_and_said(dss, caplog):
    """A one-vs-rest or MLflow model: the user cannot change what it answers."""
    dss.create_dataset("pool", pd.DataFrame({"x": [1, 2, 3]}))
    dss.create_dataset("queries")
    scores = {1: [0.5, 0.3, 0.3], 2: [0.9, 0.05, 0.05], 3: [0.2, 0.2, 0.2]}
    dss.add_model("clf", ["a", "b", "c"], [fake.ModelVersion(
        "v1", lambda df: np.array([scores[x] for x in df["x"]]), active=True)])
    out = run(dss, {"strategy": "margin"})
    assert out["x"].tolist() == [3, 1, 2]
    assert out["uncertainty"].iloc[0] == pytest.approx(1.0)  # three equal scores
    assert out["uncertainty"].iloc[1] == pytest.approx(1 - (0.5 - 0.3) / 1.1)
    assert "did not sum to 1 for 2 items" in caplog.text


def test_negative_class_scores_are_refused_naming_the_model(dss):
    dss.create_dataset("pool", pd.DataFrame({"x": [1, 2]}))
    dss.create_dataset("queries")
    dss.add_model("clf", ["a", "b"], [fake.ModelVersion(
        "v1", lambda df: np.tile([1.2, -0.2], (len(df), 1)), active=True)])
    with pytest.raises(ConfigError, match="Classifier Model.*negative class probabilities"):
        run(dss, {"strategy": "margin"})


@pytest.mark.parametrize("value", [2**63, 1e300, "9999999999999999999", -5])
def test_a_session_variable_no_counter_wrote_starts_again_at_one(dss, model, value):
    dss.project_variables()["standard"][SESSION] = value
    queries = run(dss)
    assert set(queries["session"]) == {1} and session(dss) == 1


@pytest.mark.parametrize("setting", [["margin"], {"margin": 1}])
def test_a_choice_setting_that_is_no_text_is_a_config_error(dss, model, setting):
    with pytest.raises(ConfigError, match="Query strategy"):
        run(dss, {"strategy": setting, "id_column": "id"})
