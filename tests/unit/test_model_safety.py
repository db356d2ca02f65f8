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
    # `save` itself refuses to write what `load` would refuse.
    with pytest.raises(ValidationError, match=r"not saved.*sklearn\.tree\._tree\.Tree"):
        models.save(trained, tmp_path / "forest.skops")
    assert list(tmp_path.iterdir()) == []
    sio.dump({"pipeline": trained.pipeline, "feature_columns": ["x", "k", "colour"],
              "text_column": "", "classes": ["a", "b"]}, str(tmp_path / "forest.skops"))
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


def every_type(n: int = 60) -> pd.DataFrame:
    """A table with a column of each type a CSV, JSONL or Parquet file gives pandas."""
    rng = np.random.default_rng(1)
    x = rng.random(n)
    when = pd.date_range("2024-01-01", periods=n, freq="D")
    return pd.DataFrame({
        "x": x, "count": rng.integers(0, 9, n), "flag": x > 0.3,
        "stock": pd.array([None, *rng.integers(0, 9, n - 1)], dtype="Int64"),
        "size": pd.Categorical(["S", "M", "L"] * (n // 3)), "shop": ["a", "b"] * (n // 2),
        "when": when, "seen": when.tz_localize("Europe/Paris"),
        "label": np.where(x + (when.day > 15) * 0.2 > 0.6, "hi", "lo")})


@pytest.mark.parametrize("kind", ["text", "linear", "gbdt"])
def test_every_model_train_builds_on_every_column_type_round_trips(tmp_path, kind):
    # A datetime column made `train` write Timestamps that `load` refused: a model file
    # that no `query` could read.
    if kind == "text":
        frame, options = TEXT.assign(when=pd.Timestamp("2024-01-01")), {"text_column": "text"}
    else:
        frame, options = every_type(), {"model": kind}
    trained = models.train(frame, label_column="label", **options)
    path = tmp_path / "m.skops"
    models.save(trained, path)
    assert set(sio.get_untrusted_types(file=str(path))) <= models.TRUSTED_TYPES
    loaded = models.load(path)
    assert loaded.columns == trained.columns
    assert np.allclose(loaded.predict_proba(frame), trained.predict_proba(frame))
    if kind != "text":
        assert trained.feature_columns == ["x", "count", "flag", "stock", "size", "shop",
                                           "when", "seen"]
        # A CSV pool gives the dates as text, the categories and flags as plain values.
        as_read = frame.assign(when=frame["when"].astype(str), size=frame["size"].astype(str),
                               seen=frame["seen"].map(pd.Timestamp.isoformat),
                               stock=frame["stock"].astype(float))
        assert np.allclose(loaded.predict_proba(as_read), trained.predict_proba(frame))
