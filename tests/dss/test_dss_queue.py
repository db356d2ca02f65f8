"""Items come from the unlabeled dataset; the queries dataset ranks them."""

from __future__ import annotations

import pandas as pd

from assisted_labeling.project import Principal

ALICE = Principal("alice", "annotator")
SESSION = "ML-ASSISTED-LABELING__queries__session"


def _texts(webapp, count: int = 10) -> list[str]:
    return [i["data"]["text"] for i in webapp.project.next_items(ALICE, count)]


def test_every_row_is_an_item_duplicates_included(project_setup, open_labeling):
    webapp = open_labeling()
    assert webapp.project.stats().total == 4
    ids = [i["id"] for i in webapp.project.next_items(ALICE, 10)]
    assert len(set(ids)) == 4


def test_id_column_gives_the_item_ids(dss, open_labeling, config_4x):
    dss.create_dataset("reviews", pd.DataFrame({"rid": [10, 11], "text": ["a", "b"]}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    webapp = open_labeling({**config_4x, "id_column": "rid"})
    assert sorted(i["id"] for i in webapp.project.next_items(ALICE, 5)) == ["10", "11"]


def test_queries_rank_by_uncertainty_and_unscored_come_last(project_setup, open_labeling,
                                                            config_4x):
    # The sampler's output: the input columns + uncertainty + session; "stars" comes
    # back as floats (a column with a missing value elsewhere) and must still match.
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "great", "fine"], "stars": [1.0, 5.0, 3.0],
        "uncertainty": [0.2, 0.9, 0.5], "session": [1, 1, 1],
    }))
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    items = webapp.project.next_items(ALICE, 4)
    # "great" is in the table twice: both copies get the score of their content.
    assert [i["data"]["text"] for i in items] == ["great", "great", "fine", "awful"]
    assert [i["uncertainty"] for i in items] == [0.9, 0.9, 0.5, 0.2]


def test_queries_of_a_pool_of_numbers_only_rank_it(dss, open_labeling, config_4x):
    """No text column to read as text: only the number columns are asked for (never an
    empty column list, whose meaning DSS does not document)."""
    dss.create_dataset("reviews", pd.DataFrame({"x": [1.5, 2.5, 3.5], "n": [1, 2, 3]}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    dss.create_dataset("queries", pd.DataFrame({
        "x": [1.5, 2.5, 3.5], "n": [1, 2, 3], "uncertainty": [0.1, 0.8, 0.4],
        "session": [1] * 3}))
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    items = webapp.project.next_items(ALICE, 3)
    assert [i["data"]["n"] for i in items] == [2, 3, 1]
    assert [i["uncertainty"] for i in items] == [0.8, 0.4, 0.1]


def test_the_ui_shows_the_model_uncertainty_and_ties_keep_the_queries_order(
        dss, open_labeling, config_4x):
    # A cold-start batch: typical items first with re-assigned (tied) queue values; the
    # model's own scores are what the labeler sees. Random: nothing to show.
    dss.create_dataset("reviews", pd.DataFrame({"rid": range(1, 6), "text": list("abcde")}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    dss.create_dataset("queries", pd.DataFrame({
        "rid": [4, 2, 5, 1], "text": ["d", "b", "e", "a"],
        "uncertainty": [0.9, 0.9, 0.9, 0.4],
        "model_uncertainty": [0.1, 0.3, float("nan"), 0.4], "session": [2] * 4,
    }))
    webapp = open_labeling({**config_4x, "id_column": "rid", "queries_ds": "queries"})
    items = webapp.project.next_items(ALICE, 5)
    assert [i["id"] for i in items] == ["4", "2", "5", "1", "3"]
    assert [i["uncertainty"] for i in items[:4]] == [0.1, 0.3, None, 0.4]
    assert items[4]["uncertainty"] is None  # not scored


def test_an_unlabeled_copy_keeps_the_score_when_its_twin_was_labeled(
        project_setup, open_labeling, config_4x):
    first = open_labeling()
    twins = [i["id"] for i in first.project.next_items(ALICE, 4)
             if i["data"]["text"] == "great"]
    labeled = min(twins, key=len)  # the first copy: "<hash>"; the second: "<hash>-1"
    first.project.annotate(ALICE, {"item_id": labeled, "label": "pos"})
    first.sync.flush()
    first.close()
    # The sampler left the labeled copy out: one "great" row remains, ranked first.
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["great", "fine", "awful"], "stars": [5, 3, 1],
        "uncertainty": [0.9, 0.5, 0.2], "session": [1, 1, 1],
    }))
    second = open_labeling({**config_4x, "queries_ds": "queries"})
    item = second.project.next_items(Principal("bob", "annotator"), 1)[0]
    assert item["id"] == f"{labeled}-1" and item["uncertainty"] == 0.9


def test_queries_with_an_id_column(dss, open_labeling, config_4x):
    dss.create_dataset("reviews", pd.DataFrame({"rid": [1, 2, 3], "text": ["a", "b", "c"]}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    dss.create_dataset("queries", pd.DataFrame({"rid": [3, 1], "text": ["c", "a"],
                                                "uncertainty": [0.1, 0.7]}))
    webapp = open_labeling({**config_4x, "id_column": "rid", "queries_ds": "queries"})
    assert [i["id"] for i in webapp.project.next_items(ALICE, 3)] == ["1", "3", "2"]


def test_an_unbuilt_queries_dataset_leaves_items_unranked(project_setup, open_labeling,
                                                          config_4x):
    project_setup.create_dataset("queries")
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    assert len(webapp.project.next_items(ALICE, 10)) == 4


def test_a_new_sampler_session_reranks_the_queue(project_setup, open_labeling, config_4x):
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine"], "stars": [1, 3], "uncertainty": [0.9, 0.1]}))
    project_setup.project_variables()["standard"][SESSION] = 1
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    assert webapp.refresh_queue() is False  # same session: nothing to do

    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine"], "stars": [1, 3], "uncertainty": [0.1, 0.9]}))
    project_setup.project_variables()["standard"][SESSION] = 2
    webapp.session._expires = -1  # skip the cache delay
    assert webapp.refresh_queue() is True
    assert _texts(webapp, 2) == ["fine", "awful"]


def test_the_page_hears_of_a_new_session_once_the_queue_is_reranked(
        project_setup, open_labeling, config_4x):
    """The sampler ran (the variable says 2) but the queue is not re-ranked yet: the page
    is still told session 1, else it would fetch its items again and get the old
    ranking; a label given meanwhile counts for session 2 (the every-n trigger's)."""
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine"], "stars": [1, 3], "uncertainty": [0.9, 0.1]}))
    project_setup.project_variables()["standard"][SESSION] = 1
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    assert webapp.project.config_payload(ALICE)["session"] == 1
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine"], "stars": [1, 3], "uncertainty": [0.1, 0.9]}))
    project_setup.project_variables()["standard"][SESSION] = 2
    assert webapp.session.refresh() == 2
    assert webapp.project.config_payload(ALICE)["session"] == 1
    item = webapp.project.next_items(ALICE, 1)[0]
    assert webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"}).session == 2
    assert webapp.refresh_queue() is True
    assert webapp.project.config_payload(ALICE)["session"] == 2


def test_annotations_carry_the_sampler_session(project_setup, open_labeling, config_4x):
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["fine"], "stars": [3], "uncertainty": [0.5]}))
    project_setup.project_variables()["standard"][SESSION] = 3
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    item = webapp.project.next_items(ALICE, 1)[0]
    assert webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"}).session == 3
    webapp.sync.flush()
    assert project_setup.table("labels_metadata")["session"].tolist() == [3]


def test_no_queries_means_session_zero(project_setup, open_labeling):
    webapp = open_labeling()
    assert webapp.session() == 0


def test_the_queue_loads_at_once_at_start_and_lets_saves_in_while_serving(
        project_setup, open_labeling, config_4x, monkeypatch):
    """At start no labeler can wait: no pause. A re-rank while labelers work pauses
    between its transactions, so that their saves go first."""
    from assisted_labeling.store import sqlite as sqlite_module

    pauses: list[float] = []
    monkeypatch.setattr(sqlite_module.time, "sleep", pauses.append)
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine"], "stars": [1, 3], "uncertainty": [0.9, 0.1]}))
    project_setup.project_variables()["standard"][SESSION] = 1
    webapp = open_labeling({**config_4x, "queries_ds": "queries"})
    assert pauses == []
    project_setup.project_variables()["standard"][SESSION] = 2
    webapp.session._expires = -1  # skip the cache delay
    assert webapp.refresh_queue() is True
    assert pauses
