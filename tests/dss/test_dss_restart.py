"""A backend restart loses nothing: leftovers are flushed, a lost store is rebuilt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from assisted_labeling.project import Principal
from assisted_labeling.sources import content_hash

ALICE = Principal("alice", "annotator")
BOB = Principal("bob", "annotator")


def _delete_store(webapp) -> None:
    path = Path(webapp.project.store.path)
    webapp.close()
    for file in path.parent.glob(f"{path.name}*"):
        file.unlink()


def _history(webapp, user):
    return [(h["id"], h["annotation"]["status"], h["annotation"]["label"],
             h["annotation"]["label_id"], h["annotation"]["comment"])
            for h in webapp.project.history(user, limit=50)]


def _rewrite_fails_once(monkeypatch, name: str) -> None:
    """The next rewrite of the dataset ``name`` fails at its first chunk, leaving it
    cut (DSS's writer commits what was sent when it closes)."""
    import dataiku

    real = dataiku.DatasetWriter.write_dataframe
    armed = [True]

    def fails_once(writer, frame):
        if armed[0] and writer._dataset.short_name == name and not writer._append:
            armed[0] = False
            raise RuntimeError("the write session failed")
        return real(writer, frame)

    monkeypatch.setattr(dataiku.DatasetWriter, "write_dataframe", fails_once)


def _label_then_refuse_metadata(dss, webapp, items, label="pos") -> None:
    """``items`` labeled by alice; the flush appends their labels rows, and DSS refuses
    the metadata append (another writer holds the dataset)."""
    for item in items:
        webapp.project.annotate(ALICE, {"item_id": item["id"], "label": label})
    dss.active_writers.add("LABELING.labels_metadata")
    with pytest.raises(Exception, match="another active writer"):
        webapp.sync.flush()
    dss.active_writers.clear()


def test_changes_left_unwritten_are_flushed_at_start(project_setup, open_labeling):
    first = open_labeling()
    for label in ("pos", "neg"):
        item = first.project.next_items(ALICE, 1)[0]
        first.project.annotate(ALICE, {"item_id": item["id"], "label": label})
    first.close()  # stopped before the flusher ran
    assert project_setup.writes == []

    open_labeling()
    assert [(w.mode, w.rows) for w in project_setup.writes_to("labels")] == [("append", 2)]
    assert [(w.mode, w.rows) for w in project_setup.writes_to("labels_metadata")] == [
        ("append", 2)]


def test_a_lost_store_is_rebuilt_from_the_metadata_dataset(project_setup, open_labeling):
    first = open_labeling()
    items = first.project.next_items(ALICE, 3)
    first.project.annotate(ALICE, {"item_id": items[0]["id"], "label": "pos"})
    first.project.annotate(ALICE, {"item_id": items[1]["id"], "label": "neg",
                                   "comment": "hmm"})
    first.project.skip(ALICE, {"item_id": items[2]["id"]})
    first.sync.flush()
    first.project.annotate(ALICE, {"item_id": items[0]["id"], "label": "neg"})  # an edit
    bob_item = first.project.next_items(BOB, 1)[0]
    first.project.annotate(BOB, {"item_id": bob_item["id"], "label": "pos"})
    first.sync.flush()
    stats, alice, bob = first.project.stats(ALICE).to_dict(), _history(first, ALICE), \
        _history(first, BOB)
    writes = len(project_setup.writes)
    _delete_store(first)

    second = open_labeling()  # a new machine: empty cache
    assert second.project.stats(ALICE).to_dict() == stats
    assert stats["labeled"] == 3 and stats["per_class"] == {"neg": 2, "pos": 1}
    assert [h[1:] for h in _history(second, ALICE)] == [h[1:] for h in alice]
    assert [h[1:] for h in _history(second, BOB)] == [h[1:] for h in bob]
    assert len(project_setup.writes) == writes  # rebuilding only reads
    # New labels continue the label ids.
    item = second.project.next_items(ALICE, 1)[0]
    assert second.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"}).label_id == 4


def test_an_edit_after_a_rebuild_is_known_as_superseding(project_setup, open_labeling):
    first = open_labeling()
    item = first.project.next_items(ALICE, 1)[0]
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.sync.flush()
    _delete_store(first)
    second = open_labeling()
    second.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    second.sync.flush()
    assert second.sync.superseded == 1
    second.sync.compact()
    assert project_setup.table("labels")[["label", "label_id"]].values.tolist() == [
        ["neg", 1]]


V4_METADATA = pd.DataFrame({
    # 4.x column order; ids of rows that are not in the input (any more).
    "date": ["2021-03-01T10:00:00.000Z", "2021-03-01T10:01:00.000Z"],
    "data_id": ["0cc175b9c0f1b6a831c399e269772661", "92eb5ffee6ae2fec3ad71c777531578f"],
    "label": ["pos", None],
    "label_id": [1, 2],
    "comment": [None, "unsure"],
    "session": [0, 0],
    "status": ["LABELED", "SKIPPED"],
    "annotator": ["alice", "alice"],
})
V4_LABELS = pd.DataFrame({"text": ["great"], "stars": [5], "label": ["pos"], "label_id": [1]})


@pytest.fixture
def v4_project(project_setup):
    project_setup.create_dataset("labels_metadata", V4_METADATA)
    project_setup.create_dataset("labels", V4_LABELS)
    return project_setup


def test_4x_rows_are_read_without_crashing(v4_project, open_labeling):
    webapp = open_labeling()
    assert webapp.project.stats().labeled == 0  # their ids match no current row
    assert v4_project.writes == []


def test_new_rows_follow_the_4x_column_order(v4_project, open_labeling):
    webapp = open_labeling()
    item = webapp.project.next_items(ALICE, 1)[0]
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg", "comment": "c"})
    webapp.sync.flush()
    meta = v4_project.table("labels_metadata")
    assert meta.columns.tolist() == V4_METADATA.columns.tolist()
    new = meta.iloc[-1]
    assert (new["data_id"], new["label"], new["comment"], new["status"],
            new["annotator"]) == (item["id"], "neg", "c", "LABELED", "alice")


def test_compaction_keeps_the_4x_rows(v4_project, open_labeling):
    webapp = open_labeling()
    item = webapp.project.next_items(ALICE, 1)[0]
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    webapp.sync.compact()
    meta = v4_project.table("labels_metadata")
    assert meta["data_id"].tolist() == [*V4_METADATA["data_id"], item["id"]]
    labels = v4_project.table("labels")
    assert labels["label"].tolist() == ["pos", "neg"]
    assert len(webapp.sync.open_dataset("labels").read_schema()) == 4


@pytest.mark.parametrize("failing", ["labels", "labels_metadata"])
def test_rows_of_unknown_items_survive_a_compaction_that_failed_midway(
        v4_project, open_labeling, monkeypatch, failing):
    """A rewrite that fails part-way leaves its dataset cut (DSS's writer commits what
    was sent when it closes). The rows the store does not know exist nowhere else: the
    retry, after a restart with the store kept, must still write them."""
    webapp = open_labeling()
    item = webapp.project.next_items(ALICE, 1)[0]
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    webapp.sync.flush()
    _rewrite_fails_once(monkeypatch, failing)
    with pytest.raises(RuntimeError, match="write session failed"):
        webapp.sync.compact()
    webapp.close()
    again = open_labeling()  # the same cache: the store is kept
    again.sync.compact()
    meta = v4_project.table("labels_metadata")
    assert meta["data_id"].tolist() == [*V4_METADATA["data_id"], item["id"]]
    assert meta["comment"].tolist()[1] == "unsure"
    assert v4_project.table("labels")["label"].tolist() == ["pos", "neg"]


def test_metadata_rows_without_an_annotator_survive_compactions(project_setup,
                                                                 open_labeling):
    """Rows made by hand or imported, with no annotator (or labels rows with no id): the
    webapp does not restore them (no one to show them to), and a compaction must not
    delete them nor their labels rows."""
    first = open_labeling()
    items = first.project.next_items(ALICE, 2)
    _delete_store(first)
    project_setup.create_dataset("labels", pd.DataFrame(
        [dict(item["data"], label="pos", label_id=i + 1) for i, item in enumerate(items)]))
    project_setup.create_dataset("labels_metadata", pd.DataFrame({
        "date": ["2024-01-01T00:00:00.000Z"] * 2, "data_id": [i["id"] for i in items],
        "comment": None, "session": 0, "status": "LABELED", "annotator": None,
        "label": "pos", "label_id": [1, 2]}))
    labels = project_setup.table("labels")
    project_setup.create_dataset("labels", pd.concat([labels, pd.DataFrame(
        [dict(items[0]["data"], label="neg", label_id=None)])], ignore_index=True))
    webapp = open_labeling()
    webapp.sync.compact()
    labels = project_setup.table("labels")
    assert sorted(labels["label_id"].dropna()) == [1, 2]
    assert labels["label_id"].isna().sum() == 1  # a labels row without id is kept too
    meta = project_setup.table("labels_metadata")
    assert sorted(meta["label_id"]) == [1, 2] and meta["annotator"].isna().all()


def test_new_label_ids_follow_the_4x_ones(v4_project, open_labeling):
    webapp = open_labeling()
    item = webapp.project.next_items(ALICE, 1)[0]
    annotation = webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    assert annotation.label_id == 3


def test_known_rows_in_a_4x_dataset_are_restored(project_setup, open_labeling):
    first = open_labeling()
    item = first.project.next_items(ALICE, 1)[0]
    _delete_store(first)
    project_setup.create_dataset("labels_metadata", pd.concat([V4_METADATA, pd.DataFrame({
        "date": ["2021-03-02T10:00:00.000Z", "2021-03-02T11:00:00.000Z"],
        "data_id": [item["id"], item["id"]], "label": ["neg", "pos"], "label_id": [3, 3],
        "comment": [None, None], "session": [1, 1], "status": ["LABELED", "LABELED"],
        "annotator": ["bob", "bob"]})], ignore_index=True))
    webapp = open_labeling()
    assert webapp.project.stats().per_class == {"pos": 1}  # the latest of bob's two rows
    assert webapp.project.store.get_annotation("bob", item["id"]).label_id == 3


def test_a_4x_labels_dataset_missing_new_columns_is_rewritten_once(project_setup,
                                                                   open_labeling):
    project_setup.create_dataset("labels_metadata", V4_METADATA)
    project_setup.create_dataset("labels", pd.DataFrame({"text": ["great"], "label": ["pos"],
                                                         "label_id": [1]}))
    open_labeling()
    assert [c["name"] for c in project_setup.dataset("labels").schema] == [
        "text", "label", "label_id", "stars"]
    assert [(w.mode, w.rows) for w in project_setup.writes_to("labels")] == [("overwrite", 1)]
    assert project_setup.table("labels")["label"].tolist() == ["pos"]


def test_metadata_without_the_label_column_refuses_to_start(project_setup, open_labeling,
                                                            config_4x):
    from assisted_labeling.errors import ConfigError

    project_setup.create_dataset("labels_metadata", V4_METADATA)
    with pytest.raises(ConfigError, match='has no column "human_label"'):
        open_labeling({**config_4x, "label_col_name": "human_label"})


def test_digit_only_ids_keep_their_leading_zeros_across_a_rebuild(dss, open_labeling,
                                                                  config_4x):
    # This row's content hash is all digits with a leading zero: read with type
    # inference, a metadata chunk holding only such ids would come back as numbers.
    row = {"text": "row 40262"}
    assert content_hash(row) == "0848522041201314"
    dss.create_dataset("reviews", pd.DataFrame([row]))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    dss.webapp_config = dict(config_4x)
    dss.add_user("alice", groups=["labelers"], cookie="alice-session")
    first = open_labeling()
    first.project.skip(ALICE, {"item_id": "0848522041201314"})  # an empty label id too
    first.sync.flush()
    _delete_store(first)
    second = open_labeling()
    assert [h[:2] for h in _history(second, ALICE)] == [("0848522041201314", "SKIPPED")]


def _v4_metadata(rows: list[tuple]) -> pd.DataFrame:
    """Metadata rows ``(date, data_id, label, label_id, status, annotator)``, 4.x order."""
    return pd.DataFrame({
        "date": [r[0] for r in rows], "data_id": [r[1] for r in rows],
        "label": [r[2] for r in rows], "label_id": [r[3] for r in rows],
        "comment": None, "session": 0, "status": [r[4] for r in rows],
        "annotator": [r[5] for r in rows]})


GONE = "f" * 64  # a 4.x id of a row no longer in the input


@pytest.fixture
def v4_labeled(project_setup, v4_row_ids):
    """reviews = great/5, awful/1, fine/3, great/5, labeled with 4.x (its row ids)."""
    great, awful, fine, _ = v4_row_ids("reviews")
    project_setup.create_dataset("labels_metadata", _v4_metadata([
        ("2021-03-01T10:00:00.000Z", great, "pos", 1, "LABELED", "alice"),
        ("2021-03-01T10:01:00.000Z", awful, None, 2, "SKIPPED", "alice"),
        ("2021-03-01T10:02:00.000Z", fine, "neg", 3, "LABELED", "bob"),
        ("2021-03-01T10:03:00.000Z", GONE, "pos", 4, "LABELED", "alice"),
    ]))
    project_setup.create_dataset("labels", pd.DataFrame({
        "text": ["great", "fine", "gone"], "stars": [5, 3, 0], "label": ["pos", "neg", "pos"],
        "label_id": [1, 3, 4]}))
    return project_setup


def _keys(dss) -> list[str]:
    from assisted_labeling.sources import RowIdentifier, frame_rows

    return [row.key for row in frame_rows(dss.table("reviews"), RowIdentifier())]


def test_4x_rows_are_restored_onto_their_items(v4_labeled, open_labeling):
    keys = _keys(v4_labeled)
    webapp = open_labeling()
    store = webapp.project.store
    assert webapp.project.stats().per_class == {"pos": 1, "neg": 1}
    assert [h[:4] for h in _history(webapp, ALICE)] == [
        (keys[1], "SKIPPED", None, None), (keys[0], "LABELED", "pos", 1)]
    assert store.get_annotation("bob", keys[2]).label == "neg"
    assert store.get_annotation("alice", keys[3]) is None  # the duplicate: a row of its own
    assert v4_labeled.writes == []  # restoring only reads
    item = webapp.project.next_items(BOB, 1)[0]
    assert webapp.project.annotate(BOB, {"item_id": item["id"], "label": "pos"}).label_id == 5


def test_compaction_writes_restored_4x_rows_under_our_ids(v4_labeled, open_labeling):
    keys = _keys(v4_labeled)
    webapp = open_labeling()
    webapp.sync.compact()
    meta = v4_labeled.table("labels_metadata")
    assert meta["data_id"].tolist() == [GONE, keys[0], keys[1], keys[2]]
    assert sorted(v4_labeled.table("labels")["label_id"].tolist()) == [1, 3, 4]
    _delete_store(webapp)
    again = open_labeling()  # a new machine reads the migrated rows back
    assert again.project.stats().per_class == {"pos": 1, "neg": 1}


def test_a_later_row_of_ours_wins_over_a_4x_row_of_the_same_item(v4_labeled, open_labeling):
    keys = _keys(v4_labeled)
    meta = pd.concat([v4_labeled.table("labels_metadata"), _v4_metadata([
        ("2024-01-01T00:00:00.000Z", keys[2], "pos", 5, "LABELED", "bob")])],
        ignore_index=True)
    v4_labeled.create_dataset("labels_metadata", meta)
    webapp = open_labeling()
    annotation = webapp.project.store.get_annotation("bob", keys[2])
    assert (annotation.label, annotation.label_id) == ("pos", 5)
    webapp.sync.compact()
    rows = v4_labeled.table("labels_metadata")
    assert rows[rows["annotator"] == "bob"]["data_id"].tolist() == [keys[2]]


def test_a_labels_dataset_cut_before_a_lost_store_is_rewritten_after_the_rebuild(
        project_setup, open_labeling):
    """A compaction's labels rewrite failed part-way (its dataset keeps what was sent),
    then the store was lost: the rebuild, from the complete metadata, must find the
    labels missing from the labels dataset and make a compaction due to write them."""
    first = open_labeling()
    items = first.project.next_items(ALICE, 3)
    for item, label in zip(items, ["pos", "neg", "pos"]):
        first.project.annotate(ALICE, {"item_id": item["id"], "label": label})
    first.sync.flush()
    _delete_store(first)
    project_setup.create_dataset("labels", project_setup.table("labels").iloc[:1])  # cut
    second = open_labeling()
    assert second.sync.superseded >= 1  # a compaction is due once labelers pause
    second.sync.compact()
    assert sorted(project_setup.table("labels")["label_id"]) == [1, 2, 3]


def test_a_label_id_written_only_to_the_labels_dataset_is_not_given_again(project_setup,
                                                                        open_labeling):
    """The labels append succeeded, the metadata one failed, then the store was lost:
    restoring from the metadata alone would hand out the same label id again."""
    webapp = open_labeling()
    first, _ = webapp.project.next_items(ALICE, 2)
    webapp.project.annotate(ALICE, {"item_id": first["id"], "label": "pos"})
    project_setup.active_writers.add("LABELING.labels_metadata")  # DSS refuses that write
    with pytest.raises(Exception, match="another active writer"):
        webapp.sync.flush()
    project_setup.active_writers.clear()
    assert project_setup.table("labels")["label_id"].tolist() == [1]
    _delete_store(webapp)
    webapp = open_labeling()
    # The label itself is taken back from the labels dataset, its annotator unknown (of
    # rows of equal content, the first: a labels row does not tell which).
    store = webapp.project.store
    assert [(store.get_item(a.item_key).data, a.annotator, a.label)
            for a in store.iter_annotations()] == [(first["data"], "(unknown)", "pos")]
    item = webapp.project.next_items(ALICE, 1)[0]
    assert webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"}).label_id == 2


def test_labels_whose_metadata_rows_are_lost_are_restored_from_the_labels_dataset(
        project_setup, open_labeling):
    """A compaction rewrote the labels dataset, then its metadata rewrite was cut (the
    backend stopped mid-write), and the store was lost (a fresh disk: the cache is in a
    temporary directory). The labels dataset still holds every label: the rebuild takes
    back those the metadata lacks (their annotator is not known), and the next
    compaction writes their metadata rows."""
    first = open_labeling()
    served = first.project.next_items(ALICE, 4)
    # The two taken back are of contents of their own ("awful", "fine"): see the test
    # below for rows of equal content.
    items = sorted(served, key=lambda i: i["data"]["text"] != "great")[1:]
    for item, label in zip(items, ["pos", "neg", "pos"]):
        first.project.annotate(ALICE, {"item_id": item["id"], "label": label})
    first.sync.compact()
    _delete_store(first)
    project_setup.create_dataset("labels_metadata",
                                 project_setup.table("labels_metadata").iloc[:1])  # cut
    second = open_labeling()
    assert second.project.stats().labeled == 3
    kept = second.project.store.get_annotation("alice", items[0]["id"])
    assert (kept.label, kept.label_id) == ("pos", 1)
    recovered = {a.item_key: (a.annotator, a.label, a.label_id)
                 for a in second.project.store.iter_annotations() if a.annotator != "alice"}
    assert recovered == {items[1]["id"]: ("(unknown)", "neg", 2),
                         items[2]["id"]: ("(unknown)", "pos", 3)}
    assert second.sync.superseded >= 2  # a compaction writes their metadata rows
    second.sync.compact()
    meta = project_setup.table("labels_metadata")
    assert sorted(meta["label_id"]) == [1, 2, 3]
    assert sorted(project_setup.table("labels")["label_id"]) == [1, 2, 3]
    # The next label follows them.
    item = second.project.next_items(BOB, 1)[0]
    assert second.project.annotate(BOB, {"item_id": item["id"], "label": "neg"}).label_id == 4


def test_a_labels_row_without_metadata_of_an_item_gone_from_the_input_is_kept(
        project_setup, open_labeling):
    """Its metadata row was lost with the store that held it, and its item has left the
    input: nothing can take it back, and a compaction must not delete it either."""
    project_setup.create_dataset("labels", pd.DataFrame(
        {"text": ["gone"], "stars": [2], "label": ["pos"], "label_id": [9]}))
    webapp = open_labeling()
    item = webapp.project.next_items(ALICE, 1)[0]
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    webapp.sync.compact()
    # Still there at the next one, whose items are the same: not looked for again (that
    # takes an index of every item).
    store = webapp.project.store
    indexed = []
    real = store.iter_items
    store.iter_items = lambda: indexed.append(1) or real()
    webapp.sync.compact()
    assert indexed == []
    labels = project_setup.table("labels")
    assert labels[["text", "label", "label_id"]].values.tolist() == [
        ["gone", "pos", 9], [item["data"]["text"], "neg", 10]]


@pytest.mark.parametrize("reviews", [pd.DataFrame({
    "text": [f"{i:05d}" if i % 2 else f"word {i}" for i in range(8)], "stars": range(8)})])
def test_labels_taken_back_are_found_whatever_types_their_read_guessed(project_setup,
                                                                      open_labeling):
    """The input's text column mixes words and digits ("00003"): read as text there. The
    labels rows of the digit items alone read as numbers (3): they are still found."""
    first = open_labeling()
    digits = [i for i in first.project.next_items(ALICE, 8) if i["data"]["text"].isdigit()]
    _label_then_refuse_metadata(project_setup, first, digits)
    _delete_store(first)
    second = open_labeling()
    assert sorted(a.item_key for a in second.project.store.iter_annotations()) == sorted(
        i["id"] for i in digits)
    second.sync.compact()
    written = "".join(p.read_text() for p in project_setup.part_files("labels"))
    assert all(f'{i["data"]["text"]},' in written for i in digits)  # "00003", not 3


@pytest.mark.parametrize("reviews", [pd.DataFrame({"text": ["OK", "ok", "Yes", "yes", "1.0", "1"],
                                                    "stars": [5] * 6})])
def test_labels_taken_back_go_to_the_item_of_their_exact_text(project_setup, open_labeling):
    """"ok" and "OK", "1" and "1.0" are other items: a loose match (for type guesses) only
    serves when no item has the exact text."""
    first = open_labeling()
    chosen = [i for i in first.project.next_items(ALICE, 6)
              if i["data"]["text"] in ("ok", "yes", "1")]
    _label_then_refuse_metadata(project_setup, first, chosen)
    _delete_store(first)
    second = open_labeling()
    store = second.project.store
    assert sorted(store.get_item(a.item_key).data["text"]
                  for a in store.iter_annotations()) == ["1", "ok", "yes"]


def test_labels_rows_without_an_id_survive_a_rewrite_that_failed_midway(
        project_setup, open_labeling, monkeypatch):
    first = open_labeling()
    item = first.project.next_items(ALICE, 1)[0]
    project_setup.create_dataset("labels", pd.DataFrame(
        [dict(item["data"], label=label, label_id=None) for label in ("pos", "neg")]))
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    _rewrite_fails_once(monkeypatch, "labels")
    with pytest.raises(RuntimeError):
        first.sync.compact()
    first.sync.compact()
    labels = project_setup.table("labels")
    assert sorted(labels[labels["label_id"].isna()]["label"]) == ["neg", "pos"]


def test_with_an_id_column_labels_are_taken_back_by_their_id(project_setup, open_labeling):
    """The item's text was corrected since its label: its id still names it."""
    reviews = pd.DataFrame({"rid": ["r0", "r1"], "text": ["great", "awful"], "stars": [5, 1]})
    project_setup.create_dataset("reviews", reviews)
    project_setup.webapp_config = {**project_setup.webapp_config, "id_column": "rid"}
    first = open_labeling()
    item = first.project.next_items(ALICE, 2)[0]
    _label_then_refuse_metadata(project_setup, first, [item])
    _delete_store(first)
    reviews.loc[reviews["rid"] == item["id"], "text"] = "corrected"
    project_setup.create_dataset("reviews", reviews)
    second = open_labeling()
    assert [(a.item_key, a.label_id) for a in second.project.store.iter_annotations()] == [
        (item["id"], 1)]


def test_labels_rows_with_ids_no_webapp_gives_are_left_as_they_are(project_setup,
                                                                  open_labeling):
    """Ids -1 and 1.5 (a labels dataset edited by hand): no label is taken back under
    them, none under 1 for 1.5, and compactions do not fail on them."""
    first = open_labeling()
    items = first.project.next_items(ALICE, 2)
    project_setup.create_dataset("labels", pd.DataFrame(
        [dict(items[0]["data"], label="pos", label_id=-1),
         dict(items[1]["data"], label="neg", label_id=1.5)]))
    first.project.annotate(ALICE, {"item_id": items[0]["id"], "label": "pos"})
    first.sync.compact()
    first.sync.compact()
    assert [(a.annotator, a.label_id) for a in first.project.store.iter_annotations()] == [
        ("alice", 2)]
    assert sorted(project_setup.table("labels")["label_id"]) == [-1, 1.5, 2]  # kept


def test_a_label_kept_while_its_item_was_gone_is_taken_back_when_it_returns(
        project_setup, open_labeling):
    """Its metadata row lost with the store while its item had left the input, the
    labels row was kept; the item back in the input (same cache), a compaction takes the
    label back rather than drop it."""
    first = open_labeling()
    items = first.project.next_items(ALICE, 3)
    for item in items:
        first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.sync.compact()
    _delete_store(first)
    reviews = project_setup.table("reviews")
    meta = project_setup.table("labels_metadata")
    project_setup.create_dataset("labels_metadata", meta[meta["data_id"] != items[0]["id"]])
    gone = (reviews["text"] == items[0]["data"]["text"]) & \
        (reviews["stars"] == items[0]["data"]["stars"])
    project_setup.create_dataset("reviews", reviews[~gone].reset_index(drop=True))
    second = open_labeling()
    second.sync.compact()
    assert sorted(project_setup.table("labels")["label_id"]) == [1, 2, 3]
    second.close()
    project_setup.create_dataset("reviews", reviews)  # back, same cache
    third = open_labeling()
    third.sync.compact()
    assert sorted(project_setup.table("labels")["label_id"]) == [1, 2, 3]
    back = [a for a in third.project.store.iter_annotations() if a.label_id == 1]
    assert [(third.project.store.get_item(a.item_key).data, a.annotator) for a in back] == [
        (items[0]["data"], "(unknown)")]


def test_kept_rows_keep_their_dates_whatever_their_precision(v4_project, open_labeling,
                                                             monkeypatch):
    """Rows kept in the store for a failed rewrite are written back from JSON: dates of
    whole seconds and of milliseconds, read as timestamps, must all stay dates."""
    from assisted_labeling.dku import datasets as dsio

    real = dsio.iter_metadata

    def as_timestamps(*args, **kwargs):  # DSS gives a date column as datetimes
        for row in real(*args, **kwargs):
            values = dict(row.values)
            values["date"] = pd.Timestamp(values["date"])
            yield dataclasses.replace(row, values=values)

    monkeypatch.setattr(dsio, "iter_metadata", as_timestamps)
    meta = V4_METADATA.copy()
    meta["date"] = ["2021-03-01T10:00:00.000Z", "2021-03-01T10:01:00.123Z"]
    v4_project.create_dataset("labels_metadata", meta)
    webapp = open_labeling()
    _rewrite_fails_once(monkeypatch, "labels_metadata")
    with pytest.raises(RuntimeError):
        webapp.sync.compact()
    webapp.sync.compact()
    dates = pd.to_datetime(v4_project.table("labels_metadata")["date"], utc=True)
    assert dates.tolist() == [pd.Timestamp("2021-03-01T10:00:00Z"),
                              pd.Timestamp("2021-03-01T10:01:00.123Z")]


@pytest.mark.parametrize("reviews", [pd.DataFrame({"text": [f"review {i}" for i in range(6)],
                                                    "stars": range(6)})])
def test_labels_turned_into_skips_before_a_retry_are_not_taken_back(project_setup,
                                                                    open_labeling):
    """A batch's labels rows went in, its metadata append failed; two of the labels were
    turned into skips before the retry, and the store was lost before a compaction. The
    metadata must still name those labels rows' ids, or the rebuild would take them for
    labels whose metadata rows were lost."""
    first = open_labeling()
    items = first.project.next_items(ALICE, 4)
    _label_then_refuse_metadata(project_setup, first, items)
    for item in items[:2]:
        first.project.skip(ALICE, {"item_id": item["id"]})
    first.sync.flush()
    _delete_store(first)
    second = open_labeling()
    assert sorted((a.item_key, a.annotator, a.status.value)
                  for a in second.project.store.iter_annotations()) == sorted(
        [(i["id"], "alice", "SKIPPED") for i in items[:2]]
        + [(i["id"], "alice", "LABELED") for i in items[2:]])


@pytest.mark.parametrize("reviews", [pd.DataFrame({"text": [f"review {i}" for i in range(6)],
                                                    "stars": range(6)})])
def test_a_cache_left_behind_knows_its_labels_taken_back_by_another(project_setup,
                                                                   open_labeling, tmp_path):
    """Cache A's metadata append failed; cache B, built afresh, took A's labels back as
    "(unknown)" and compacted; then A is used again. Its labels are its own: neither
    taken in twice nor given new ids, and each is one labels row."""
    first = open_labeling(cache_dir=tmp_path / "a")
    items = first.project.next_items(ALICE, 3)
    _label_then_refuse_metadata(project_setup, first, items)
    first.close()
    other = open_labeling(cache_dir=tmp_path / "b")
    other.sync.compact()
    other.close()
    again = open_labeling(cache_dir=tmp_path / "a")
    again.sync.flush()
    again.sync.compact()
    assert sorted((a.annotator, a.label_id)
                  for a in again.project.store.iter_annotations()) == [
        ("alice", 1), ("alice", 2), ("alice", 3)]
    assert sorted(project_setup.table("labels")["label_id"]) == [1, 2, 3]
    meta = project_setup.table("labels_metadata")
    assert sorted(zip(meta["annotator"], meta["label_id"])) == [
        ("alice", 1), ("alice", 2), ("alice", 3)]


@pytest.mark.parametrize("reviews", [pd.DataFrame({"text": [f"review {i}" for i in range(6)],
                                                    "stars": range(6)})])
def test_a_label_renumbered_after_its_labels_row_went_in_is_written_again(
        project_setup, open_labeling, tmp_path):
    """A's labels row went in, its metadata append failed; meanwhile B gave the same id
    to another item. A's label gets a new id at its next start, and a labels row under
    that id: without it the labels dataset has no row of the label's id."""
    a = open_labeling(cache_dir=tmp_path / "a")
    b = open_labeling(cache_dir=tmp_path / "b")  # both start on empty datasets
    x = a.project.next_items(ALICE, 1)[0]
    y = b.project.next_items(BOB, 1)[0]
    a.project.annotate(ALICE, {"item_id": x["id"], "label": "pos"})
    project_setup.active_writers.add("LABELING.labels_metadata")
    with pytest.raises(Exception, match="another active writer"):
        a.sync.flush()
    project_setup.active_writers.clear()
    b.project.annotate(BOB, {"item_id": y["id"], "label": "neg"})
    b.sync.flush()
    a.close()
    again = open_labeling(cache_dir=tmp_path / "a")
    again.sync.flush()
    renumbered = again.project.store.get_annotation("alice", x["id"]).label_id
    assert renumbered == 2
    labels = project_setup.table("labels")
    assert (labels["label_id"] == renumbered).sum() == 1
    assert labels[labels["label_id"] == renumbered]["text"].tolist() == [x["data"]["text"]]


def test_labels_taken_back_go_to_the_first_row_of_their_content(project_setup,
                                                                  open_labeling):
    """Two reviews are "great", 5 (items h and h-1): a labels row does not tell which of
    them it was. Alice's and bob's labels of h-1 both go to h, as two annotators, and
    no existing annotation is replaced."""
    project_setup.webapp_config = {**project_setup.webapp_config, "annotators_per_item": 2}
    first = open_labeling()
    items = first.project.next_items(ALICE, 4)
    great = [i["id"] for i in items if i["data"]["text"] == "great"]
    second_great = next(i for i in great if i.endswith("-1"))
    first_great = second_great[:-2]
    first.project.annotate(ALICE, {"item_id": second_great, "label": "pos"})
    first.project.annotate(BOB, {"item_id": second_great, "label": "neg"})
    first.sync.compact()
    _delete_store(first)
    project_setup.create_dataset("labels_metadata",
                                 project_setup.table("labels_metadata").iloc[:0])  # cut
    second = open_labeling()
    assert sorted((a.item_key, a.annotator, a.label, a.label_id)
                  for a in second.project.store.iter_annotations()) == [
        (first_great, "(unknown 2)", "neg", 2), (first_great, "(unknown)", "pos", 1)]


def test_labels_taken_back_survive_the_next_rebuild(project_setup, open_labeling):
    """Taken back, written by a compaction under "(unknown)", then the store lost again
    with the metadata cut again: restored from their rows, and a further label taken back
    replaces none of them."""
    project_setup.webapp_config = {**project_setup.webapp_config, "annotators_per_item": 2}
    first = open_labeling()
    item = next(i for i in first.project.next_items(ALICE, 4) if i["data"]["text"] != "great")
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.project.annotate(BOB, {"item_id": item["id"], "label": "neg"})
    first.sync.compact()
    _delete_store(first)
    meta = project_setup.table("labels_metadata")
    project_setup.create_dataset("labels_metadata", meta[meta["annotator"] != "alice"])
    second = open_labeling()  # alice's label taken back
    second.sync.compact()
    _delete_store(second)
    meta = project_setup.table("labels_metadata")
    project_setup.create_dataset("labels_metadata", meta[meta["annotator"] != "bob"])
    third = open_labeling()  # "(unknown)" restored from its row; bob's taken back
    assert sorted((a.annotator, a.label, a.label_id)
                  for a in third.project.store.iter_annotations()) == [
        ("(unknown 2)", "neg", 2), ("(unknown)", "pos", 1)]


def test_rows_replaced_before_a_lost_store_are_compacted_after_the_rebuild(
        project_setup, open_labeling):
    """An edit and a label turned into a skip, flushed, then the store is lost: the
    rebuilt store must know that both datasets hold replaced rows, or the labels dataset
    keeps the old labels (a skip has no label id to tell them apart) for a long time."""
    first = open_labeling()
    a, b = first.project.next_items(ALICE, 2)
    first.project.annotate(ALICE, {"item_id": a["id"], "label": "pos"})
    first.project.annotate(ALICE, {"item_id": b["id"], "label": "neg"})
    first.sync.flush()
    first.project.annotate(ALICE, {"item_id": a["id"], "label": "neg"})  # an edit
    first.project.skip(ALICE, {"item_id": b["id"]})  # the label becomes a skip
    first.sync.flush()
    assert len(project_setup.table("labels")) == 3
    _delete_store(first)
    second = open_labeling()
    assert second.sync.superseded == 2 and not second.sync.compaction_due()  # not at once
    _delete_store(second)
    # Once labelers pause (here at once), the datasets are compacted.
    third = open_labeling(sync_options={"quiet_seconds": 0, "min_compaction_interval": 0})
    third.sync.tick()
    assert project_setup.table("labels")[["label", "label_id"]].values.tolist() == [
        ["neg", 1]]


def test_the_current_label_of_an_item_gone_from_the_input_is_kept(project_setup,
                                                                   open_labeling,
                                                                   monkeypatch):
    """An item labeled, then edited, then removed from the input, with the store lost:
    compaction keeps its labels row, and it must be the edited one."""
    first = open_labeling()
    item = first.project.next_items(ALICE, 1)[0]
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.sync.flush()
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})  # an edit
    first.sync.flush()
    _delete_store(first)
    reviews = project_setup.table("reviews")
    gone = (reviews["text"] == item["data"]["text"]) & (reviews["stars"] == item["data"]["stars"])
    project_setup.create_dataset("reviews", reviews[~gone].reset_index(drop=True))
    second = open_labeling()
    reads = _count_reads(monkeypatch, "labels")
    second.sync.compact()
    assert project_setup.table("labels")[["label", "label_id"]].values.tolist() == [
        ["neg", 1]]
    assert len(reads) == 1  # the catch-up's read also gives the rows to keep


def _count_reads(monkeypatch, name: str) -> list[str]:
    """Record each read of the dataset ``name`` by the sync module from now on."""
    from assisted_labeling.dku import sync as sync_mod

    real, reads = sync_mod.dsio.iter_frames, []

    def counted(dataset, *args, **kwargs):
        if dataset.name.split(".")[-1] == name:
            reads.append(name)
        return real(dataset, *args, **kwargs)

    monkeypatch.setattr(sync_mod.dsio, "iter_frames", counted)
    return reads


def _labels_by_id(dss):
    table = dss.table("labels")
    return sorted(zip(table["label_id"].tolist(), table["label"].tolist()))


def test_an_old_cache_takes_in_what_another_cache_wrote_since(project_setup, open_labeling,
                                                              tmp_path):
    """Cache A is left (a setting that names the cache changed), cache B is rebuilt from
    the datasets and labels more, then A comes back: it must not drop B's labels."""
    first = open_labeling(cache_dir=tmp_path / "a")
    item, other = first.project.next_items(ALICE, 2)
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.sync.flush()
    first.close()

    second = open_labeling(cache_dir=tmp_path / "b")
    second.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})  # an edit
    bob_item = second.project.next_items(BOB, 1)[0]
    second.project.annotate(BOB, {"item_id": bob_item["id"], "label": "pos"})
    second.sync.flush()
    second.close()

    again = open_labeling(cache_dir=tmp_path / "a")
    store = again.project.store
    assert store.get_annotation("alice", item["id"]).label == "neg"
    assert store.get_annotation("bob", bob_item["id"]).label == "pos"
    assert again.sync.superseded > 0  # alice's first row: a compaction is due
    again.sync.compact()
    assert _labels_by_id(project_setup) == [(1, "neg"), (2, "pos")]
    new = again.project.annotate(ALICE, {"item_id": other["id"], "label": "pos"})
    assert new.label_id == 3  # after the ids the other cache gave


def _left_behind_then_relabeled(open_labeling, tmp_path, *, unwritten: bool = False):
    """Cache A labels an item (with ``unwritten``, a second one it never writes: id 2)
    and stops; cache B, rebuilt from the datasets, labels one for bob (id 2) and stops.
    Returns A's two items and bob's."""
    first = open_labeling(cache_dir=tmp_path / "a")
    item, other = first.project.next_items(ALICE, 2)
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.sync.flush()
    if unwritten:
        first.project.annotate(ALICE, {"item_id": other["id"], "label": "neg"})
    first.close()
    second = open_labeling(cache_dir=tmp_path / "b")
    bob_item = second.project.next_items(BOB, 1)[0]
    assert second.project.annotate(BOB, {"item_id": bob_item["id"],
                                         "label": "pos"}).label_id == 2
    second.sync.flush()
    second.close()
    return item, other, bob_item


def test_an_old_cache_renumbers_its_unwritten_labels_whose_ids_were_given_since(
        project_setup, open_labeling, tmp_path):
    _, unwritten, _ = _left_behind_then_relabeled(open_labeling, tmp_path, unwritten=True)

    again = open_labeling(cache_dir=tmp_path / "a")  # flushes what it had left
    assert again.project.store.get_annotation("alice", unwritten["id"]).label_id == 3
    ids = [i for i, _ in _labels_by_id(project_setup)]
    assert ids == [1, 2, 3]


def test_a_compaction_keeps_what_another_running_cache_wrote(project_setup, open_labeling,
                                                             tmp_path):
    first = open_labeling(cache_dir=tmp_path / "a")
    second = open_labeling(cache_dir=tmp_path / "b")
    item = second.project.next_items(BOB, 1)[0]
    second.project.annotate(BOB, {"item_id": item["id"], "label": "neg"})
    second.sync.flush()
    first.sync.compact()
    meta = project_setup.table("labels_metadata")
    assert meta["annotator"].tolist() == ["bob"]
    assert _labels_by_id(project_setup) == [(1, "neg")]


def test_a_failed_catch_up_is_tried_again_before_anything_is_written(
        project_setup, open_labeling, tmp_path, monkeypatch):
    from assisted_labeling.dku import sync as sync_mod

    _left_behind_then_relabeled(open_labeling, tmp_path, unwritten=True)
    real, calls = sync_mod.dsio.iter_metadata, []

    def unreachable_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("DSS backend unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_mod.dsio, "iter_metadata", unreachable_once)
    again = open_labeling(cache_dir=tmp_path / "a")  # the start's flush fails: logged
    assert again.sync.pending == 1
    again.sync.flush()  # the background thread's retry
    assert _labels_by_id(project_setup) == [(1, "pos"), (2, "pos"), (3, "neg")]


def test_ids_another_store_gave_to_items_gone_from_the_input_are_not_given_again(
        project_setup, reviews, open_labeling, tmp_path):
    first = open_labeling(cache_dir=tmp_path / "a")
    item = first.project.next_items(ALICE, 1)[0]
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})  # id 1
    first.sync.flush()
    first.close()
    grown = pd.concat([reviews, pd.DataFrame({"text": ["new"], "stars": [2]})],
                      ignore_index=True)
    project_setup.create_dataset("reviews", grown)
    second = open_labeling(cache_dir=tmp_path / "b")
    new = next(i for i in second.project.next_items(BOB, 5) if i["data"]["text"] == "new")
    second.project.annotate(BOB, {"item_id": new["id"], "label": "neg"})  # id 2
    second.sync.flush()
    second.close()
    project_setup.create_dataset("reviews", reviews)  # the labeled row left the input

    again = open_labeling(cache_dir=tmp_path / "a")
    other = next(i for i in again.project.next_items(BOB, 4) if i["id"] != item["id"])
    assert again.project.annotate(BOB, {"item_id": other["id"], "label": "pos"}).label_id == 3


def test_a_label_taken_in_keeps_its_id_when_edited(project_setup, open_labeling, tmp_path):
    item, _, bob_item = _left_behind_then_relabeled(open_labeling, tmp_path)
    again = open_labeling(cache_dir=tmp_path / "a")  # takes in bob's label
    third = open_labeling(cache_dir=tmp_path / "c")
    carol = Principal("carol", "annotator")
    other = next(i for i in third.project.next_items(carol, 4)
                 if i["id"] not in (item["id"], bob_item["id"]))
    third.project.annotate(carol, {"item_id": other["id"], "label": "neg"})  # id 3
    third.sync.flush()
    third.close()
    again.project.annotate(BOB, {"item_id": bob_item["id"], "label": "neg"})  # unwritten
    again.sync.compact()
    assert again.project.store.get_annotation("bob", bob_item["id"]).label_id == 2
    assert _labels_by_id(project_setup) == [(1, "pos"), (2, "neg"), (3, "neg")]


def test_a_batch_written_before_a_crash_keeps_its_ids(project_setup, open_labeling,
                                                      tmp_path):
    from assisted_labeling.dku.sync import FLUSHED_LABEL_ID

    first = open_labeling(cache_dir=tmp_path / "a")
    item, inflight = first.project.next_items(ALICE, 2)
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    first.sync.flush()
    first.project.annotate(ALICE, {"item_id": inflight["id"], "label": "neg"})  # id 2
    store, set_metas = first.project.store, first.project.store.set_metas

    def killed_after_the_appends(values):
        if FLUSHED_LABEL_ID in values:
            raise KeyboardInterrupt("killed")
        set_metas(values)

    store.set_metas = killed_after_the_appends
    with pytest.raises(KeyboardInterrupt):
        first.sync.flush()
    store.set_metas = set_metas
    first.close()
    second = open_labeling(cache_dir=tmp_path / "b")
    other = next(i for i in second.project.next_items(BOB, 4)
                 if i["id"] not in (item["id"], inflight["id"]))
    second.project.annotate(BOB, {"item_id": other["id"], "label": "pos"})  # id 3
    second.sync.flush()
    second.close()

    again = open_labeling(cache_dir=tmp_path / "a")  # appends the batch again
    assert again.project.store.get_annotation("alice", inflight["id"]).label_id == 2
    again.sync.compact()
    assert _labels_by_id(project_setup) == [(1, "pos"), (2, "neg"), (3, "pos")]


def test_labelers_are_told_when_another_webapp_writes_the_same_datasets(
        project_setup, open_labeling, tmp_path):
    first = open_labeling(cache_dir=tmp_path / "a")
    second = open_labeling(cache_dir=tmp_path / "b")
    first.sync.flush()
    assert first.sync.warnings() == []
    item = second.project.next_items(BOB, 1)[0]
    second.project.annotate(BOB, {"item_id": item["id"], "label": "neg"})
    second.sync.flush()
    first.sync.compact()
    warnings = first.project.config_payload(ALICE)["warnings"]
    assert any("LABELING.labels_metadata at the same time" in w for w in warnings)


def _metadata_append_fails(monkeypatch):
    from assisted_labeling.dku import sync as sync_mod

    real = sync_mod.dsio.append_rows

    def append_rows(dataset, rows, schema):
        if dataset.full_name.endswith("labels_metadata"):
            raise OSError("DSS unreachable")
        return real(dataset, rows, schema)

    monkeypatch.setattr(sync_mod.dsio, "append_rows", append_rows)


def test_an_id_only_in_the_labels_dataset_is_not_given_again(project_setup, open_labeling,
                                                             tmp_path, monkeypatch):
    first = open_labeling(cache_dir=tmp_path / "a")
    item, bob_item, alice_item = first.project.next_items(ALICE, 3)
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})  # id 1
    first.sync.flush()
    first.close()
    second = open_labeling(cache_dir=tmp_path / "b")
    second.project.annotate(BOB, {"item_id": bob_item["id"], "label": "neg"})  # id 2
    with monkeypatch.context() as patched:
        _metadata_append_fails(patched)
        with pytest.raises(OSError):
            second.sync.flush()  # the labels row of id 2 is written, its metadata row not
    second.close()

    again = open_labeling(cache_dir=tmp_path / "a")
    assert again.project.annotate(ALICE, {"item_id": alice_item["id"],
                                          "label": "neg"}).label_id == 3


def test_an_unwritten_label_whose_id_is_only_in_the_labels_dataset_is_renumbered(
        project_setup, open_labeling, tmp_path, monkeypatch):
    first = open_labeling(cache_dir=tmp_path / "a")
    items = first.project.next_items(ALICE, 4)
    first.project.annotate(ALICE, {"item_id": items[0]["id"], "label": "pos"})  # id 1
    first.sync.flush()
    first.project.annotate(ALICE, {"item_id": items[1]["id"], "label": "pos"})  # id 2
    first.project.annotate(ALICE, {"item_id": items[2]["id"], "label": "pos"})  # id 3
    first.close()  # both unwritten
    second = open_labeling(cache_dir=tmp_path / "b")
    second.project.annotate(BOB, {"item_id": items[3]["id"], "label": "neg"})  # id 2
    second.sync.flush()
    second.project.annotate(BOB, {"item_id": items[0]["id"], "label": "neg"})  # id 3
    with monkeypatch.context() as patched:
        _metadata_append_fails(patched)
        with pytest.raises(OSError):
            second.sync.flush()  # the labels row of id 3 is written, its metadata row not
    second.close()

    open_labeling(cache_dir=tmp_path / "a")  # catches up, then writes alice's labels
    ids = sorted(project_setup.table("labels")["label_id"].tolist())
    assert ids == [1, 2, 3, 4, 5]


def test_a_batch_whose_metadata_append_failed_keeps_its_ids_after_a_catch_up(
        project_setup, open_labeling, tmp_path, monkeypatch):
    first = open_labeling(cache_dir=tmp_path / "a")
    item, other = first.project.next_items(ALICE, 2)
    first.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})  # id 1
    with monkeypatch.context() as patched:
        _metadata_append_fails(patched)
        with pytest.raises(OSError):
            first.sync.flush()  # in flight: its labels row is written, not its metadata
    first.close()
    second = open_labeling(cache_dir=tmp_path / "b")  # rebuilt: id 1 is reserved
    second.project.annotate(BOB, {"item_id": other["id"], "label": "neg"})  # id 2
    second.sync.flush()
    second.close()

    again = open_labeling(cache_dir=tmp_path / "a")  # catches up, then writes it again
    assert again.project.store.get_annotation("alice", item["id"]).label_id == 1
    again.sync.compact()
    assert _labels_by_id(project_setup) == [(1, "pos"), (2, "neg")]


@pytest.mark.parametrize("column", ["label_id", "session"])
@pytest.mark.parametrize("value", [1e19, -4])
def test_a_metadata_number_no_webapp_wrote_is_read_as_missing(project_setup, open_labeling,
                                                              v4_row_ids, column, value):
    """Past 64 bits it overflowed SQLite and the backend could not start; negative, it
    was taken as it was."""
    ids = v4_row_ids("reviews")
    metadata = V4_METADATA.assign(data_id=ids[:2], label=["pos", None])
    metadata[column] = metadata[column].astype(object)
    metadata.loc[1, column] = value
    project_setup.create_dataset("labels_metadata", metadata)
    webapp = open_labeling()
    assert webapp.project.stats(ALICE).to_dict()["labeled"] == 1
    history = {h["id"]: h["annotation"] for h in webapp.project.history(ALICE, limit=5)}
    assert all(0 <= a[column] < 2**63 for a in history.values() if a[column] is not None)


def test_a_huge_whole_number_cell_is_read_as_missing_without_overflow():
    from assisted_labeling.dku.datasets import as_int

    assert [as_int(v) for v in (10**400, 2**63 - 1, 2**63, "12", 3.0, -1)] == [
        None, 2**63 - 1, None, 12, 3, None]


def test_with_a_text_id_column_labels_are_taken_back_by_its_text(project_setup,
                                                                 open_labeling):
    """Ids "007" and "7" are two items; their labels rows read with DSS's guess would
    both say 7."""
    reviews = pd.DataFrame({"rid": ["007", "7"], "text": ["great", "awful"],
                            "stars": [5, 1]})
    project_setup.create_dataset("reviews", reviews)
    project_setup.webapp_config = {**project_setup.webapp_config, "id_column": "rid"}
    first = open_labeling()
    items = first.project.next_items(ALICE, 2)
    _label_then_refuse_metadata(project_setup, first, items)
    _delete_store(first)
    second = open_labeling()
    assert sorted(a.item_key for a in second.project.store.iter_annotations()) == [
        "007", "7"]


def _digit_rows_of_gone_items(project_setup, open_labeling):
    """A webapp with a label, beside labels rows of digit-only text ("01234") whose
    items are gone from the input."""
    project_setup.create_dataset("labels", pd.DataFrame(
        {"text": ["01234", "00042"], "stars": [2, 3], "label": ["pos", "neg"],
         "label_id": [8, 9]}))
    webapp = open_labeling()
    item = webapp.project.next_items(ALICE, 1)[0]
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    return webapp


def test_kept_rows_keep_their_text_as_stored(project_setup, open_labeling):
    """A labels row of an item gone from the input is written again by compactions: its
    digit-only text ("01234"), read with DSS's guess as 1234, must stay as it was."""
    webapp = _digit_rows_of_gone_items(project_setup, open_labeling)
    webapp.sync.compact()
    written = "".join(p.read_text() for p in project_setup.part_files("labels"))
    assert "01234," in written and "00042," in written


def test_kept_rows_of_a_table_read_back_in_another_order_keep_the_guess(
        project_setup, open_labeling, reversed_unguessed_reads, caplog):
    """A SQL labels table without an order: the text read apart cannot be paired with
    the rows, so the compaction goes on with the guessed values and says so."""
    webapp = _digit_rows_of_gone_items(project_setup, open_labeling)
    reversed_unguessed_reads()
    with caplog.at_level("WARNING"):
        webapp.sync.compact()
    assert "another order" in caplog.text
    assert sorted(project_setup.table("labels")["label_id"]) == [8, 9, 10]
