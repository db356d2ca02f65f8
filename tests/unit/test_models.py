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


def test_models_remember_how_many_labels_they_learned_from(tmp_path):
    frame = tabular()
    frame.loc[40:, "label"] = None
    trained = models.train(frame, label_column="label")
    assert trained.n_labels == 40
    models.save(trained, tmp_path / "m.skops")
    assert models.load(tmp_path / "m.skops").n_labels == 40


def test_embed_describes_rows_by_the_encoded_inputs():
    frame = tabular()
    trained = models.train(frame, label_column="label")
    embedded = trained.embed(frame)
    assert embedded.shape == (60, 3)  # scaled x + one-hot colour
    words = [f"w{i}" for i in range(300)]
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(words, 8)) for _ in range(80)]
    text = pd.DataFrame({"text": docs, "label": ["p", "q"] * 40})
    model = models.train(text, label_column="label", text_column="text")
    vectors = model.embed(text)
    # A wide TF-IDF is projected to a fixed width; rows keep unit length, and the same
    # rows always get the same vectors.
    assert vectors.shape == (80, models.EMBEDDING_DIMS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(model.embed(text.iloc[:5]), vectors[:5])
    # Close documents stay closer than unrelated ones.
    twin = pd.DataFrame({"text": [docs[0], docs[0] + " w1", docs[1]]})
    a, b, c = model.embed(twin)
    assert np.linalg.norm(a - b) < np.linalg.norm(a - c)


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
