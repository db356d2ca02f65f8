"""The standalone model: a default scikit-learn pipeline, trained and saved with skops.

A model file is never unpickled, and it is read only when every type in it is one skops
trusts by default or one our own ``train`` writes (``TRUSTED_TYPES``): a file naming any
other type is refused before anything in it is built.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import warnings
import zipfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, ValidationError
from .export import partial_path
from .queries import ITEM_ID
from .sampler import QUERY_COLUMNS
from .sources import has_value

log = logging.getLogger(__name__)

MODEL_KINDS = ("linear", "gbdt")
#: What ``train`` makes of a feature column, by the type it finds there. The pipeline
#: only ever sees numbers (dates as seconds since 1970-01-01 UTC) and text categories, so
#: that a model file holds no value of another type (a pandas ``Timestamp`` is one that
#: ``load`` refuses), and a pool is converted the same way whatever format it comes in.
NUMBER, DATETIME, CATEGORY = "number", "datetime", "category"
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
#: TF-IDF vocabulary cap. The file and the load time grow with the vocabulary: uncapped,
#: 20 000 short documents gave 113 000 unigrams and bigrams, a 78 MB file that took 4 s to
#: load; 60 000 documents a 1.4 GB file, a minute and 3.7 GB of memory to load. The 50 000
#: most frequent terms make a 2 MB file that loads in about a second, and are more than
#: a linear model can learn weights for from the few thousand labels an active-learning
#: loop collects (on the label-efficiency benchmark's topics data, 4 000 documents, the
#: cross-validated accuracy is 91.6 % capped with min_df=2, 91.5 % uncapped).
TEXT_MAX_FEATURES = 50_000
#: From this many labeled documents, terms of a single document are left out (min_df=2):
#: that is most terms of a large corpus (Zipf: 73 % of the 113 000 above), and a weight
#: learned from one document only memorizes it. Below it the vocabulary is small anyway,
#: and with few labels a rare word may be all the model has to go on.
TEXT_MIN_DF_FROM = 1_000
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
#: Free text, told from a category: its values hold several words (a median of at least
#: ``FREE_TEXT_WORDS``) and at least ``FREE_TEXT_DISTINCT`` of them differ.
#: One-hot encoding learns nothing from values that never repeat; TF-IDF reads the words.
FREE_TEXT_WORDS = 3
FREE_TEXT_DISTINCT = 0.5
_FREE_TEXT_SAMPLE = 1_000  # values looked at: the decision needs no more
_FREE_TEXT_CHARS = 1_000  # of each value: enough to count a few words


@dataclass
class TrainedModel:
    """A fitted pipeline with the columns it reads and the classes it predicts."""

    pipeline: Any
    feature_columns: list[str]
    text_column: str | None
    classes: list[str]
    n_labels: int | None = None  # how many labeled rows it learned from (None: unknown)
    #: ``NUMBER``, ``DATETIME`` or ``CATEGORY`` per feature column, as found at training
    #: (empty in files of earlier versions: the pipeline then tells numbers apart).
    column_types: dict[str, str] = field(default_factory=dict)
    #: The column its labels came from (None: unknown, files of earlier versions).
    label_column: str | None = None
    #: Columns of the training table it does not read, besides the label (not saved).
    left_out: list[str] = field(default_factory=list, compare=False)
    #: Of those, the free-text columns left out of a table's default features (not saved).
    free_text_left_out: list[str] = field(default_factory=list, compare=False)
    #: Of those, the feature columns asked for that hold no value in the labeled rows
    #: (not saved).
    empty_left_out: list[str] = field(default_factory=list, compare=False)
    _projection: Any = field(default=None, init=False, repr=False, compare=False)
    #: The format each date column written as text was read with: chunks of one pool
    #: are read alike (see :func:`_parse_dates`).
    _date_formats: dict[str, str] = field(default_factory=dict, init=False, repr=False,
                                          compare=False)
    _categories: dict[str, set[str]] | None = field(default=None, init=False, repr=False,
                                                    compare=False)
    #: Category columns whose encoder learned None as a value (files of versions that
    #: gave it Parquet's None as it came): missing values are None for them.
    _none_learned: set[str] = field(default_factory=set, init=False, repr=False,
                                    compare=False)
    #: Category columns already warned of as holding no learned value (not saved).
    _warned_unknown: set[str] = field(default_factory=set, init=False, repr=False,
                                      compare=False)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in ``self.classes`` order."""
        return self.pipeline.predict_proba(self.inputs(frame))

    def inputs(self, frame: pd.DataFrame) -> pd.DataFrame | pd.Series:
        """What the pipeline reads of ``frame``: the text, or the feature columns with
        dates as seconds and categories as text, exactly as at training. A value that
        does not fit its column's type is a ``ValidationError`` naming the column."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValidationError(f"The data lacks the model's columns: {', '.join(missing)}")
        if self.text_column:
            return frame[self.text_column].fillna("").astype(str)
        columns = frame[self.feature_columns]
        types = self.column_types or self._pipeline_types()
        converted = {}
        for name in self.feature_columns:
            kind = types.get(name)
            if kind == CATEGORY and not self.column_types:
                continue  # files of earlier versions read categories as they come
            if kind in (NUMBER, DATETIME, CATEGORY):
                learned = self._learned_categories().get(name)
                series = _as_type(columns[name], kind, name, self._date_formats, learned,
                                  missing=None if name in self._none_learned else np.nan)
                if series is not columns[name]:
                    converted[name] = series
        if converted:
            columns = columns.copy()
            for name, series in converted.items():
                columns[name] = series
        self._warn_unknown_categories(columns, types)
        return columns

    def _warn_unknown_categories(self, columns: pd.DataFrame, types: Mapping[str, str]
                                 ) -> None:
        """Say once per column when none of a chunk's values (5 at least) is a category
        the model learned and they look otherwise (numbers where it learned names, or
        names where it learned numbers), or mostly differ from learned ones in case or
        spaces only: the column is likely encoded otherwise than at training (codes for
        names, "FREE" for "free"), and the model silently ignores it. New values of a
        column of many values (cities) look like the learned ones: not said."""
        learned = self._learned_categories() if self.pipeline is not None else {}
        for name in self.feature_columns:
            known = learned.get(name)
            if types.get(name) != CATEGORY or not known or name in self._warned_unknown:
                continue
            values = columns[name].dropna()
            # The head first: one learned value there settles it, without a pass over
            # every row of a big chunk.
            if len(values) < 5 or values.iloc[:200].astype(str).isin(known).any() \
                    or values.astype(str).isin(known).any():
                continue
            folded = {k.strip().casefold() for k in known}
            recased = values.iloc[:200].astype(str).str.strip().str.casefold() \
                .isin(folded).mean() > 0.5
            if not recased and \
                    (_numeric_share(values) > 0.5) == (_numeric_share(known) > 0.5):
                continue
            self._warned_unknown.add(name)
            examples = ", ".join(f'"{v}"' for v in sorted(known)[:3])
            log.warning('column "%s": none of the %d values read is a category the model '
                        'learned (such as %s; it learned %s%s%s): the model ignores the '
                        "column for them. Is it encoded as at training?", name, len(values),
                        _quoted(values.iloc[0]), examples, "…" if len(known) > 3 else "",
                        ", which they differ from only in case or spaces" if recased else "")

    def _learned_categories(self) -> dict[str, set[str]]:
        """The values the fitted encoder learned per category column (none before
        fitting)."""
        if self._categories is None:
            found: dict[str, set[str]] = {}
            none: set[str] = set()
            encode = getattr(self.pipeline, "named_steps", {}).get("encode")
            for name, steps, columns in getattr(encode, "transformers_", []):
                encoder = steps[-1] if name == "cat" and hasattr(steps, "steps") else None
                for column, values in zip(columns, getattr(encoder, "categories_", [])):
                    found[str(column)] = {str(v) for v in values}
                    if any(v is None for v in values):
                        none.add(str(column))
            if self.pipeline is None:
                return found  # training: not fitted yet, not to be remembered
            self._categories, self._none_learned = found, none
        return self._categories

    def _pipeline_types(self) -> dict[str, str]:
        """The number and category columns of a fitted pipeline (files that do not
        record ``column_types``)."""
        encode = getattr(self.pipeline, "named_steps", {}).get("encode")
        types: dict[str, str] = {}
        for name, _, columns in getattr(encode, "transformers_", []):
            if name in ("num", "cat") and not isinstance(columns, str):
                types.update({str(c): NUMBER if name == "num" else CATEGORY
                              for c in columns})
        return types

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
    histogram gradient-boosting model (``gbdt``).

    ``frame`` is what the pipeline will read (``TrainedModel.inputs``): its numeric
    columns are the numbers; for text, its length decides ``min_df``."""
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
        min_df = 2 if len(frame) >= TEXT_MIN_DF_FROM else 1
        return Pipeline([("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=min_df,
                                                   max_features=TEXT_MAX_FEATURES,
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
    return [c for c in frame.columns if str(c) not in skip and not is_identifier(frame, c)]


def is_identifier(frame: pd.DataFrame, column: Any) -> bool:
    """A column named ``id`` or ``…_id`` whose values all differ: it says which row, not
    what the row is, so a model would learn nothing from it."""
    return bool(_ID_NAME.search(str(column))) and frame[column].dropna().is_unique


def free_text_words(series: pd.Series) -> float | None:
    """The median number of words of a column of free text, or None when it is not one
    (numbers, dates, or a category: short values, or values that repeat)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series) \
            or _holds_dates(series):
        return None
    values = series.dropna().head(_FREE_TEXT_SAMPLE)
    if not values.map(lambda v: isinstance(v, str)).all():
        return None  # numbers among the text: refused as mixed types, not left out
    texts = values[values.str.strip() != ""].astype(str)
    if texts.empty:
        return None
    # Counted on the start of each value, without lists of words: documents may be long.
    words = float(texts.str.slice(0, _FREE_TEXT_CHARS).str.count(r"\S+").median())
    if words < FREE_TEXT_WORDS or texts.nunique() < FREE_TEXT_DISTINCT * len(texts):
        return None
    return words


def split_free_text(frame: pd.DataFrame, features: Sequence[str]
                    ) -> tuple[str | None, list[str], list[str]]:
    """``(text column, feature columns, free text left out)`` of default ``features``.

    When all of them are free text (:func:`free_text_words`), the model reads the
    wordiest one as text (TF-IDF); when only some are, the other columns are the features
    and the free-text columns are left out, for the caller to name: one-hot encoding
    would learn nothing from them.
    """
    features = list(features)
    words = {c: free_text_words(frame[c]) for c in features}
    texts = [c for c in features if words[c] is not None]
    if not texts:
        return None, features, []
    if len(texts) == len(features):
        return max(texts, key=lambda c: words[c] or 0.0), [], []
    return None, [c for c in features if c not in texts], texts


def refused_feature(column: str, *, label_column: str) -> str | None:
    """Why ``column`` can never be a feature of a model predicting ``label_column``, in
    the user's words, or None."""
    if column == label_column:
        return (f'"{column}" is the label column: a model reading it would learn the '
                "answer, not the item; leave it out of the features")
    if column in (*QUERY_COLUMNS, ITEM_ID):
        return (f'"{column}" is a column that `query` adds, and `query` refuses pools that '
                "have it: a model reading it could score no pool; leave it out of the "
                "features")
    return None


def training_columns(frame: pd.DataFrame, *, label_column: str,
                     text_column: str | None = None, feature_columns: Sequence[str] = (),
                     id_column: str | None = None
                     ) -> tuple[str | None, list[str], list[str]]:
    """Check the columns :func:`train` is asked to use, before any work; returns the
    text column, the feature columns and the free text left out (chosen by
    :func:`choose_features` and :func:`split_free_text` when neither a text column nor
    feature columns are given)."""
    if label_column not in frame.columns:
        raise ConfigError(f'No label column "{label_column}" in the data '
                          f"(columns: {', '.join(map(str, frame.columns))})")
    if text_column and feature_columns:
        raise ConfigError("Give a text column or feature columns, not both")
    if id_column and id_column not in frame.columns:
        raise ConfigError(f'No id column "{id_column}" in the data '
                          f"(columns: {', '.join(map(str, frame.columns))})")
    for column in ([text_column] if text_column else list(feature_columns)):
        reason = refused_feature(column, label_column=label_column)
        if reason:
            raise ConfigError(reason)
    free_text: list[str] = []
    if not text_column and not feature_columns:
        text_column, feature_columns, free_text = split_free_text(
            frame, choose_features(frame, label_column=label_column, id_column=id_column))
        if not text_column and not feature_columns:
            raise ConfigError(
                "No feature columns: every column of the data is the label, an id or "
                f"bookkeeping ({', '.join(map(str, frame.columns))}); give a text column "
                "or feature columns")
    for column in ([text_column] if text_column else list(feature_columns)):
        if column not in frame.columns:
            raise ConfigError(f'No column "{column}" in the data '
                              f"(columns: {', '.join(map(str, frame.columns))})")
    return text_column, list(feature_columns), free_text


def train(frame: pd.DataFrame, *, label_column: str, text_column: str | None = None,
          feature_columns: Sequence[str] = (), model: str = "linear", seed: int = 0,
          id_column: str | None = None,
          known_types: Mapping[str, str] | None = None) -> TrainedModel:
    """Fit the default pipeline on the rows that have a label.

    Without a text column or feature columns, the columns are ``split_free_text`` of
    ``choose_features``: every column but the label, bookkeeping and id columns, read as
    text when they are all free text. ``left_out`` of the result names the columns not
    read, for the caller to show, and ``free_text_left_out`` those of them that hold
    free text. A column whose values the pipeline cannot read (numbers mixed with text,
    lists) is a ``ValidationError`` naming it.
    ``known_types`` overrides the types guessed from ``frame``: the pool's
    (``source_types``) when ``frame`` comes from the store, which keeps a CSV pool's
    cells as text and dates as ISO text.
    """
    text_column, feature_columns, free_text = training_columns(
        frame, label_column=label_column, text_column=text_column,
        feature_columns=feature_columns, id_column=id_column)
    labeled = frame[has_value(frame[label_column])]
    raw = labeled[label_column].astype(str)
    target = raw.str.strip()  # "neg " typed in a table is the class "neg"
    spaced = raw != target
    if spaced.any():
        log.warning('%d label(s) of "%s" had spaces around them, taken without them '
                    "(such as %r)", int(spaced.sum()), label_column, raw[spaced].iloc[0])
    classes = sorted(target.unique())
    if len(classes) < 2:
        raise ValidationError(
            f"Training needs labels of at least 2 classes (found {len(classes)} among "
            f"{len(labeled)} labeled rows)", classes=classes)
    empty = [] if text_column else [c for c in feature_columns
                                    if not has_value(labeled[c]).any()]
    if empty and len(empty) == len(feature_columns):
        names = ", ".join(f'"{c}"' for c in empty)
        raise ValidationError(
            f"the feature column{'s' * (len(empty) > 1)} {names} "
            f"{'hold' if len(empty) > 1 else 'holds'} no value in the {len(labeled)} "
            "labeled rows: there is nothing to learn from. Choose columns that hold "
            "values (feature columns or a text column)", column=empty[0])
    # A column empty in every labeled row teaches nothing (and the imputer drops it
    # with a warning): left out of this model, maybe read by the next one.
    feature_columns = [c for c in feature_columns if c not in empty]
    known = known_types or {}
    types = {} if text_column else {c: known.get(c) or column_type(labeled[c], c)
                                    for c in feature_columns}
    trained = TrainedModel(None, list(feature_columns), text_column, classes,
                           n_labels=len(labeled), column_types=types,
                           label_column=str(label_column))
    read = {label_column, *trained.columns}
    trained.left_out = [str(c) for c in frame.columns if c not in read]
    trained.free_text_left_out = [str(c) for c in free_text]
    trained.empty_left_out = [str(c) for c in empty]
    inputs = trained.inputs(labeled)
    trained.pipeline = build_pipeline(inputs, text_column=text_column,
                                      feature_columns=feature_columns, model=model, seed=seed)
    if len(labeled) >= 20 and len(classes) > MANY_CLASSES_SHARE * len(labeled):
        log.warning(many_classes_note(label_column, len(classes), len(labeled)))
    try:
        with warnings.catch_warnings():  # said above, in the user's words
            warnings.filterwarnings("ignore", message=".*could represent a regression")
            trained.pipeline.fit(inputs, target)
    except (ValueError, TypeError) as exc:
        if text_column and "no terms remain" in str(exc):  # min_df: words of one text
            raise ValidationError(
                f'no word of the text column "{text_column}" is in more than one of the '
                f"{len(labeled)} labeled texts: there is nothing they share to learn "
                "from", column=text_column) from None
        if text_column and "empty vocabulary" in str(exc):
            raise ValidationError(
                f'the text column "{text_column}" holds no words in the {len(labeled)} '
                "labeled rows", column=text_column) from None
        faulty = _faulty_column(inputs, trained, model, seed)
        if faulty is None:
            raise
        raise faulty from exc
    _compact(trained.pipeline)
    trained.classes = [str(c) for c in trained.pipeline.classes_]
    log.info("Trained on %s%s; not read: %s", ", ".join(trained.columns),
             " (as text)" if text_column else "", ", ".join(trained.left_out) or "none")
    if trained.free_text_left_out:
        log.warning(free_text_note(trained.free_text_left_out))
    return trained


#: More classes than this share of the labeled rows (20 or more): the label is likely a
#: number.
MANY_CLASSES_SHARE = 0.5


def many_classes_note(label_column: str, n_classes: int, n_labeled: int) -> str:
    """What to say of a label column with about as many classes as labeled rows."""
    return (f'The label column "{label_column}" holds {n_classes} different values among '
            f"{n_labeled} labeled rows, each learned as a class of its own: if it is a "
            "number to predict (a regression), this model cannot learn it")


def wordy_categories(frame: pd.DataFrame, trained: TrainedModel) -> list[str]:
    """Category features of ``trained`` whose values are several words (repeated, which
    made them categories): one-hot encoded, they teach nothing of a new text."""
    found = []
    for name in trained.feature_columns:
        if trained.column_types.get(name) != CATEGORY or name not in frame.columns:
            continue
        values = frame[name].dropna().head(_FREE_TEXT_SAMPLE)
        texts = values[values.map(lambda v: isinstance(v, str))].str.slice(
            0, _FREE_TEXT_CHARS)
        if len(texts) and texts.str.count(r"\S+").median() >= FREE_TEXT_WORDS:
            found.append(name)
    return found


def free_text_note(columns: Sequence[str]) -> str:
    """What to do about free-text columns left out of a table's default features."""
    names = ", ".join(f'"{c}"' for c in columns)
    return (f"{names} hold{'s' * (len(columns) == 1)} free text, left out beside the "
            "table's other columns: give --text-column to train on a text alone, or "
            "--feature-columns to choose the columns")


def column_type(series: pd.Series, name: str) -> str:
    """``NUMBER``, ``DATETIME`` or ``CATEGORY``: how ``train`` reads a feature column.

    Numbers, booleans and decimals are numbers; dates and times (any time zone) are
    dates; the rest is categories. A column of Python objects that mixes numbers and
    text, or holds lists or mappings (JSONL), is refused, naming the column."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return NUMBER
    if _holds_dates(series):
        return DATETIME
    if not pd.api.types.is_object_dtype(series):  # category, string, period, interval…
        return CATEGORY
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("boolean", "integer", "floating", "mixed-integer-float", "decimal"):
        return NUMBER
    if inferred not in ("string", "empty"):
        _check_values(series, name)
    return CATEGORY


def source_types(frame: pd.DataFrame) -> dict[str, str]:
    """``NUMBER`` or ``DATETIME`` for the columns of a table read from its file whose
    type says they hold numbers (booleans too) or dates; the others are left out."""
    types = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            types[str(name)] = NUMBER
        elif _holds_dates(series):
            types[str(name)] = DATETIME
    return types


def _holds_dates(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series) or (
        pd.api.types.is_object_dtype(series)
        and pd.api.types.infer_dtype(series, skipna=True) in ("datetime", "datetime64", "date"))


def _check_values(series: pd.Series, name: str) -> None:
    """Refuse a column of objects that mixes numbers and text, or holds containers."""
    number = text = other = None
    for value in series.dropna():
        if isinstance(value, str):
            text = value if text is None else text
        elif isinstance(value, (bool, int, float, np.number)):
            number = value if number is None else number
        elif isinstance(value, (list, tuple, dict, set, np.ndarray)):
            other = value
            break
    if other is not None:
        raise ValidationError(
            f'column "{name}" holds lists or mappings (such as {_quoted(other)}), which a '
            "model cannot read: train on columns of numbers, text or dates", column=name)
    if number is not None and text is not None:
        raise ValidationError(
            f'column "{name}" mixes numbers and text (such as {_quoted(number)} and '
            f"{_quoted(text)}): give it one type, or leave it out of the feature columns",
            column=name)


def _finite_numbers(series: pd.Series, name: str) -> pd.Series:
    """``series`` (numbers) as it is, or a refusal of its infinite numbers named by their
    column: scikit-learn's own error names neither the column nor the value."""
    if series.dtype.kind != "f":
        return series
    values = series.to_numpy()
    infinite = np.isinf(values)
    if infinite.any():
        raise ValidationError(
            f'column "{name}" holds infinite numbers ({int(infinite.sum())} of the '
            f"{len(values):,} rows checked, such as {_quoted(values[infinite][0])}): a "
            "model reads finite numbers only; correct these values, or leave them blank",
            column=name)
    return series


def _numeric_share(values: Any) -> float:
    """The share of ``values`` (up to 200) that read as numbers ("3", 3.0, "-1e2")."""
    sample = pd.Series(list(values)[:200], dtype=object).astype(str)
    return float(pd.to_numeric(sample, errors="coerce").notna().mean()) if len(sample) else 0.0


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _is_none(value: Any) -> bool:
    return value is None


def _as_type(series: pd.Series, kind: str, name: str,
             date_formats: dict[str, str] | None = None,
             learned: set[str] | None = None, missing: Any = np.nan) -> pd.Series:
    """``series`` as the pipeline reads a column of type ``kind`` (the same object when
    it already is so); ``date_formats``: see :func:`_parse_dates`; ``learned``: the
    values a category column was fitted on (see :func:`_as_text`); ``missing``: what a
    missing category is."""
    if kind == CATEGORY:
        # One missing value, NaN, whatever the file gave (a CSV NaN, Parquet None, pd.NA):
        # the imputer takes NaN only, and None would be a category of its own (which
        # model files of earlier versions learned: ``missing`` is then None).
        present = series.notna()
        if pd.api.types.is_object_dtype(series) and \
                pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
            same = series[~present].map(_is_nan if _is_nan(missing) else _is_none).all()
            return series if present.all() or same else series.where(present, missing)
        text = series.astype(object).where(present, missing)
        text[present] = series[present].map(lambda v: _as_text(v, learned))
        return text
    if kind == NUMBER:
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iuf":
            return _finite_numbers(series, name)
        # Booleans, decimals, nullable integers (pd.NA), numbers written as text.
        given = series.where(~_blank(series)) if series.dtype == object else series
        if given.dtype == object:
            given = given.map(lambda v: _BOOLEAN_TEXT.get(v, v) if isinstance(v, str) else v)
        values = pd.to_numeric(given, errors="coerce")
    else:
        if pd.api.types.is_datetime64_any_dtype(series):
            times = (series.dt.tz_localize("UTC") if series.dt.tz is None
                     else series.dt.tz_convert("UTC"))
            return (times - _EPOCH).dt.total_seconds()
        given = series.where(~_blank(series)) if series.dtype == object else series
        times = _parse_dates(given, name, {} if date_formats is None else date_formats)
        values = (times - _EPOCH).dt.total_seconds()
    wrong = values.isna() & given.notna()
    if wrong.any():
        expected = "numbers" if kind == NUMBER else "dates"
        count = int(wrong.sum())
        raise ValidationError(
            f'column "{name}" holds text where the model was trained on {expected} '
            # Of the rows checked: a pool is scored chunk by chunk, and the first chunk
            # holding such a value stops it.
            f"({count} of the {len(given):,} rows checked, such as "
            f"{_quoted(given[wrong].iloc[0])}): "
            "correct these values, or train a model on data like these", column=name)
    return _finite_numbers(pd.Series(np.asarray(values.to_numpy(dtype=float, na_value=np.nan)),
                             index=series.index, name=series.name), name)


#: pandas 2 guesses one date format from the first value, and makes the others NaT.
_MIXED_FORMATS = {"format": "mixed"} if int(pd.__version__.split(".")[0]) >= 2 else {}


def _parse_dates(given: pd.Series, name: str, formats: dict[str, str]) -> pd.Series:
    """Dates written as text, read with one format for the whole column when one fits.

    Read value by value, "02/01/2020" is 1 February and "13/01/2020" 13 January in the
    same column. So: the format this column was read with before (``formats``, updated:
    the chunks of a pool read alike), else ISO 8601, else the format of the first value
    read month first, else day first (whichever reads every value), else value by value
    (formats mixed in one column). Each distinct text is parsed once."""
    from pandas.tseries.api import guess_datetime_format

    codes, uniques = pd.factorize(given)  # missing values: code -1
    distinct = pd.Series(uniques, dtype=object)

    def back(parsed: pd.Series) -> pd.Series:
        return pd.Series(parsed.array.take(codes, allow_fill=True), index=given.index)

    def guesses() -> Iterator[str | None]:
        first = distinct.iloc[0]
        if isinstance(first, str):
            yield guess_datetime_format(first.strip())
            yield guess_datetime_format(first.strip(), dayfirst=True)

    with warnings.catch_warnings():  # "could not infer format", "dayfirst": said below
        warnings.simplefilter("ignore")
        if distinct.empty:
            return back(pd.to_datetime(distinct, utc=True))
        # With one format, pandas reads a time without offset after one with an offset
        # in that offset; value by value, in UTC, as every time without offset.
        text = distinct[distinct.map(lambda v: isinstance(v, str))].astype(str)
        zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)\s*$", regex=True)
        mixed_zones = bool(zoned.any()) and not bool(zoned.all())
        tried: set[str] = set()
        for fmt in [] if mixed_zones else itertools.chain([formats.get(name), "ISO8601"],
                                                           guesses()):
            if not fmt or fmt in tried:
                continue
            tried.add(fmt)
            try:
                parsed = pd.to_datetime(distinct, utc=True, errors="coerce", format=fmt)
            except (ValueError, TypeError):
                continue
            if not parsed.isna().any():
                formats[name] = fmt
                return back(parsed)
        return back(pd.to_datetime(distinct, utc=True, errors="coerce", **_MIXED_FORMATS))


#: Booleans as a CSV file writes them (pandas' defaults), for columns read as text.
_BOOLEAN_TEXT = {"True": 1.0, "TRUE": 1.0, "true": 1.0,
                 "False": 0.0, "FALSE": 0.0, "false": 0.0}


def _blank(series: pd.Series) -> pd.Series:
    """Which values are empty or blank text (missing values, as in a CSV file)."""
    return series.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)


def _as_text(value: Any, learned: set[str] | None = None) -> str:
    """A category value as text; dates as the store keeps them (ISO 8601). A whole
    number read as a float (a CSV column of codes 1, 2 with an empty cell) is the text
    the model learned: "1.0" if it learned that, else "1"."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        plain = str(value)
        return plain if learned is not None and plain in learned else str(int(value))
    return str(value)


def _quoted(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:39] + "…"


def _faulty_column(inputs: pd.DataFrame, trained: TrainedModel, model: str,
                   seed: int) -> ValidationError | None:
    """After a failed fit, the first feature column whose encoding alone fails, as a
    ``ValidationError`` naming it (None: no single column is to blame)."""
    if trained.text_column:
        return None
    for name in trained.feature_columns:
        try:
            build_pipeline(inputs[[name]], feature_columns=[name], model=model,
                           seed=seed)[:-1].fit_transform(inputs[[name]])
        except (ValueError, TypeError) as exc:
            return ValidationError(f'column "{name}" cannot be read by the model: '
                                   f"{' '.join(str(exc).split())[:200]}", column=name)
    return None


def _compact(pipeline: Any) -> None:
    """Shrink what a fitted pipeline saves: a capped TF-IDF vocabulary maps terms to numpy
    ints, which skops stores as one file each (30 000 files for 30 000 terms); Python ints
    share one. ``stop_words_`` (terms left out) is there for introspection only, as
    scikit-learn's documentation says, and may be larger than the vocabulary."""
    for _, step in getattr(pipeline, "steps", []):
        if hasattr(step, "vocabulary_"):
            step.vocabulary_ = {str(term): int(i) for term, i in step.vocabulary_.items()}
            if hasattr(step, "stop_words_"):
                del step.stop_words_


def save(model: TrainedModel, path: str | Path, *, private: bool = False) -> None:
    """Write the model with skops (no pickle), compressed, atomically: the file appears
    whole or not at all (a failure or Ctrl-C keeps the previous one), and only when
    :func:`load` would read it. ``private``: readable by its owner only (0600), like the
    store it was trained from (a text model holds words of the labeled texts)."""
    import skops.io as sio

    path = Path(path)
    partial = partial_path(path)
    state = {"pipeline": model.pipeline, "feature_columns": list(model.feature_columns),
             "text_column": model.text_column or "", "classes": list(model.classes),
             "n_labels": -1 if model.n_labels is None else int(model.n_labels),
             "column_types": {str(k): str(v) for k, v in model.column_types.items()},
             "label_column": model.label_column or ""}
    try:
        if private:  # made private before a byte is written: never readable by others
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            os.chmod(partial, 0o600)  # a partial left by a killed run keeps its own mode
        sio.dump(state, str(partial), compression=zipfile.ZIP_DEFLATED)
        refused = sorted(set(sio.get_untrusted_types(file=str(partial))) - TRUSTED_TYPES)
        if refused:  # a bug of ours: never write what `load` refuses
            raise ValidationError(
                f'The model was not saved to "{path}": it holds types that loading it '
                f"would refuse ({', '.join(refused)}); leave out the unusual feature "
                f"columns ({', '.join(model.columns)})", untrusted_types=refused)
        os.replace(partial, path)
    finally:
        with suppress(FileNotFoundError):
            partial.unlink()


def load(path: str | Path) -> TrainedModel:
    """Read a model file written by ``save``.

    The file's types are listed before anything is built: one outside skops' default
    trust and ``TRUSTED_TYPES`` (a function such as ``builtins.eval``, an unknown class)
    refuses the whole file. Then the pipeline must be made of our own steps.
    """
    import skops.io as sio

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f'"{path}" is a directory: give the model file (.skops) that '
                          "`train` wrote")
    if not path.is_file():
        raise ConfigError(f'Model file "{path}" does not exist')
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:  # not "not a model file": it may well be one
        raise ConfigError(f'Cannot read the model file "{path}": '
                          f"{(exc.strerror or str(exc)).lower()}") from None
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
        types = {str(k): str(v) for k, v in dict(state.get("column_types", {})).items()}
        model = TrainedModel(pipeline, [str(c) for c in state["feature_columns"]],
                             str(state["text_column"] or "") or None,
                             [str(c) for c in state["classes"]],
                             n_labels=n_labels if n_labels >= 0 else None,
                             column_types=types,
                             label_column=str(state.get("label_column") or "") or None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ConfigError(f'"{path}" is not a model file saved by this tool '
                          f"({type(exc).__name__}: {exc})") from None
    if foreign:
        raise ValidationError(
            f'Model file "{path}" was refused: its pipeline has steps that `train` '
            f"never builds: {', '.join(foreign)}", untrusted_types=foreign)
    # Only the types were checked so far: the parts must also make a fitted classifier
    # of the classes the file names.
    try:
        fitted = [str(c) for c in pipeline.classes_] if hasattr(pipeline, "predict_proba") \
            else None
    except (AttributeError, TypeError):
        fitted = None
    if fitted is None or fitted != model.classes:
        raise ConfigError(f'"{path}" is not a model file saved by this tool (its pipeline '
                          "is no fitted classifier of the classes it names)")
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
