"""Standalone active-learning loop: retrain every n new labels and re-rank the queue.

It runs in its own process beside the web server, so a labeler's request never waits on
training: it only reads the store, writes the model file atomically, and re-ranks the
queue in short batched transactions with pauses between them, so that saves go first
(``SQLiteStore.set_priorities``).

Memory: the re-rank keeps each unlabeled item's id and scores, not its row; ids come in
bounded memory (:mod:`assisted_labeling.queries`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import models
from .config import LabelingConfig
from .errors import LabelingError, one_line
from .loop import add_entry, contradictions, history_entries, sample_rows
from .processes import exists
from .project import LabelingProject
from .queries import labeled_keys, queue_priorities, score_file
from .sampler import PoolKeys
from .sources import has_value, iter_table
from .standalone import RANKED_BY, open_project, store_reader
from .store import Status
from .store.sqlite import SQLiteStore

log = logging.getLogger(__name__)

WATERMARK = "retrain_after_change"
METRICS = "metrics"
#: The highest label id the current model learned from: labels above it are new to it.
TRAINED = "retrain_label_id"
#: A digest of the (label id, label) pairs it learned from: a correction keeps its id.
TRAINED_LABELS = "retrain_labels_digest"
#: Why the last retraining did not happen, for labelers (empty: it did).
PROBLEM = "retrain_problem"
#: The classes labeled so far, as JSON, when the last retraining lacked a second class:
#: the first label of another class makes it due, without waiting for ``every`` labels.
ONE_CLASS = "retrain_one_class"
#: The settings of the last retraining tried (columns, model, strategy), as JSON: a
#: restart with others retrains at once instead of ranking by the old model meanwhile.
TRIED_WITH = "retrain_tried_with"
#: "running" from the start of the retraining process; "stopped" once it ended cleanly.
STATE = "retrainer"
OWNER = "retrainer_pid"  # the process whose state STATE is


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
    """Every input column but the label and its id (the labels table the model learns
    from writes them over the item's columns), the pre-annotations, the id, and the
    columns `query` adds (``models.refused_feature``)."""
    label = config.label_col_name
    skip = {label, f"{label}_id", config.existing_labels_column, config.id_column}
    return [c for c in columns
            if c not in skip and models.refused_feature(c, label_column=label) is None]


def retrain_warnings(store: SQLiteStore) -> list[str]:
    """The problem of the last retraining, for labelers (``[]`` when it succeeded)."""
    problem = store.get_meta(PROBLEM, "") or ""
    return [problem] if problem else []


def metrics_history(store: SQLiteStore) -> list[dict[str, Any]]:
    """The retraining history the store keeps (oldest first; ``[]`` before the first)."""
    return history_entries(json.loads(store.get_meta(METRICS, "[]") or "[]"))


def retraining_state(store: SQLiteStore, every: int) -> dict[str, Any]:
    """What the page shows of the loop: it retrains ``every`` new labels; the last
    retraining's session, time (ISO 8601, UTC) and number of labels (None before the
    first)."""
    last = next((e for e in reversed(metrics_history(store)) if "session" in e), {})
    return {"every": every, "session": last.get("session"), "at": last.get("at"),
            "n_labels": last.get("n_labels")}


def _settings_change(before: str, now: str) -> str:
    """What changed between two ``_tried_with`` texts: "strategy margin → entropy"."""
    try:
        old, new = json.loads(before), json.loads(now)
    except ValueError:
        return f"{before} → {now}"

    def shown(value: Any) -> str:
        return ",".join(map(str, value)) or "none" if isinstance(value, list) \
            else str(value)

    return "; ".join(f"{key} {shown(old.get(key))} → {shown(new.get(key))}"
                     for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key))


def _one_line(exc: BaseException) -> str:
    """An exception as one line of bounded length, with its type when it is no
    ``LabelingError`` (whose message is written for users)."""
    return one_line(exc.message if isinstance(exc, LabelingError)
                    else f"{type(exc).__name__}: {exc}")


def retraining_due(store: SQLiteStore, after: int, *, every: int,
                   known: set[str] | None = None,
                   trained_label_id: int | None = 0) -> bool:
    """Whether ``every`` new labels were saved after change ``after``: annotations now
    LABELED whose label id is above ``trained_label_id`` (no label above it had been
    given when the model read its labels), each once however often it was saved again.
    An edited label keeps its id: a correction is no new label. (Not the session: a
    label saved while a retraining runs has the previous one, yet the model being
    trained never saw it.) ``trained_label_id`` None (a store of an earlier version):
    the labels of the current session, as those versions counted.
    ``known``: the classes labeled when the last retraining lacked a second class; one
    label outside them is enough. One pass over the changes, stopping when due."""
    session = int(store.get_meta("session", "0") or 0) if trained_label_id is None else None
    counted: set[tuple[str, str]] = set()
    cursor = after
    while page := store.changes(after=cursor, limit=1000):
        for _, a in page:
            if a.status is not Status.LABELED:
                continue
            if known is not None and a.label is not None and a.label not in known:
                return True
            if (a.session == session if trained_label_id is None
                    else a.label_id is not None and a.label_id > trained_label_id):
                counted.add((a.item_key, a.annotator))
                if len(counted) >= every:
                    return True
        cursor = page[-1][0]
    return False


def cross_validated_auc(frame: pd.DataFrame, label_column: str,
                        trained: models.TrainedModel, *, seed: int = 0) -> float | None:
    """One-vs-rest macro AUC of ``trained``'s pipeline by 3-fold cross-validation on the
    rows it was fitted on (``frame``), or None with too few labels."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labeled = frame[has_value(frame[label_column])]
    labels = labeled[label_column].astype(str).str.strip()  # as `models.train` reads them
    counts = labels.value_counts()
    if len(counts) < 2 or counts.min() < 3:
        return None
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    # cross_val_predict fits clones: the fitted pipeline itself is left as it is.
    proba = cross_val_predict(trained.pipeline, trained.inputs(labeled), labels, cv=folds,
                              method="predict_proba")
    if len(trained.classes) == 2:
        return float(roc_auc_score(labels == trained.classes[1], proba[:, 1]))
    return float(roc_auc_score(labels, proba, multi_class="ovr", labels=trained.classes))


def _labels_digest(frame: pd.DataFrame, label_col: str) -> str:
    """A digest of the labels a model learned from: their ids and classes."""
    pairs = frame[[f"{label_col}_id", label_col]].sort_values(f"{label_col}_id")
    hashed = pd.util.hash_pandas_object(pairs, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


class Retrainer:
    """Watches the store; after every ``settings.every`` new labels, retrains and re-ranks."""

    def __init__(self, project: LabelingProject, input_path: str | Path,
                 settings: RetrainSettings) -> None:
        self.project = project
        self.store: SQLiteStore = project.store  # type: ignore[assignment]
        self.input_path = Path(input_path)
        self.settings = settings
        self._settings_compared = False

    def due(self) -> bool:
        """After ``every`` new labels; after a retraining that lacked a second class,
        as soon as one is labeled (a labeler should not label ``every`` more to see the
        model start)."""
        if not self._settings_compared:  # once per process: two servers with other
            # settings on one store would otherwise retrain in turn without end
            self._settings_compared = True
            tried = self.store.get_meta(TRIED_WITH)
            if tried is not None and tried != self._tried_with() and \
                    metrics_history(self.store):
                log.info("Retraining at once: the settings differ from the last "
                         "retraining's (%s)", _settings_change(tried, self._tried_with()))
                return True
        after = int(self.store.get_meta(WATERMARK, "0") or 0)
        known = self.store.get_meta(ONE_CLASS)
        trained = self.store.get_meta(TRAINED)
        if trained is None and not metrics_history(self.store):
            trained = "0"  # never retrained here (query --store may count sessions): all new
        return retraining_due(self.store, after, every=self.settings.every,
                              known=set(json.loads(known)) if known else None,
                              trained_label_id=None if trained is None else int(trained))

    def _tried_with(self) -> str:
        settings = self.settings
        return json.dumps({"text_column": settings.text_column,
                           "feature_columns": list(settings.feature_columns),
                           "model": settings.model, "strategy": settings.strategy},
                          sort_keys=True)

    def run_once(self) -> dict[str, Any] | None:
        """Retrain when due; returns the metrics entry of the new model, if any.

        A retraining that fails (one class only so far, a text column without words, the
        pool file gone…) is logged on one line (the traceback at debug level) and shown
        to labelers (``retrain_warnings``), and is not tried again before ``every`` new
        labels: the data it failed on has not changed until then. A failure for lack of
        a second class is tried again at the first label of another class, and its
        warning goes at once: the retraining may take a while, and the warning would say
        the opposite meanwhile."""
        if not self.due():
            return None
        known = self.store.get_meta(ONE_CLASS)
        if known and set(self.store.stats().per_class) - set(json.loads(known)):
            self.store.set_metas({PROBLEM: "", ONE_CLASS: ""})
        return self._attempt()

    def _attempt(self) -> dict[str, Any] | None:
        """Retrain now; on failure, postpone (see :meth:`run_once`)."""
        watermark = self.store.last_change()
        try:
            entry = self.retrain()
        except Exception as exc:  # any failure: the loop must go on
            self._postpone(exc, watermark)
            return None
        return entry

    def _postpone(self, exc: Exception, watermark: int) -> None:
        """Log and show a failed retraining; the next try waits for new labels."""
        every = self.settings.every
        reason = _one_line(exc)
        shown = self._without_paths(reason)
        classes = exc.details.get("classes") if isinstance(exc, LabelingError) else None
        retry = (f"after {every} new labels" if classes is None
                 else f"at the first label of another class, or after {every} new labels")
        if isinstance(exc, LabelingError):  # the data: e.g. one class only so far
            log.warning("Retraining postponed, to be tried again %s: %s", retry, reason)
        else:
            log.error("Retraining failed; trying again after %d new labels: %s", every,
                      reason)
            log.debug("Retraining failed", exc_info=exc)
            # Labelers may be remote: no server paths or internals in what they see.
            shown = "an unexpected error (the server's log tells which)"
        if metrics_history(self.store):
            problem = (f"The model has not been retrained on the latest labels: {shown}. "
                       f"The queue keeps its previous order; retraining is tried again "
                       f"{retry}.")
        else:  # no model yet: none to keep, nor its order
            order = ("the order of the queries it was given"
                     if self.store.get_meta(RANKED_BY) else "its seeded random order")
            problem = (f"The model could not be trained yet: {shown}. The queue keeps "
                       f"{order}; training is tried again {retry}.")
        self.store.set_metas({
            PROBLEM: problem,
            ONE_CLASS: json.dumps(classes) if classes is not None else "",
            WATERMARK: str(watermark), TRIED_WITH: self._tried_with()})

    def _without_paths(self, message: str) -> str:
        """``message`` with the server's file paths cut to their names: labelers may be
        remote, and see it in the page's warnings."""
        for path in (self.input_path, self.settings.model_path, Path(self.store.path)):
            for form in sorted({str(path.resolve()), str(path)}, key=len, reverse=True):
                message = message.replace(form, path.name)
        return message

    def retrain(self) -> dict[str, Any]:
        started = time.perf_counter()
        watermark = self.store.last_change()
        # Read before the labels: a label given from now on has a higher id and counts
        # for the next retraining, even one the paged read below happens to include.
        trained_id = self.store.last_label_id()
        config = self.project.config
        frame = pd.DataFrame(list(self.project.label_rows()))
        known_types = self._pool_types()
        trained = models.train(frame, label_column=config.label_col_name,
                               text_column=self.settings.text_column,
                               feature_columns=self.settings.feature_columns,
                               model=self.settings.model, seed=self.settings.seed,
                               known_types=known_types)
        previous = self._previous_model()
        # The queue is re-ranked every ``every`` labels: that is the batch. Ids and scores
        # are all the queue needs: no row is kept.
        queries = score_file(self.input_path, trained, strategy=self.settings.strategy,
                             id_column=config.id_column, exclude=labeled_keys(self.store),
                             seed=self.settings.seed, batch_size=self.settings.every,
                             rows=False, reader=store_reader(self.store))
        if not queries.attrs["pool_rows"]:
            raise LabelingError(f'The table "{self.input_path.name}" has no rows now: '
                                "there is nothing to rank")
        queue_priorities(self.store, queries)
        self.store.set_meta(RANKED_BY, "retraining")
        entry = self._metrics(frame, trained, previous)
        digest = _labels_digest(frame, config.label_col_name)
        before = self.store.get_meta(TRAINED_LABELS)
        if before == digest or (before is None
                                and self.store.get_meta(TRAINED) == str(trained_id)):
            entry["same_labels"] = True  # other settings, no new or corrected label
        problem = ""
        try:
            models.save(trained, self.settings.model_path, private=True)
        except (OSError, LabelingError) as exc:  # the new ranking stands all the same
            kept = "keeps the previous model" if previous is not None else "has no model"
            log.warning("The model file %s %s: %s", self.settings.model_path, kept,
                        _one_line(exc))
            # Told to labelers too: the next retraining compares with the saved model,
            # so without it the stopping warnings cannot come.
            problem = (f"The retrained model could not be saved "
                       f"({self._without_paths(_one_line(exc))}): the queue is ranked by "
                       "it, but the next retraining cannot tell how much the model "
                       "changed. Free disk space or choose another --model-output")
        session = int(self.store.get_meta("session", "0") or 0) + 1
        entry.update(session=session, n_labels=len(frame), n_queries=len(queries),
                     seconds=round(time.perf_counter() - started, 3),
                     at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        history = add_entry(metrics_history(self.store), entry)
        # Together: a page told of the new session reads its warnings with it (an earlier
        # failure's warning gone).
        self.store.set_metas({"session": str(session), METRICS: json.dumps(history),
                              WATERMARK: str(watermark), PROBLEM: problem, ONE_CLASS: "",
                              TRAINED: str(trained_id), TRAINED_LABELS: digest,
                              TRIED_WITH: self._tried_with()})
        log.info("Retrained on %d labels in %.1fs", len(frame), entry["seconds"])
        return entry

    def _previous_model(self) -> models.TrainedModel | None:
        if not self.settings.model_path.is_file():
            return None
        try:
            return models.load(self.settings.model_path)
        except LabelingError:
            return None

    def _pool_types(self) -> dict[str, str]:
        """The pool's number and date columns (``models.source_types``): the store keeps
        a CSV pool's cells as text and dates as ISO text, and a model that learned them
        as text would one-hot each value instead of reading a number or a time."""
        head = next(iter_table(self.input_path, chunksize=1000,
                               reader=store_reader(self.store)), None)
        return {} if head is None else models.source_types(head)

    def _metrics(self, frame: pd.DataFrame, trained: models.TrainedModel,
                 previous: models.TrainedModel | None) -> dict[str, Any]:
        """Contradictions with the previous model on a sample of unlabeled rows, and AUC."""
        entry: dict[str, Any] = {"n_samples": 0, "contradictions": None, "auc": None}
        if previous is not None:
            sample = self._unlabeled_sample()
            entry["n_samples"] = len(sample)
            if len(sample):
                after = trained.pipeline.predict(trained.inputs(sample))
                # A previous model of other columns or types: nothing to compare with.
                with contextlib.suppress(LabelingError):
                    before = previous.pipeline.predict(previous.inputs(sample))
                    entry["contradictions"] = contradictions(before, after)
        entry["auc"] = cross_validated_auc(frame, self.project.config.label_col_name,
                                           trained, seed=self.settings.seed)
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
        """Poll until the parent process is gone (the server stopped). A failure outside
        a retraining (the store unreadable…) is logged once while it repeats.

        A problem recorded by the previous run is tried again at once: these settings
        may have solved it, and its warning should not outlive it."""
        if retrain_warnings(self.store):
            self._attempt()
        last = None
        while parent_pid is None or os.getppid() == parent_pid:
            try:
                self.run_once()
                last = None
            except Exception as exc:  # keep the loop alive
                if _one_line(exc) != last:
                    last = _one_line(exc)
                    log.error("Retraining stopped by an error (said once while it "
                              "repeats): %s", last)
                    log.debug("Retraining stopped by an error", exc_info=exc)
            time.sleep(poll_seconds)


def start_worker(input_path: str | Path, store_path: str | Path,
                 settings_dict: dict[str, Any], retrain: RetrainSettings, *,
                 debug: bool = False) -> subprocess.Popen:
    """Start the retraining process beside the server; it stops when this process ends.
    ``debug``: it logs the traceback of a failed retraining too.

    A plain child process, not a ``multiprocessing`` one: gunicorn forks its workers after
    this, and each would inherit the child in ``multiprocessing``'s bookkeeping and try
    to join it at exit, printing a traceback per worker."""
    payload = {"input": str(input_path), "store": str(store_path),
               "settings": settings_dict, "parent_pid": os.getpid(), "debug": debug,
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


def keep_alive(start: Callable[[], subprocess.Popen], store: SQLiteStore, *,
               every: float = 5.0, restarts: int = 3,
               window: float = 3600.0) -> threading.Thread:
    """Start the retraining process, and start it again when it ends without stopping
    cleanly (killed for memory, a crash): at most ``restarts`` times in ``window``
    seconds, after which labelers are told that retraining has stopped.

    Liveness is polled: gunicorn's master reaps every child itself, so the exit code
    is not ours to read; the process says "stopped" in the store when it ends cleanly
    (the server stopping, Ctrl-C)."""
    store.set_meta(STATE, "running")
    process = start()

    def watch() -> None:
        try:
            supervise()
        except Exception as exc:  # the store gone: nothing left to watch for
            log.error("Stopped watching the retraining process: %s", _one_line(exc))

    def supervise() -> None:
        nonlocal process
        ended: list[float] = []
        while True:
            time.sleep(every)
            if process.poll() is None or store.get_meta(STATE) == "stopped":
                continue
            now = time.monotonic()
            ended = [t for t in ended if now - t < window] + [now]
            if len(ended) > restarts:
                log.error("The retraining process ended %d times within %d minutes: not "
                          "started again", len(ended), window // 60)
                store.set_meta(PROBLEM, (
                    "Retraining has stopped: its process ended unexpectedly several times "
                    "(the server's log tells more). The queue keeps its order; restart the "
                    "server to retrain again."))
                return
            log.error("The retraining process ended unexpectedly; starting it again")
            store.set_meta(STATE, "running")
            process = start()

    thread = threading.Thread(target=watch, name="retrain-keep-alive", daemon=True)
    thread.start()
    return thread


def _stop(signum: int, frame: Any) -> None:
    """Stop cleanly, as Ctrl-C does, once: the signals that follow (Ctrl-C reaches the
    whole process group, then the server sends SIGTERM) must not interrupt the clean-up
    with a traceback, leaving the store's state "running"."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _die_with_parent(parent_pid: int) -> None:
    """Be sent SIGTERM when the server dies, even by kill -9 (Linux): otherwise this
    process would finish its retraining, re-rank and bump the session of a server that
    is gone, and a restarted server would have two retraining processes."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # died before the signal was asked for
        raise SystemExit(0)


def other_retrainer(store: SQLiteStore) -> int | None:
    """The pid of a retraining process that seems to run on this store (another server's
    with --retrain-every), or None."""
    raw = store.get_meta(OWNER)
    if store.get_meta(STATE) != "running" or not raw or not raw.isdigit():
        return None
    return int(raw) if exists(int(raw)) else None


def _mark_stopped(store: SQLiteStore) -> None:
    """Say "stopped" (the server's watcher then starts no other process) unless another
    retraining process, started since by a new server, owns the store's state."""
    if store.get_meta(OWNER) == str(os.getpid()):
        store.set_meta(STATE, "stopped")


def main() -> None:
    """Entry point of the retraining process: its settings arrive as JSON on stdin."""
    payload = json.loads(sys.stdin.read())
    raw = payload["retrain"]
    retrain = RetrainSettings(**{**raw, "model_path": Path(raw["model_path"]),
                                 "feature_columns": tuple(raw["feature_columns"])})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s retrain: %(message)s")
    if payload.get("debug"):
        log.setLevel(logging.DEBUG)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _die_with_parent(payload["parent_pid"])
    # The server read the pool into the store; a process started again later must not
    # import a pool edited since into the live store.
    project = open_project(payload["input"], payload["store"], payload["settings"],
                           progress=False, sync=False)
    project.store.set_meta(OWNER, str(os.getpid()))
    # Ctrl-C in the terminal stops the server and this process together: no traceback.
    with contextlib.suppress(KeyboardInterrupt):
        Retrainer(project, payload["input"], retrain).run_forever(
            parent_pid=payload["parent_pid"])
    _mark_stopped(project.store)


if __name__ == "__main__":
    main()
