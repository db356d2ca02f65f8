"""Standalone active-learning loop: retrain every n new labels and re-rank the queue.

It runs in its own process beside the web server, so a labeler's request never waits on
training: it only reads the store, writes the model file atomically, and re-ranks the
queue in short batched transactions (``SQLiteStore.set_priorities``).

Memory: the re-rank keeps each unlabeled item's id and scores, not its row; ids come in
bounded memory (:mod:`assisted_labeling.queries`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import models
from .config import LabelingConfig
from .errors import LabelingError
from .loop import contradictions, sample_rows
from .project import LabelingProject
from .queries import labeled_keys, queue_priorities, score_file
from .sampler import PoolKeys
from .sources import iter_table
from .standalone import open_project, store_reader
from .store import Status
from .store.sqlite import SQLiteStore

log = logging.getLogger(__name__)

WATERMARK = "retrain_after_change"
METRICS = "metrics"


@dataclass(frozen=True)
class RetrainSettings:
    """What to train, how often, and how to rank."""

    every: int
    model_path: Path
    strategy: str = "margin"
    text_column: str | None = None
    feature_columns: tuple[str, ...] = field(default_factory=tuple)
    model: str = "linear"
    sample_size: int = 1000
    seed: int = 0


def default_features(columns: list[str], config: LabelingConfig) -> list[str]:
    """Every input column but the label, the pre-annotations and the id."""
    skip = {config.label_col_name, config.existing_labels_column, config.id_column}
    return [c for c in columns if c not in skip]


def new_labels_since(store: SQLiteStore, after: int, *, enough: int) -> int:
    """LABELED saves in the change log after ``after``, counting up to ``enough``."""
    count, cursor = 0, after
    while count < enough:
        page = store.changes(after=cursor, limit=1000)
        if not page:
            break
        count += sum(1 for _, a in page if a.status is Status.LABELED)
        cursor = page[-1][0]
    return count


def cross_validated_auc(frame: pd.DataFrame, label_column: str,
                        settings: RetrainSettings) -> float | None:
    """One-vs-rest macro AUC by 3-fold cross-validation, or None with too few labels."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labels = frame[label_column].astype(str)
    counts = labels.value_counts()
    if len(counts) < 2 or counts.min() < 3:
        return None
    trained = models.train(frame, label_column=label_column, text_column=settings.text_column,
                           feature_columns=settings.feature_columns, model=settings.model)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=settings.seed)
    proba = cross_val_predict(trained.pipeline, trained.inputs(frame), labels, cv=folds,
                              method="predict_proba")
    if len(trained.classes) == 2:
        return float(roc_auc_score(labels == trained.classes[1], proba[:, 1]))
    return float(roc_auc_score(labels, proba, multi_class="ovr", labels=trained.classes))


class Retrainer:
    """Watches the store; after every ``settings.every`` new labels, retrains and re-ranks."""

    def __init__(self, project: LabelingProject, input_path: str | Path,
                 settings: RetrainSettings) -> None:
        self.project = project
        self.store: SQLiteStore = project.store  # type: ignore[assignment]
        self.input_path = Path(input_path)
        self.settings = settings

    def due(self) -> bool:
        after = int(self.store.get_meta(WATERMARK, "0") or 0)
        return new_labels_since(self.store, after, enough=self.settings.every) \
            >= self.settings.every

    def run_once(self) -> dict[str, Any] | None:
        """Retrain when due; returns the metrics entry of the new model, if any."""
        if not self.due():
            return None
        try:
            return self.retrain()
        except LabelingError as exc:  # e.g. one class only so far: try again later
            log.warning("Retraining postponed: %s", exc.message)
            self.store.set_meta(WATERMARK, str(self.store.last_change()))
            return None

    def retrain(self) -> dict[str, Any]:
        started = time.perf_counter()
        watermark = self.store.last_change()
        config = self.project.config
        frame = pd.DataFrame(list(self.project.label_rows()))
        trained = models.train(frame, label_column=config.label_col_name,
                               text_column=self.settings.text_column,
                               feature_columns=self.settings.feature_columns,
                               model=self.settings.model, seed=self.settings.seed)
        previous = self._previous_model()
        # The queue is re-ranked every ``every`` labels: that is the batch. Ids and scores
        # are all the queue needs: no row is kept.
        queries = score_file(self.input_path, trained, strategy=self.settings.strategy,
                             id_column=config.id_column, exclude=labeled_keys(self.store),
                             seed=self.settings.seed, batch_size=self.settings.every,
                             rows=False, reader=store_reader(self.store))
        queue_priorities(self.store, queries)
        entry = self._metrics(frame, trained, previous)
        self._save_model(trained)
        session = int(self.store.get_meta("session", "0") or 0) + 1
        self.store.set_meta("session", str(session))
        entry.update(session=session, n_labels=len(frame), n_queries=len(queries),
                     seconds=round(time.perf_counter() - started, 3))
        history = json.loads(self.store.get_meta(METRICS, "[]") or "[]")
        history.append(entry)
        self.store.set_meta(METRICS, json.dumps(history))
        self.store.set_meta(WATERMARK, str(watermark))
        log.info("Retrained on %d labels in %.1fs", len(frame), entry["seconds"])
        return entry

    def _previous_model(self) -> models.TrainedModel | None:
        if not self.settings.model_path.is_file():
            return None
        try:
            return models.load(self.settings.model_path)
        except LabelingError:
            return None

    def _save_model(self, trained: models.TrainedModel) -> None:
        path = self.settings.model_path
        tmp = path.with_name(f".{path.name}.partial")
        models.save(trained, tmp)
        os.replace(tmp, path)

    def _metrics(self, frame: pd.DataFrame, trained: models.TrainedModel,
                 previous: models.TrainedModel | None) -> dict[str, Any]:
        """Contradictions with the previous model on a sample of unlabeled rows, and AUC."""
        entry: dict[str, Any] = {"n_samples": 0, "contradictions": None, "auc": None}
        if previous is not None:
            sample = self._unlabeled_sample()
            entry["n_samples"] = len(sample)
            if len(sample):
                before = previous.pipeline.predict(previous.inputs(sample))
                after = trained.pipeline.predict(trained.inputs(sample))
                entry["contradictions"] = contradictions(before, after)
        entry["auc"] = cross_validated_auc(frame, self.project.config.label_col_name,
                                           self.settings)
        return entry

    def _unlabeled_sample(self) -> pd.DataFrame:
        """Up to ``sample_size`` unlabeled rows, a seeded uniform sample of the pool."""
        labeled = labeled_keys(self.store)
        # Membership only: duplicates are counted for the labeled items' contents alone.
        keys = PoolKeys(self.project.config.id_column, only=labeled)
        unlabeled = (chunk[~keys.excluded(chunk, labeled)] if labeled else chunk
                     for chunk in (c.reset_index(drop=True) for c in
                                   iter_table(self.input_path,
                                              reader=store_reader(self.store),
                                              text_columns=[keys.id_column])))
        return sample_rows(unlabeled, self.settings.sample_size, seed=self.settings.seed)

    def run_forever(self, *, poll_seconds: float = 2.0, parent_pid: int | None = None) -> None:
        """Poll until the parent process is gone (the server stopped)."""
        while parent_pid is None or os.getppid() == parent_pid:
            try:
                self.run_once()
            except Exception:  # keep the loop alive; the server log has the details
                log.exception("Retraining failed")
            time.sleep(poll_seconds)


def start_worker(input_path: str | Path, store_path: str | Path,
                 settings_dict: dict[str, Any], retrain: RetrainSettings) -> subprocess.Popen:
    """Start the retraining process beside the server; it stops when this process ends.

    A plain child process, not a ``multiprocessing`` one: gunicorn forks its workers after
    this, and each would inherit the child in ``multiprocessing``'s bookkeeping and try
    to join it at exit, printing a traceback per worker."""
    payload = {"input": str(input_path), "store": str(store_path),
               "settings": settings_dict, "parent_pid": os.getpid(),
               "retrain": {**asdict(retrain), "model_path": str(retrain.model_path),
                           "feature_columns": list(retrain.feature_columns)}}
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH"))
                                        if p)
    process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                               env=env)
    assert process.stdin is not None
    process.stdin.write(json.dumps(payload).encode("utf-8"))
    process.stdin.close()
    return process


def main() -> None:
    """Entry point of the retraining process: its settings arrive as JSON on stdin."""
    payload = json.loads(sys.stdin.read())
    raw = payload["retrain"]
    retrain = RetrainSettings(**{**raw, "model_path": Path(raw["model_path"]),
                                 "feature_columns": tuple(raw["feature_columns"])})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s retrain: %(message)s")
    project = open_project(payload["input"], payload["store"], payload["settings"],
                           progress=False)
    # Ctrl-C in the terminal stops the server and this process together: no traceback.
    with contextlib.suppress(KeyboardInterrupt):
        Retrainer(project, payload["input"], retrain).run_forever(
            parent_pid=payload["parent_pid"])


if __name__ == "__main__":
    main()
