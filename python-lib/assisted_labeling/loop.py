"""The rules of the active-learning loop (F-5), as pure functions: no I/O, no ``dataiku``.

**Every n labels.** The scenario retrains the model and the sampler computes new queries
once the current session holds ``n`` labels. The session is the sampler's run counter
(a project variable in DSS, absent before the first run: session 0), written to every
annotation. Counted: the annotations of the current session whose *latest* metadata row
says LABELED. Between compactions the metadata dataset can hold several rows per
(data_id, annotator): an edit appends a row with the same label id, a label turned into
a skip appends a SKIPPED row. So only the latest row per (data_id, annotator) counts
(highest date, then last position), skips never count, and the rule fires at
``labeled >= n`` (the 4.x trigger used ``>`` in one branch and counted skips).

**Stopping metrics.** After each retraining, the previous and the new model predict a
sample of unlabeled items; the share of items whose predicted class changed is the
*contradictions* rate. With the model's AUC, it gives one history entry
``{n_samples, contradictions, auc, versionId}``. :func:`stopping_warnings` tells labelers
when both have stalled: by default, each of the last 3 retrainings changed fewer than
1% of the predictions (:data:`MAX_CONTRADICTIONS`) *and* the AUC gained less than 0.005
(:data:`MIN_AUC_GAIN`) over those retrainings. New labels then barely move the model:
labeling more may not help.
"""

from __future__ import annotations

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
MAX_HISTORY = 100


def _short(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else name


def session_variable(queries_name: str) -> str:
    """``ML-ASSISTED-LABELING__<queries dataset short name>__session`` (4.x name)."""
    return f"{VARIABLE_PREFIX}{_short(queries_name)}__session"


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


def session_number(value: Any) -> int:
    """A session variable's value as an int; absent or unreadable is session 0."""
    if value is None or isinstance(value, bool):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if math.isfinite(number) else 0


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


def count_session_labels(events: Iterable[MetadataEvent], session: int) -> int:
    """Annotations of ``session`` whose latest row is LABELED (skips do not count)."""
    return sum(1 for e in latest_events(events).values()
               if e.status == LABELED and e.session == session)


def should_fire(labeled: int, every: int) -> bool:
    """Whether ``labeled`` labels of the current session reach ``every`` (``>=``)."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"the label count must be a whole number of at least 1 (got {every!r})")
    return labeled >= every


def every_n_labels_due(events: Iterable[MetadataEvent], *, session: int, every: int) -> bool:
    """The every-n-labels rule on metadata rows (see the module doc)."""
    return should_fire(count_session_labels(events, session), every)


# -- stopping metrics -------------------------------------------------------------------
def predicted_classes(values: Any) -> np.ndarray:
    """Predicted classes: a 1-D array as it is, a 2-D probability array by argmax."""
    array = np.asarray(values)
    if array.ndim == 2:
        return array.argmax(axis=1)
    if array.ndim != 1:
        raise ValueError(f"expected predictions (1-D) or probabilities (2-D), got {array.ndim}-D")
    return array


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
                  version_id: str | None) -> dict[str, Any]:
    """One history entry, in the 4.x shape ``{n_samples, contradictions, auc, versionId}``."""
    return {"n_samples": int(n_samples),
            "contradictions": None if contradictions is None else float(contradictions),
            "auc": None if auc is None else float(auc),
            "versionId": version_id}


def add_entry(history: Any, entry: Mapping[str, Any], *,
              keep: int = MAX_HISTORY) -> list[dict[str, Any]]:
    """The history with ``entry`` last; an older entry of the same model version is
    replaced (a step run twice on one version must not count as two stalled iterations).
    Only the last ``keep`` entries stay: project variables should stay small."""
    kept = [dict(e) for e in (history if isinstance(history, list) else [])
            if isinstance(e, Mapping)]
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
            points.append(MetricsPoint(int(_number(entry.get("n_samples")) or 0),
                                       _number(entry.get("contradictions")),
                                       _number(entry.get("auc"))))
    return points


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def stopping_warnings(history: Any, *, window: int = DEFAULT_WINDOW,
                      max_contradictions: float = MAX_CONTRADICTIONS,
                      min_auc_gain: float = MIN_AUC_GAIN) -> list[str]:
    """Warnings for labelers when the loop has stalled, else ``[]``.

    Stalled: each of the last ``window`` entries has a contradictions rate below
    ``max_contradictions``, and the AUC of the last entry is less than ``min_auc_gain``
    above the first known AUC among the ``window + 1`` last entries (the entry before
    the window is the model the first of those retrainings was compared with). Without
    enough entries or AUCs, nothing is claimed.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 (got {window})")
    points = read_history(history)
    if len(points) < window:
        return []
    recent = points[-window:]
    rates = [p.contradictions for p in recent]
    if any(r is None or r >= max_contradictions for r in rates):
        return []
    end = points[-1].auc
    start = next((p.auc for p in points[-window - 1:-1] if p.auc is not None), None)
    if end is None or start is None:
        return []
    gain = end - start
    if gain >= min_auc_gain:
        return []
    n_samples = recent[-1].n_samples
    sampled = f"{n_samples} sampled unlabeled items" if n_samples else "the sampled items"
    return [
        f"Labeling more may not help: the last {window} retrainings changed the model's "
        f"prediction on only {', '.join(_percent(r) for r in rates if r is not None)} of "
        f"{sampled} (all under {_percent(max_contradictions)}), and its AUC went from "
        f"{start:.3f} to {end:.3f} ({gain:+.3f}, under +{min_auc_gain:g}). New labels "
        f"barely change the model now: consider stopping, reviewing the labels, or "
        f"improving the model's features."
    ]


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

