"""A model file is loaded only when it holds nothing but what our own `train` writes."""

from __future__ import annotations

import builtins

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from assisted_labeling import models
from assisted_labeling.errors import ConfigError, ValidationError

TEXT = pd.DataFrame({"text": ["great stuff", "awful thing", "great thing", "awful stuff"] * 3,
                     "label": ["pos", "neg", "pos", "neg"] * 3})


def tabular(classes: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.random(60)
    return pd.DataFrame({"x": x, "k": rng.integers(0, 5, 60),
                         "colour": ["red", "blue", "red"] * 20,
                         "label": np.array(["a", "b", "c"])[(x * classes).astype(int)]})


def dump(pipeline, path) -> None:
    """A file shaped like ours (``models.save``) around any pipeline."""
    sio.dump({"pipeline": pipeline, "feature_columns": [], "text_column": "text",
              "classes": ["neg", "pos"], "n_labels": 12}, str(path))


def exploit(path, marker) -> None:
    """The review's file: its predict_proba calls eval on a string the file carries."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    clf = models.train(TEXT, label_column="label", text_column="text").pipeline
    dump(Pipeline([
        ("fill", FunctionTransformer(np.full_like,
                                     kw_args={"fill_value": payload, "dtype": object})),
        ("one", FunctionTransformer(builtins.max)),
        ("run", FunctionTransformer(builtins.eval)),
        ("clf", clf)]), path)


def test_a_file_that_calls_eval_is_refused_and_runs_nothing(tmp_path):
    path, marker = tmp_path / "evil.skops", tmp_path / "pwned"
    exploit(path, marker)
    with pytest.raises(ValidationError, match="was not loaded") as refused:
        models.load(path)
    assert "builtins.eval" in refused.value.message
    assert "numpy.full_like" in refused.value.details["untrusted_types"]
    assert not marker.exists()
    # The file is a live exploit: trusting its types, as a prefix rule did, runs it.
    evil = sio.load(str(path), trusted=sio.get_untrusted_types(file=str(path)))
    with pytest.raises(TypeError):  # the classifier fails, after the payload ran
        evil["pipeline"].predict_proba(TEXT["text"])
    assert marker.read_text() == "x"


def test_an_estimator_train_never_builds_is_refused_by_name(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    frame = tabular()
    trained = models.train(frame, label_column="label")
    trained.pipeline.steps[-1] = ("clf", RandomForestClassifier(3, random_state=0))
    trained.pipeline.fit(frame[["x", "k", "colour"]], frame["label"])
    models.save(trained, tmp_path / "forest.skops")
    with pytest.raises(ValidationError, match=r"not loaded.*sklearn\.tree\._tree\.Tree"):
        models.load(tmp_path / "forest.skops")


def test_steps_that_skops_trusts_but_train_never_builds_are_refused(tmp_path):
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipeline = make_pipeline(FunctionTransformer(np.log1p), GaussianNB())
    pipeline.fit(np.random.default_rng(0).random((10, 2)), [0, 1] * 5)
    dump(pipeline, tmp_path / "nb.skops")
    assert sio.get_untrusted_types(file=str(tmp_path / "nb.skops")) == []
    with pytest.raises(ValidationError, match="refused.*GaussianNB.*FunctionTransformer"):
        models.load(tmp_path / "nb.skops")


@pytest.mark.parametrize("case", ["text", "linear", "gbdt", "gbdt-3-classes", "numbers-only",
                                  "categories-only"])
def test_every_model_train_builds_round_trips(tmp_path, case):
    if case == "text":
        frame, options = TEXT, {"text_column": "text"}
    elif case == "numbers-only":
        frame, options = tabular(), {"feature_columns": ["x", "k"], "model": "gbdt"}
    elif case == "categories-only":
        frame, options = tabular(), {"feature_columns": ["colour"]}
    else:
        frame = tabular(3 if case.endswith("classes") else 2)
        options = {"model": case.split("-")[0]}
    trained = models.train(frame, label_column="label", **options)
    models.save(trained, tmp_path / "m.skops")
    assert set(sio.get_untrusted_types(file=str(tmp_path / "m.skops"))) <= models.TRUSTED_TYPES
    loaded = models.load(tmp_path / "m.skops")
    assert loaded.classes == trained.classes
    assert np.allclose(loaded.predict_proba(frame), trained.predict_proba(frame))


def test_a_skops_file_without_our_pipeline_is_refused(tmp_path):
    sio.dump([1, 2], str(tmp_path / "list.skops"))
    with pytest.raises(ConfigError, match="not a model file"):
        models.load(tmp_path / "list.skops")
