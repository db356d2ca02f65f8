"""The standalone model: a default scikit-learn pipeline, trained and saved with skops.

A model file is never unpickled, and it is read only when every type in it is one skops
trusts by default or one our own ``train`` writes (``TRUSTED_TYPES``): a file naming any
other type is refused before anything in it is built.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, ValidationError
from .queries import ITEM_ID
from .sampler import QUERY_COLUMNS

log = logging.getLogger(__name__)

MODEL_KINDS = ("linear", "gbdt")
#: Width of the item descriptions the sampler clusters (diversity, cold start).
EMBEDDING_DIMS = 64

#: The types outside skops' default trust (which covers scikit-learn estimators, numpy and
#: scipy ufuncs, primitives and containers) that the pipelines of ``build_pipeline`` put in
#: a model file. Found by saving every pipeline kind (text, linear, gbdt; 2 and 3 classes;
#: numeric and categorical columns) and listing ``skops.io.get_untrusted_types``. The list
#: is literal on purpose: trusting by prefix let a file name ``builtins.eval``. Only data
#: holders are here, no function: a file that names any other type is not loaded.
TRUSTED_TYPES = frozenset({
    # Found with every version checked, skops 0.16 + scikit-learn 1.9 included.
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # Older skops trust fewer scikit-learn internals (checked with skops 0.9 + scikit-learn
    # 1.2 and 1.4, skops 0.10 + scikit-learn 1.5, skops 0.11 + scikit-learn 1.6).
    "scipy.sparse._csr.csr_matrix",  # TfidfVectorizer's idf diagonal before 1.3
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "_loss.CyHalfBinomialLoss",  # the same Cython classes, as some versions name them
    "_loss.CyHalfMultinomialLoss",
})

#: Columns our own tables add beside the item's columns, never features by default: the
#: metadata export's (``date`` … ``annotator``), the queries file's (``uncertainty``,
#: ``model_uncertainty``, ``session``) and the hidden item key of ``queries.ITEM_ID``. The
#: labels export adds ``<label>_id``, which ``choose_features`` drops with the label.
BOOKKEEPING_COLUMNS = ("date", "data_id", "comment", "status", "annotator",
                       *QUERY_COLUMNS, ITEM_ID)
_ID_NAME = re.compile(r"(?:^|[_\s.-])id$", re.IGNORECASE)


@dataclass
class TrainedModel:
    """A fitted pipeline with the columns it reads and the classes it predicts."""

    pipeline: Any
    feature_columns: list[str]
    text_column: str | None
    classes: list[str]
    n_labels: int | None = None  # how many labeled rows it learned from (None: unknown)
    #: Columns of the training table it does not read, besides the label (not saved).
    left_out: list[str] = field(default_factory=list, compare=False)
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


def choose_features(frame: pd.DataFrame, *, label_column: str,
                    id_column: str | None = None) -> list[str]:
    """The default feature columns of a table: all but these.

    The label and ``<label>_id`` (a labels export), our bookkeeping columns
    (``BOOKKEEPING_COLUMNS``), ``id_column``, and identifier-like columns (named ``id`` or
    ``…_id`` with every value distinct). They describe the labeling, not the item, and a
    pool to rank lacks most of them, so a model reading them could not score it.
    """
    skip = {label_column, f"{label_column}_id", *BOOKKEEPING_COLUMNS}
    if id_column:
        skip.add(id_column)
    features: list[str] = []
    for column in frame.columns:
        name = str(column)
        # An id says which row, not what it is: a model would learn nothing from it.
        identifier = bool(_ID_NAME.search(name)) and frame[column].dropna().is_unique
        if name not in skip and not identifier:
            features.append(column)
    return features


def training_columns(frame: pd.DataFrame, *, label_column: str,
                     text_column: str | None = None, feature_columns: Sequence[str] = (),
                     id_column: str | None = None) -> list[str]:
    """Check the columns :func:`train` is asked to use, before any work; returns the
    feature columns (chosen by ``choose_features`` when neither a text column nor
    feature columns are given)."""
    if label_column not in frame.columns:
        raise ConfigError(f'No label column "{label_column}" in the data '
                          f"(columns: {', '.join(map(str, frame.columns))})")
    if text_column and feature_columns:
        raise ConfigError("Give a text column or feature columns, not both")
    if id_column and id_column not in frame.columns:
        raise ConfigError(f'No id column "{id_column}" in the data '
                          f"(columns: {', '.join(map(str, frame.columns))})")
    if not text_column and not feature_columns:
        feature_columns = choose_features(frame, label_column=label_column,
                                          id_column=id_column)
        if not feature_columns:
            raise ConfigError(
                "No feature columns: every column of the data is the label, an id or "
                f"bookkeeping ({', '.join(map(str, frame.columns))}); give a text column "
                "or feature columns")
    for column in ([text_column] if text_column else list(feature_columns)):
        if column not in frame.columns:
            raise ConfigError(f'No column "{column}" in the data')
    return list(feature_columns)


def train(frame: pd.DataFrame, *, label_column: str, text_column: str | None = None,
          feature_columns: Sequence[str] = (), model: str = "linear", seed: int = 0,
          id_column: str | None = None) -> TrainedModel:
    """Fit the default pipeline on the rows that have a label.

    Without a text column or feature columns, the features are ``choose_features``: every
    column but the label, bookkeeping and id columns. ``left_out`` of the result names
    the columns not read, for the caller to show.
    """
    feature_columns = training_columns(frame, label_column=label_column,
                                       text_column=text_column,
                                       feature_columns=feature_columns, id_column=id_column)
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
    read = {label_column, *trained.columns}
    trained.left_out = [str(c) for c in frame.columns if c not in read]
    pipeline.fit(trained.inputs(labeled), labeled[label_column].astype(str))
    trained.classes = [str(c) for c in pipeline.classes_]
    log.info("Trained on %s; not read: %s", ", ".join(trained.columns),
             ", ".join(trained.left_out) or "none")
    return trained


def save(model: TrainedModel, path: str | Path) -> None:
    """Write the model with skops (no pickle)."""
    import skops.io as sio

    sio.dump({"pipeline": model.pipeline, "feature_columns": list(model.feature_columns),
              "text_column": model.text_column or "", "classes": list(model.classes),
              "n_labels": -1 if model.n_labels is None else int(model.n_labels)},
             str(path))


def load(path: str | Path) -> TrainedModel:
    """Read a model file written by ``save``.

    The file's types are listed before anything is built: one outside skops' default
    trust and ``TRUSTED_TYPES`` (a function such as ``builtins.eval``, an unknown class)
    refuses the whole file. Then the pipeline must be made of our own steps.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'Model file "{path}" does not exist')
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:  # a corrupt or foreign file: skops raises many kinds
        raise ConfigError(f'"{path}" is not a model file saved by this tool ({exc})') from None
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise ValidationError(
            f'Model file "{path}" was not loaded: it holds types that models made by '
            f"`train` never hold: {', '.join(refused)}", untrusted_types=refused)
    try:
        # skops checks again, against the same list: nothing outside it is ever built.
        state = sio.load(str(path), trusted=sorted(TRUSTED_TYPES))
    except Exception as exc:
        raise ConfigError(f'"{path}" is not a model file saved by this tool ({exc})') from None
    try:
        pipeline = state["pipeline"]
        foreign = sorted({_type_name(part) for part in _pipeline_parts(pipeline)}
                         - _own_step_names())
        n_labels = int(state.get("n_labels", -1))  # absent from files of earlier versions
        model = TrainedModel(pipeline, [str(c) for c in state["feature_columns"]],
                             str(state["text_column"] or "") or None,
                             [str(c) for c in state["classes"]],
                             n_labels=n_labels if n_labels >= 0 else None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ConfigError(f'"{path}" is not a model file saved by this tool '
                          f"({type(exc).__name__}: {exc})") from None
    if foreign:
        raise ValidationError(
            f'Model file "{path}" was refused: its pipeline has steps that `train` '
            f"never builds: {', '.join(foreign)}", untrusted_types=foreign)
    return model


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _own_step_names() -> set[str]:
    """Qualified names of the steps ``build_pipeline`` uses."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return {f"{k.__module__}.{k.__qualname__}" for k in (
        ColumnTransformer, HistGradientBoostingClassifier, TfidfVectorizer, SimpleImputer,
        LogisticRegression, Pipeline, OneHotEncoder, StandardScaler)}


def _pipeline_parts(value: Any) -> Iterator[Any]:
    """The pipeline and every step and column transformer in it, fitted copies included:
    those are what ``predict_proba`` runs."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(value, str) and value in ("drop", "passthrough"):
        return
    yield value
    if isinstance(value, Pipeline):
        for _, step in value.steps:
            yield from _pipeline_parts(step)
    elif isinstance(value, ColumnTransformer):
        for _, transformer, _ in [*value.transformers, *getattr(value, "transformers_", [])]:
            yield from _pipeline_parts(transformer)
