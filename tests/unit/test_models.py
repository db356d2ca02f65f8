"""Default pipelines, skops files, and refusal of untrusted model files."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from assisted_labeling import models
from assisted_labeling.errors import ConfigError, ValidationError


def tabular(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.random(n)
    return pd.DataFrame({"x": x, "colour": ["red", "blue", "red"] * (n // 3),
                         "label": np.where(x > 0.5, "hi", "lo")})


@pytest.mark.parametrize("kind", ["linear", "gbdt"])
def test_tabular_model_round_trips_through_skops(tmp_path, kind):
    frame = tabular()
    trained = models.train(frame, label_column="label", model=kind)
    assert trained.feature_columns == ["x", "colour"]
    models.save(trained, tmp_path / "m.skops")
    loaded = models.load(tmp_path / "m.skops")
    assert loaded.classes == ["hi", "lo"]
    assert np.allclose(loaded.predict_proba(frame), trained.predict_proba(frame))
    assert (loaded.pipeline.predict(loaded.inputs(frame)) == frame["label"]).mean() > 0.9


def test_text_model():
    frame = pd.DataFrame({"text": ["great stuff", "awful thing", "great thing", "awful stuff"],
                          "label": ["pos", "neg", "pos", "neg"]})
    trained = models.train(frame, label_column="label", text_column="text")
    proba = trained.predict_proba(pd.DataFrame({"text": ["great", None]}))
    assert proba.shape == (2, 2) and proba[0, trained.classes.index("pos")] > 0.5


def test_unlabeled_rows_are_ignored_and_two_classes_needed():
    frame = tabular()
    frame.loc[5:, "label"] = None
    with pytest.raises(ValidationError, match="at least 2 classes"):
        models.train(frame.iloc[:3].assign(label="hi"), label_column="label")
    with pytest.raises(ConfigError, match='No label column "lbl"'):
        models.train(frame, label_column="lbl")
    with pytest.raises(ConfigError, match="not both"):
        models.train(frame, label_column="label", text_column="x", feature_columns=["x"])


def test_missing_model_columns_are_named():
    trained = models.train(tabular(), label_column="label")
    with pytest.raises(ValidationError, match="colour"):
        trained.predict_proba(pd.DataFrame({"x": [0.1]}))


def test_a_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.skops"
    path.write_bytes(pickle.dumps({"pipeline": None}))
    with pytest.raises(ConfigError, match="not a model file"):
        models.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        models.load(tmp_path / "none.skops")
