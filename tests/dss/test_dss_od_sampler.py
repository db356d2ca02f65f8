"""The object-detection query sampler recipe on the fake DSS: a detector's predictions
dataset in, queries out, no model."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest

from assisted_labeling.dku.sampler import run_detection_sampler
from assisted_labeling.errors import ConfigError, ValidationError

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "custom-recipes" / "object-detection-query-sampler" / "recipe.py"
SESSION = "ML-ASSISTED-LABELING__queries__session"

ADDED = ["uncertainty", "model_uncertainty", "session"]  # the sampler's columns


def dss_boxes(*confidences: float) -> str:
    """A predictions cell as DSS object detection scoring writes it."""
    return json.dumps([{"bbox": [1, 2, 3, 4], "category": "cat", "confidence": c}
                       for c in confidences])


PREDICTIONS = pd.DataFrame({
    "path": ["images/a.png", "/b.png", "c.png", "/d.png", "/e.png"],
    "prediction": [
        dss_boxes(0.9, 0.6),  # box uncertainties 0.1, 0.4
        dss_boxes(0.95),  # 0.05
        "[]",  # nothing found
        json.dumps([{"top": 1, "left": 2, "width": 3, "height": 4, "label": "dog",
                     "confidence": 0.7}]),  # our labels' shape: 0.3
        dss_boxes(0.02),  # a background box: 0.98
    ],
})


def meta(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Metadata rows ``(data_id, annotator, status, date)``; folder items' ids are paths."""
    return pd.DataFrame({
        "date": pd.to_datetime([r[3] for r in rows], utc=True),
        "data_id": [r[0] for r in rows], "comment": "", "session": 1,
        "status": [r[2] for r in rows], "annotator": [r[1] for r in rows],
        "label": "[]", "label_id": range(1, len(rows) + 1)})


@pytest.fixture
def preds(dss):
    dss.create_dataset("preds", PREDICTIONS)
    dss.create_dataset("queries")
    return dss


def run(dss, config=None, *, unlabeled="preds", metadata=None) -> pd.DataFrame:
    dss.recipe_inputs = {"unlabeled_samples": [unlabeled]}
    if metadata:
        dss.recipe_inputs["metadata"] = [metadata]
    dss.recipe_outputs = {"queries": ["queries"]}
    dss.recipe_config = {} if config is None else config
    runpy.run_path(str(RECIPE))
    return dss.table("queries")


def session(dss) -> int | None:
    return dss.project_variables()["standard"].get(SESSION)


# -- ranking ----------------------------------------------------------------------------
def test_images_rank_by_their_most_uncertain_box_and_empty_images_first(preds):
    out = run(preds)
    assert list(out.columns) == ["path", "prediction", *ADDED]
    assert out["path"].tolist() == ["/c.png", "/e.png", "/images/a.png", "/d.png", "/b.png"]
    assert out["uncertainty"].tolist() == pytest.approx([1.0, 0.98, 0.4, 0.3, 0.05])
    assert out["session"].tolist() == [1] * 5
    assert out["prediction"].iloc[2] == PREDICTIONS["prediction"][0]  # kept as it was


@pytest.mark.parametrize("aggregation, a_png", [("mean", 0.25), ("any", 1 - 0.9 * 0.6)])
def test_other_aggregations(preds, aggregation, a_png):
    out = run(preds, {"aggregation": aggregation}).set_index("path")
    assert out.loc["/images/a.png", "uncertainty"] == pytest.approx(a_png)


def test_images_without_boxes_can_go_last(preds):
    out = run(preds, {"empty_images": "least_uncertain"})
    assert out["path"].iloc[-1] == "/c.png"
    assert out["uncertainty"].iloc[-1] == 0.0


def test_background_boxes_under_the_minimum_confidence_do_not_count(preds):
    # /e.png keeps only a 0.02 box: it becomes an image without boxes, tied with /c.png
    # and after it (pool order).
    out = run(preds, {"confidence": 0.1})
    assert out["path"].tolist()[:2] == ["/c.png", "/e.png"]
    assert out["uncertainty"].tolist()[:2] == [1.0, 1.0]


def test_max_queries(preds):
    assert run(preds, {"max_queries": 2.0})["path"].tolist() == ["/c.png", "/e.png"]


def test_another_path_column_is_copied_to_path(dss):
    dss.create_dataset("preds", PREDICTIONS.rename(columns={"path": "image",
                                                            "prediction": "boxes"}))
    dss.create_dataset("queries")
    out = run(dss, {"path_column": "image", "predictions_column": "boxes"})
    assert list(out.columns) == ["path", "image", "boxes", *ADDED]
    assert out[["path", "image"]].iloc[0].tolist() == ["/c.png", "c.png"]


def test_chunked_reading_gives_the_same_queries(preds):
    whole = run_detection_sampler({}, unlabeled="preds", queries="queries")
    small = run_detection_sampler({}, unlabeled="preds", queries="queries", chunksize=2)
    pd.testing.assert_frame_equal(whole.drop(columns="session"),
                                  small.drop(columns="session"))


# -- labeled images and session ---------------------------------------------------------
def test_labeled_images_are_left_out(preds):
    preds.create_dataset("meta", meta([
        ("/images/a.png", "alice", "LABELED", "2024-01-01"),
        ("/c.png", "alice", "LABELED", "2024-01-01"),
        ("/c.png", "alice", "SKIPPED", "2024-01-02"),  # turned into a skip: stays
        ("/d.png", "bob", "SKIPPED", "2024-01-01"),
    ]))
    out = run(preds, metadata="meta")
    assert out["path"].tolist() == ["/c.png", "/e.png", "/d.png", "/b.png"]


def test_when_every_image_is_labeled_the_queries_are_empty_with_their_columns(preds):
    preds.create_dataset("meta", meta([(p, "alice", "LABELED", "2024-01-01") for p in [
        "/images/a.png", "/b.png", "/c.png", "/d.png", "/e.png"]]))
    out = run(preds, metadata="meta")
    assert len(out) == 0
    assert list(out.columns) == ["path", "prediction", *ADDED]


def test_the_session_counts_successful_runs_only(preds):
    run(preds)
    before = run(preds)
    assert session(preds) == 2
    preds.create_dataset("preds", pd.DataFrame({"path": ["/x.png"], "prediction": ["[{"]}))
    with pytest.raises(ValidationError):
        run(preds)
    assert session(preds) == 2
    pd.testing.assert_frame_equal(preds.table("queries"), before)


# -- clear errors -----------------------------------------------------------------------
def test_bad_json_names_the_row_and_the_image_across_chunks(preds):
    bad = PREDICTIONS.copy()
    bad.loc[3, "prediction"] = '[{"bbox": [1, 2, 3, 4], "confidence": 0.7'
    preds.create_dataset("preds", bad)
    with pytest.raises(ValidationError,
                       match=r'Row 4 \(/d.png\), column "prediction": not valid JSON'):
        run_detection_sampler({}, unlabeled="preds", queries="queries", chunksize=2)


def test_a_labels_column_without_confidences_is_explained(preds):
    labels = PREDICTIONS.copy()
    labels["prediction"] = json.dumps([{"bbox": [1, 2, 3, 4], "category": "cat"}])
    preds.create_dataset("preds", labels)
    with pytest.raises(ValidationError, match=r'Row 1 \(/images/a.png\), column "prediction", '
                                              r'box 1: the box has no "confidence"'):
        run(preds)


@pytest.mark.parametrize("config, words", [
    ({"predictions_column": "boxes"},
     'Setting "Predictions column": LABELING.preds has no such column '
     r"\(columns: path, prediction\)"),
    ({"path_column": "image"}, 'Setting "Image path column": LABELING.preds has no such'),
    ({"aggregation": "sum"}, 'Setting "Aggregation over boxes": choose one of max, mean, any'),
    ({"confidence": 1.5}, 'Setting "Minimum box confidence": expected a number between 0'),
    ({"empty_images": "top"}, 'Setting "Images without boxes"'),
])
def test_bad_settings_name_the_setting(preds, config, words):
    with pytest.raises(ConfigError, match=words):
        run(preds, config)
    assert session(preds) is None


def test_an_image_without_path_is_reported(dss):
    dss.create_dataset("preds", pd.DataFrame({"path": ["/a.png", None],
                                              "prediction": ["[]", "[]"]}))
    dss.create_dataset("queries")
    with pytest.raises(ValidationError, match='Row 2: no image path in column "path"'):
        run(dss)


def test_a_path_column_next_to_the_chosen_one_is_refused(dss):
    dss.create_dataset("preds", PREDICTIONS.assign(image=PREDICTIONS["path"]))
    dss.create_dataset("queries")
    with pytest.raises(ConfigError, match='also has a column "path"'):
        run(dss, {"path_column": "image"})


def test_a_4x_flow_on_a_folder_gets_a_migration_message(dss):
    # 4.x bound the images folder and read RetinaNet weights; its form saved these keys.
    dss.create_folder("images", files={"/a.png": b"1"})
    dss.create_dataset("queries")
    config_4x = {"strategy": "confidence", "batch_size": 2, "confidence": 0.5,
                 "should_use_gpu": False}
    with pytest.raises(ConfigError, match='"Unlabeled image predictions": .* is a folder.*'
                                          "reads a detector's predictions"):
        run(dss, config_4x, unlabeled="images")
    assert session(dss) is None


def test_a_predictions_dataset_without_rows_is_refused(dss):
    dss.create_dataset("preds", PREDICTIONS.iloc[:0])
    dss.create_dataset("queries")
    # The input as this recipe's form names it, not the classifier sampler's.
    with pytest.raises(ConfigError, match='Input "Unlabeled image predictions": .*preds has '
                                          "no rows: nothing to rank"):
        run(dss)
    assert session(dss) is None


def test_when_every_image_is_labeled_the_queries_are_empty_and_no_session_starts(dss):
    dss.create_dataset("preds", PREDICTIONS)
    dss.create_dataset("queries")
    run(dss)
    dss.create_dataset("meta", pd.DataFrame({
        "data_id": PREDICTIONS["path"], "status": "LABELED", "annotator": "alice",
        "date": "2024-01-01", "label": "[]", "label_id": range(1, len(PREDICTIONS) + 1),
        "comment": "", "session": 1}))
    out = run(dss, metadata="meta")
    assert len(out) == 0
    assert list(out.columns) == ["path", "prediction", *ADDED]
    assert session(dss) == 1


# -- predictions cut by the saved model's confidence threshold --------------------------
def test_predictions_scored_with_a_confidence_threshold_get_a_warning(dss, caplog):
    # DSS kept only the boxes at or above the model's threshold (0.5 here): the doubtful
    # boxes are gone and "/b.png", whose boxes were all under it, looks empty.
    dss.create_dataset("preds", pd.DataFrame({
        "path": ["/a.png", "/b.png"], "prediction": [dss_boxes(0.9, 0.55), "[]"]}))
    dss.create_dataset("queries")
    with caplog.at_level("WARNING"):
        run(dss, {"confidence": 0.2})
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no box under confidence 0.55 (1 of 2 images without boxes)" in w
               and "lower that threshold" in w for w in warnings)


def test_predictions_with_doubtful_boxes_get_no_threshold_warning(preds, caplog):
    with caplog.at_level("WARNING"):
        run(preds)  # "/e.png" has a box at 0.02
    assert not any("confidence threshold" in r.getMessage() for r in caplog.records)


def test_the_recipe_form_explains_the_scoring_threshold():
    form = json.loads((RECIPE.parent / "recipe.json").read_text())
    params = {p["name"]: p for p in form["params"]}
    assert "confidence score threshold" in form["meta"]["description"]
    assert "threshold" in params["confidence"]["description"]
    assert "threshold" in params["empty_images"]["description"]


# -- image paths ------------------------------------------------------------------------
def test_image_paths_are_normalised_and_each_image_is_queried_once(dss, caplog):
    dss.create_dataset("preds", pd.DataFrame({
        "path": ["a.png", "/a.png", "imgs/./b.png", "/c.png"],
        "prediction": [dss_boxes(0.9), dss_boxes(0.4), "[]", dss_boxes(0.8)]}))
    dss.create_dataset("queries")
    dss.create_dataset("meta", meta([("/imgs/b.png", "alice", "LABELED", "2024-01-01")]))
    with caplog.at_level("WARNING"):
        out = run(dss, metadata="meta")
    # "/imgs/./b.png" is the labeled "/imgs/b.png"; "a.png" and "/a.png" are one image,
    # queried once, by its most uncertain row.
    assert out["path"].tolist() == ["/a.png", "/c.png"]
    assert out["uncertainty"].tolist() == pytest.approx([0.6, 0.2])
    assert out["prediction"].iloc[0] == dss_boxes(0.4)
    assert any("1 row" in r.getMessage() and "/a.png" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")


def test_an_image_listed_twice_takes_no_place_of_another_among_the_top_queries(dss):
    # "a.png" and "/a.png" are the most uncertain rows: with 3 queries, 3 images still.
    dss.create_dataset("preds", pd.DataFrame({
        "path": ["a.png", "/f.png", "/a.png", "/b.png", "/g.png"],
        "prediction": [dss_boxes(0.5), dss_boxes(0.6), dss_boxes(0.45), dss_boxes(0.7),
                       dss_boxes(0.99)]}))
    dss.create_dataset("queries")
    out = run(dss, {"max_queries": 3.0})
    assert out["path"].tolist() == ["/a.png", "/f.png", "/b.png"]
    assert out["prediction"].iloc[0] == dss_boxes(0.45)  # its most uncertain row
    assert out["uncertainty"].tolist() == pytest.approx([0.55, 0.4, 0.3])


@pytest.mark.parametrize("path", ["../outside/c.png", "/imgs/../../c.png", "/..", "./"])
def test_a_path_outside_the_folder_is_refused(dss, path):
    dss.create_dataset("preds", pd.DataFrame({"path": ["/a.png", path],
                                              "prediction": ["[]", "[]"]}))
    dss.create_dataset("queries")
    with pytest.raises(ValidationError, match=r'Row 2: the image path .* in column "path"'):
        run(dss)
    assert session(dss) is None


@pytest.mark.parametrize("path", ["https://host/x.png", "s3://bucket/imgs/x.png"])
def test_an_address_is_no_path_in_the_folder(dss, path):
    """Labelers would get a broken image for "/https:/host/x.png"."""
    dss.create_dataset("preds", pd.DataFrame({"path": ["/a.png", path],
                                              "prediction": ["[]", "[]"]}))
    dss.create_dataset("queries")
    with pytest.raises(ValidationError, match=r'Row 2: the image path .* in column "path" '
                                              "is an address, not a path in the folder"):
        run(dss)


def test_column_names_with_spaces_are_taken_as_the_picker_sends_them(dss):
    dss.create_dataset("preds", PREDICTIONS.rename(columns={"path": " image",
                                                            "prediction": "boxes "}))
    dss.create_dataset("queries")
    out = run(dss, {"path_column": " image", "predictions_column": "boxes "})
    assert out["path"].iloc[0] == "/c.png"


@pytest.mark.parametrize("seed", range(20))
def test_the_best_row_per_image_is_that_of_a_whole_sort(seed):
    """Chunk by chunk in memory O(k), the same answer as sorting every row at once."""
    import numpy as np

    from assisted_labeling.dku.sampler import BestRowPerImage

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 60)), int(rng.integers(1, 12))
    paths = [f"/{i}.png" for i in rng.integers(0, max(n // 2, 1), n)]
    scores = rng.choice([0.1, 0.2, 0.5, 0.9], n)  # many ties
    ranking = BestRowPerImage(k)
    for start in range(0, n, 7):
        part = slice(start, start + 7)
        ranking.push(scores[part], np.arange(n)[part] + 1,
                     pd.DataFrame({"path": paths[part], "n": np.arange(n)[part]}))
    out, got = ranking.result(["path", "n"])
    best: dict = {}
    for i, (path, score) in enumerate(zip(paths, scores)):
        if path not in best or (score, -i) > best[path]:
            best[path] = (score, -i)
    expected = sorted(best.items(), key=lambda item: item[1], reverse=True)[:k]
    assert out["path"].tolist() == [path for path, _ in expected]
    assert out["n"].tolist() == [-key[1] for _, key in expected]
    assert got.tolist() == [key[0] for _, key in expected]


def test_a_predictions_cell_nested_too_deep_is_refused_by_row(dss):
    dss.create_dataset("preds", pd.DataFrame({"path": ["/a.png"],
                                              "prediction": ["[" * 100_000 + "]" * 100_000]}))
    dss.create_dataset("queries")
    with pytest.raises(ValidationError, match="/a.png"):
        run(dss)
