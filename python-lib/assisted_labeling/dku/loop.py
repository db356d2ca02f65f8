"""DSS glue of the active-learning loop (F-5); the rules are in :mod:`assisted_labeling.loop`.

- :func:`every_n_labels_fire_state`: the ``every-nb-labeling`` trigger (4.x parameters);
- :func:`compute_labeling_metrics`: the ``stopping-metric`` step (4.x parameters): the
  contradictions between the previous and the active version of a saved model on a
  seeded sample of unlabeled rows, and the active version's AUC, appended to the project
  variable ``ML-ASSISTED-LABELING__<metadata>__metrics``;
- :class:`StoppingWarnings`: what a labeling webapp shows when that history stalls.

**One history per model and metadata dataset.** The variable keeps the 4.x name and
layout, a list of ``{n_samples, contradictions, auc, versionId}``, and each entry gains
``n_compared`` (how many sampled rows both versions scored) and ``modelId`` (the saved
model's id without project key): several models fed by one metadata dataset then keep
apart histories in the one variable (:func:`record_entry`, :func:`model_histories`).
Entries written by 4.x have no ``modelId``; the step gives them the id of its model when
their ``versionId`` is one of that model's versions (or when they have none: the first
4.x step did not record it). Until then they are read as the history of any model that
has none of its own yet, as 4.x read them.

The functions take the ``dataiku`` handles they need as optional arguments (tests pass
the fake's); by default they import ``dataiku`` when called, never at import time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import loop
from ..config import whole_number
from ..errors import ConfigError, LabelingError, ValidationError
from ..sampler import PoolKeys
from . import datasets as dsio
from .legacy import keys_with_legacy
from .sampler import (
    FOLDER_MODEL_HINT,
    FOLDER_PATH_COLUMN,
    env_hint,
    folder_key,
    model_id,
)

log = logging.getLogger(__name__)

TRIGGER_LABELS = {"i_labeling_count": "Labeling count", "ds_metadata": "Metadata dataset",
                  "ds_queries": "Queries dataset"}
STEP_LABELS = {"model": "Deployed model", "unlabeled_select": "Type of unlabeled input",
               "unlabeled_dataset": "Unlabeled dataset", "unlabeled_folder": "Unlabeled folder",
               "metadata": "Metadata dataset", "n_samples": "Number of samples",
               "id_column": "Id column"}
# Where DSS keeps a version's ROC AUC, in order of preference, compared in lower case
# without separators. get_performance_values() names the "model_perf:" metrics without
# that prefix: "AUC" (DSS's own scenario sample reads performance["AUC"]). The model's
# perf.json keeps it as tiMetrics.auc for two classes and metrics.mrocAUC (Hand & Till
# multiclass AUC) for more (dataiku/doctor/prediction/classification_scoring.py), and
# the list_versions() snippet as "auc" (where 4.x read it): "mrocAUC" is read too, in
# case a multiclass version names it so.
AUC_METRIC_KEYS = ("auc", "mrocauc", "rocauc")
AUC_SNIPPET_KEYS = ("auc", "mrocAUC")

OpenDataset = Callable[[str], Any]
ReadVariables = Callable[[], Mapping[str, Any]]


# -- settings ---------------------------------------------------------------------------
def _text_setting(raw: Mapping[str, Any], key: str, labels: Mapping[str, str], *,
                  required: bool, exact: bool = False) -> str | None:
    """A name setting; ``exact`` for a column, whose spaces are part of its name."""
    value = raw.get(key)
    if isinstance(value, str) and value.strip():
        return value if exact else value.strip()
    if value is None or value == "":
        if required:
            raise ConfigError(f'Setting "{labels[key]}": choose one (currently empty)',
                              setting=labels[key])
        return None
    raise ConfigError(f'Setting "{labels[key]}": expected a name (currently {value!r})',
                      setting=labels[key])


def _count_setting(raw: Mapping[str, Any], key: str, labels: Mapping[str, str],
                   default: int) -> int:
    """A positive whole number (DSS sends INT parameters as floats: 100.0)."""
    return whole_number(labels[key], raw.get(key), default=default, minimum=1)


def _default_open_dataset() -> OpenDataset:
    import dataiku

    return dataiku.Dataset


def _default_variables() -> ReadVariables:
    import dataiku

    return lambda: dataiku.Project().get_variables()


# -- the trigger ------------------------------------------------------------------------
def _check_exists(dataset: Any, key: str, labels: Mapping[str, str] = TRIGGER_LABELS
                  ) -> None:
    """Refuse a dataset name that DSS does not know, for a dataset that is read only
    for its name, or not read this time: the trigger's queries dataset (a typo there
    would count the labels of session 0 for good and never fire again), the step's
    datasets on a model's first version (a typo would file the history under a name
    the webapp never reads)."""
    try:
        dsio.read_schema(dataset)  # [] for a dataset never built: it exists
    except ConfigError as exc:
        label = labels[key]
        raise ConfigError(f'Setting "{label}": {exc.message}', setting=label) from exc


def _check_folder(open_folder: Callable[[str], Any], name: str,
                  labels: Mapping[str, str]) -> Any:
    """The folder; refused when DSS does not know its name (DSS may look it up only
    when first asked: its info is asked for here)."""
    try:
        folder = open_folder(name)
        folder.get_info()
        return folder
    except Exception as exc:
        label = labels["unlabeled_folder"]
        raise ConfigError(f'Setting "{label}": cannot open the folder {name!r}: {exc}',
                          setting=label) from exc


def every_n_labels_fire_state(config: Mapping[str, Any], *, trigger_state: str | None = None,
                              open_dataset: OpenDataset | None = None,
                              read_variables: ReadVariables | None = None,
                              chunksize: int = 50_000) -> str | None:
    """The ``every-nb-labeling`` trigger: the state to fire with (text, for
    ``Trigger().fire(state=...)``), or None when it should not fire.

    ``trigger_state`` is ``Trigger().get_trigger_state()``, what the last firing
    counted. With a queries dataset, the session is the sampler's counter
    ``ML-ASSISTED-LABELING__<queries>__session`` (0 when absent) and only its labels
    count; without one, every label counts. The rule is
    :func:`assisted_labeling.loop.every_n_labels_decision`.
    """
    every = _count_setting(config, "i_labeling_count", TRIGGER_LABELS, 100)
    metadata_name = _text_setting(config, "ds_metadata", TRIGGER_LABELS, required=True)
    queries_name = _text_setting(config, "ds_queries", TRIGGER_LABELS, required=False)
    open_dataset = open_dataset or _default_open_dataset()
    session: int | None = None
    if queries_name:
        _check_exists(open_dataset(queries_name), "ds_queries")
        variables = (read_variables or _default_variables())()
        session = loop.session_number(
            loop.variable_value(variables, loop.session_variable(queries_name)))
    dataset = open_dataset(metadata_name)
    try:
        events = dsio.metadata_events(dataset, chunksize=chunksize,
                                      setting=TRIGGER_LABELS["ds_metadata"])
        labeled = loop.count_session_labels(events, session)
    except ConfigError as exc:
        if "setting" in exc.details:
            raise
        label = TRIGGER_LABELS["ds_metadata"]  # the dataset named there cannot be read
        raise ConfigError(f'Setting "{label}": {exc.message}', setting=label) from exc
    except LabelingError:
        raise
    except Exception as exc:
        raise dsio.read_error("metadata dataset", dataset, exc) from exc
    last = loop.TriggerState.from_text(trigger_state)
    fired = loop.every_n_labels_decision(labeled, every=every, session=session, last=last)
    scope = "in all" if session is None else f"in session {session} of"
    since = f", {last.labeled} at the last firing" if last and last.session == session else ""
    log.info("%d labels %s %s (%d needed%s): %s", labeled, scope, dataset.full_name, every,
             since, "firing" if fired else "not yet")
    return None if fired is None else fired.to_text()


# -- the step ---------------------------------------------------------------------------
def _versions(model: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The active version and the one trained just before it (None if it is the first)."""
    versions = list(model.list_versions())
    if not versions:
        raise ConfigError(f'Setting "{STEP_LABELS["model"]}": the saved model has no '
                          "version yet; train it first", setting=STEP_LABELS["model"])

    def trained(version: Mapping[str, Any]) -> float:
        """Training time (ms since the epoch in the snippet); unknown sorts first."""
        try:
            date = float((version.get("snippet") or {}).get("trainDate"))
        except (TypeError, ValueError):
            return -math.inf
        return date if math.isfinite(date) else -math.inf

    ordered = sorted(versions, key=trained)  # stable: list order breaks ties
    active = next((v for v in ordered if v.get("active")), ordered[-1])
    index = ordered.index(active)
    earlier = [v for v in ordered[:index] if trained(v) < trained(active)] or ordered[:index]
    return active, (earlier[-1] if earlier else None)


def _metric_key(name: Any) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())


def version_auc(model: Any, version: Mapping[str, Any]) -> float | None:
    """The version's ROC AUC (binary, or multiclass ``mrocAUC``): from
    ``get_version_metrics(id).get_performance_values()``, else from its
    ``list_versions()`` snippet, else None (see :data:`AUC_METRIC_KEYS`)."""
    candidates: list[Any] = []
    try:
        values = model.get_version_metrics(version["versionId"]).get_performance_values()
        normalized = {_metric_key(k): v for k, v in dict(values or {}).items()}
        candidates += [normalized.get(key) for key in AUC_METRIC_KEYS]
    except Exception as exc:  # metrics are optional: the contradictions still count
        log.warning("No metrics for version %s: %s", version.get("versionId"), exc)
    snippet = version.get("snippet") or {}
    candidates += [snippet.get(key) for key in AUC_SNIPPET_KEYS]
    for value in candidates:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            return number
    return None


def predicted_labels(output: pd.DataFrame) -> pd.Series:
    """Predicted classes (as text) from ``predict(df, with_probas=True)``, indexed like
    the output: the ``prediction`` column, or the class of the highest
    ``proba_<class>``. Rows without a prediction (dropped by the model, NaN) are left
    out."""
    probas = [c for c in output.columns if str(c).startswith("proba_")]
    if not probas:
        if "prediction" in output.columns and output["prediction"].isna().all():
            # Every row dropped by the model's preprocessing: DSS answers a lone
            # "prediction" column of NaN, whatever the model.
            return pd.Series([], dtype=object)
        raise LabelingError("The saved model gives no class probabilities (proba_* "
                            "columns): only classification models are supported")
    if "prediction" in output.columns:
        predictions = output["prediction"].dropna()
        return predictions.map(str)
    values = output[probas].to_numpy(dtype=float)
    scored = np.isfinite(values).all(axis=1)
    classes = np.array([str(c)[len("proba_"):] for c in probas], dtype=object)
    return pd.Series(classes[values[scored].argmax(axis=1)], index=output.index[scored],
                     dtype=object)


def aligned_to(output: pd.DataFrame, index: pd.Index, version_id: str) -> pd.DataFrame:
    """The predictor's output named by the sample's index labels. A DSS predictor keeps
    the input's labels and leaves out the rows its preprocessing dropped
    (``pred_df.index = input_mf_index``); an output of the sample's length under other
    labels is read by position."""
    if output.index.isin(index).all():
        return output
    if len(output) == len(index):
        return output.set_axis(index)
    raise LabelingError(f"Version {version_id} of the saved model answered rows that are "
                        f"not in the unlabeled sample ({len(output)} rows for "
                        f"{len(index)}); its predictions cannot be matched to the items")


def labeled_ids(dataset: Any, *, chunksize: int) -> set[str]:
    """Every data id of the metadata dataset (labeled or skipped: not held out)."""
    schema = dsio.read_schema(dataset)
    if not schema:
        return set()
    if "data_id" not in dsio.names(schema):
        label = STEP_LABELS["metadata"]
        raise ConfigError(f'Setting "{label}": {dataset.full_name} has no column data_id; '
                          "choose the labeling webapp's metadata dataset", setting=label)
    ids: set[str] = set()
    # Ids are text: no type inference, which would turn an all-digit id into a number.
    for frame in dataset.iter_dataframes(chunksize=chunksize, columns=["data_id"],
                                         infer_with_pandas=False):
        ids.update(k for k in map(dsio.as_text, frame["data_id"].tolist()) if k)
    return ids


def unlabeled_sample(dataset: Any, labeled: set[str], *, id_column: str | None, size: int,
                     seed: int, chunksize: int) -> pd.DataFrame:
    """``size`` rows of the unlabeled dataset whose item id (the webapp's, see
    :class:`~assisted_labeling.sources.RowIdentifier`, or the 4.x row hash of
    :mod:`.legacy`) is not in ``labeled``."""
    keys = PoolKeys(id_column, only=labeled)
    # Rows labeled with the 4.x webapp are named by its hash of the row.
    legacy_keys = keys_with_legacy(id_column, labeled)

    def excluded(frame: pd.DataFrame) -> np.ndarray:
        if legacy_keys is None:
            return keys.excluded(frame, labeled)
        return np.fromiter((k in labeled for k in legacy_keys(frame)), dtype=bool,
                           count=len(frame))

    def unlabeled() -> Iterator[pd.DataFrame]:
        for frame in dsio.iter_pool_frames(dataset, chunksize=chunksize,
                                           id_column=id_column):
            yield frame[~excluded(frame)] if len(frame) else frame

    try:
        return loop.sample_rows(unlabeled(), size, seed=seed)
    except ValidationError as exc:
        label = STEP_LABELS["id_column"]
        raise ConfigError(f'Setting "{label}": {exc.message}', setting=label) from None


def unlabeled_files_sample(files: Sequence[str], labeled: set[str], *, size: int,
                           seed: int) -> pd.DataFrame:
    """``size`` of the folder's ``files`` (its listing) that no metadata row names, as a
    one-column frame ``path`` ("/cats/1.png"), the input the query sampler gives a model
    for a folder."""
    done = {folder_key(i) for i in labeled}
    paths = [p for p in map(folder_key, files) if p not in done]
    frame = pd.DataFrame({FOLDER_PATH_COLUMN: paths}, dtype=object)
    return loop.sample_rows([frame], size, seed=seed)


def _predict(model: Any, version_id: str, sample: pd.DataFrame, is_folder: bool,
             name_column: str | None = None) -> pd.Series:
    """The version's predicted class of each sampled row it scored, by sample label.
    ``name_column``: the column that names a row in the log (a folder's path, the Id
    column), else its place in the sample."""
    try:
        predictor = model.get_predictor(version_id)
    except Exception as exc:
        raise LabelingError(f"Version {version_id} of the saved model cannot be loaded: "
                            f"{exc}{env_hint(exc)}") from exc
    batches = _PredictBatches(predictor, version_id)
    scored = batches.predict(sample)
    if batches.failed and scored.empty:
        exc = batches.failed[0][1]
        raise LabelingError(f"Version {version_id} of the saved model could not score the "
                            f"unlabeled sample: {exc}"
                            + (f". {FOLDER_MODEL_HINT}" if is_folder else "")) from exc
    if batches.failed:
        column = FOLDER_PATH_COLUMN if is_folder else name_column
        place = {label: i for i, label in enumerate(sample.index)}
        first = sorted(batches.failed, key=lambda failure: place[failure[0]])[:3]
        names = [str(sample.at[label, column]) if column in sample.columns
                 else f"sampled row {label}" for label, _ in first]
        log.warning("Version %s of the saved model could not score %d of the %d sampled "
                    "items, such as %s (%s): they are left out of the comparison",
                    version_id, len(batches.failed), len(sample), ", ".join(names),
                    first[0][1])
    if batches.untried:
        log.warning("Version %s of the saved model: %d of the %d sampled items, in "
                    "batches that failed, were left out untried (%d calls, %d rows sent: "
                    "enough spent on finding the rows it cannot score)", version_id,
                    len(batches.untried), len(sample), batches.calls, batches.rows)
    return scored


#: What finding the rows a version cannot score may spend: predictor calls (or a
#: quarter of the sample's rows, when more), and rows sent, as a multiple of the sample.
#: Past either, the failed parts left are untried.
MAX_PREDICT_CALLS = 1000
MAX_PREDICT_ROWS = 12
#: Single rows drawn from a sample that failed whole, before a version none of them
#: scores is taken for one that scores no row.
PROBES = 16


class _PredictBatches:
    """Predicted classes of the rows a version can score. The whole sample first; if
    that fails, :data:`PROBES` single rows drawn from it: if none scores either, the
    version scores none and it stops there. Else the failed parts in halves, level by
    level, each level in a seeded random order (so that a spent budget leaves out rows
    all over the sample), down to single rows, whose failures are kept in ``failed`` as
    (label, error): one unreadable image must not stop the step, run after run (the
    sample is seeded)."""

    def __init__(self, predictor: Any, version_id: str) -> None:
        self.predictor = predictor
        self.version_id = version_id
        self.failed: list[tuple[Any, Exception]] = []
        self.untried: list[Any] = []
        self.calls = 0
        self.rows = 0
        self._rng = np.random.default_rng(0)

    def _try(self, part: pd.DataFrame) -> pd.Series | Exception:
        self.calls += 1
        self.rows += len(part)
        try:
            output = self.predictor.predict(part, with_probas=True)
        except Exception as exc:
            return exc
        return predicted_labels(aligned_to(output, part.index, self.version_id))

    def predict(self, sample: pd.DataFrame) -> pd.Series:
        scored: list[pd.Series] = []
        limit = MAX_PREDICT_ROWS * len(sample) + len(sample)
        calls = max(MAX_PREDICT_CALLS, len(sample) // 4)
        level, whole = [sample], True
        while level:
            failing: list[tuple[pd.DataFrame, Exception]] = []
            for position in self._rng.permutation(len(level)):
                part = level[position]
                if self.calls >= calls or self.rows + len(part) > limit:
                    self.untried.extend(part.index)
                    continue
                result = self._try(part)
                if isinstance(result, Exception):
                    failing.append((part, result))
                else:
                    scored.append(result)
            if whole and failing:
                whole, error = False, failing[0][1]
                level = self._probe(sample, scored)
                if not scored:  # a version that scores no row
                    self.failed.extend((label, error) for part in level
                                       for label in part.index)
                    break
                continue
            level = []
            for part, exc in failing:
                if len(part) == 1:
                    self.failed.append((part.index[0], exc))
                else:
                    half = (len(part) + 1) // 2
                    level += [part.iloc[:half], part.iloc[half:]]
        kept = [s for s in scored if len(s)]
        return pd.concat(kept) if kept else pd.Series(dtype=object)

    def _probe(self, sample: pd.DataFrame, scored: list[pd.Series]) -> list[pd.DataFrame]:
        """Try up to :data:`PROBES` single rows of a sample that failed whole (into
        ``scored`` or ``failed``), and cut the rest into parts to try next, as small as
        the share of rows that failed asks (one bad row in a part fails it)."""
        drawn = sample.iloc[np.sort(self._rng.permutation(len(sample))[:PROBES])]
        bad = 0
        for label in drawn.index:
            result = self._try(drawn.loc[[label]])
            if isinstance(result, Exception):
                self.failed.append((label, result))
                bad += 1
            else:
                scored.append(result)
        rest = sample.drop(index=drawn.index)
        if not len(rest):
            return []
        size = (len(rest) + 1) // 2 if not bad else max(1, min(16, len(drawn) // bad))
        return [rest.iloc[i:i + size] for i in range(0, len(rest), size)]


MODEL_KEY = "modelId"


def _model_of(entry: Mapping[str, Any]) -> str | None:
    value = entry.get(MODEL_KEY)
    return str(value) if value not in (None, "") else None


def record_entry(history: Any, entry: Mapping[str, Any], *, model: str,
                 versions: Iterable[str], keep: int = loop.MAX_HISTORY
                 ) -> list[dict[str, Any]]:
    """The metrics variable's list with ``entry`` recorded for ``model``.

    4.x entries (no ``modelId``) of one of ``versions`` (the model's version ids), or
    without a version id, are migrated to ``model``; the model's entry of the same
    version is replaced (a rerun is not a second stalled iteration); the model keeps its
    last ``keep`` entries. Entries of other models, and 4.x entries of versions this
    model does not have, are kept as they are.
    """
    known = {str(v) for v in versions}
    entries = loop.history_entries(history)
    for old in entries:
        version = old.get("versionId")
        if _model_of(old) is None and (version is None or str(version) in known):
            old[MODEL_KEY] = model
    own = [e for e in entries if _model_of(e) == model]
    others = [e for e in entries if _model_of(e) != model]
    return others + loop.add_entry(own, {**entry, MODEL_KEY: model}, keep=keep)


def model_histories(history: Any) -> dict[str | None, list[dict[str, Any]]]:
    """The entries of each model, oldest first; ``None`` holds the 4.x entries (no
    ``modelId``)."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for entry in loop.history_entries(history):
        groups.setdefault(_model_of(entry), []).append(entry)
    return groups


def _save_entry(project: Any, metadata_name: str, entry: Mapping[str, Any], *, model: str,
                versions: Iterable[str]) -> list:
    """Read-modify-write of the project variables, kept short: ``set_variables``
    replaces both scopes, so a change made in between by someone else would be lost."""
    name = loop.metrics_variable(metadata_name)
    variables = project.get_variables()
    standard = variables.setdefault("standard", {})
    local = variables.setdefault("local", {})
    scope = local if name in local and name not in standard else standard
    scope[name] = record_entry(scope.get(name), entry, model=model, versions=versions)
    project.set_variables(variables)
    return scope[name]


def compute_labeling_metrics(config: Mapping[str, Any], *,
                             open_dataset: OpenDataset | None = None,
                             open_model: Callable[[str], Any] | None = None,
                             open_folder: Callable[[str], Any] | None = None,
                             project: Any = None, seed: int = 0,
                             chunksize: int = dsio.POOL_CHUNK) -> dict[str, Any]:
    """The ``stopping-metric`` step: measure, record in the metrics variable (the
    model's history, see the module doc), return the entry
    ``{n_samples, contradictions, auc, versionId, n_compared, modelId}``.

    The two versions are compared on the sampled rows both scored, matched by row
    label (a DSS predictor leaves out the rows its preprocessing drops); ``n_compared``
    says how many. ``contradictions`` is None for the model's first version (nothing
    to compare with), when no unlabeled row is left or when no row was scored by both;
    the entry still records the AUC, the baseline of the next AUC gain. Rerunning on
    the same active version replaces its entry. A folder of unlabeled files is scored
    as the query sampler scores it: both versions get a ``path`` column holding each
    sampled file's path in the folder.
    """
    labels = STEP_LABELS
    model_name = _text_setting(config, "model", labels, required=True)
    select = config.get("unlabeled_select") or "dataset"
    if select not in ("dataset", "folder"):
        raise ConfigError(f'Setting "{labels["unlabeled_select"]}": expected "dataset" or '
                          f'"folder" (currently {select!r})', setting=labels["unlabeled_select"])
    is_folder = select == "folder"
    # 4.x configs saved before the dataset/folder choice named the input "unlabeled".
    raw = {**config, "unlabeled_dataset": config.get("unlabeled_dataset")
           or config.get("unlabeled")}
    unlabeled_name = _text_setting(raw, f"unlabeled_{select}", labels, required=True)
    metadata_name = _text_setting(config, "metadata", labels, required=True)
    n_samples = _count_setting(config, "n_samples", labels, 1000)
    id_column = _text_setting(config, "id_column", labels, required=False, exact=True)

    if open_dataset is None:
        open_dataset = _default_open_dataset()
    if open_model is None or open_folder is None or project is None:
        import dataiku

        open_model = open_model or dataiku.Model
        open_folder = open_folder or dataiku.Folder
        project = project if project is not None else dataiku.Project()
    try:
        # DSS may look the model up only when first asked: its versions are in the try.
        model = open_model(model_name)
        versions = [str(v.get("versionId")) for v in model.list_versions()]
        active, previous = _versions(model)
    except LabelingError:
        raise
    except Exception as exc:
        raise ConfigError(f'Setting "{labels["model"]}": cannot open the saved model '
                          f"{model_name!r}: {exc}", setting=labels["model"]) from exc
    active_id = str(active["versionId"])
    rate: float | None = None
    compared: int | None = None
    size = 0
    if previous is None:
        log.info("Version %s is the model's first: no contradictions to measure", active_id)
        _check_exists(open_dataset(metadata_name), "metadata", labels)
        if is_folder:
            _check_folder(open_folder, unlabeled_name, labels)
        else:
            _check_exists(open_dataset(unlabeled_name), "unlabeled_dataset", labels)
    else:
        metadata = open_dataset(metadata_name)
        # A wrong folder is said as such, whatever the model's versions.
        folder = _check_folder(open_folder, unlabeled_name, labels) if is_folder else None
        try:
            done = labeled_ids(metadata, chunksize=chunksize)
            if folder is not None:
                files = folder.list_paths_in_partition()
                sample = unlabeled_files_sample(files, done, size=n_samples, seed=seed)
            else:
                unlabeled = open_dataset(unlabeled_name)
                sample = unlabeled_sample(unlabeled, done, id_column=id_column,
                                          size=n_samples, seed=seed, chunksize=chunksize)
        except LabelingError:
            raise
        except Exception as exc:
            raise ConfigError(f"Could not read the unlabeled rows or the labeling "
                              f"metadata: {exc}") from exc
        size = len(sample)
        if size:
            previous_id = str(previous["versionId"])
            # Compared by row label: each version leaves out the rows it drops.
            rate, compared = loop.compare_predictions(
                _predict(model, previous_id, sample, is_folder, id_column),
                _predict(model, active_id, sample, is_folder, id_column))
            if rate is None:
                log.warning("Versions %s and %s scored no unlabeled row in common (of %d "
                            "sampled): no contradictions to measure", previous_id,
                            active_id, size)
            else:
                log.info("Versions %s -> %s disagree on %.2f%% of the %d unlabeled rows "
                         "both scored (%d sampled)", previous_id, active_id, 100 * rate,
                         compared, size)
        elif is_folder and not files:
            log.warning("The folder %s has no files: no contradictions to measure (is it "
                        "the folder the labeling webapp shows?)", unlabeled_name)
        else:
            log.warning("No unlabeled item left in %s: no contradictions to measure",
                        unlabeled_name)
    entry = loop.metrics_entry(n_samples=size, contradictions=rate,
                               auc=version_auc(model, active), version_id=active_id,
                               n_compared=compared)
    saved = _save_entry(project, metadata_name, entry, model=model_id(model_name),
                        versions=versions)
    return saved[-1]


# -- the webapp's warnings --------------------------------------------------------------
def webapp_warnings(variables: Mapping[str, Any], metadata_name: str,
                    queries_name: str | None = None, **thresholds: Any) -> list[str]:
    """The stopping warnings a labeling webapp shows, from the project variables.

    The webapp serves the queries of one model: when the query sampler recorded it
    (``ML-ASSISTED-LABELING__<queries>__model``), only that model's history counts; a
    stalled model that does not rank these queries says nothing about them. Otherwise
    (no queries dataset, a 4.x sampler run, the object-detection sampler) every model
    fed by the metadata dataset is checked, each warning naming its model when there
    are several. 4.x entries count for a model without entries of its own.
    """
    groups = model_histories(loop.variable_value(variables, loop.metrics_variable(
        metadata_name), []))
    legacy = groups.pop(None, [])
    feeding = loop.variable_value(variables, loop.model_variable(queries_name)) \
        if queries_name else None
    if feeding:
        chosen = {str(feeding): groups.get(str(feeding)) or legacy}
    else:
        chosen = dict(groups) if groups else {"": legacy}
    warnings = []
    for model, history in chosen.items():
        for warning in loop.stopping_warnings(history, **thresholds):
            warnings.append(f"Model {model}: {warning}" if len(chosen) > 1 else warning)
    return warnings


class StoppingWarnings:
    """:func:`webapp_warnings`, re-read at most every ``ttl`` seconds (the history
    changes once per retraining; ``/api/config`` asks on every page load)."""

    def __init__(self, metadata_name: str, read_variables: ReadVariables, *,
                 queries_name: str | None = None, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, **thresholds: Any) -> None:
        self.metadata_name = metadata_name
        self.queries_name = queries_name
        self._read = read_variables
        self.ttl = ttl
        self._clock = clock
        self._thresholds = thresholds
        self._value: list[str] = []
        self._expires = -1.0
        self._lock = threading.Lock()

    def expire(self) -> None:
        """Read the variables again at the next call: a new session follows a
        retraining, whose metrics the page asks for at once."""
        with self._lock:
            self._expires = -1.0

    def __call__(self) -> list[str]:
        with self._lock:
            if self._clock() < self._expires:
                return list(self._value)
            try:
                self._value = webapp_warnings(self._read(), self.metadata_name,
                                              self.queries_name, **self._thresholds)
            except Exception as exc:  # keep the last answer if DSS cannot answer
                log.warning("Could not read the labeling metrics variables: %s", exc)
            self._expires = self._clock() + self.ttl
            return list(self._value)
