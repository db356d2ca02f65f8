"""The rules of the active-learning loop (F-5), as pure functions: no I/O, no ``dataiku``.

**Every n labels.** The scenario retrains the model and the sampler computes new queries
once ``n`` new labels exist (:func:`every_n_labels_decision`). The session is the
sampler's run counter (a project variable in DSS, absent before the first run: session
0), written to every annotation. Counted: the annotations whose *latest* metadata row
says LABELED. Between compactions the metadata dataset can hold several rows per
(data_id, annotator): an edit appends a row with the same label id, a label turned into
a skip appends a SKIPPED row. So only the latest row per (data_id, annotator) counts
(highest date, then last position), skips never count, and the rule fires at ``>= n``
(the 4.x trigger used ``>`` in one branch and counted skips). What was counted when the
trigger last fired is remembered (:class:`TriggerState`), so that a session that does
not change (no queries dataset, or a scenario that does not run the sampler) fires
once per ``n`` new labels, not at every evaluation.

**Stopping metrics.** After each retraining, the previous and the new model predict a
sample of unlabeled items; the share of items whose predicted class changed is the
*contradictions* rate. With the model's AUC, it gives one history entry
``{n_samples, contradictions, auc, versionId}``. :func:`stopping_warnings` tells labelers
when both have stalled: by default, each of the last 3 retrainings changed fewer than
1% of the predictions (:data:`MAX_CONTRADICTIONS`) *and* the AUC gained less than 0.005
(:data:`MIN_AUC_GAIN`) over those retrainings. New labels then barely move the model:
labeling more may not help. Once given, the warning holds until a retraining changes
predictions again or the AUC gains 4 times as much (AUC noise alone would make it come
and go).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

LABELED = "LABELED"
SKIPPED = "SKIPPED"

VARIABLE_PREFIX = "ML-ASSISTED-LABELING__"
DEFAULT_WINDOW = 3
MAX_CONTRADICTIONS = 0.01
MIN_AUC_GAIN = 0.005
#: Once warned, an AUC gain this many times MIN_AUC_GAIN over the window ends the stall.
HOLD_AUC_GAIN_FACTOR = 4
#: An AUC this close to chance (0.5) means the model learned next to nothing: a stall
#: there calls for other features, not for stopping.
CHANCE_AUC = 0.6
MAX_HISTORY = 100


def _short(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else name


def session_variable(queries_name: str) -> str:
    """``ML-ASSISTED-LABELING__<queries dataset short name>__session`` (4.x name)."""
    return f"{VARIABLE_PREFIX}{_short(queries_name)}__session"


def model_variable(queries_name: str) -> str:
    """``ML-ASSISTED-LABELING__<queries dataset short name>__model``: the saved model whose
    scores ranked these queries (new in 5.x), so that a labeling webapp shows the
    stopping warnings of that model."""
    return f"{VARIABLE_PREFIX}{_short(queries_name)}__model"


def metrics_variable(metadata_name: str) -> str:
    """``ML-ASSISTED-LABELING__<metadata dataset short name>__metrics`` (4.x name)."""
    return f"{VARIABLE_PREFIX}{_short(metadata_name)}__metrics"


def variable_value(variables: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A project variable from ``{"standard": …, "local": …}``: standard first (where the
    4.x plugin wrote), then local."""
    for scope in ("standard", "local"):
        values = variables.get(scope) or {}
        if isinstance(values, Mapping) and values.get(name) is not None:
            return values[name]
    return default


#: The largest session a counter can hold: one run a second would take 68 years to
#: reach it, and past it the value overflows numpy seeds and SQLite integers.
MAX_SESSION = 2**31 - 1


def session_number(value: Any) -> int:
    """A session variable's value as an int; absent or unreadable (negative or past
    :data:`MAX_SESSION` too: no counter wrote it) is session 0."""
    if value is None or isinstance(value, bool):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if math.isfinite(number) and 0 <= number <= MAX_SESSION else 0


# -- every n labels ---------------------------------------------------------------------
@dataclass(frozen=True)
class MetadataEvent:
    """What the trigger needs of one metadata row."""

    data_id: str
    annotator: str
    status: str
    session: int
    timestamp: float | None = None  # seconds since the epoch; None sorts first
    position: int = 0  # position in the dataset: later rows win ties

    @property
    def order(self) -> tuple[float, int]:
        return (-math.inf if self.timestamp is None else self.timestamp, self.position)


def latest_events(events: Iterable[MetadataEvent]) -> dict[tuple[str, str], MetadataEvent]:
    """The latest row per (data_id, annotator): highest date, then last position."""
    latest: dict[tuple[str, str], MetadataEvent] = {}
    for event in events:
        key = (event.data_id, event.annotator)
        current = latest.get(key)
        if current is None or event.order >= current.order:
            latest[key] = event
    return latest


def count_session_labels(events: Iterable[MetadataEvent], session: int | None) -> int:
    """Annotations of ``session`` (of any session if None) whose latest row is LABELED
    (skips do not count)."""
    return sum(1 for e in latest_events(events).values()
               if e.status == LABELED and (session is None or e.session == session))


def should_fire(labeled: int, every: int) -> bool:
    """Whether ``labeled`` labels of the current session reach ``every`` (``>=``)."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"the label count must be a whole number of at least 1 (got {every!r})")
    return labeled >= every


@dataclass(frozen=True)
class TriggerState:
    """What the trigger counted when it last fired: the session it counted in (None:
    every session, without a queries dataset) and the labels it counted there. DSS
    keeps it as text between evaluations (``Trigger().fire(state=...)``)."""

    session: int | None
    labeled: int

    def to_text(self) -> str:
        return json.dumps({"session": self.session, "labeled": self.labeled})

    @classmethod
    def from_text(cls, raw: Any) -> TriggerState | None:
        """The state saved by :meth:`to_text`; None when absent or unreadable (a 4.x
        trigger fired without a state): then nothing was counted yet."""
        if not isinstance(raw, str) or not raw.strip():
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, Mapping):
            return None
        session, labeled = value.get("session"), _number(value.get("labeled"))
        if labeled is None or (session is not None and _number(session) is None):
            return None
        return cls(None if session is None else int(_number(session) or 0), int(labeled))


def every_n_labels_decision(labeled: int, *, every: int, session: int | None,
                            last: TriggerState | None) -> TriggerState | None:
    """The ``every-nb-labeling`` rule: the state to fire with, or None (not due).

    ``labeled`` counts the LABELED annotations of ``session`` (see
    :func:`count_session_labels`); ``last`` is the state of the last firing.

    - With a queries dataset (``session`` is the sampler's counter), the 4.x rule: fire
      once the current session holds ``every`` labels; a fresh project (session 0)
      fires once enough labels exist. A user expects one retraining per batch of
      labels, so after a firing the same session fires again only once ``every`` more
      labels were added to it (a scenario that does not run the sampler keeps the
      session); a new session starts from zero.
    - Without one (``session`` None, every label counts), fire at every ``every`` new
      labels since the last firing: the first once ``every`` labels exist.

    ``every`` labels or more below what the last firing counted means the labels were
    replaced (the metadata dataset cleared or swapped): counting starts over, as in a
    fresh project. A smaller drop (a label turned into a skip) keeps the count: starting
    over would fire at once, and again at each such drop. DSS keeps the state only when
    the trigger fires, so the lower count cannot become the new start without firing.
    """
    if not should_fire(labeled, every):
        return None
    counted = last.labeled if last is not None and last.session == session else 0
    if labeled + every <= counted:
        counted = 0
    if labeled - counted < every:
        return None
    return TriggerState(session, labeled)


# -- stopping metrics -------------------------------------------------------------------
def predicted_classes(values: Any) -> np.ndarray:
    """Predicted classes: a 1-D array as it is, a 2-D probability array by argmax."""
    array = np.asarray(values)
    if array.ndim == 2:
        return array.argmax(axis=1)
    if array.ndim != 1:
        raise ValueError(f"expected predictions (1-D) or probabilities (2-D), got {array.ndim}-D")
    return array


def compare_predictions(previous: pd.Series, current: pd.Series) -> tuple[float | None, int]:
    """The contradictions rate over the items both versions scored, and their number.

    Each argument maps an item's label (the index) to its predicted class; an item
    missing from one (the model's preprocessing dropped it) or predicted NaN is not
    compared. ``(None, 0)`` when no item was scored by both.
    """
    before, after = previous.dropna(), current.dropna()
    for name, series in (("previous", before), ("current", after)):
        if not series.index.is_unique:
            raise ValueError(f"the {name} predictions name some items twice")
    common = before.index.intersection(after.index, sort=False)
    if not len(common):
        return None, 0
    changed = before.loc[common].to_numpy() != after.loc[common].to_numpy()
    return float(np.mean(changed)), int(len(common))


def contradictions(previous: Any, current: Any) -> float:
    """Share of items whose predicted class differs between two model versions.

    Each argument is a 1-D array of predicted classes or a 2-D array of probabilities
    (columns in the same class order for both), for the same items in the same order.
    """
    before, after = predicted_classes(previous), predicted_classes(current)
    if len(before) != len(after):
        raise ValueError(f"the two models scored different numbers of items "
                         f"({len(before)} and {len(after)})")
    if len(before) == 0:
        raise ValueError("no items to compare the two models on")
    return float(np.mean(before != after))


def metrics_entry(*, n_samples: int, contradictions: float | None, auc: float | None,
                  version_id: str | None, n_compared: int | None = None) -> dict[str, Any]:
    """One history entry, in the 4.x shape ``{n_samples, contradictions, auc, versionId}``
    plus ``n_compared``: of the ``n_samples`` items drawn, how many both versions scored
    (the rate's denominator; a model may drop rows), None when nothing was compared."""
    return {"n_samples": int(n_samples),
            "contradictions": None if contradictions is None else float(contradictions),
            "auc": None if auc is None else float(auc),
            "versionId": version_id,
            "n_compared": None if n_compared is None else int(n_compared)}


def history_entries(history: Any) -> list[dict[str, Any]]:
    """The entries of a stored history (copies), leaving out anything malformed: a
    project variable can hold whatever someone typed in."""
    return [dict(e) for e in (history if isinstance(history, list) else [])
            if isinstance(e, Mapping)]


def add_entry(history: Any, entry: Mapping[str, Any], *,
              keep: int = MAX_HISTORY) -> list[dict[str, Any]]:
    """The history with ``entry`` last; an older entry of the same model version is
    replaced (a step run twice on one version must not count as two stalled iterations).
    Only the last ``keep`` entries stay: project variables should stay small."""
    kept = history_entries(history)
    version = entry.get("versionId")
    if version is not None:
        kept = [e for e in kept if e.get("versionId") != version]
    kept.append(dict(entry))
    return kept[-keep:]


@dataclass(frozen=True)
class MetricsPoint:
    """A history entry read back leniently (the variable may be edited by hand)."""

    n_samples: int
    contradictions: float | None
    auc: float | None
    n_compared: int | None = None
    #: Retrained on the labels of the entry before (other settings): no evidence of a stall.
    same_labels: bool = False


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_history(raw: Any) -> list[MetricsPoint]:
    """History entries from a variable's value; anything else than a list gives []."""
    if not isinstance(raw, list):
        return []
    points = []
    for entry in raw:
        if isinstance(entry, Mapping):
            compared = _number(entry.get("n_compared"))
            points.append(MetricsPoint(int(_number(entry.get("n_samples")) or 0),
                                       _number(entry.get("contradictions")),
                                       _number(entry.get("auc")),
                                       None if compared is None else int(compared),
                                       entry.get("same_labels") is True))
    return points


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


@dataclass(frozen=True)
class _Stall:
    """What :func:`stopping_warnings` found at one point of the history."""

    rates: list[float]
    start: float
    end: float
    at_chance: bool
    #: Stalled by the AUC held since an earlier warning, not by ``min_auc_gain``.
    held: bool


def _stall_at(points: list[MetricsPoint], window: int, max_contradictions: float,
              min_auc_gain: float, previous: _Stall | None) -> _Stall | None:
    """The stall shown after the last of ``points``, if any (see stopping_warnings);
    ``previous``: the one shown after the entry before."""
    if len(points) < window:
        return None
    recent = points[-window:]
    rates = [p.contradictions for p in recent]
    if any(r is None or r >= max_contradictions for r in rates):
        return None
    kept = [r for r in rates if r is not None]
    end = points[-1].auc
    start = next((p.auc for p in points[-window - 1:-1] if p.auc is not None), None)
    if end is None or start is None:
        # No AUC to judge by, predictions still put: a warning shown stays as it was.
        return None if previous is None else _Stall(
            kept, previous.start, previous.end, previous.at_chance, held=True)
    gain = end - start
    # Under chance, a gain is noise (the AUC wanders while the predictions stay put).
    at_chance = all(p.auc < CHANCE_AUC for p in recent if p.auc is not None)
    held = False
    if gain >= min_auc_gain and not at_chance:
        # Held only as the warning it was: a model climbing out of chance is progress.
        if previous is None or gain >= HOLD_AUC_GAIN_FACTOR * min_auc_gain \
                or (previous.end < CHANCE_AUC) != (end < CHANCE_AUC):
            return None
        held = True
    return _Stall(kept, start, end, at_chance, held)


def stopping_warnings(history: Any, *, window: int = DEFAULT_WINDOW,
                      max_contradictions: float = MAX_CONTRADICTIONS,
                      min_auc_gain: float = MIN_AUC_GAIN) -> list[str]:
    """Warnings for labelers when the loop has stalled, else ``[]``.

    Stalled: each of the last ``window`` entries has a contradictions rate below
    ``max_contradictions``, and the AUC of the last entry is less than ``min_auc_gain``
    above the first known AUC among the ``window + 1`` last entries (the entry before
    the window is the model the first of those retrainings was compared with). Without
    enough entries or AUCs, nothing is claimed. A stall at an AUC under ``CHANCE_AUC``
    is said as a model that learns nothing, not as a reason to stop.

    Once warned, the warning holds while the contradictions stay under
    ``max_contradictions`` and the AUC gains less than ``HOLD_AUC_GAIN_FACTOR`` times
    ``min_auc_gain`` over the window: a cross-validated AUC on a few hundred labels
    wanders by 0.01 from one retraining to the next while no prediction changes, and a
    warning that comes and goes with it tells labelers nothing.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 (got {window})")
    # A retraining on the labels of the one before tells nothing of what labels change.
    points = [p for p in read_history(history) if not p.same_labels]
    stall = None
    for end in range(window, len(points) + 1):
        stall = _stall_at(points[:end], window, max_contradictions, min_auc_gain,
                          previous=stall)
    if stall is None:
        return []
    # The rate is over the items both versions scored (4.x entries: the sample size).
    last = points[-1]
    n_samples = last.n_compared if last.n_compared is not None else last.n_samples
    sampled = f"{n_samples} sampled unlabeled items" if n_samples else "the sampled items"
    start, end = stall.start, stall.end
    # Plain words first (labelers read it too), the figures after for whoever decides.
    advice = (
        "Labeling more may not help: new labels have barely changed the model lately. "
        "Consider stopping, reviewing the labels, or improving the model's features. ")
    limit = HOLD_AUC_GAIN_FACTOR * min_auc_gain if stall.held else min_auc_gain
    auc_text = (f"its AUC went from {_auc_change(start, end)}, under +{limit:g}"
                + (", the climb that would show progress again)" if stall.held else ")"))
    if end < CHANCE_AUC:
        advice = (
            f"The model has learned next to nothing from the labels (AUC {end:.3f}; 0.5 "
            f"is chance), and more labels barely change it: it needs other features (a "
            f"text read as categories, say, or columns that do not tell the classes "
            f"apart), or the labels a review. Do not take its ranking as a sign to stop. ")
        if stall.at_chance:
            window_aucs = [p.auc for p in points[-window:] if p.auc is not None]
            auc_text = (f"its AUC stayed under {CHANCE_AUC:g} ({window_aucs[0]:.3f} to "
                        f"{end:.3f})")
    return [
        advice +
        f"Details: the last {window} retrainings changed its prediction on only "
        f"{', '.join(_percent(r) for r in stall.rates)} of {sampled} (all under "
        f"{_percent(max_contradictions)}), and {auc_text}."
    ]


def _auc_change(start: float, end: float) -> str:
    """"0.900 to 0.904 (+0.004": three decimals, or as many more (up to 6) as it takes
    to show that two AUCs that differ do."""
    digits = 3
    while digits < 6 and end != start and (f"{start:.{digits}f}" == f"{end:.{digits}f}"
                                           or round(abs(end - start), digits) == 0):
        digits += 1
    return f"{start:.{digits}f} to {end:.{digits}f} ({end - start:+.{digits}f}"


# -- sampling ---------------------------------------------------------------------------
def sample_rows(frames: Iterable[pd.DataFrame], size: int, *, seed: int = 0) -> pd.DataFrame:
    """A uniform random sample of ``size`` rows (all rows if fewer) of a chunked table,
    reproducible for a given seed and row order; memory O(size + one chunk).

    Each row draws a random key from the seeded generator, in row order; the rows with
    the ``size`` smallest keys are kept, in their original order.
    """
    if size < 1:
        raise ValueError(f"the sample size must be at least 1 (got {size})")
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    kept_keys = np.empty(0)
    kept_order = np.empty(0, dtype=np.int64)
    seen = 0
    for frame in frames:
        if not len(frame):
            continue
        keys = rng.random(len(frame))
        order = np.arange(seen, seen + len(frame), dtype=np.int64)
        seen += len(frame)
        frame = frame.reset_index(drop=True)
        if kept is not None:
            frame = pd.concat([kept, frame], ignore_index=True)
            keys = np.concatenate([kept_keys, keys])
            order = np.concatenate([kept_order, order])
        if len(frame) > size:
            best = np.argpartition(keys, size - 1)[:size]
            frame = frame.iloc[best].reset_index(drop=True)
            keys, order = keys[best], order[best]
        kept, kept_keys, kept_order = frame, keys, order
    if kept is None:
        return pd.DataFrame()
    position = np.argsort(kept_order, kind="stable")
    return kept.iloc[position].reset_index(drop=True)

