"""The stopping-metric step on the fake DSS, and the warnings the webapp shows from it."""

from __future__ import annotations

import runpy
from pathlib import Path

import dataiku
import numpy as np
import pandas as pd
import pytest
from dataiku import fake
from flask import Flask

from assisted_labeling.dku.datasets import POOL_CHUNK
from assisted_labeling.dku.loop import compute_labeling_metrics
from assisted_labeling.dku.webapp import setup_webapp
from assisted_labeling.errors import ConfigError, LabelingError
from assisted_labeling.sources import RowIdentifier, frame_rows

ROOT = Path(__file__).resolve().parents[2]
STEP = ROOT / "python-steps" / "stopping-metric" / "step.py"
METRICS = "ML-ASSISTED-LABELING__meta__metrics"


def meta_rows(data_ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2024-01-01"] * len(data_ids), utc=True),
        "data_id": data_ids, "comment": "", "session": 0, "status": "LABELED",
        "annotator": "alice", "label": "pos", "label_id": range(1, len(data_ids) + 1)})


class Seen:
    """A fake model version's probabilities, recording the rows it was asked to score."""

    def __init__(self, rule) -> None:
        self.rule = rule
        self.rows: list[list[int]] = []

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        self.rows.append(df["x"].tolist())
        pos = np.array([self.rule(x) for x in df["x"]], dtype=float)
        return np.column_stack([1 - pos, pos])


@pytest.fixture
def pool(dss):
    """Six unlabeled rows (ids 10..15); rows 10 and 15 are labeled already."""
    dss.create_dataset("pool", pd.DataFrame({"id": range(10, 16), "x": range(6)}))
    dss.create_dataset("meta", meta_rows(["10", "15"]))
    old = Seen(lambda x: 0.8)  # v1: "pos" everywhere
    new = Seen(lambda x: 0.9 if x < 3 else 0.3)  # v2: "neg" from x = 3 on
    dss.add_model("clf", ["neg", "pos"], [
        fake.ModelVersion("v1", old, train_date=1000, auc=0.70),
        fake.ModelVersion("v2", new, active=True, train_date=2000, auc=0.80),
    ])
    return old, new


def run(dss, **config) -> list:
    """Run step.py with the step settings (INT parameters arrive as floats) + changes."""
    dss.step_config = {"model": "clf", "unlabeled_select": "dataset",
                       "unlabeled_dataset": "pool", "id_column": "id", "metadata": "meta",
                       "n_samples": 1000.0, **config}
    runpy.run_path(str(STEP))
    return dss.project_variables()["standard"][METRICS]


def test_contradictions_between_the_previous_and_the_active_version(dss, pool):
    old, new = pool
    history = run(dss)
    # Unlabeled rows x = 1..4: v1 says pos for all, v2 says neg for x = 3, 4.
    assert history == [{"n_samples": 4, "contradictions": 0.5, "auc": 0.8,
                        "versionId": "v2", "n_compared": 4, "modelId": "clf"}]
    assert old.rows == new.rows == [[1, 2, 3, 4]]  # labeled rows 0 and 5 held out


def test_a_small_sample_is_seeded_and_scored_by_both_versions(dss, pool):
    old, new = pool
    first = run(dss, n_samples=2)[-1]
    assert first["n_samples"] == 2
    assert old.rows == new.rows and len(old.rows[0]) == 2
    assert not {0, 5} & set(old.rows[0])
    expected = sum(x >= 3 for x in old.rows[0]) / 2
    assert first["contradictions"] == expected
    run(dss, n_samples=2)
    assert old.rows[1] == old.rows[0]  # the same seed gives the same sample


def test_without_an_id_column_rows_are_recognized_by_the_webapps_content_ids(dss, pool):
    table = dss.table("pool")
    keys = [row.key for row in frame_rows(table, RowIdentifier(None))]
    dss.create_dataset("meta", meta_rows([keys[0], keys[1], keys[2]]))  # x = 0, 1, 2
    old, _ = pool
    history = run(dss, id_column="")
    assert old.rows == [[3, 4, 5]]
    assert history[-1]["contradictions"] == 1.0


def test_rows_labeled_with_4x_are_held_out_by_their_4x_ids(dss, pool, v4_row_ids):
    v4 = v4_row_ids("pool")
    dss.create_dataset("meta", meta_rows([v4[0], v4[5]]))  # x = 0 and 5, as 4.x named them
    old, _ = pool
    run(dss, id_column="")
    assert old.rows == [[1, 2, 3, 4]]


def test_the_first_version_records_its_auc_and_a_rerun_replaces_its_entry(dss, pool):
    dss.model("clf").versions = [dss.model("clf").versions[1]]  # v2 alone
    history = run(dss)
    assert history == [{"n_samples": 0, "contradictions": None, "auc": 0.8,
                        "versionId": "v2", "n_compared": None, "modelId": "clf"}]
    assert run(dss) == history  # same version: replaced, not appended


def test_the_auc_comes_from_the_version_metrics(dss, pool):
    version = dss.model("clf").versions[1]
    version.auc = None  # not in the list_versions() snippet either
    version.metrics = {"model_perf:AUC": 0.77, "model_perf:F1": 0.5}
    assert run(dss)[-1]["auc"] == 0.77
    version.metrics = {}
    assert run(dss)[-1]["auc"] is None


def three_classes(dss, **active) -> None:
    """A multiclass model: DSS keeps its ROC AUC as mrocAUC (Hand & Till)."""
    proba = lambda df: np.tile([0.2, 0.3, 0.5], (len(df), 1))  # noqa: E731
    dss.add_model("clf", ["a", "b", "c"], [
        fake.ModelVersion("v1", proba, train_date=1000),
        fake.ModelVersion("v2", proba, active=True, train_date=2000, **active)])


def test_a_multiclass_auc_is_read_as_mrocauc(dss, pool):
    three_classes(dss, metrics={"model_perf:mrocAUC": 0.66})
    assert run(dss)[-1]["auc"] == 0.66
    three_classes(dss, snippet={"mrocAUC": 0.64})  # only in the list_versions() snippet
    assert run(dss)[-1]["auc"] == 0.64
    three_classes(dss, auc=0.62)  # the snippet's "auc", where 4.x read it
    assert run(dss)[-1]["auc"] == 0.62


def test_rows_a_version_drops_are_compared_by_label_not_position(dss, pool):
    """Each version leaves out the rows its preprocessing drops, keeping the labels of
    the others: they are compared on the rows both scored."""
    dss.create_dataset("pool", pd.DataFrame({
        "id": range(10, 16), "x": range(6), "f": [1.0, None, 1.0, 1.0, 1.0, 1.0],
        "g": [1.0, 1.0, None, None, 1.0, 1.0]}))
    same = Seen(lambda x: 0.9 if x % 2 else 0.1)  # both versions agree everywhere
    dss.add_model("clf", ["neg", "pos"], [
        fake.ModelVersion("v1", same, train_date=1000, drop_row_features=("f",)),
        fake.ModelVersion("v2", same, active=True, train_date=2000,
                          drop_row_features=("g",)),
    ])
    # Unlabeled x = 1..4: v1 drops x = 1, v2 drops x = 2 and 3. Only x = 4 is common.
    entry = run(dss)[-1]
    assert (entry["n_samples"], entry["n_compared"], entry["contradictions"]) == (4, 1, 0.0)
    assert same.rows == [[2, 3, 4], [1, 4]]


def test_versions_that_score_no_row_in_common_record_no_contradictions(dss, pool):
    dss.create_dataset("pool", pd.DataFrame({"id": range(10, 16), "x": range(6),
                                             "f": None, "g": 1.0}))
    seen = Seen(lambda x: 0.9)
    dss.add_model("clf", ["neg", "pos"], [
        fake.ModelVersion("v1", seen, train_date=1000, drop_row_features=("f",)),
        fake.ModelVersion("v2", seen, active=True, train_date=2000, auc=0.8)])
    entry = run(dss)[-1]
    assert (entry["contradictions"], entry["n_compared"], entry["auc"]) == (None, 0, 0.8)


def test_other_project_variables_are_kept(dss, pool):
    variables = dss.project_variables()
    variables["standard"].update({"other": 1, METRICS: [
        {"n_samples": 4, "contradictions": 0.2, "auc": 0.7, "versionId": "v1"}]})
    variables["local"]["ML-ASSISTED-LABELING__categories"] = ["pos", "neg"]
    history = run(dss)
    assert [e["versionId"] for e in history] == ["v1", "v2"]
    assert variables["standard"]["other"] == 1
    assert variables["local"] == {"ML-ASSISTED-LABELING__categories": ["pos", "neg"]}


def test_models_sharing_a_metadata_dataset_keep_apart_histories(dss, pool):
    # Version ids are per model: a second model has its own "v1" and "v2".
    dss.add_model("other", ["neg", "pos"], [
        fake.ModelVersion("v1", Seen(lambda x: 0.8), train_date=1000, auc=0.60),
        fake.ModelVersion("v2", Seen(lambda x: 0.8), active=True, train_date=2000,
                          auc=0.65),
    ])
    run(dss)
    history = run(dss, model="other")
    assert [(e["modelId"], e["versionId"], e["auc"]) for e in history] == [
        ("clf", "v2", 0.8), ("other", "v2", 0.65)]
    assert history[1]["contradictions"] == 0.0  # other's two versions agree everywhere
    history = run(dss)  # a rerun of clf replaces clf's entry only
    assert sorted((e["modelId"], e["versionId"]) for e in history) == [
        ("clf", "v2"), ("other", "v2")]


def test_4x_entries_are_given_to_the_model_of_their_version_and_never_lost(dss, pool):
    dss.project_variables()["standard"][METRICS] = [
        {"n_samples": 4, "contradictions": 0.5, "auc": 0.7, "versionId": "v1"},
        {"n_samples": 4, "contradictions": 0.1, "auc": 0.6, "versionId": "x9"},
        {"n_samples": 4, "contradictions": 0.2, "auc": 0.65},  # the first 4.x step
    ]
    history = run(dss)
    assert [(e.get("versionId"), e.get("modelId")) for e in history] == [
        ("x9", None), ("v1", "clf"), (None, "clf"), ("v2", "clf")]


class SeenPaths:
    """A fake image model: probabilities from each file's path, recording what it scored."""

    def __init__(self, positive: set[str]) -> None:
        self.positive = positive
        self.paths: list[list[str]] = []

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        self.paths.append(df["path"].tolist())
        pos = np.array([0.9 if p in self.positive else 0.2 for p in df["path"]])
        return np.column_stack([1 - pos, pos])


@pytest.fixture
def images(dss):
    """Four files; "/cats/1.png" is labeled (a 4.x metadata id, without the leading /)."""
    dss.create_folder("images", files={"/cats/1.png": b"1", "/cats/2.png": b"2",
                                       "/dogs/3.png": b"3", "/dogs/4.png": b"4"})
    dss.create_dataset("meta", meta_rows(["cats/1.png"]))
    old = SeenPaths({"/cats/1.png", "/cats/2.png", "/dogs/3.png", "/dogs/4.png"})
    new = SeenPaths({"/cats/1.png", "/cats/2.png"})
    dss.add_model("clf", ["dog", "cat"], [
        fake.ModelVersion("v1", old, train_date=1000, auc=0.70),
        fake.ModelVersion("v2", new, active=True, train_date=2000, auc=0.80),
    ])
    return old, new


def test_a_folder_is_scored_through_a_path_column(dss, images):
    old, new = images
    history = run(dss, unlabeled_select="folder", unlabeled_folder="images",
                  unlabeled_dataset="", id_column="")
    # Unlabeled files 2, 3, 4: v1 says cat for all, v2 says dog for 3 and 4.
    assert history == [{"n_samples": 3, "contradictions": pytest.approx(2 / 3),
                        "auc": 0.8, "versionId": "v2", "n_compared": 3, "modelId": "clf"}]
    assert old.paths == new.paths == [["/cats/2.png", "/dogs/3.png", "/dogs/4.png"]]
    assert run(dss, unlabeled_select="folder", unlabeled_folder="images",
               n_samples=2.0)[-1]["n_samples"] == 2


def test_a_folder_whose_files_are_all_labeled_records_the_auc_alone(dss, images):
    dss.create_dataset("meta", meta_rows(["/cats/1.png", "/cats/2.png", "dogs/3.png",
                                          "/dogs/4.png"]))
    history = run(dss, unlabeled_select="folder", unlabeled_folder="images")
    assert history == [{"n_samples": 0, "contradictions": None, "auc": 0.8,
                        "versionId": "v2", "n_compared": None, "modelId": "clf"}]


def test_a_folder_with_a_model_that_needs_other_features_fails_clearly(dss, pool):
    dss.create_folder("images", files={"/a.png": b"1"})
    with pytest.raises(LabelingError) as caught:
        run(dss, unlabeled_select="folder", unlabeled_folder="images")
    assert "could not score the unlabeled sample" in caught.value.message
    assert 'given a "path" column' in caught.value.message
    assert METRICS not in dss.project_variables()["standard"]


def test_an_image_the_model_cannot_read_is_left_out_not_the_whole_step(dss, images,
                                                                        caplog):
    """The sample is seeded: a file the new version fails on would fail the step at
    every run. It is left out of the comparison, and the log names it."""
    old, new = images
    broken = SeenPaths(new.positive)

    def unreadable(df):
        if "/dogs/3.png" in df["path"].tolist():
            raise OSError("cannot identify image file /dogs/3.png")
        return broken(df)

    dss.model("clf").versions[-1].proba = unreadable
    with caplog.at_level("WARNING"):
        history = run(dss, unlabeled_select="folder", unlabeled_folder="images")
    assert history[-1]["n_samples"] == 3 and history[-1]["n_compared"] == 2
    assert history[-1]["contradictions"] == pytest.approx(1 / 2)  # /dogs/4.png
    assert "could not score 1 of the 3 sampled items, such as /dogs/3.png" in caplog.text


def test_a_model_that_scores_no_row_fails_after_a_few_tries(dss, images):
    calls = []

    def never(df):
        calls.append(len(df))
        raise RuntimeError("no such column: pixels")

    dss.create_folder("images", files={f"/{i}.png": b"1" for i in range(500)})
    dss.model("clf").versions[-1].proba = never
    with pytest.raises(LabelingError, match="could not score the unlabeled sample"):
        run(dss, unlabeled_select="folder", unlabeled_folder="images")
    assert len(calls) <= 1 + 16  # the sample, then 16 single rows drawn from it


def test_a_version_the_plugins_environment_cannot_load_says_why(dss, pool):
    dss.model("clf").versions[-1].requires = ("a_package_of_the_visual_ml_env",)
    with pytest.raises(LabelingError) as caught:
        run(dss)
    message = caught.value.message
    assert "No module named 'a_package_of_the_visual_ml_env'" in message
    assert "the plugin's code environment" in message
    assert METRICS not in dss.project_variables()["standard"]


def test_a_4x_config_names_the_unlabeled_dataset_unlabeled(dss, pool):
    history = run(dss, unlabeled_dataset=None, unlabeled="pool")
    assert history[-1]["contradictions"] == 0.5


def test_bad_settings_get_clear_messages(dss, pool):
    with pytest.raises(ConfigError, match='"Unlabeled folder": choose one'):
        run(dss, unlabeled_select="folder", unlabeled_folder="")
    with pytest.raises(ConfigError, match='"Type of unlabeled input": expected "dataset" or '
                                          '"folder"'):
        run(dss, unlabeled_select="table")
    with pytest.raises(ConfigError, match='"Unlabeled dataset": choose one'):
        run(dss, unlabeled_dataset="")
    with pytest.raises(ConfigError, match='"Number of samples": expected a whole number'):
        run(dss, n_samples=-5)
    assert METRICS not in dss.project_variables()["standard"]


def test_a_regression_model_is_refused_and_records_nothing(dss, pool, monkeypatch):
    class Regressor:  # DSS: a "prediction" column of numbers, no proba_* column
        def predict(self, df, with_probas=True):
            return pd.DataFrame({"prediction": np.arange(len(df), dtype=float)},
                                index=df.index)

    monkeypatch.setattr(dataiku.Model, "get_predictor",
                        lambda self, version_id=None: Regressor())
    with pytest.raises(LabelingError, match="only classification models"):
        run(dss)
    assert METRICS not in dss.project_variables()["standard"]


# -- the webapp shows the warnings --------------------------------------------------------
STALLED = [
    {"n_samples": 1000, "contradictions": None, "auc": 0.900, "versionId": "v1"},
    {"n_samples": 1000, "contradictions": 0.004, "auc": 0.901, "versionId": "v2"},
    {"n_samples": 1000, "contradictions": 0.003, "auc": 0.902, "versionId": "v3"},
    {"n_samples": 1000, "contradictions": 0.002, "auc": 0.903, "versionId": "v4"},
]


@pytest.mark.parametrize("history, warned", [
    (STALLED, True),
    (STALLED[:3], False),  # two comparisons only
    ([*STALLED[:3], {**STALLED[3], "contradictions": 0.02}], False),  # still changing
    ([*STALLED[:3], {**STALLED[3], "auc": 0.95}], False),  # AUC still improving
])
def test_the_webapp_config_shows_the_warnings_of_a_stalled_history(
        project_setup, tmp_path, history, warned):
    project_setup.project_variables()["standard"][
        "ML-ASSISTED-LABELING__labels_metadata__metrics"] = history
    app = Flask("dss-backend")
    webapp = setup_webapp(app, project_setup.webapp_config, cache_dir=tmp_path / "cache",
                          background=False)
    try:
        client = app.test_client()
        client.set_cookie("dss_session", "alice-session")
        warnings = client.get("/api/config").get_json()["warnings"]
    finally:
        webapp.close()
    assert len(warnings) == warned
    if warned:
        assert "Labeling more may not help" in warnings[0]
        assert "0.4%, 0.3%, 0.2% of 1000 sampled unlabeled items" in warnings[0]
        assert "0.900 to 0.903" in warnings[0]


def test_a_new_session_shows_the_metrics_of_its_retraining_at_once(project_setup,
                                                                     tmp_path):
    """The page reads the config again as soon as the session changes, to show the
    warnings of the retraining that made it: they must not wait for a cache to expire."""
    variables = project_setup.project_variables()["standard"]
    variables["ML-ASSISTED-LABELING__labels_metadata__metrics"] = STALLED[:3]
    project_setup.create_dataset("queries", pd.DataFrame(
        {"text": ["great"], "stars": [5], "uncertainty": [0.5], "session": [1]}))
    config = {**project_setup.webapp_config, "queries_ds": "queries"}
    app = Flask("dss-backend")
    webapp = setup_webapp(app, config, cache_dir=tmp_path / "cache", background=False)
    try:
        client = app.test_client()
        client.set_cookie("dss_session", "alice-session")
        assert client.get("/api/config").get_json()["warnings"] == []
        # A retraining, its metrics, then the sampler's new session.
        variables["ML-ASSISTED-LABELING__labels_metadata__metrics"] = STALLED
        variables["ML-ASSISTED-LABELING__queries__session"] = 1
        # A request reads the variable anew (its cache expired) before the next round.
        webapp.session.refresh()
        webapp.sync.on_tick()
        answer = client.get("/api/config").get_json()
    finally:
        webapp.close()
    assert answer["session"] == 1
    assert "Labeling more may not help" in answer["warnings"][0]


CHANGING = [{**e, "contradictions": 0.2} for e in STALLED]


def _tagged(history, model):
    return [{**e, "modelId": model} for e in history]


@pytest.mark.parametrize("feeding, warned", [
    ("stalled", ["Labeling more may not help"]),  # the model ranking the queries stalled
    ("moving", []),  # another model stalled: nothing to say about these queries
    ("new", ["Labeling more may not help"]),  # no history of its own yet: the 4.x one
    (None, ["Model stalled: Labeling more may not help"]),  # unknown: every model, named
])
def test_the_webapp_warns_for_the_model_that_ranks_its_queries(feeding, warned):
    from assisted_labeling.dku.loop import webapp_warnings

    history = [*_tagged(STALLED, "stalled"), *_tagged(CHANGING, "moving")]
    if feeding == "new":
        history = STALLED  # 4.x entries, not given to a model yet
    variables = {"standard": {METRICS: history}, "local": {}}
    if feeding:
        variables["standard"]["ML-ASSISTED-LABELING__queries__model"] = feeding
    warnings = webapp_warnings(variables, "PROJ.meta", "queries")
    assert [w[:len(start)] for w, start in zip(warnings, warned)] == warned
    assert len(warnings) == len(warned)


def test_the_webapp_config_shows_the_warnings_of_the_sampler_model(project_setup, tmp_path):
    dss = project_setup
    dss.create_dataset("queries")
    dss.add_model("clf", ["neg", "pos"], [fake.ModelVersion(
        "v1", lambda df: np.tile([0.5, 0.5], (len(df), 1)), active=True)])
    dss.recipe_inputs = {"saved_model": ["LABELING.clf"], "unlabeled_samples": ["reviews"]}
    dss.recipe_outputs = {"queries": ["queries"]}
    dss.recipe_config = {"strategy": "confidence"}
    runpy.run_path(str(ROOT / "custom-recipes" / "active-learning-query-sampler" /
                       "recipe.py"))
    dss.project_variables()["standard"]["ML-ASSISTED-LABELING__labels_metadata__metrics"] = [
        *_tagged(CHANGING, "clf"), *_tagged(STALLED, "other")]
    app = Flask("dss-backend")
    webapp = setup_webapp(app, {**dss.webapp_config, "queries_ds": "queries"},
                          cache_dir=tmp_path / "cache", background=False)
    try:
        client = app.test_client()
        client.set_cookie("dss_session", "alice-session")
        assert client.get("/api/config").get_json()["warnings"] == []  # clf still moves
    finally:
        webapp.close()


def test_the_warnings_are_cached_and_survive_a_failed_read():
    from assisted_labeling.dku.loop import StoppingWarnings

    now = [0.0]
    answers: list = [{"standard": {}, "local": {"ML-ASSISTED-LABELING__meta__metrics": STALLED}}]

    def read():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    warnings = StoppingWarnings("PROJ.meta", read, ttl=60, clock=lambda: now[0])
    assert len(warnings()) == 1  # read from the local scope
    assert len(warnings()) == 1 and answers == []  # cached: no second read
    now[0] = 61.0
    answers.append(RuntimeError("DSS is restarting"))
    assert len(warnings()) == 1  # the last answer is kept
    now[0] = 122.0
    answers.append({"standard": {}, "local": {}})
    assert warnings() == []


def test_ids_agree_with_the_webapp_when_dss_guesses_types_per_chunk(dss):
    # Codes of digits only in the first chunk (DSS reads them as numbers there), one with
    # a letter in the second chunk (text there). A row labeled in the webapp, whose id
    # comes from its chunk's types, must be left out of the step's sample.
    n = POOL_CHUNK + 5
    codes = [f"{i:05d}" for i in range(POOL_CHUNK)] + ["A0001", "00002", "1", "2", "3"]
    dss.create_dataset("pool", pd.DataFrame({"code": codes, "x": range(n)}))
    first = next(dataiku.Dataset("pool").iter_dataframes(chunksize=POOL_CHUNK))
    assert first["code"].dtype.kind in "iuf"  # the fake guesses types per chunk too
    webapp_ids = [row.key for row in frame_rows(first, RowIdentifier(None))]
    dss.create_dataset("meta", meta_rows([webapp_ids[3]]))
    old, new = Seen(lambda x: 0.8), Seen(lambda x: 0.3)
    dss.add_model("clf", ["neg", "pos"], [
        fake.ModelVersion("v1", old, train_date=1000, auc=0.7),
        fake.ModelVersion("v2", new, active=True, train_date=2000, auc=0.8)])
    entry = run(dss, id_column="", n_samples=float(2 * n))[-1]
    scored = {x for rows in new.rows for x in rows}
    assert 3 not in scored
    assert entry["n_samples"] == n - 1


def test_an_id_column_named_with_spaces_is_taken_as_the_picker_sends_it(dss, pool):
    old, _ = pool
    dss.create_dataset("pool", pd.DataFrame({" id ": range(10, 16), "x": range(6)}))
    history = run(dss, id_column=" id ")
    assert old.rows == [[1, 2, 3, 4]]  # rows 10 and 15 (x = 0, 5) held out by id
    assert history[-1]["n_samples"] == 4


def test_a_model_that_fails_when_first_asked_is_named_in_the_error(dss, pool):
    """DSS may look a saved model up only at its first call."""

    class Unknown:
        def __init__(self, lookup: str) -> None:
            self.lookup = lookup

        def list_versions(self):
            raise Exception(f"Saved model {self.lookup} does not exist")

    config = {"model": "gone", "unlabeled_select": "dataset", "unlabeled_dataset": "pool",
              "id_column": "id", "metadata": "meta", "n_samples": 10.0}
    with pytest.raises(ConfigError, match="cannot open the saved model 'gone'.*not exist"):
        compute_labeling_metrics(config, open_model=Unknown)


def test_a_first_version_still_checks_the_step_datasets(dss):
    """With no previous version there is nothing to compare, but a mistyped metadata
    dataset would file the history under a name the webapp never reads."""
    dss.create_dataset("pool", pd.DataFrame({"id": range(3), "x": range(3)}))
    dss.add_model("clf", ["neg", "pos"], [
        fake.ModelVersion("v1", Seen(lambda x: 0.8), active=True, train_date=1, auc=0.7)])
    with pytest.raises(ConfigError, match="typo_meta"):
        run(dss, metadata="typo_meta")
    dss.create_dataset("meta", meta_rows([]))
    with pytest.raises(ConfigError, match="typo_pool"):
        run(dss, unlabeled_dataset="typo_pool")


def test_a_first_version_checks_the_unlabeled_folder_too(dss):
    dss.create_dataset("meta", meta_rows([]))
    dss.add_model("clf", ["neg", "pos"], [
        fake.ModelVersion("v1", Seen(lambda x: 0.8), active=True, train_date=1, auc=0.7)])
    with pytest.raises(ConfigError, match="typo_folder"):
        run(dss, unlabeled_select="folder", unlabeled_folder="typo_folder")


def test_a_wrong_folder_is_named_whatever_the_versions_and_an_empty_one_is_said(
        dss, images, caplog):
    with pytest.raises(ConfigError, match='Setting "Unlabeled folder": cannot open the '
                                          "folder 'nope'"):
        run(dss, unlabeled_select="folder", unlabeled_folder="nope")
    dss.create_folder("empty", files={})
    with caplog.at_level("WARNING"):
        run(dss, unlabeled_select="folder", unlabeled_folder="empty")
    assert "The folder empty has no files" in caplog.text


def test_rows_a_model_cannot_score_are_found_all_over_the_sample(dss, caplog):
    """5 % of the files unreadable, spread over a sample of 1000: the others are all
    compared, in a bounded number of calls, and the log names the first unreadable."""
    paths = [f"/imgs/{i:04d}.png" for i in range(1000)]
    bad = set(paths[7::20])
    dss.create_folder("images", files={p: b"1" for p in paths})
    dss.create_dataset("meta", meta_rows([]))
    calls = []

    def version(positive):
        model = SeenPaths(positive)

        def proba(df):
            calls.append(len(df))
            if bad & set(df["path"]):
                raise OSError("cannot identify image file")
            return model(df)
        return proba

    dss.add_model("clf", ["dog", "cat"], [
        fake.ModelVersion("v1", version(set(paths)), train_date=1000, auc=0.70),
        fake.ModelVersion("v2", version(set(paths[:500])), active=True, train_date=2000,
                          auc=0.80)])
    with caplog.at_level("WARNING"):
        entry = run(dss, unlabeled_select="folder", unlabeled_folder="images",
                    n_samples=1000)[-1]
    assert entry["n_compared"] == 950
    assert entry["contradictions"] == pytest.approx(475 / 950)
    assert len(calls) <= 2 * 600  # two versions: 537 calls each in a simulation
    assert "could not score 50 of the 1000 sampled items, such as /imgs/0007.png" in \
        caplog.text


@pytest.mark.parametrize("rows, bad", [(20, {1, 18}), (33, {0, 16, 32}), (17, {0}),
                                       (1000, "25%")])
def test_a_small_sample_or_many_failures_keep_every_row_that_scores(rows, bad):
    """A few rows left at the end of a project, one bad in each half; or a quarter of
    the rows failing: the rows that score are compared, the step does not give up."""
    from assisted_labeling.dku.loop import _PredictBatches

    if bad == "25%":
        bad = set(np.random.default_rng(3).choice(rows, rows // 4, replace=False).tolist())

    class Predictor:
        def predict(self, df, with_probas=True):
            if bad & set(df.index):
                raise OSError("cannot identify image file")
            return pd.DataFrame({"prediction": ["cat"] * len(df), "proba_dog": 0.2,
                                 "proba_cat": 0.8}, index=df.index)

    batches = _PredictBatches(Predictor(), "v1")
    scored = batches.predict(pd.DataFrame({"path": [f"/{i}.png" for i in range(rows)]}))
    assert set(scored.index) | {label for label, _ in batches.failed} \
        | set(batches.untried) == set(range(rows))
    assert not set(scored.index) & bad
    assert {label for label, _ in batches.failed} <= bad  # no good row blamed
    assert len(scored) >= 0.9 * (rows - len(bad))


def test_a_folder_is_listed_once(dss, images, monkeypatch):
    """Big cloud folders are slow to list: the step lists once, all labeled or not."""
    import dataiku

    dss.create_dataset("meta", meta_rows(["/cats/1.png", "/cats/2.png", "/dogs/3.png",
                                          "/dogs/4.png"]))
    listed = []
    real = dataiku.Folder.list_paths_in_partition
    monkeypatch.setattr(dataiku.Folder, "list_paths_in_partition",
                        lambda self, *a, **k: listed.append(1) or real(self, *a, **k))
    run(dss, unlabeled_select="folder", unlabeled_folder="images")
    assert len(listed) == 1
