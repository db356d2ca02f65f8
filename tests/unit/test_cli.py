"""The CLI commands that do not start a server: users and export."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from assisted_labeling import cli
from assisted_labeling.standalone import open_project
from assisted_labeling.store.sqlite import SQLiteStore
from assisted_labeling.web.auth import LOCAL_USER


@pytest.fixture
def labeled_store(tmp_path):
    table = tmp_path / "rows.csv"
    table.write_text("id,text,score\n1,good,0.5\n2,bad,\n3,\"a, b\",2\n")
    db = tmp_path / "labels.db"
    project = open_project(table, db, {"categories": "pos,neg", "id_column": "id"},
                           progress=False)
    project.annotate(LOCAL_USER, {"item_id": "1", "label": "pos", "comment": "sure"})
    project.skip(LOCAL_USER, {"item_id": "2"})
    project.annotate(LOCAL_USER, {"item_id": "3", "label": "neg"})
    project.annotate(LOCAL_USER, {"item_id": "1", "label": "neg"})
    project.store.close()
    return db


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_labels(labeled_store, tmp_path, fmt):
    out = tmp_path / f"labels.{fmt}"
    assert cli.main(["export", "--store", str(labeled_store), "--table", "labels",
                     "--format", fmt, "-o", str(out)]) == 0
    frame = {"csv": pd.read_csv, "parquet": pd.read_parquet,
             "jsonl": lambda p: pd.read_json(p, lines=True)}[fmt](out)
    assert list(frame.columns) == ["id", "text", "score", "label", "label_id"]
    assert frame[["id", "label", "label_id"]].values.tolist() == [[1, "neg", 1], [3, "neg", 2]]


def test_export_metadata(labeled_store, tmp_path):
    out = tmp_path / "meta.csv"
    assert cli.main(["export", "--store", str(labeled_store), "--table", "metadata",
                     "-o", str(out)]) == 0
    frame = pd.read_csv(out, dtype={"data_id": str})
    assert list(frame.columns) == ["date", "data_id", "comment", "session", "status",
                                   "annotator", "label", "label_id"]
    assert frame["status"].tolist() == ["LABELED", "SKIPPED", "LABELED"]
    assert frame["data_id"].tolist() == ["1", "2", "3"]
    assert frame["annotator"].unique().tolist() == ["local"]


def test_export_of_an_unknown_store_fails_clearly(tmp_path, capsys):
    assert cli.main(["export", "--store", str(tmp_path / "none.db"), "-o",
                     str(tmp_path / "x.csv")]) == 2
    assert "No store" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_users_add_prints_the_token_last(tmp_path, monkeypatch, capsys):
    db = tmp_path / "labels.db"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["users", "add", "ann", "--role", "reviewer", "--store", str(db),
                     "--password-stdin"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert SQLiteStore(db).user_for_token(token).role == "reviewer"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["users", "add", "ann", "--store", str(db), "--password-stdin"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_users_list(tmp_path, capsys):
    db = tmp_path / "labels.db"
    SQLiteStore(db).add_user("bob", "manager", "a-long-password")
    assert cli.main(["users", "list", "--store", str(db)]) == 0
    assert capsys.readouterr().out.splitlines() == ["bob\tmanager"]


def test_stored_settings_follow_the_last_serve(labeled_store):
    assert json.loads(SQLiteStore(labeled_store).get_meta("config"))["categories"] == [
        "pos", "neg"]
