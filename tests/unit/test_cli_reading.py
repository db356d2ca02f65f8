"""What the CLI reads a table's values as: classes and ids as text, stores of earlier
versions as they were read."""

from __future__ import annotations

import json

import pandas as pd

from assisted_labeling import cli
from assisted_labeling.standalone import READER_META, open_project
from assisted_labeling.store.sqlite import SQLiteStore
from assisted_labeling.web.auth import LOCAL_USER


def test_train_keeps_classes_that_look_like_numbers_or_missing_values(tmp_path, capsys):
    # A CSV label column used to be type-guessed: "None" and "NA" labels were dropped,
    # "01", "1" and "1.0" merged into one class.
    rows = [(i / 40, label) for i, label in
            enumerate(["None", "NA", "01", "1", "1.0"] * 8)]
    train = tmp_path / "labels.csv"
    pd.DataFrame(rows, columns=["x", "label"]).to_csv(train, index=False)
    assert cli.main(["train", str(train), "-o", str(tmp_path / "m.skops")]) == 0
    assert "Trained on 40 labeled rows (01, 1, 1.0, NA, None)" in capsys.readouterr().err


def test_a_store_of_an_earlier_version_keeps_its_labels_on_a_jsonl_pool(tmp_path):
    # Its item ids were made from pandas' converted values ("004" read as 4): reading
    # the pool with JSON types would give those rows other ids, away from their labels.
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"code": f"{i:03d}", "x": i}) + "\n"
                            for i in range(5)))
    db = tmp_path / "labels.db"
    store = SQLiteStore(db)
    store.set_meta(READER_META, "exact")
    store.close()
    project = open_project(pool, db, {"categories": "a,b"}, progress=False)
    item = project.store.next_items(LOCAL_USER.name)[0]
    assert isinstance(item.data["code"], int)  # as that version read it
    project.annotate(LOCAL_USER, {"item_id": item.key, "label": "a"})
    project.store.close()
    pool.write_text(pool.read_text() + json.dumps({"code": "005", "x": 5}) + "\n")
    again = open_project(pool, db, {"categories": "a,b"}, progress=False)
    assert again.store.stats().total == 6 and again.store.stats().labeled == 1
    new = open_project(pool, tmp_path / "new.db", {"categories": "a,b"}, progress=False)
    assert {i.data["code"] for i in new.store.next_items(LOCAL_USER.name, count=6)} == {
        f"{i:03d}" for i in range(6)}


def test_csv_queries_of_a_jsonl_pool_keep_its_codes(tmp_path, capsys):
    # The pool keeps "0042" as text; a CSV has no types, and read back guessed it was
    # the number 42: no queries row matched its item.
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"sku": f"{i % 9:04d}", "x": i * 0.37}) + "\n"
                            for i in range(30)))
    train = tmp_path / "train.csv"
    pd.DataFrame({"x": [0.1, 0.2, 5.0, 6.0], "label": ["a", "a", "b", "b"]}).to_csv(
        train, index=False)
    model, queries = tmp_path / "m.skops", tmp_path / "q.csv"
    assert cli.main(["train", str(train), "-o", str(model)]) == 0
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(queries)]) == 0
    project = open_project(pool, tmp_path / "labels.db", {"categories": "a,b"},
                           progress=False)
    capsys.readouterr()
    cli._order_queue(project, str(queries), str(pool))
    assert "30 items scored" in capsys.readouterr().err


def test_an_edited_row_shows_its_new_values_and_keeps_its_label(tmp_path, capsys):
    # Edits to the pool file were ignored: the page and exports kept the old values,
    # while the retraining scored the new ones.
    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n1,gud\n2,bad\n")
    db = tmp_path / "l.db"
    settings = {"categories": "pos,neg", "id_column": "id"}
    project = open_project(pool, db, settings, progress=False)
    project.annotate(LOCAL_USER, {"item_id": "1", "label": "pos"})
    project.store.close()
    pool.write_text("id,text\n1,good\n2,bad\n3,new\n")
    project = open_project(pool, db, settings, progress=False)
    assert "1 item takes new values from pool.csv" in capsys.readouterr().err
    assert project.store.get_item("1").data == {"id": "1", "text": "good"}
    assert project.store.get_annotation("local", "1").label == "pos"
    assert project.stats().total == 3 and project.stats().labeled == 1


def test_rows_deleted_from_the_pool_are_served_no_more_and_keep_their_labels(tmp_path,
                                                                            capsys):
    from assisted_labeling.project import Principal

    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n1,a\n2,b\n3,c\n4,d\n5,e\n")
    db = tmp_path / "l.db"
    settings = {"categories": "pos,neg", "id_column": "id", "annotators_per_item": 2}
    project = open_project(pool, db, settings, progress=False)
    project.annotate(LOCAL_USER, {"item_id": "1", "label": "pos"})  # 1 of 2 annotators
    project.skip(LOCAL_USER, {"item_id": "2"})
    project.store.close()
    pool.write_text("id,text\n3,c\n5,e\n6,f\n")  # 1, 2 and 4 deleted, 6 added
    project = open_project(pool, db, settings, progress=False)
    err = capsys.readouterr().err
    assert "1 item never annotated is gone from pool.csv" in err
    assert "2 annotated items are not in pool.csv (1, 2)" in err
    other = Principal("bob", "annotator")
    assert sorted(i["id"] for i in project.next_items(other, 10)) == ["3", "5", "6"]
    stats = project.stats()  # the annotated ones keep their annotations, not counted as
    # items of the table: 3 items, none complete
    assert (stats.total, stats.complete, stats.labeled, stats.skipped, stats.retired) == \
        (3, 0, 1, 1, 2)
    assert [r["id"] for r in project.label_rows()] == ["1"]
    # Whatever is saved on a retired item from the history, or however many annotators
    # items need from now on, it is served no more.
    project.skip(LOCAL_USER, {"item_id": "1"})
    assert sorted(i["id"] for i in project.next_items(other, 10)) == ["3", "5", "6"]
    project.store.close()
    project = open_project(pool, db, {**settings, "annotators_per_item": 3}, progress=False)
    assert sorted(i["id"] for i in project.next_items(other, 10)) == ["3", "5", "6"]
    stats = project.stats()
    assert (stats.total, stats.complete, stats.remaining) == (3, 0, 3)
    project.annotate(LOCAL_USER, {"item_id": "1", "label": "pos"})
    project.store.close()
    pool.write_text("id,text\n1,a\n3,c\n5,e\n6,f\n")  # 1 is back: it needs bob again
    project = open_project(pool, db, settings, progress=False)
    assert (project.stats().complete, project.stats().retired) == (0, 1)  # item 2
    assert "1 annotated item is not in pool.csv (2)" in capsys.readouterr().err
    assert sorted(i["id"] for i in project.next_items(other, 10)) == ["1", "3", "5", "6"]
    assert project.stats().total == 4


def test_without_an_id_column_an_edited_row_is_a_new_item_and_says_so(tmp_path, capsys):
    pool = tmp_path / "pool.csv"
    pool.write_text("text\ngud\nbad\n")
    db = tmp_path / "l.db"
    project = open_project(pool, db, {"categories": "pos,neg"}, progress=False)
    gud = next(i["id"] for i in project.next_items(LOCAL_USER, 2) if i["data"]["text"] == "gud")
    project.annotate(LOCAL_USER, {"item_id": gud, "label": "pos"})
    project.store.close()
    pool.write_text("text\ngood\nbad\n")
    project = open_project(pool, db, {"categories": "pos,neg"}, progress=False)
    err = capsys.readouterr().err
    assert "1 annotated item is not in pool.csv" in err
    assert "a row edited in the file is a new item" in err
    assert sorted(i["data"]["text"] for i in project.next_items(LOCAL_USER, 5)) == ["bad", "good"]


def test_an_emptied_pool_file_is_refused_and_retires_nothing(tmp_path):
    import pytest

    from assisted_labeling.errors import ConfigError

    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n1,a\n2,b\n")
    db = tmp_path / "l.db"
    settings = {"categories": "pos,neg", "id_column": "id"}
    open_project(pool, db, settings, progress=False).store.close()
    pool.write_text("id,text\n")  # emptied by mistake (a failed copy, say)
    with pytest.raises(ConfigError, match="has no rows"):
        open_project(pool, db, settings, progress=False)
    pool.write_text("id,text\n1,a\n2,b\n")
    assert open_project(pool, db, settings, progress=False).stats().total == 2


def test_labels_of_a_class_no_longer_offered_are_kept_and_said(tmp_path):
    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n1,a\n2,b\n3,c\n")
    db = tmp_path / "l.db"
    project = open_project(pool, db, {"categories": "pos,neg", "id_column": "id"},
                           progress=False)
    for item, label in (("1", "pos"), ("2", "neg"), ("3", "neg")):
        project.annotate(LOCAL_USER, {"item_id": item, "label": label})
    assert project.config_payload(LOCAL_USER)["warnings"] == []
    project.store.close()
    project = open_project(pool, db, {"categories": "pos,negative", "id_column": "id"},
                           progress=False)
    warnings = project.config_payload(LOCAL_USER)["warnings"]
    assert len(warnings) == 1 and '"neg" (2)' in warnings[0] and "kept" in warnings[0]
    assert {r["id"]: r["label"] for r in project.label_rows()} == {
        "1": "pos", "2": "neg", "3": "neg"}
