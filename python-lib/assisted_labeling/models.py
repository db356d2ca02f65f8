"""The standalone model: a default scikit-learn pipeline, trained and saved with skops.

A model file is never unpickled: skops rebuilds objects from an allow-list of types, and
we refuse any file whose types fall outside scikit-learn / numpy / scipy and builtins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, ValidationError

MODEL_KINDS = ("linear", "gbdt")
#: Width of the item descriptions the sampler clusters (diversity, cold start).
EMBEDDING_DIMS = 64
_TRUSTED_ROOTS = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


@dataclass
class TrainedModel:
    """A fitted pipeline with the columns it reads and the classes it predicts."""

    pipeline: Any
    feature_columns: list[str]
    text_column: str | None
    classes: list[str]
    n_labels: int | None = None  # how many labeled rows it learned from (None: unknown)
    _projection: Any = field(default=None, init=False, repr=False, compare=False)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in ``self.classes`` order."""
        return self.pipeline.predict_proba(self.inputs(frame))

    def inputs(self, frame: pd.DataFrame) -> pd.DataFrame | pd.Series:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValidationError(f"The data lacks the model's columns: {', '.join(missing)}")
        if self.text_column:
            return frame[self.text_column].fillna("").astype(str)
        return frame[self.feature_columns]

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """Dense descriptions of the rows for the sampler's clustering: the pipeline's
        encoded inputs, cut to ``EMBEDDING_DIMS`` by a fixed sparse random projection
        when wider (TF-IDF), which keeps distances (Johnson–Lindenstrauss) without
        storing anything; text rows are L2-normalized."""
        from scipy import sparse

        encoded = self.pipeline[:-1].transform(self.inputs(frame))
        if encoded.shape[1] > EMBEDDING_DIMS:
            if self._projection is None or self._projection.n_features_in_ != encoded.shape[1]:
                from sklearn.random_projection import SparseRandomProjection

                self._projection = SparseRandomProjection(
                    EMBEDDING_DIMS, dense_output=True, random_state=0).fit(encoded[:1])
            encoded = self._projection.transform(encoded)
        dense = np.asarray(encoded.toarray() if sparse.issparse(encoded) else encoded,
                           dtype=np.float64)
        if self.text_column:
            norms = np.linalg.norm(dense, axis=1, keepdims=True)
            dense = dense / np.where(norms > 0, norms, 1.0)
        return dense

    @property
    def columns(self) -> list[str]:
        return [self.text_column] if self.text_column else list(self.feature_columns)


def build_pipeline(frame: pd.DataFrame, *, text_column: str | None = None,
                   feature_columns: Sequence[str] = (), model: str = "linear",
                   seed: int = 0) -> Any:
    """TF-IDF + logistic regression for a text column; for tabular columns, one-hot for
    categories and scaled numbers (imputed) into a logistic regression (``linear``) or a
    histogram gradient-boosting model (``gbdt``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if model not in MODEL_KINDS:
        raise ConfigError(f"Unknown model {model!r}: expected one of {', '.join(MODEL_KINDS)}")
    linear = LogisticRegression(max_iter=2000, C=1.0)
    if text_column:
        return Pipeline([("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=1,
                                                   sublinear_tf=True)),
                         ("clf", linear)])
    numeric = [c for c in feature_columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in feature_columns if c not in numeric]
    encode = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore", min_frequency=2)),
         categorical),
    ], sparse_threshold=0.0)
    clf = linear if model == "linear" else HistGradientBoostingClassifier(random_state=seed)
    return Pipeline([("encode", encode), ("clf", clf)])


def train(frame: pd.DataFrame, *, label_column: str, text_column: str | None = None,
          feature_columns: Sequence[str] = (), model: str = "linear",
          seed: int = 0) -> TrainedModel:
    """Fit the default pipeline on the rows that have a label."""
    if label_column not in frame.columns:
        raise ConfigError(f'No label column "{label_column}" in the data '
                          f"(columns: {', '.join(map(str, frame.columns))})")
    if text_column and feature_columns:
        raise ConfigError("Give a text column or feature columns, not both")
    if not text_column and not feature_columns:
        feature_columns = [c for c in frame.columns if c != label_column]
    for column in ([text_column] if text_column else list(feature_columns)):
        if column not in frame.columns:
            raise ConfigError(f'No column "{column}" in the data')
    labeled = frame[frame[label_column].notna() & (frame[label_column].astype(str) != "")]
    classes = sorted(labeled[label_column].astype(str).unique())
    if len(classes) < 2:
        raise ValidationError(
            f"Training needs labels of at least 2 classes (found {len(classes)} among "
            f"{len(labeled)} labeled rows)")
    pipeline = build_pipeline(labeled, text_column=text_column,
                              feature_columns=feature_columns, model=model, seed=seed)
    trained = TrainedModel(pipeline, list(feature_columns), text_column, classes,
                           n_labels=len(labeled))
    pipeline.fit(trained.inputs(labeled), labeled[label_column].astype(str))
    trained.classes = [str(c) for c in pipeline.classes_]
    return trained


def save(model: TrainedModel, path: str | Path) -> None:
    """Write the model with skops (no pickle)."""
    import skops.io as sio

    sio.dump({"pipeline": model.pipeline, "feature_columns": list(model.feature_columns),
              "text_column": model.text_column or "", "classes": list(model.classes),
              "n_labels": -1 if model.n_labels is None else int(model.n_labels)},
             str(path))


def load(path: str | Path) -> TrainedModel:
    """Read a model file, refusing any type outside the allow-list."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'Model file "{path}" does not exist')
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:  # a corrupt or foreign file: skops raises many kinds
        raise ConfigError(f'"{path}" is not a model file saved by this tool ({exc})') from None
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_ROOTS)]
    if refused:
        raise ConfigError(f'"{path}" holds types this tool does not trust: '
                          f"{', '.join(refused)}")
    state = sio.load(str(path), trusted=untrusted)
    n_labels = int(state.get("n_labels", -1))  # absent from files of earlier versions
    return TrainedModel(state["pipeline"], list(state["feature_columns"]),
                        state["text_column"] or None, [str(c) for c in state["classes"]],
                        n_labels=n_labels if n_labels >= 0 else None)
