"""The standalone loop: query CLI sessions and exclusion, retraining every n labels."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assisted_labeling import cli, models
from assisted_labeling.retrain import STATE, Retrainer, RetrainSettings, retrain_warnings
from assisted_labeling.sampling import uncertainty_scores
from assisted_labeling.standalone import open_project
from assisted_labeling.web.auth import LOCAL_USER


@pytest.fixture
def pool(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random(300), rng.random(300)
    path = tmp_path / "pool.csv"
    pd.DataFrame({"id": range(300), "x": x, "y": y}).to_csv(path, index=False)
    truth = np.where(x > y, "a", "b")
    return path, truth


def retraining(tmp_path, path, every):
    """A project on the pool, and its retrainer on the x, y columns."""
    project = open_project(path, tmp_path / "l.db", {"categories": "a,b", "id_column": "id"},
                           progress=False)
    return project, Retrainer(project, path, RetrainSettings(
        every=every, model_path=tmp_path / "m.skops", feature_columns=("x", "y")))


def label(project, truth, ids):
    for i in ids:
        project.annotate(LOCAL_USER, {"item_id": str(i), "label": truth[i]})


def test_retrains_every_n_labels_and_reranks_the_queue(tmp_path, pool):
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 10)
    label(project, truth, range(9))
    assert retrainer.run_once() is None  # 9 < 10
    label(project, truth, range(9, 12))
    first = retrainer.run_once()
    assert first is not None and first["session"] == 1 and first["n_labels"] == 12
    assert first["contradictions"] is None  # no previous model
    assert (tmp_path / "m.skops").is_file()
    # Private like the store it learned from, whatever the umask.
    assert (tmp_path / "m.skops").stat().st_mode & 0o777 == 0o600
    assert retrainer.run_once() is None  # nothing new since
    # The queue is re-ranked. 12 labels are few for a batch of 10 (the cold start): 4
    # items typical of the pool come first, then the 6 most uncertain, near x = y.
    served = project.next_items(LOCAL_USER, 10)
    assert all(item["uncertainty"] is not None for item in served)
    gaps = [abs(float(item["data"]["x"]) - float(item["data"]["y"])) for item in served]
    assert max(gaps[4:]) < 0.2
    # The queue follows the rank-assigned order; each item shows the model's own margin.
    order = [project.store.get_item(i["id"]).priority for i in served]
    assert order == sorted(order, reverse=True)
    model = models.load(tmp_path / "m.skops")
    rows = pd.DataFrame([i["data"] for i in served])
    margins = uncertainty_scores(model.predict_proba(rows), strategy="margin")
    assert [i["uncertainty"] for i in served] == pytest.approx(margins.tolist())
    assert margins[:4].min() < min(order[:4])  # the typical items are not that uncertain
    # New labels carry the new session; the next retrain compares with the previous model.
    label(project, truth, range(12, 22))
    assert project.store.get_annotation("local", "21").session == 1
    second = retrainer.run_once()
    assert second["session"] == 2 and 0.0 <= second["contradictions"] <= 1.0
    assert second["n_samples"] > 0
    history = json.loads(project.store.get_meta("metrics"))
    assert [h["session"] for h in history] == [1, 2]


def failed_on_one_class(tmp_path, pool):
    """A project whose retraining (every 3 labels) failed: 3 labels, all "a"."""
    project, retrainer = retraining(tmp_path, pool[0], 3)
    for i in range(3):
        project.annotate(LOCAL_USER, {"item_id": str(i), "label": "a"})
    assert retrainer.run_once() is None
    return project, retrainer


def test_one_class_postpones_retraining_until_another_class_is_labeled(tmp_path, pool):
    project, retrainer = failed_on_one_class(tmp_path, pool)
    assert not (tmp_path / "m.skops").exists()
    assert project.store.get_meta("session", "0") == "0"  # a failed run is no session
    assert project.store.get_meta("metrics") is None
    first_failure = retrain_warnings(project.store)[0]
    assert "at the first label of another class" in first_failure
    # No model yet: none whose order the queue would keep.
    assert first_failure.startswith("The model could not be trained yet: ")
    # Unranked items are served in a seeded random order, not in the table's.
    assert "keeps its seeded random order" in first_failure
    # A failure changes no session: a tag of its warning tells the page to read it.
    assert project.warnings_tag() is None  # nothing watched yet
    untagged = project.config_payload(LOCAL_USER)["warnings_tag"]
    project.add_warnings(lambda: retrain_warnings(project.store), watched=True)
    failed = project.warnings_tag()
    assert failed is not None and failed != untagged
    # More labels of the same class, fewer than 3: still nothing to learn from.
    for i in range(3, 5):
        project.annotate(LOCAL_USER, {"item_id": str(i), "label": "a"})
    assert retrainer.run_once() is None and project.store.get_meta("session", "0") == "0"
    # One label of another class (here an edit) is enough: no 3 more to wait for.
    project.annotate(LOCAL_USER, {"item_id": "4", "label": "b"})
    read = []  # what a page reading the configuration just then would get
    write = project.store.set_metas

    def write_then_read(values):
        write(values)
        if "session" in values:
            read.append(project.config_payload(LOCAL_USER))

    project.store.set_metas = write_then_read
    entry = retrainer.run_once()
    assert entry is not None and entry["session"] == 1 and entry["n_labels"] == 5
    assert retrain_warnings(project.store) == []
    assert project.warnings_tag() not in (None, failed)  # the warning went: a new tag
    # The new session comes with the warning gone, never with the failure's.
    assert [(r["session"], r["warnings"]) for r in read] == [(1, [])]
    # Then the rule is every 3 labels again.
    project.annotate(LOCAL_USER, {"item_id": "5", "label": "b"})
    assert retrainer.run_once() is None


def test_the_page_is_told_when_and_on_how_many_labels_the_model_was_retrained(tmp_path,
                                                                               pool):
    from datetime import datetime, timezone

    from assisted_labeling.retrain import retraining_state

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 4)
    project.show_retraining(lambda: retraining_state(project.store, 4))
    state = project.config_payload(LOCAL_USER)["retraining"]
    assert state == {"every": 4, "session": None, "at": None, "n_labels": None}
    label(project, truth, range(6))
    before = datetime.now(timezone.utc).replace(microsecond=0)
    assert retrainer.run_once() is not None
    state = project.config_payload(LOCAL_USER)["retraining"]
    assert (state["every"], state["session"], state["n_labels"]) == (4, 1, 6)
    at = datetime.fromisoformat(state["at"])
    assert at.tzinfo is not None and before <= at <= datetime.now(timezone.utc)
    # Without a retraining loop, there is nothing to tell.
    assert open_project(path, tmp_path / "other.db", {"categories": "a,b"},
                        progress=False).config_payload(LOCAL_USER)["retraining"] is None
    # A failure after that says the model is kept.
    label(project, truth, range(6, 10))
    path.unlink()
    assert retrainer.run_once() is None
    assert retrain_warnings(project.store)[0].startswith(
        "The model has not been retrained on the latest labels")
    assert project.config_payload(LOCAL_USER)["retraining"]["session"] == 1


def test_a_pool_emptied_under_a_retraining_is_told_not_crashed(tmp_path, pool):
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 4)
    label(project, truth, range(6))
    pd.DataFrame({"id": [], "x": [], "y": []}).to_csv(path, index=False)
    assert retrainer.run_once() is None
    warning = retrain_warnings(project.store)[0]
    assert 'The table "pool.csv" has no rows now' in warning
    assert "unexpected error" not in warning


def test_a_first_failed_training_under_queries_keeps_their_order(tmp_path, pool):
    from assisted_labeling.standalone import RANKED_BY

    path, _ = pool
    project, retrainer = retraining(tmp_path, path, 3)
    project.store.set_meta(RANKED_BY, "queries-fingerprint")  # serve --queries ranked it
    label(project, ["a"] * 3, range(3))
    assert retrainer.run_once() is None
    assert "keeps the order of the queries it was given" in retrain_warnings(project.store)[0]


def test_another_failure_after_a_one_class_one_waits_for_n_labels_again(tmp_path, pool,
                                                                         monkeypatch):
    from assisted_labeling import retrain

    path, _ = pool
    project, retrainer = retraining(tmp_path, path, 3)
    label(project, ["a"] * 3, range(3))
    assert retrainer.run_once() is None  # one class
    score = retrain.score_file

    def pool_gone(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", str(path))

    monkeypatch.setattr(retrain, "score_file", pool_gone)
    project.annotate(LOCAL_USER, {"item_id": "3", "label": "b"})
    assert retrainer.run_once() is None  # tried at once, and failed otherwise
    assert "after 3 new labels." in retrain_warnings(project.store)[0]
    monkeypatch.setattr(retrain, "score_file", score)
    project.annotate(LOCAL_USER, {"item_id": "4", "label": "b"})  # a class known by now
    project.annotate(LOCAL_USER, {"item_id": "5", "label": "a"})
    assert retrainer.run_once() is None  # 2 new labels: the every-3 rule again
    project.annotate(LOCAL_USER, {"item_id": "6", "label": "a"})
    assert retrainer.run_once() is not None


def test_a_failed_query_counts_no_session(tmp_path, pool):
    """A pool that fails while it is scored (a malformed line): the queries are kept,
    and the next run is the session after the last one that worked."""
    path, truth = pool
    db = tmp_path / "l.db"
    project = open_project(path, db, {"categories": "a,b", "id_column": "id"}, progress=False)
    label(project, truth, range(20))
    train = tmp_path / "train.csv"
    pd.read_csv(path).assign(label=truth).to_csv(train, index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(train), "--feature-columns", "x,y", "-o", str(model)]) == 0
    other = tmp_path / "other.csv"
    other.write_text("id,x,y\n1,0.5,0.1\n2,0.3,0.2,9,9\n", "utf-8")
    for store in ([], ["--store", str(db)]):
        out = tmp_path / f"q{len(store)}.csv"
        works = ["query", "--model", str(model), "--input", str(path), "-o", str(out),
                 *store]
        assert cli.main(works) == 0
        written = out.read_bytes()
        failed = ["query", "--model", str(model), "--input", str(other), "-o", str(out),
                  *store]
        assert cli.main(failed) == 2 and out.read_bytes() == written
        assert cli.main(works) == 0
        assert set(pd.read_csv(out)["session"]) == {2}
    assert project.store.get_meta("session") == "2"


def test_query_cli_excludes_labeled_items_and_counts_sessions(tmp_path, pool, capsys):
    path, truth = pool
    db = tmp_path / "l.db"
    project = open_project(path, db, {"categories": "a,b", "id_column": "id"}, progress=False)
    label(project, truth, range(20))
    labels = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(db), "-o", str(labels)]) == 0
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(labels), "--feature-columns", "x,y", "-o", str(model)]) == 0
    out = tmp_path / "q.parquet"
    for session in (1, 2):
        assert cli.main(["query", "--model", str(model), "--input", str(path), "--store",
                         str(db), "--strategy", "entropy", "-o", str(out),
                         "--max-queries", "50"]) == 0
        queries = pd.read_parquet(out)
        assert list(queries.columns) == ["id", "x", "y", "uncertainty", "model_uncertainty",
                                         "session"]
        assert len(queries) == 50 and set(queries["session"]) == {session}
        assert not set(queries["id"]) & set(range(20))
        assert queries["uncertainty"].is_monotonic_decreasing
    assert project.store.get_meta("session") == "2"
    import os
    import subprocess
    import sys

    from assisted_labeling.retrain import OWNER

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    project.store.set_meta(STATE, "running")  # as a server killed with its process left it
    project.store.set_meta(OWNER, str(ended.pid))
    capsys.readouterr()
    assert cli.main(["query", "--model", str(model), "--input", str(path), "--store",
                     str(db), "-o", str(out)]) == 0
    assert "seems to retrain" not in capsys.readouterr().err
    project.store.set_meta(OWNER, str(os.getpid()))  # a retraining process that runs
    assert cli.main(["query", "--model", str(model), "--input", str(path), "--store",
                     str(db), "-o", str(out)]) == 0
    assert "a server seems to retrain on" in capsys.readouterr().err


def test_query_without_store_counts_sessions_in_the_output(tmp_path, pool):
    path, truth = pool
    frame = pd.read_csv(path).assign(label=truth)
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(tmp_path / "train.csv"), "--feature-columns", "x,y",
                     "-o", str(model)]) == 0
    out = tmp_path / "q.jsonl"
    args = ["query", "--model", str(model), "--input", str(path), "-o", str(out)]
    assert cli.main(args) == 0 and cli.main(args) == 0
    queries = pd.read_json(out, lines=True)
    assert len(queries) == 300 and set(queries["session"]) == {2}


def test_query_cli_cold_start_fills_the_first_batch_unless_turned_off(tmp_path, pool):
    path, truth = pool
    frame = pd.read_csv(path).assign(label=truth)
    frame["label"] = frame["label"].where(frame.index < 20)  # a model of 20 labels
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(tmp_path / "train.csv"), "--feature-columns", "x,y",
                     "-o", str(model)]) == 0
    out = tmp_path / "q.csv"
    base = ["query", "--model", str(model), "--input", str(path), "-o", str(out),
            "--batch-size", "40"]

    def run(args: list[str]) -> pd.DataFrame:
        assert cli.main(args) == 0
        queries = pd.read_csv(out)
        assert len(queries) == 300 and queries["id"].is_unique
        assert queries["uncertainty"].is_monotonic_decreasing
        return queries.assign(gap=(queries["x"] - queries["y"]).abs())

    cold, warm = run(base), run(base + ["--no-cold-start"])
    # Typical items of the whole pool first, far from the boundary too; then ½ × 20
    # labels by uncertainty, the model's 10 most uncertain items.
    assert cold["gap"][:30].max() > 0.5
    assert cold["id"][30:40].tolist() == warm["id"][:10].tolist()
    assert warm["gap"][:40].max() < 0.3
    with pytest.raises(SystemExit):
        cli.main(["query", "--model", str(model), "--input", str(path), "-o", str(out),
                  "--batch-size", "many"])
    # 8 labels are enough for a batch of 4 but fewer than 5 per class of the model's 2:
    # the cold start goes on, 2 typical items, then the 2 most uncertain.
    frame["label"] = frame["label"].where(frame.index < 8)
    assert frame["label"].nunique() == 2
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert cli.main(["train", str(tmp_path / "train.csv"), "--feature-columns", "x,y",
                     "-o", str(model)]) == 0
    small = base[:-1] + ["4"]
    cold, warm = run(small), run(small + ["--no-cold-start"])
    assert cold["id"][2:4].tolist() == warm["id"][:2].tolist()
    assert cold["id"][:2].tolist() != warm["id"][:2].tolist()


def test_serve_orders_the_queue_by_a_queries_file(tmp_path, pool):
    from assisted_labeling.queries import priorities_from_file

    path, _ = pool
    queries = pd.read_csv(path).iloc[[5, 7]].assign(uncertainty=[0.9, 0.4], session=1)
    queries.to_csv(tmp_path / "q.csv", index=False)
    project = open_project(path, tmp_path / "l.db", {"categories": "a,b", "id_column": "id"},
                           progress=False)
    project.store.set_priorities(priorities_from_file(tmp_path / "q.csv", "id"))
    served = project.next_items(LOCAL_USER, 3)
    assert [i["id"] for i in served[:2]] == ["5", "7"]
    assert served[2]["uncertainty"] is None


def test_stalled_history_reaches_the_config_warnings(tmp_path, pool):
    path, _ = pool
    project = open_project(path, tmp_path / "l.db", {"categories": "a,b"}, progress=False)
    assert project.config_payload(LOCAL_USER)["warnings"] == []
    flat = [{"session": s, "contradictions": 0.002, "auc": 0.91, "n_samples": 1000}
            for s in range(1, 5)]
    project.store.set_meta("metrics", json.dumps(flat))
    warnings = project.config_payload(LOCAL_USER)["warnings"]
    assert len(warnings) == 1 and "0.91" in warnings[0]


def test_a_duplicate_row_keeps_its_rank_after_its_twin_is_labeled(tmp_path):
    path = tmp_path / "pool.csv"
    pd.DataFrame({"x": [0.5, 0.5, 0.9, 0.1], "y": [0.5, 0.5, 0.1, 0.9]}).to_csv(path,
                                                                                index=False)
    db = tmp_path / "l.db"
    project = open_project(path, db, {"categories": "a,b"}, progress=False)
    keys = [i["id"] for i in project.next_items(LOCAL_USER, 4)]
    twins = sorted(k for k in keys if project.store.get_item(k).data["x"] == "0.5")
    assert twins[1] == f"{twins[0]}-1"
    project.annotate(LOCAL_USER, {"item_id": twins[0], "label": "a"})
    for key in keys:
        project.store.release("local", key)
    model = tmp_path / "m.skops"
    train = tmp_path / "train.csv"
    pd.DataFrame({"x": [0.9, 0.1, 0.8, 0.2], "y": [0.1, 0.9, 0.2, 0.8],
                  "label": ["a", "b", "a", "b"]}).to_csv(train, index=False)
    assert cli.main(["train", str(train), "-o", str(model)]) == 0
    queries = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(path), "--store",
                     str(db), "-o", str(queries)]) == 0
    from assisted_labeling.queries import priorities_from_file

    project.store.set_priorities(priorities_from_file(queries, None), to_duplicates=True)
    first = project.next_items(LOCAL_USER, 1)[0]
    assert first["id"] == twins[1]  # the unlabeled twin: the most uncertain item
    assert first["uncertainty"] == max(pd.read_csv(queries)["uncertainty"])


def test_the_rerank_keeps_item_ids_and_scores_not_whole_rows(tmp_path, pool, monkeypatch):
    from assisted_labeling import retrain
    from assisted_labeling.queries import ITEM_ID

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 10)
    ranked = []
    rank = retrain.queue_priorities
    monkeypatch.setattr(retrain, "queue_priorities",
                        lambda store, queries: ranked.append(queries) or rank(store, queries))
    label(project, truth, range(12))
    assert retrainer.run_once() is not None
    assert list(ranked[0].columns) == [ITEM_ID, "uncertainty", "model_uncertainty"]
    assert len(ranked[0]) == 300 - 12
    # Ties and all, the queue follows the queries' row order.
    served = [i["id"] for i in project.next_items(LOCAL_USER, 20)]
    assert served == ranked[0][ITEM_ID].tolist()[:20]


def test_a_failed_retraining_warns_once_and_waits_for_new_labels(tmp_path, pool, caplog,
                                                                 monkeypatch):
    from assisted_labeling import retrain

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    project.add_warnings(lambda: retrain.retrain_warnings(project.store))
    attempts = []
    score = retrain.score_file

    def pool_gone(*args, **kwargs):  # the pool file moved away while serving
        attempts.append(1)
        raise FileNotFoundError(2, "No such file or directory", str(path))

    monkeypatch.setattr(retrain, "score_file", pool_gone)
    label(project, truth, range(5))
    with caplog.at_level("INFO", logger="assisted_labeling.retrain"):
        assert retrainer.run_once() is None
        assert retrainer.run_once() is None and retrainer.run_once() is None
    assert len(attempts) == 1  # no retry before new labels
    problems = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert len(problems) == 1 and problems[0].exc_info is None
    assert "No such file or directory" in problems[0].getMessage()
    assert "\n" not in problems[0].getMessage()
    warnings = project.config_payload(LOCAL_USER)["warnings"]
    assert len(warnings) == 1 and "could not be trained yet" in warnings[0]
    # Labelers may be remote: the server's paths stay in its log.
    assert "No such file or directory" not in warnings[0] and str(path) not in warnings[0]
    assert "the server's log tells which" in warnings[0]
    # New labels: tried again, and once it works the warning is gone.
    monkeypatch.setattr(retrain, "score_file", score)
    label(project, truth, range(5, 9))
    assert retrainer.run_once() is None  # 4 new labels, 5 needed
    label(project, truth, range(9, 10))
    assert retrainer.run_once() is not None
    assert project.config_payload(LOCAL_USER)["warnings"] == []


def test_a_text_model_postpones_while_labeled_texts_are_empty(tmp_path):
    from assisted_labeling import retrain

    path = tmp_path / "pool.csv"
    pd.DataFrame({"text": [""] * 6 + ["good day", "bad day"] * 5}).to_csv(path, index=False)
    project = open_project(path, tmp_path / "l.db", {"categories": "a,b"}, progress=False)
    retrainer = Retrainer(project, path, RetrainSettings(
        every=4, model_path=tmp_path / "m.skops", text_column="text"))
    items = project.next_items(LOCAL_USER, 16)
    empty = [i["id"] for i in items if not i["data"]["text"]]
    for key, answer in zip(empty, "abab"):
        project.annotate(LOCAL_USER, {"item_id": key, "label": answer})
    assert retrainer.run_once() is None
    assert 'the text column "text" holds no words' in retrain.retrain_warnings(
        project.store)[0]
    worded = [i["id"] for i in items if i["data"]["text"]]
    for key in worded[:4]:
        answer = "a" if project.store.get_item(key).data["text"] == "good day" else "b"
        project.annotate(LOCAL_USER, {"item_id": key, "label": answer})
    assert retrainer.run_once() is not None
    assert retrain.retrain_warnings(project.store) == []


def test_the_retraining_loop_logs_a_repeated_failure_once(tmp_path, pool, caplog,
                                                          monkeypatch):
    from assisted_labeling import retrain

    path, _ = pool
    _, retrainer = retraining(tmp_path, path, 5)
    monkeypatch.setattr(retrainer, "run_once", lambda: 1 / 0)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(retrain.time, "sleep", sleep)
    with caplog.at_level("INFO", logger="assisted_labeling.retrain"), \
            pytest.raises(KeyboardInterrupt):
        retrainer.run_forever()
    problems = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert len(problems) == 1 and problems[0].exc_info is None
    assert "ZeroDivisionError: division by zero" in problems[0].getMessage()


def test_default_features_leave_out_what_the_labels_export_and_query_write():
    from assisted_labeling.config import build_config
    from assisted_labeling.retrain import default_features

    config = build_config({"categories": "a,b", "id_column": "id",
                           "existing_labels_column": "guess"})
    columns = ["id", "x", "label", "label_id", "guess", "session", "uncertainty",
               "model_uncertainty", "y"]
    assert default_features(columns, config) == ["x", "y"]


def test_a_model_file_that_cannot_be_written_keeps_the_previous_one(tmp_path, pool, caplog,
                                                                    monkeypatch):
    import skops.io as sio

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(6))
    assert retrainer.run_once() is not None
    before = (tmp_path / "m.skops").read_bytes()

    def disk_full(obj, file, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"PK")
        raise OSError(28, "No space left on device")

    # `models.save`, as `train` uses it: a temporary file, renamed once whole.
    monkeypatch.setattr(sio, "dump", disk_full)
    label(project, truth, range(6, 12))
    with caplog.at_level("WARNING", logger="assisted_labeling.retrain"):
        entry = retrainer.run_once()
    assert entry is not None and entry["session"] == 2  # the new ranking stands
    assert "keeps the previous model: OSError: [Errno 28] No space left" in caplog.text
    assert (tmp_path / "m.skops").read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if "skops" in p.name and
                p.name != "m.skops"]  # no partial file left
    # Labelers are told, without the server's paths; a later save clears it.
    [warning] = retrain_warnings(project.store)
    assert "could not be saved" in warning and "No space left" in warning
    assert str(tmp_path) not in warning
    monkeypatch.undo()
    label(project, truth, range(12, 18))
    assert retrainer.run_once() is not None
    assert retrain_warnings(project.store) == []


def test_a_restarted_loop_retries_a_recorded_problem_at_once(tmp_path, pool, monkeypatch):
    from assisted_labeling import retrain

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(5))
    project.store.set_meta(retrain.PROBLEM, "The model has not been retrained: …")
    project.store.set_meta(retrain.WATERMARK, str(project.store.last_change()))
    assert not retrainer.due()  # the failed try consumed these labels
    real_sleep = retrain.time.sleep

    def sleep(seconds):  # stop at the first poll; the store's own pauses go on
        if seconds == 0.123:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(retrain.time, "sleep", sleep)
    with pytest.raises(KeyboardInterrupt):
        retrainer.run_forever(poll_seconds=0.123)  # restarted, maybe with settings
        # that solve it
    assert retrain.retrain_warnings(project.store) == []
    assert project.store.get_meta("session") == "1"


def test_a_date_column_of_the_pool_is_learned_as_time_not_as_text(tmp_path):
    # The store keeps dates as ISO text; the retrained model must read them as the pool
    # holds them (seconds), or each date would be a category of its own.
    days = pd.date_range("2024-01-01", periods=200, freq="D", tz="UTC")
    path = tmp_path / "pool.parquet"
    pd.DataFrame({"id": range(200), "when": days}).to_parquet(path)
    truth = np.where(np.arange(200) < 100, "early", "late")
    project = open_project(path, tmp_path / "l.db",
                           {"categories": "early,late", "id_column": "id"}, progress=False)
    retrainer = Retrainer(project, path, RetrainSettings(
        every=10, model_path=tmp_path / "m.skops", feature_columns=("when",)))
    label(project, truth, list(range(0, 40, 4)) + list(range(160, 200, 4)))
    entry = retrainer.run_once()
    assert entry is not None and entry["auc"] == pytest.approx(1.0)
    model = models.load(tmp_path / "m.skops")
    assert model.column_types == {"when": models.DATETIME}
    # Dates never labeled are placed by time: the model generalises across the gap.
    unseen = pd.DataFrame({"when": days[[50, 60, 140, 150]]})
    assert list(model.pipeline.predict(model.inputs(unseen))) == ["early"] * 2 + ["late"] * 2


def test_a_csv_pool_kept_as_written_is_learned_with_its_types(tmp_path):
    # The store keeps a CSV pool's cells as text: numbers and booleans must still be
    # learned as numbers (the pool's types), not as one category per value.
    rng = np.random.default_rng(1)
    x = rng.random(200)
    path = tmp_path / "pool.csv"
    pd.DataFrame({"id": range(200), "x": x, "flag": x > 0.9}).to_csv(path, index=False)
    project = open_project(path, tmp_path / "l.db", {"categories": "a,b", "id_column": "id"},
                           progress=False)
    assert project.store.get_item("0").data["flag"] in ("True", "False")
    retrainer = Retrainer(project, path, RetrainSettings(
        every=20, model_path=tmp_path / "m.skops", feature_columns=("x", "flag")))
    label(project, np.where(x > 0.5, "a", "b"), range(20))
    assert retrainer.run_once() is not None
    model = models.load(tmp_path / "m.skops")
    assert model.column_types == {"x": models.NUMBER, "flag": models.NUMBER}
    # Values never labeled are placed by their size.
    far = pd.DataFrame({"x": ["0.01", "0.99"], "flag": ["False", "True"]})
    assert list(model.pipeline.predict(model.inputs(far))) == ["b", "a"]


def test_saving_a_label_again_is_no_new_label(tmp_path, pool):
    # Re-saving or correcting labels used to count as new ones: each round retrained,
    # spent a session and, with the same labels, faked a stalled model.
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(4))
    for other in ("a", "b", "a", "b", "a", "b"):
        project.annotate(LOCAL_USER, {"item_id": "0", "label": other})
    assert not retrainer.due()
    project.skip(LOCAL_USER, {"item_id": "4"})
    label(project, truth, [4])  # a label after a skip is new
    assert retrainer.run_once()["session"] == 1
    for other in ("a", "b", "a", "b", "a"):  # corrections of the previous session
        label(project, np.array([other] * 4), range(4))
    assert not retrainer.due()
    label(project, truth, range(5, 9))
    assert not retrainer.due()  # 4 new labels
    label(project, truth, [9])
    assert retrainer.due()


def test_labels_saved_while_a_retraining_runs_count_for_the_next_one(tmp_path, pool):
    """They come after the labels the model learns from, but before its session: the
    model never saw them, so they are new labels for the next retraining."""
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(5))
    metrics = retrainer._metrics

    def labels_meanwhile(*args):  # the retraining has read its labels by now
        label(project, truth, range(5, 10))
        return metrics(*args)

    retrainer._metrics = labels_meanwhile
    assert retrainer.run_once()["n_labels"] == 5
    retrainer._metrics = metrics
    assert project.store.get_annotation("local", "9").session == 0  # the old session
    assert retrainer.due()
    assert retrainer.run_once()["n_labels"] == 10
    assert not retrainer.due()


def test_a_label_given_while_the_labels_are_read_counts_for_the_next_retraining(
        tmp_path, pool):
    """A skipped item labeled while the retraining reads its labels page by page may be
    missed by that read: it counts as new, whatever its place in the pages."""
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    project.skip(LOCAL_USER, {"item_id": "0"})
    label(project, truth, range(1, 6))
    label_rows = project.label_rows

    def paged():
        rows = list(label_rows())  # the page holding item 0 is read; then item 0 and
        label(project, truth, [0, 6])  # item 6 are labeled, and a later page has 6 only
        return iter(rows + [r for r in label_rows() if r["id"] == "6"])

    project.label_rows = paged
    assert retrainer.run_once()["n_labels"] == 6
    project.label_rows = label_rows
    label(project, truth, range(7, 10))
    assert retrainer.due()  # item 0, never learned, item 6 (counted again) and 3 more


def test_sessions_counted_by_query_before_any_retraining_hide_no_label(tmp_path, pool):
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(4))
    project.store.set_meta("session", "1")  # as `query --store` leaves it
    label(project, truth, [4])
    assert retrainer.due()  # 5 labels, whatever their session


def test_a_store_of_an_earlier_version_counts_no_correction_as_new(tmp_path, pool):
    from assisted_labeling.retrain import TRAINED

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(5))
    assert retrainer.run_once()["session"] == 1
    with project.store._write() as conn:  # as an earlier version left it
        conn.execute("DELETE FROM meta WHERE key = ?", (TRAINED,))
    for other in ("a", "b", "a", "b", "a"):  # corrections only
        label(project, np.array([other] * 5), range(5))
    assert not retrainer.due()
    label(project, truth, range(5, 10))
    assert retrainer.due()


def test_a_postponed_retraining_shows_file_names_not_server_paths(tmp_path, pool):
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    project.add_warnings(lambda: retrain_warnings(project.store))
    label(project, truth, range(5))
    path.rename(tmp_path / "elsewhere.csv")  # the pool moved away while serving
    assert retrainer.run_once() is None
    warning, = project.config_payload(LOCAL_USER)["warnings"]
    assert '"pool.csv" does not exist' in warning and str(tmp_path) not in warning


def test_a_restart_with_the_same_queries_keeps_the_retrained_order(tmp_path, pool, capsys):
    # Restarting with the README's own `serve --queries q.csv` brought back the first
    # ranking, from a model of a few labels, over the retrained one.
    path, truth = pool
    queries = pd.read_csv(path).iloc[[5, 7]].assign(uncertainty=[0.9, 0.4], session=1)
    queries.to_csv(tmp_path / "q.csv", index=False)
    project, retrainer = retraining(tmp_path, path, 10)
    cli._order_queue(project, str(tmp_path / "q.csv"), str(path))
    cli._order_queue(project, str(tmp_path / "q.csv"), str(path))  # no retraining yet
    assert [i["id"] for i in project.next_items(LOCAL_USER, 2)] == ["5", "7"]
    label(project, truth, [5, 7, *range(10, 18)])
    assert retrainer.run_once() is not None
    retrained = [i["id"] for i in project.next_items(LOCAL_USER, 5)]
    for key in retrained:
        project.store.release("local", key)
    capsys.readouterr()
    cli._order_queue(project, str(tmp_path / "q.csv"), str(path))
    assert "keeps the order of the latest retraining" in capsys.readouterr().err
    assert [i["id"] for i in project.next_items(LOCAL_USER, 5)] == retrained
    for key in retrained:
        project.store.release("local", key)
    # Other queries are new: they order the queue.
    pd.read_csv(path).iloc[[200, 201]].assign(uncertainty=[0.95, 0.94], session=2).to_csv(
        tmp_path / "q2.csv", index=False)
    cli._order_queue(project, str(tmp_path / "q2.csv"), str(path))
    assert [i["id"] for i in project.next_items(LOCAL_USER, 2)] == ["200", "201"]


def test_the_metrics_history_keeps_its_last_entries(tmp_path, pool):
    from assisted_labeling.loop import MAX_HISTORY

    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    old = [{"session": s, "auc": 0.5, "contradictions": 0.1} for s in range(MAX_HISTORY)]
    project.store.set_meta("metrics", json.dumps(old))
    label(project, truth, range(5))
    assert retrainer.run_once() is not None
    history = json.loads(project.store.get_meta("metrics"))
    assert len(history) == MAX_HISTORY and history[0] == old[1]


def test_a_retraining_process_that_dies_is_started_again_then_reported(tmp_path, pool):
    # Killed for memory while scoring a big pool, it used to leave the loop silently off.
    import subprocess
    import sys

    from assisted_labeling.retrain import PROBLEM, STATE, keep_alive

    project, _ = retraining(tmp_path, pool[0], 5)
    started = []

    def dies() -> subprocess.Popen:  # ends at once without saying "stopped"
        started.append(1)
        return subprocess.Popen([sys.executable, "-c", "pass"])

    keep_alive(dies, project.store, every=0.05, restarts=2).join(timeout=30)
    assert len(started) == 3  # the first start and 2 restarts
    assert "Retraining has stopped" in retrain_warnings(project.store)[0]

    project.store.set_meta(PROBLEM, "")
    started.clear()
    stops = (f"from assisted_labeling.store.sqlite import SQLiteStore; "
             f"SQLiteStore({str(tmp_path / 'l.db')!r}).set_meta({STATE!r}, 'stopped')")

    def stops_cleanly() -> subprocess.Popen:
        started.append(1)
        return subprocess.Popen([sys.executable, "-c", stops])

    watcher = keep_alive(stops_cleanly, project.store, every=0.05, restarts=2)
    watcher.join(timeout=1.5)
    assert watcher.is_alive() and len(started) == 1 and not project.store.get_meta(PROBLEM)


def test_a_helper_process_opens_the_store_without_importing_an_edited_pool(tmp_path, pool):
    """A retraining process started again by the server's watcher would read a pool
    edited since into the live store, retiring items the server still serves."""
    path, _ = pool
    project, _ = retraining(tmp_path, path, 10)
    project.store.close()
    pd.DataFrame({"id": range(10), "x": 0.5, "y": 0.5}).to_csv(path, index=False)
    helper = open_project(path, tmp_path / "l.db", {"categories": "a,b", "id_column": "id"},
                          progress=False, sync=False)
    assert helper.store.stats().total == 300
    helper.store.close()


def test_only_the_process_that_owns_the_state_says_stopped(tmp_path, pool):
    import os

    from assisted_labeling.retrain import OWNER, STATE, _mark_stopped

    path, _ = pool
    project, _ = retraining(tmp_path, path, 10)
    store = project.store
    store.set_meta(STATE, "running")
    store.set_meta(OWNER, "1")  # a newer process of a restarted server
    _mark_stopped(store)
    assert store.get_meta(STATE) == "running"
    store.set_meta(OWNER, str(os.getpid()))
    _mark_stopped(store)
    assert store.get_meta(STATE) == "stopped"


def test_the_retraining_process_ends_with_a_server_killed_by_sigkill(tmp_path, pool):
    """kill -9 of the server left it running: it re-ranked for a server that was gone,
    and beside a restarted server's own process, retrained the same labels twice."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from dataclasses import asdict

    path, _ = pool
    project, retrainer = retraining(tmp_path, path, 10)
    project.store.close()
    settings = {**asdict(retrainer.settings), "model_path": str(tmp_path / "m.skops"),
                "feature_columns": ["x", "y"]}
    payload = {"input": str(path), "store": str(tmp_path / "l.db"),
               "settings": {"categories": "a,b", "id_column": "id"}, "retrain": settings}
    # The retraining process, caught in a long retraining when its server dies.
    worker_code = ("import time\nfrom assisted_labeling import retrain\n"
                   "retrain.Retrainer.run_once = lambda self: time.sleep(120)\n"
                   "retrain.main()\n")
    # A stand-in server: starts it as start_worker does (settings on stdin), then waits.
    server = subprocess.Popen([sys.executable, "-c", (
        "import json, os, subprocess, sys, time\n"
        "payload = {**json.loads(sys.argv[1]), 'parent_pid': os.getpid()}\n"
        "w = subprocess.Popen([sys.executable, '-c', sys.argv[2]], stdin=subprocess.PIPE,"
        " text=True)\n"
        "w.stdin.write(json.dumps(payload)); w.stdin.close()\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(600)\n"), json.dumps(payload), worker_code],
        stdout=subprocess.PIPE, text=True)
    worker = int(server.stdout.readline())
    time.sleep(2.0)  # the worker is in its "retraining"
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        # A zombie until reaped: ask /proc whether it still runs.
        with contextlib.suppress(FileNotFoundError):
            if Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
                break
        time.sleep(0.2)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the retraining process outlived its server")


def test_serve_warns_when_another_server_retrains_on_the_store(tmp_path, pool, capsys,
                                                                monkeypatch):
    import os
    from types import SimpleNamespace

    from assisted_labeling.retrain import OWNER

    path, _ = pool
    project, retrainer = retraining(tmp_path, path, 10)
    monkeypatch.setattr("assisted_labeling.retrain.keep_alive", lambda *a, **kw: None)
    args = SimpleNamespace(input=str(path), store=str(tmp_path / "l.db"))
    cli._start_retrainer(args, {}, project, retrainer.settings)
    assert "another server" not in capsys.readouterr().err
    project.store.set_meta(STATE, "running")
    project.store.set_meta(OWNER, str(os.getpid()))  # a process that runs
    cli._start_retrainer(args, {}, project, retrainer.settings)
    assert "another server seems to retrain" in capsys.readouterr().err


def test_labelers_are_told_in_plain_words_that_the_feature_columns_are_empty(tmp_path):
    path = tmp_path / "blank.csv"
    pd.DataFrame({"id": range(40), "a": [None] * 40, "b": [""] * 40}).to_csv(path,
                                                                          index=False)
    project = open_project(path, tmp_path / "l.db",
                           {"categories": "cat,dog", "id_column": "id"}, progress=False)
    retrainer = Retrainer(project, path, RetrainSettings(every=5,
                                                         model_path=tmp_path / "m.skops"))
    label(project, ["cat", "dog"] * 20, range(6))
    assert retrainer.run_once() is None
    assert retrain_warnings(project.store) == [
        'The model could not be trained yet: the feature columns "a", "b" hold no value in '
        "the 6 labeled rows: there is nothing to learn from. Choose columns that hold "
        "values (feature columns or a text column). The queue keeps its seeded random "
        "order; training is tried again after 5 new labels."]


def test_a_retraining_process_stops_once_whatever_signals_follow():
    """Ctrl-C reaches the whole process group and the server then sends SIGTERM: the
    second signal must not interrupt the clean-up that marks the state stopped."""
    import os
    import signal

    from assisted_labeling import retrain

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        signal.signal(signal.SIGTERM, retrain._stop)
        signal.signal(signal.SIGINT, retrain._stop)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        try:  # during the clean-up
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pytest.fail("a second signal interrupted the clean-up")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_the_one_class_warning_goes_when_the_retraining_of_another_class_starts(
        tmp_path, pool, monkeypatch):
    """Not when that retraining ends, many seconds later on a large pool."""
    from assisted_labeling import retrain

    project, retrainer = failed_on_one_class(tmp_path, pool)
    assert "at least 2 classes" in retrain_warnings(project.store)[0]
    seen = []  # what labelers are shown while the model trains
    train = retrain.models.train
    monkeypatch.setattr(retrain.models, "train", lambda *a, **k: (
        seen.append(retrain_warnings(project.store)), train(*a, **k))[1])
    project.annotate(LOCAL_USER, {"item_id": "3", "label": "a"})
    assert retrainer.run_once() is None  # still one class: not due, still warned
    assert retrain_warnings(project.store) and seen == []
    project.annotate(LOCAL_USER, {"item_id": "4", "label": "b"})
    assert retrainer.run_once() is not None
    assert seen == [[]]
    assert retrain_warnings(project.store) == []


def test_a_restart_with_other_settings_retrains_at_once(tmp_path, pool):
    """Not after `every` more labels, ranking by the old model meanwhile; once, even if
    that retraining fails."""
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(5))
    assert retrainer.run_once() is not None
    assert retrainer.run_once() is None  # nothing new
    same = Retrainer(project, path, retrainer.settings)
    assert same.run_once() is None
    other = Retrainer(project, path, RetrainSettings(
        every=5, model_path=tmp_path / "m.skops", feature_columns=("x",),
        strategy="entropy"))
    entry = other.run_once()
    assert entry is not None and entry["session"] == 2
    assert entry["same_labels"]  # no evidence for the stopping warnings
    assert models.load(tmp_path / "m.skops").feature_columns == ["x"]
    assert other.run_once() is None
    failing = Retrainer(project, path, RetrainSettings(
        every=5, model_path=tmp_path / "m.skops", feature_columns=("x", "y"),
        model="gbdt"))
    failing._attempt = lambda: failing._postpone(RuntimeError("boom"), 0)
    assert failing.run_once() is None
    assert not failing.due()  # tried with these settings: waits for labels again


def test_a_restart_with_other_settings_after_a_correction_is_not_on_the_same_labels(
        tmp_path, pool):
    """A corrected label keeps its label id: the labels trained on differ all the same,
    and the retraining is evidence for the stopping warnings."""
    path, truth = pool
    project, retrainer = retraining(tmp_path, path, 5)
    label(project, truth, range(5))
    assert retrainer.run_once() is not None
    other_class = next(c for c in set(truth) if c != truth[0])
    project.annotate(LOCAL_USER, {"item_id": "0", "label": other_class})
    other = Retrainer(project, path, RetrainSettings(
        every=5, model_path=tmp_path / "m.skops", feature_columns=("x",)))
    entry = other.run_once()
    assert entry is not None and not entry.get("same_labels")


def test_two_retrainers_with_other_settings_do_not_retrain_in_turn(tmp_path, pool):
    """Two servers on one store (warned about): each compares the settings once, at its
    start, not on every poll, or they would retrain one after the other without end."""
    path, truth = pool
    project, first = retraining(tmp_path, path, 5)
    label(project, truth, range(5))
    assert first.run_once() is not None
    second = Retrainer(project, path, RetrainSettings(
        every=5, model_path=tmp_path / "m.skops", feature_columns=("x",)))
    assert second.run_once() is not None  # its own settings: at once
    assert first.run_once() is None and second.run_once() is None
    assert project.store.get_meta("session") == "2"


def test_a_change_of_settings_is_said_in_words():
    from assisted_labeling.retrain import _settings_change

    before = json.dumps({"feature_columns": ["x", "y"], "model": "linear",
                         "strategy": "margin", "text_column": None})
    now = json.dumps({"feature_columns": ["x"], "model": "linear", "strategy": "entropy",
                      "text_column": None})
    assert _settings_change(before, now) == \
        "feature_columns x,y → x; strategy margin → entropy"
