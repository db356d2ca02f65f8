"""DSS glue of the two query sampler recipes (F-3); the scoring is in the core.

- :func:`run_query_sampler`: ``active-learning-query-sampler``. A saved model (any DSS
  classifier, used only through ``get_predictor().predict(df, with_probas=True)``) scores
  the unlabeled rows chunk by chunk (:func:`assisted_labeling.sampler.score_pool`).
- :func:`run_detection_sampler`: ``object-detection-query-sampler``. A detector's
  predictions dataset is scored without any model (:mod:`assisted_labeling.detection`).

Both write ``queries`` = the unlabeled columns (``path`` for images) + ``uncertainty`` +
``session``, most uncertain first, and leave out the items already labeled: with the
optional ``metadata`` input (the labeling webapp's metadata dataset), an item whose
latest metadata row for some annotator is LABELED is left out. The metadata dataset holds
several rows per (data_id, annotator) between compactions (edits and skips append
rows), so only the latest row per (data_id, annotator) counts, like the trigger and the
webapp's restore. Skipped items stay in the queries. Without the metadata input, every
item is scored, as the 4.x recipes did. Rows labeled with the 4.x webapp are named in the
metadata by its hash of the row: they are recognised by that hash too
(:mod:`assisted_labeling.dku.legacy`, computed only when the metadata holds such ids).
The log tells how many labeled items were found in the pool; none at all, with a pool
that has rows, is a warning: the recipe's "Id column" (or, for images, the paths) must
name items as the labeling webapp does.

``session`` is the run counter ``ML-ASSISTED-LABELING__<queries>__session`` (a project
variable, 4.x name): each run stamps ``previous + 1`` into the queries and saves it in
the variable once the queries are written, so a failed run changes nothing. The webapp
re-ranks its queue and the every-n trigger restarts its count when the variable changes.
The classifier sampler also saves which saved model ranked the queries,
``ML-ASSISTED-LABELING__<queries>__model`` (:func:`~assisted_labeling.loop.model_variable`):
the webapp shows the stopping warnings of that model
(:class:`assisted_labeling.dku.loop.StoppingWarnings`).
"""

from __future__ import annotations

import heapq
import logging
import math
import pickle
import posixpath
from dataclasses import dataclass
from typing import Any, Collection, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import detection, loop
from ..config import whole_number
from ..errors import ConfigError, LabelingError, ValidationError
from ..sampler import (
    MODEL_UNCERTAINTY_COLUMN,
    SESSION_COLUMN,
    UNCERTAINTY_COLUMN,
    PoolKeys,
    score_pool,
)
from ..sampling import DEFAULT_COLD_START, STRATEGIES, SUM_TOLERANCE
from . import datasets as dsio
from .legacy import LegacyKeys, keys_with_legacy

log = logging.getLogger(__name__)

# Recipe parameters and roles, named as the recipe forms show them.
LABELS = {
    "strategy": "Query strategy", "max_queries": "Maximum number of queries",
    "id_column": "Id column", "diversity_batch_size": "Batch size",
    "cold_start": "Cold start",
    "path_column": "Image path column", "predictions_column": "Predictions column",
    "aggregation": "Aggregation over boxes", "confidence": "Minimum box confidence",
    "empty_images": "Images without boxes",
    "saved_model": "Classifier Model", "unlabeled_samples": "Unlabeled Data",
    "metadata": "Labeling metadata", "queries": "Data to be labeled",
}
#: The object-detection recipe's name of its input (recipe.json), in its messages.
DETECTION_INPUT = "Unlabeled image predictions"
DEFAULT_STRATEGY = "confidence"  # what the 4.x form preselected
FOLDER_PATH_COLUMN = "path"
EMPTY_IMAGES = {"most_uncertain": 1.0, "least_uncertain": 0.0}
CHUNK_ROWS = dsio.POOL_CHUNK
FOLDER_MODEL_HINT = (
    f'With a folder as input, the model is given a "{FOLDER_PATH_COLUMN}" column holding '
    'each file\'s path in the folder (like "/cats/1.png"): it must be a model that takes '
    "such a column as its input. Otherwise, build a dataset of the files' features and use "
    "it as input")
def env_hint(exc: BaseException) -> str:
    """:data:`MODEL_ENV_HINT` after a failure to unpickle the model (a module or a class
    this environment lacks), which DSS may pass on as its own exception's text; nothing
    after others (no such model or version)."""
    text = str(exc)
    if isinstance(exc, (ImportError, AttributeError, pickle.UnpicklingError)) or any(
            words in text for words in ("No module named", "Can't get attribute", "pickle")):
        return f". {MODEL_ENV_HINT}"
    return ""


#: Why a saved model may not load here, and what to do.
MODEL_ENV_HINT = (
    "The model is loaded in the plugin's code environment: it needs the Python packages "
    "the model was trained with (XGBoost, LightGBM...) and versions of scikit-learn that "
    "can read it. Add them to the plugin's code environment, or retrain the model in a "
    "code environment like the plugin's")
FOLDER_CHUNK = 1_000  # image models are slow: report progress more often


# -- settings ---------------------------------------------------------------------------
def _problem(key: str, message: str, value: Any) -> ConfigError:
    return ConfigError(f'Setting "{LABELS[key]}": {message} (currently {value!r})',
                       setting=LABELS[key])


def _choice(raw: Mapping[str, Any], key: str, choices: Any, default: str) -> str:
    value = raw.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in choices:  # a list or dict: unhashable
        raise _problem(key, f"choose one of {', '.join(choices)}", value)
    return str(value)


def _whole(raw: Mapping[str, Any], key: str, minimum: int = 0) -> int | None:
    """An INT parameter (DSS sends 100.0); None when empty."""
    return whole_number(LABELS[key], raw.get(key), default=None, minimum=minimum)


def _column(raw: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if not isinstance(value, str):
        raise _problem(key, "expected a column name", value)
    return value  # as the column picker sends it: " id" and "id" are two columns


def _max_queries(raw: Mapping[str, Any]) -> int | None:
    """Empty or 0: every unlabeled item (4.x behaviour)."""
    return _whole(raw, "max_queries") or None


@dataclass(frozen=True)
class SamplerSettings:
    """The query sampler's parameters, validated."""

    strategy: str = DEFAULT_STRATEGY
    max_queries: int | None = None
    id_column: str | None = None
    diversity_batch_size: int = 100
    cold_start: bool = True


def parse_sampler_settings(raw: Mapping[str, Any]) -> SamplerSettings:
    """Validate a query sampler config (4.x or 5.x); unknown keys (4.x GPU options) are
    ignored. Raises ConfigError naming the setting."""
    batch = _whole(raw, "diversity_batch_size", minimum=1)
    cold_start = True if raw.get("cold_start") is None else raw["cold_start"]
    if not isinstance(cold_start, bool):
        raise _problem("cold_start", "expected true or false", cold_start)
    return SamplerSettings(
        strategy=_choice(raw, "strategy", STRATEGIES, DEFAULT_STRATEGY),
        max_queries=_max_queries(raw), id_column=_column(raw, "id_column", None),
        diversity_batch_size=batch or 100, cold_start=cold_start)


@dataclass(frozen=True)
class DetectionSettings:
    """The object-detection query sampler's parameters, validated."""

    path_column: str = "path"
    predictions_column: str = "prediction"
    aggregation: str = "max"
    min_confidence: float = 0.0
    empty_uncertainty: float = detection.DEFAULT_EMPTY_UNCERTAINTY
    max_queries: int | None = None


def parse_detection_settings(raw: Mapping[str, Any]) -> DetectionSettings:
    """Validate an object-detection sampler config; raises ConfigError naming the setting.

    ``confidence`` keeps its 4.x meaning: the minimum confidence of a box to count. It
    cannot bring back boxes a scoring threshold already dropped (see
    :func:`run_detection_sampler`).
    """
    value = raw.get("confidence")
    min_confidence = 0.0
    if value is not None and value != "":
        try:
            min_confidence = float(value)
        except (TypeError, ValueError):
            min_confidence = math.nan
        if isinstance(value, bool) or not 0.0 <= min_confidence <= 1.0:
            raise _problem("confidence", "expected a number between 0 and 1", value)
    empty = _choice(raw, "empty_images", EMPTY_IMAGES, "most_uncertain")
    return DetectionSettings(
        path_column=_column(raw, "path_column", "path") or "path",
        predictions_column=_column(raw, "predictions_column", "prediction") or "prediction",
        aggregation=_choice(raw, "aggregation", detection.AGGREGATIONS, "max"),
        min_confidence=min_confidence, empty_uncertainty=EMPTY_IMAGES[empty],
        max_queries=_max_queries(raw))


# -- inputs -----------------------------------------------------------------------------
def _dataiku() -> Any:
    import dataiku

    return dataiku


def open_unlabeled(name: str, role: str = LABELS["unlabeled_samples"]
                   ) -> tuple[Any, dsio.Schema | None]:
    """``(dataset, schema)`` or ``(folder, None)``: a recipe input role gives a name only;
    ``role``: the input's name in the recipe's form, for messages."""
    dataiku = _dataiku()
    try:
        dataset = dataiku.Dataset(name)
        schema = dataset.read_schema(raise_if_empty=False) or []
        return dataset, [{"name": str(c["name"]), "type": c.get("type", "string")}
                         for c in schema]
    except Exception as dataset_error:
        try:
            return dataiku.Folder(name), None
        except Exception:
            raise ConfigError(f'Input "{role}": {name} is neither a readable dataset nor a '
                              f"folder ({dataset_error})") from None


def folder_key(path: Any) -> str:
    """A file's item id as the labeling webapps give it: its folder path, "/a/b.png",
    normalised ("a.png" and "/a.png" are one file, so are "imgs/./b.png" and
    "/imgs/b.png"). A path that leaves the folder keeps its ".." ("/../c.png") and an
    empty one gives "/": they name no file of the folder (:func:`outside_folder`)."""
    relative = posixpath.normpath(str(path).strip().lstrip("/") or ".")
    return "/" if relative == "." else "/" + relative


_URL = r"[A-Za-z][A-Za-z0-9+.-]*://"  # "https://host/a.png", "s3://bucket/a"


def outside_folder(key: str) -> bool:
    """Whether a :func:`folder_key` names no file in the folder: its root, or above it."""
    return key in ("/", "/..") or key.startswith("/../")


def labeled_item_ids(dataset: Any, *, chunksize: int = 50_000) -> set[str]:
    """Data ids whose latest metadata row, for at least one annotator, is LABELED: the
    labels the ``every-nb-labeling`` trigger counts (:func:`~.datasets.metadata_events`)."""
    try:
        events = dsio.metadata_events(dataset, chunksize=chunksize,
                                      setting=LABELS["metadata"], kind="Input")
        latest = loop.latest_events(events)
    except LabelingError:
        raise
    except Exception as exc:
        raise dsio.read_error("labeling metadata dataset", dataset, exc) from exc
    return {data_id for (data_id, _), event in latest.items() if event.status == loop.LABELED}


def _labeled(metadata: str | None, *, folder: bool) -> set[str]:
    if not metadata:
        log.warning("No labeling metadata input: items already labeled are scored too. Add "
                    "the labeling webapp's metadata dataset as input to leave them out.")
        return set()
    ids = labeled_item_ids(_dataiku().Dataset(metadata))
    return {folder_key(i) for i in ids} if folder else ids


class LabeledMatches:
    """``exclude_keys`` for :func:`~assisted_labeling.sampler.score_pool`: True for the
    pool keys of labeled items. It remembers which labeled keys it met and how many pool
    rows it saw, for an honest log (:func:`_log_left_out`). Memory: O(len(labeled))."""

    def __init__(self, labeled: Collection[str]) -> None:
        self.labeled = labeled
        self.found: set[str] = set()
        self.rows = 0

    def __call__(self, keys: Sequence[str]) -> np.ndarray:
        self.rows += len(keys)
        mask = np.fromiter((k in self.labeled for k in keys), dtype=bool, count=len(keys))
        if mask.any():
            self.found.update(np.asarray(keys, dtype=object)[mask].tolist())
        return mask


def _check_free_columns(columns: list[str], reserved: tuple[str, ...], name: str,
                        role: str = LABELS["unlabeled_samples"]) -> None:
    taken = [c for c in reserved if c in columns]
    if taken:
        raise ConfigError(f'Input "{role}": {name} already has a column '
                          f"{', '.join(taken)}, which the queries add; is it a queries "
                          "dataset? Use the unlabeled data the labeling webapp reads")


def _log_matches(found: int, total: int, items: str, where: str, *, outcome: str = "",
                 warning: str | None = None) -> None:
    """Log how many of the ``total`` ``items`` were found in ``where``, then ``warning``."""
    log.info("%d of the %d %s were found in %s%s", found, total, items, where, outcome)
    if warning:
        log.warning("%s", warning)


def _log_legacy(legacy: LegacyKeys, unlabeled: str) -> None:
    matched, total = len(legacy.matched), len(legacy.legacy)
    _log_matches(matched, total, "items labeled with the 4.x plugin", unlabeled,
                 warning=None if matched == total else (
                     f"{total - matched} items labeled with the 4.x plugin were not found "
                     f"in {unlabeled}: removed rows, or rows whose column types changed "
                     "since (4.x ids hash the typed values); if they are still in the pool, "
                     "they can be queried again"))


def _log_left_out(matches: LabeledMatches, where: str, *, none_found: str,
                  legacy: LegacyKeys | None = None) -> None:
    """How many labeled items the pool held (and left out); ``none_found`` is the
    warning when the pool has rows but none of them is a labeled item. Items labeled
    with the 4.x plugin are told apart (:func:`_log_legacy`): the warning is about the
    others, whose ids follow the settings."""
    total, found = len(matches.labeled), len(matches.found)
    ours, ours_found = total, found
    if legacy is not None:
        ours -= len(legacy.legacy)
        ours_found -= len(legacy.matched)
    warn = matches.rows > 0 and ours > 0 and ours_found == 0
    _log_matches(found, total, "labeled items", where,
                 outcome=" and left out of the queries", warning=none_found if warn else None)
    if legacy is not None:
        _log_legacy(legacy, where)


# -- session ----------------------------------------------------------------------------
def read_session(project: Any, queries: str) -> int:
    """The sampler's last session number for this queries dataset (0 before any run)."""
    name = loop.session_variable(queries)
    return loop.session_number(loop.variable_value(project.get_variables(), name))


def model_id(name: str) -> str:
    """A saved model's id without its project key: recipe roles name it "PROJ.id", a
    SAVED_MODEL parameter "id"."""
    return str(name).split(".", 1)[-1]


def save_session(project: Any, queries: str, session: int, *, model: str | None = None
                 ) -> None:
    """Set the session variable and the model variable (removed when no saved model
    ranked the queries): read-modify-write kept short, since ``set_variables`` replaces
    both scopes. They stay in the scope the session was found in (standard by
    default)."""
    name = loop.session_variable(queries)
    variables = project.get_variables()
    standard = variables.setdefault("standard", {})
    local = variables.setdefault("local", {})
    scope = local if name in local and name not in standard else standard
    scope[name] = int(session)
    for values in (standard, local):
        values.pop(loop.model_variable(queries), None)
    if model:
        scope[loop.model_variable(queries)] = model_id(model)
    project.set_variables(variables)


def _write(queries: str, frame: pd.DataFrame, session: int, *, model: str | None = None
           ) -> None:
    """Write the queries and count the run as a session; an empty table (every item
    labeled) starts none: no label can follow it, and the every-n trigger goes on
    counting the labels of the session that is."""
    dataiku = _dataiku()
    dataiku.Dataset(queries).write_with_schema(frame)
    if frame.empty:
        log.warning("Every item is labeled: wrote an empty queries dataset %s; the "
                    "session stays %d", queries, session - 1)
        return
    # Counted once the queries are whole: the labeling webapp re-ranks its queue when the
    # variable changes, and would otherwise rank by a dataset half written.
    try:
        save_session(dataiku.Project(), queries, session, model=model)
    except Exception as exc:
        raise LabelingError(
            f"The queries were written to {queries}, but their session could not be "
            f"counted in the project variable {loop.session_variable(queries)} ({exc}): "
            "the labeling webapp keeps its ranking until a run counts one. Check that "
            "this recipe may write project variables, and run it again") from exc
    log.info("Wrote %d queries to %s (session %d)", len(frame), queries, session)


def _no_rows(source: str, *, folder: bool = False,
             role: str = LABELS["unlabeled_samples"]) -> ConfigError:
    what = f"the folder {source} has no files" if folder else f"{source} has no rows"
    return ConfigError(f'Input "{role}": {what}: nothing to rank', setting=role)


class _Progress:
    """Logs how many pool rows were read (score_pool calls it after each chunk)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.rows = 0

    def __call__(self, rows: int) -> None:
        self.rows = rows
        log.info("%s: %d rows read", self.what, rows)


# -- the classifier sampler -------------------------------------------------------------
_NO_LABELED_ROW = (
    'Setting "{label}": none of the {n} labeled items of the metadata matches a row of '
    "{source}, so none is left out of the queries. The recipe's \"{label}\" must be the "
    "one the labeling webapp uses (currently {current}). Unless {source} already leaves "
    "out the labeled rows: then all is well")
_NO_LABELED_FILE = (
    'Input "Labeling metadata": none of the {n} labeled files of the metadata is in the '
    "folder {source}, so none is left out of the queries: is it the folder the labeling "
    "webapp uses? Unless the labeled files were moved out of it: then all is well")


class ModelScorer:
    """``predict_proba`` for score_pool, through the public predictor API only."""

    def __init__(self, predictor: Any, source: str, *, folder_hint: bool = False) -> None:
        self.predictor = predictor
        self.source = source
        self.folder_hint = folder_hint
        self.unscored = 0
        self.rescaled = 0
        self.n_classes: int | None = None

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        try:
            out = self.predictor.predict(frame, with_probas=True)
        except Exception as exc:
            message = f"The saved model could not score {self.source}: {exc}"
            if self.folder_hint:
                message += f". {FOLDER_MODEL_HINT}"
            raise LabelingError(message) from exc
        columns = [c for c in out.columns if str(c).startswith("proba_")]
        if not columns:
            if len(out) and out.notna().to_numpy().any():
                raise self._not_a_classifier()
            # The model's preprocessing dropped every row of the chunk: DSS then answers
            # a lone "prediction" column of NaN (saved_model.py, "special case for all
            # empty scoring data"). Those rows are unscored, like dropped rows below.
            values = np.full((len(frame), self._classes()), np.nan)
        else:
            probas = out[columns]
            if len(probas) == len(frame) and not probas.index.equals(frame.index):
                probas = probas.set_axis(frame.index)  # a positional answer
            values = probas.reindex(frame.index).to_numpy(dtype=np.float64)
            self.n_classes = self.n_classes or values.shape[1]
        # Rows the model's preprocessing dropped (or could not score) have no
        # probabilities: a one-hot row scores 0 with every strategy, so they come last.
        unscored = ~np.isfinite(values).all(axis=1)
        if unscored.any():
            self.unscored += int(unscored.sum())
            values[unscored] = 0.0
            values[unscored, 0] = 1.0
        return self._as_probabilities(values)

    def _as_probabilities(self, values: np.ndarray) -> np.ndarray:
        """Class scores that do not sum to 1 (a one-vs-rest or MLflow model) rescaled by
        their sum: the user cannot change what a saved model answers. Negative scores
        are refused."""
        if (values < 0).any():
            row = int(np.flatnonzero((values < 0).any(axis=1))[0])
            raise ConfigError(f'Input "{LABELS["saved_model"]}": the saved model gives '
                              f"negative class probabilities (row {row} of "
                              f"{self.source}); it cannot rank items by uncertainty",
                              setting=LABELS["saved_model"])
        sums = values.sum(axis=1)
        off = np.abs(sums - 1.0) > SUM_TOLERANCE
        if off.any():
            if (sums[off] <= 0).any():
                raise ConfigError(f'Input "{LABELS["saved_model"]}": the saved model gives '
                                  f"class probabilities that are all 0 for some rows of "
                                  f"{self.source}", setting=LABELS["saved_model"])
            self.rescaled += int(off.sum())
            values[off] /= sums[off, None]
        return values

    def _not_a_classifier(self) -> ConfigError:
        return ConfigError(f'Input "{LABELS["saved_model"]}": the saved model gives no '
                           "class probabilities (proba_* columns); only classification "
                           "models can rank items by uncertainty",
                           setting=LABELS["saved_model"])

    def _classes(self) -> int:
        """How many classes the model has: seen in an earlier chunk, else asked to the
        predictor (``get_classes()``: None for a regression model)."""
        if self.n_classes is None:
            try:
                classes = self.predictor.get_classes()
            except Exception as exc:
                raise LabelingError(
                    f"The saved model scored none of the first rows of {self.source} "
                    "(its preprocessing dropped them all: empty values in a feature "
                    f"whose missing values drop the row?) and does not tell its classes "
                    f"({exc})") from exc
            if classes is None:
                raise self._not_a_classifier()
            self.n_classes = len(classes)
        return self.n_classes


def _dataset_chunks(dataset: Any, schema: dsio.Schema, chunksize: int, id_column: str | None
                    ) -> Iterator[pd.DataFrame]:
    """The pool in chunks, as the webapp reads it (so item ids match); an empty frame
    with the schema's columns when the dataset has no rows."""
    seen = False
    for frame in dsio.iter_pool_frames(dataset, chunksize=chunksize, id_column=id_column):
        seen = True
        yield frame
    if not seen:
        yield pd.DataFrame(columns=dsio.names(schema))


def run_query_sampler(config: Mapping[str, Any], *, model: str, unlabeled: str, queries: str,
                      metadata: str | None = None, chunksize: int = CHUNK_ROWS
                      ) -> pd.DataFrame:
    """The ``active-learning-query-sampler`` recipe; returns the queries written."""
    settings = parse_sampler_settings(config)
    dataiku = _dataiku()
    source, schema = open_unlabeled(unlabeled)
    is_folder = schema is None
    try:
        predictor = dataiku.Model(model).get_predictor()
    except Exception as exc:
        raise ConfigError(f'Input "{LABELS["saved_model"]}": cannot load the saved model '
                          f"{model}: {exc}{env_hint(exc)}",
                          setting=LABELS["saved_model"]) from exc
    session = read_session(dataiku.Project(), queries) + 1
    labeled = _labeled(metadata, folder=is_folder)
    progress = _Progress(unlabeled)
    options: dict[str, Any] = {
        "strategy": settings.strategy, "max_queries": settings.max_queries,
        "batch_size": settings.diversity_batch_size, "seed": session, "session": session,
        "progress": progress,
        # The labels in the metadata stand for those the model learned from: the predictor
        # API does not tell its training set size. No metadata: no cold start.
        "n_labeled": len(labeled) if metadata else None,
        "cold_start": DEFAULT_COLD_START if settings.cold_start else None}
    matches = LabeledMatches(labeled)
    if labeled or (settings.id_column and not is_folder):
        # With an id column the keys are made anyway: an empty or repeated id is refused
        # here, as the labeling webapp refuses it, metadata input or not.
        options["exclude_keys"] = matches
    legacy_keys: LegacyKeys | None = None
    if is_folder:
        paths = source.list_paths_in_partition()
        chunks: Iterator[pd.DataFrame] = (
            pd.DataFrame({FOLDER_PATH_COLUMN: paths[i:i + FOLDER_CHUNK]}, dtype=object)
            for i in range(0, max(len(paths), 1), FOLDER_CHUNK))
        scorer = ModelScorer(predictor, f"the files of the folder {unlabeled}",
                             folder_hint=True)
        options["key_fn"] = lambda chunk: [folder_key(p) for p in chunk[FOLDER_PATH_COLUMN]]
    else:
        if not schema:
            raise ConfigError(f'Input "{LABELS["unlabeled_samples"]}": the dataset '
                              f"{unlabeled} has no columns; build it first")
        columns = dsio.names(schema)
        _check_free_columns(columns, dsio.QUERY_COLUMNS, unlabeled)
        if settings.id_column and settings.id_column not in columns:
            raise _problem("id_column", f"{unlabeled} has no such column (columns: "
                           f"{', '.join(columns)})", settings.id_column)
        chunks = _dataset_chunks(source, schema, chunksize, settings.id_column)
        scorer = ModelScorer(predictor, f"the rows of {unlabeled}")
        # Keys of the labeled rows only (memory O(labeled)). Rows labeled with the 4.x
        # webapp carry its row hash as data_id: recognise them by that hash too.
        legacy_keys = keys_with_legacy(settings.id_column, labeled)
        options["key_fn"] = (legacy_keys if legacy_keys is not None
                             else PoolKeys(settings.id_column, only=labeled))
    try:
        out = score_pool(chunks, scorer, **options)
    except ValidationError as exc:
        if exc.details.get("column"):  # an id column that is not unique, or empty
            raise _problem("id_column", exc.message, settings.id_column) from None
        raise
    if not progress.rows:
        raise _no_rows(unlabeled, folder=is_folder)
    if labeled:
        _log_left_out(matches, unlabeled, legacy=legacy_keys, none_found=(
            _NO_LABELED_FILE.format(n=len(labeled), source=unlabeled) if is_folder
            else _NO_LABELED_ROW.format(
                n=len(labeled), source=unlabeled, label=LABELS["id_column"],
                current=(f'"{settings.id_column}"' if settings.id_column
                         else "empty: rows are named by their content"))))
    if scorer.unscored:
        log.warning("%d items could not be scored by the model (dropped by its "
                    "preprocessing?): they come last, with uncertainty 0", scorer.unscored)
    if scorer.rescaled:
        log.warning("The saved model's class probabilities did not sum to 1 for %d items "
                    "(a one-vs-rest model?): each was divided by its sum",
                    scorer.rescaled)
    if not is_folder:
        out = dsio.query_frame(out, dsio.names(schema))
    _write(queries, out, session, model=model)
    return out


# -- the object-detection sampler -------------------------------------------------------
def _detection_columns(settings: DetectionSettings, schema: dsio.Schema, name: str) -> None:
    columns = dsio.names(schema)
    for key, column in (("path_column", settings.path_column),
                        ("predictions_column", settings.predictions_column)):
        if column not in columns:
            raise _problem(key, f"{name} has no such column (columns: {', '.join(columns)})",
                           column)
    if settings.path_column != FOLDER_PATH_COLUMN and FOLDER_PATH_COLUMN in columns:
        raise _problem("path_column", f'{name} also has a column "{FOLDER_PATH_COLUMN}", '
                       "which the queries use for the image path; choose that column or "
                       "rename it", settings.path_column)
    _check_free_columns(columns, dsio.QUERY_COLUMNS, name, DETECTION_INPUT)


def _with_path(frame: pd.DataFrame, settings: DetectionSettings, first_row: int) -> pd.DataFrame:
    """The chunk with ``path`` = the image's folder path ("/a.png", normalised: see
    :func:`folder_key`), first column. A path outside the images folder is refused."""
    raw = frame[settings.path_column]
    empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        row = first_row + int(np.argmax(empty))
        raise ValidationError(f'Row {row}: no image path in column "{settings.path_column}"')
    out = frame.copy()
    paths = [folder_key(p) for p in raw]
    address = raw.astype(str).str.strip().str.match(_URL).to_numpy()
    bad = next((i for i, p in enumerate(paths) if address[i] or outside_folder(p)), None)
    if bad is not None:
        what = ("is an address, not a path in the folder" if address[bad] else
                "names no file" if paths[bad] == "/" else "leaves the images folder")
        raise ValidationError(
            f'Row {first_row + bad}: the image path "{raw.iloc[bad]}" in column '
            f'"{settings.path_column}" {what}; image paths are paths in the folder the '
            'labeling webapp shows, like "/cats/1.png"')
    if settings.path_column == FOLDER_PATH_COLUMN:
        out[FOLDER_PATH_COLUMN] = paths
    else:
        out.insert(0, FOLDER_PATH_COLUMN, paths)
    return out


class BestRowPerImage:
    """The ``k`` most uncertain images (all with ``k`` None), each by its most uncertain
    row (the first of equal ones), in memory O(k): an image listed again under another
    spelling ("a.png", "/a.png") takes no place of another image, so there are ``k``
    queries whenever the dataset has ``k`` images."""

    def __init__(self, k: int | None) -> None:
        self.k = k
        self.best: dict[str, tuple[tuple[float, int], dict[str, Any]]] = {}
        self.heap: list[tuple[tuple[float, int], str]] = []  # old entries are skipped
        self.repeats = 0
        self.example: str | None = None

    def push(self, scores: np.ndarray, rows: np.ndarray, frame: pd.DataFrame) -> None:
        for score, row, record in zip(scores.tolist(), rows.tolist(),
                                      frame.to_dict(orient="records")):
            path = record[FOLDER_PATH_COLUMN]
            key = (float(score), -int(row))  # higher first; the earlier row of a tie
            kept = self.best.get(path)
            if kept is not None:
                self.repeats += 1
                self.example = self.example or path
                if key <= kept[0]:
                    continue
            elif (self.k is not None and len(self.best) >= self.k
                  and (not self.heap or key <= self._lowest())):
                continue
            self.best[path] = (key, record)
            heapq.heappush(self.heap, (key, path))
            if self.k is not None and len(self.best) > self.k:
                _, gone = heapq.heappop(self.heap)
                del self.best[gone]
            self._clean()

    def _lowest(self) -> tuple[float, int]:
        self._clean()
        return self.heap[0][0]

    def _clean(self) -> None:
        while self.heap and self.best.get(self.heap[0][1], (None,))[0] != self.heap[0][0]:
            heapq.heappop(self.heap)

    def result(self, columns: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
        kept = sorted(self.best.values(), key=lambda entry: entry[0], reverse=True)
        frame = pd.DataFrame([record for _, record in kept], columns=list(columns))
        return frame, np.array([key[0] for key, _ in kept], dtype=np.float64)


THRESHOLD_ADVICE = (
    "DSS applies the saved model's confidence score threshold when it scores images (set "
    "in the model's report, confusion matrix: https://doc.dataiku.com/dss/latest/"
    "machine-learning/computer-vision/performance-assessment.html), so boxes under it "
    "never reach this recipe: a lower \"Minimum box confidence\" changes nothing, the most "
    "uncertain boxes are missing, and images whose boxes were all under it look empty "
    "(ranked by \"Images without boxes\"). For active learning, lower that threshold "
    "(e.g. to 0.05) before scoring the unlabeled images")
HINT_CONFIDENCE = 0.1  # lowest box confidence above which a scoring threshold is likely


def threshold_hint(scorer: detection.ColumnScorer) -> str | None:
    """A warning when no box is under :data:`HINT_CONFIDENCE` nor the minimum box
    confidence: the detector surely found doubtful boxes, so someone dropped them."""
    low = scorer.lowest
    if low is None or low < max(HINT_CONFIDENCE, scorer.min_confidence):
        return None
    return (f"The predictions hold no box under confidence {low:.2f} ({scorer.empty} of "
            f"{scorer.images} images without boxes): they were probably scored with a "
            f"confidence threshold. {THRESHOLD_ADVICE}.")


def run_detection_sampler(config: Mapping[str, Any], *, unlabeled: str, queries: str,
                          metadata: str | None = None, chunksize: int = CHUNK_ROWS
                          ) -> pd.DataFrame:
    """The ``object-detection-query-sampler`` recipe; returns the queries written.

    Rules (box and image uncertainty, images without boxes): :mod:`assisted_labeling.
    detection`. Its input is a predictions dataset, and the DSS scoring recipe drops the
    boxes under the saved model's confidence score threshold: those boxes, the most
    uncertain ones, never reach the recipe, ``Minimum box confidence`` under that
    threshold does nothing, and an image whose boxes were all dropped counts as an image
    without boxes (ranked by ``Images without boxes``, first by default), not by its
    doubtful boxes. Lower the model's threshold before scoring for active learning; a
    warning says so when no predicted box is under :data:`HINT_CONFIDENCE`.

    Image paths are normalised as folder paths (:func:`folder_key`: "a.png" is
    "/a.png"); a path outside the folder ("../a.png") is refused. An image listed in
    several rows is queried once, by its most uncertain row.
    """
    settings = parse_detection_settings(config)
    dataiku = _dataiku()
    source, schema = open_unlabeled(unlabeled, DETECTION_INPUT)
    if schema is None:
        raise ConfigError(
            f'Input "{DETECTION_INPUT}": {unlabeled} is a folder. This recipe '
            "now reads a detector's predictions instead of running a RetinaNet model: "
            "score the images with your detector (e.g. the DSS object detection scoring "
            "recipe) and use its output dataset, one row per image with its path and a "
            "JSON list of boxes with confidences, as input")
    if not schema:
        raise ConfigError(f'Input "{DETECTION_INPUT}": the dataset {unlabeled} has no '
                          "columns; build it first")
    _detection_columns(settings, schema, unlabeled)
    session = read_session(dataiku.Project(), queries) + 1
    labeled = _labeled(metadata, folder=True)
    matches = LabeledMatches(labeled)
    scorer = detection.ColumnScorer(aggregation=settings.aggregation,
                                    min_confidence=settings.min_confidence,
                                    empty_uncertainty=settings.empty_uncertainty)
    ranking = BestRowPerImage(settings.max_queries)
    columns: list[str] = []  # of the queries, as of the first chunk
    offset = 0
    for frame in dsio.iter_frames(source, chunksize=chunksize):
        frame = _with_path(frame.reset_index(drop=True), settings, offset + 1)
        rows = np.arange(offset + 1, offset + 1 + len(frame))
        offset += len(frame)
        if not columns:
            columns = list(frame.columns)
        if labeled:
            keep = ~matches(frame[FOLDER_PATH_COLUMN].tolist())
            frame, rows = frame[keep], rows[keep]
        if not len(frame):
            continue
        scores = scorer(frame[settings.predictions_column].tolist(),
                        names=frame[FOLDER_PATH_COLUMN].tolist(), rows=rows.tolist(),
                        column=settings.predictions_column)
        ranking.push(scores, rows, frame)
        log.info("%s: %d rows read", unlabeled, offset)
    if not offset:
        raise _no_rows(unlabeled, role=DETECTION_INPUT)
    if labeled:
        _log_left_out(matches, unlabeled, none_found=(
            f'Input "{LABELS["metadata"]}": none of the {len(labeled)} labeled images of '
            f"the metadata is among the images of {unlabeled} (column "
            f'"{settings.path_column}"), so none is left out of the queries: the paths '
            "must be those of the folder the labeling webapp uses, like \"/cats/1.png\". "
            f"Unless {unlabeled} already leaves out the labeled images: then all is well"))
    hint = threshold_hint(scorer)
    if hint:
        log.warning("%s", hint)
    if ranking.repeats:
        log.warning('%s lists some images more than once (same path once normalised, e.g. '
                    '"%s"): %d row%s left out, each image is queried once, by its most '
                    "uncertain row", unlabeled, ranking.example, ranking.repeats,
                    "" if ranking.repeats == 1 else "s")
    out, scores = ranking.result(columns)
    out[UNCERTAINTY_COLUMN] = np.asarray(scores, dtype=np.float64)
    # No cold start reorders images: the image's own score is its place in the queue.
    out[MODEL_UNCERTAINTY_COLUMN] = out[UNCERTAINTY_COLUMN]
    out[SESSION_COLUMN] = np.int64(session)
    _write(queries, out, session)
    return out
