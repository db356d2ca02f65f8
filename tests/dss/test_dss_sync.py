"""Saved labels reach the DSS datasets by appends, never by a rewrite per label."""

from __future__ import annotations

import pandas as pd
import pytest

from assisted_labeling.dku.sync import WATERMARK
from assisted_labeling.project import Principal

ALICE = Principal("alice", "annotator")
BOB = Principal("bob", "annotator")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webapp(project_setup, open_labeling, clock):
    return open_labeling(sync_options={"clock": clock, "quiet_seconds": 60,
                                       "min_compaction_interval": 600})


def _label(webapp, user=ALICE, label="pos", **extra):
    item = webapp.project.next_items(user, 1)[0]
    webapp.project.annotate(user, {"item_id": item["id"], "label": label, **extra})
    return item


def _modes(dss, name):
    return [(w.mode, w.rows) for w in dss.writes_to(name)]


def test_output_datasets_get_the_4x_schemas(project_setup, webapp):
    labels = [c["name"] for c in project_setup.dataset("labels").schema]
    metadata = [c["name"] for c in project_setup.dataset("labels_metadata").schema]
    assert labels == ["text", "stars", "label", "label_id"]
    assert metadata == ["date", "data_id", "comment", "session", "status", "annotator",
                        "label", "label_id"]
    assert project_setup.writes == []  # a schema, no data


def test_a_label_appends_one_row_to_each_dataset(project_setup, webapp):
    item = _label(webapp, comment="sure")
    assert webapp.sync.flush() == 1
    assert _modes(project_setup, "labels") == [("append", 1)]
    assert _modes(project_setup, "labels_metadata") == [("append", 1)]
    labels = project_setup.table("labels")
    assert labels.to_dict(orient="records") == [
        {**item["data"], "label": "pos", "label_id": 1}]
    meta = project_setup.table("labels_metadata").iloc[0]
    assert (meta["data_id"], meta["status"], meta["annotator"], meta["comment"],
            meta["label"], meta["label_id"]) == (item["id"], "LABELED", "alice", "sure",
                                                 "pos", 1)
    assert webapp.sync.pending == 0


def test_earlier_rows_are_never_rewritten(project_setup, webapp):
    _label(webapp)
    webapp.sync.flush()
    first = [p.read_bytes() for p in project_setup.part_files("labels")]
    _label(webapp, label="neg")
    webapp.sync.flush()
    parts = project_setup.part_files("labels")
    assert len(parts) == 2
    assert parts[0].read_bytes() == first[0]
    assert _modes(project_setup, "labels") == [("append", 1), ("append", 1)]
    assert project_setup.table("labels")["label_id"].tolist() == [1, 2]


def test_labels_saved_meanwhile_go_in_one_write_per_dataset(project_setup, webapp):
    _label(webapp)
    _label(webapp, label="neg")
    _label(webapp, user=BOB)
    webapp.sync.flush()
    assert _modes(project_setup, "labels") == [("append", 3)]
    assert _modes(project_setup, "labels_metadata") == [("append", 3)]


def test_batches_are_small(project_setup, open_labeling):
    webapp = open_labeling(sync_options={"batch_size": 2})
    for _ in range(3):
        _label(webapp)
    webapp.sync.flush()
    assert _modes(project_setup, "labels") == [("append", 2), ("append", 1)]


def test_a_skip_writes_metadata_only(project_setup, webapp):
    item = webapp.project.next_items(ALICE, 1)[0]
    webapp.project.skip(ALICE, {"item_id": item["id"]})
    webapp.sync.flush()
    assert _modes(project_setup, "labels") == []
    meta = project_setup.table("labels_metadata").iloc[0]
    assert meta["status"] == "SKIPPED"
    assert meta["label"] != meta["label"]  # NaN: no label


def test_an_edit_appends_a_row_with_the_same_label_id(project_setup, webapp):
    item = _label(webapp)
    webapp.sync.flush()
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    webapp.sync.flush()
    labels = project_setup.table("labels")
    assert labels[["label", "label_id"]].values.tolist() == [["pos", 1], ["neg", 1]]
    assert webapp.sync.superseded == 1  # one annotation has stale rows


def _labeled_then_edited(project_setup, webapp) -> dict:
    """A pool of 400 items, one labeled, flushed, then edited; returns that item."""
    reviews = project_setup.table("reviews")
    project_setup.create_dataset("reviews", pd.concat([reviews] * 100, ignore_index=True))
    webapp.sync.tick()
    webapp.refresh_queue(force=True)
    item = _label(webapp)
    webapp.sync.flush()
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})  # an edit
    return item


def test_labelers_who_never_pause_get_superseded_rows_compacted_within_minutes(
        project_setup, webapp, clock):
    """A retraining reads the labels dataset while people label: an edited label's old
    row must not stay there for as long as nobody pauses for a minute."""
    _labeled_then_edited(project_setup, webapp)
    compacted_at = None
    for step in range(40):  # a label every 20 s for 800 s: never a minute's pause
        clock.now += 20
        _label(webapp, BOB if step % 2 else ALICE)
        webapp.sync.tick()
        if webapp.sync.superseded == 0:
            compacted_at = 20 * (step + 1)
            break
    assert compacted_at is not None and compacted_at <= webapp.sync.max_stale_seconds + 20
    labels = project_setup.table("labels")
    assert labels[labels["label_id"] == 1]["label"].tolist() == ["neg"]


def _never_pausing_with_a_save_during_rewrites(project_setup, webapp, clock, monkeypatch,
                                               during_rewrite) -> dict:
    """An edit, then a label every 20 s for an hour, and ``during_rewrite(item)`` called
    after each rewrite of a dataset; returns the edited item."""
    from assisted_labeling.dku import sync as sync_mod

    item = _labeled_then_edited(project_setup, webapp)
    real = sync_mod.dsio.rewrite_rows

    def rewrite(dataset, rows, schema):
        real(dataset, rows, schema)
        during_rewrite(item)

    monkeypatch.setattr(sync_mod.dsio, "rewrite_rows", rewrite)
    for _ in range(180):
        clock.now += 20
        _label(webapp, BOB)
        webapp.sync.tick()
    return item


def test_saves_during_a_compaction_do_not_start_rewrites_without_end(
        project_setup, webapp, clock, monkeypatch):
    """Labels saved while a compaction rewrites are appended again after it: duplicates,
    not edits. Labelers who never pause always save during one: that must not make a
    compaction due every ten minutes for as long as they label."""
    _never_pausing_with_a_save_during_rewrites(project_setup, webapp, clock, monkeypatch,
                                               lambda item: _label(webapp, ALICE))
    rewrites = [w for w in project_setup.writes_to("labels") if w.mode == "overwrite"]
    assert len(rewrites) == 1


def test_an_edit_saved_during_a_rewrite_is_compacted_without_a_pause(
        project_setup, webapp, clock, monkeypatch):
    """An edit that lands once the labels dataset is rewritten leaves the old label
    there: it is an edit, not a duplicate of the rewrite, and waits no pause."""
    edited = []

    def edit_once(item):
        if not edited:  # right after the first rewrite of the labels
            edited.append(1)
            webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})

    _never_pausing_with_a_save_during_rewrites(project_setup, webapp, clock, monkeypatch,
                                               edit_once)
    labels = project_setup.table("labels")
    assert labels[labels["label_id"] == 1]["label"].tolist() == ["pos"]


def test_compaction_waits_for_a_pause_then_rewrites_once(project_setup, webapp, clock):
    item = _label(webapp)
    webapp.sync.flush()
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    clock.now += 5
    webapp.sync.tick()
    assert webapp.sync.superseded > 0
    assert not webapp.sync.compaction_due()  # labelers are still at work
    clock.now += 61
    assert webapp.sync.compaction_due()
    webapp.sync.tick()
    assert _modes(project_setup, "labels")[-1] == ("overwrite", 1)
    assert _modes(project_setup, "labels_metadata")[-1] == ("overwrite", 1)
    assert project_setup.table("labels")[["label", "label_id"]].values.tolist() == [["neg", 1]]
    assert webapp.sync.superseded == 0
    writes = len(project_setup.writes)
    webapp.sync.tick()
    assert len(project_setup.writes) == writes  # nothing left to do


def test_ticks_batch_labels_saved_within_the_flush_delay(project_setup, webapp, clock):
    _label(webapp)
    webapp.sync.tick()  # nothing appended yet since start: flush at once
    _label(webapp)
    clock.now += 2
    webapp.sync.tick()
    _label(webapp, user=BOB)
    clock.now += 2
    webapp.sync.tick()
    assert _modes(project_setup, "labels") == [("append", 1)]
    clock.now += 1
    webapp.sync.tick()
    assert _modes(project_setup, "labels") == [("append", 1), ("append", 2)]


def test_many_appends_are_merged_by_a_compaction(project_setup, open_labeling, clock):
    webapp = open_labeling(sync_options={"clock": clock, "max_appends": 3})
    for _ in range(3):
        _label(webapp)
        webapp.sync.flush()
    assert len(project_setup.part_files("labels")) == 3
    clock.now += 600
    webapp.sync.tick()
    assert len(project_setup.part_files("labels")) == 1
    assert len(project_setup.table("labels")) == 3


def test_compactions_are_at_most_every_min_interval(project_setup, webapp, clock):
    item = _label(webapp)
    webapp.sync.flush()
    for label in ("neg", "pos"):
        webapp.project.annotate(ALICE, {"item_id": item["id"], "label": label})
        webapp.sync.flush()
        clock.now += 61
        webapp.sync.tick()
    overwrites = [w for w in project_setup.writes_to("labels") if w.mode == "overwrite"]
    assert len(overwrites) == 1
    clock.now += 600
    webapp.sync.tick()
    assert len([w for w in project_setup.writes_to("labels") if w.mode == "overwrite"]) == 2


def test_a_label_turned_into_a_skip_leaves_the_labels_after_compaction(project_setup, webapp,
                                                                       clock):
    item = _label(webapp)
    _label(webapp, label="neg")
    webapp.sync.flush()
    webapp.project.skip(ALICE, {"item_id": item["id"]})
    webapp.sync.flush()
    assert len(project_setup.table("labels")) == 2  # append-only until compaction
    webapp.sync.compact()
    assert project_setup.table("labels")["label"].tolist() == ["neg"]
    meta = project_setup.table("labels_metadata")
    assert sorted(meta["status"]) == ["LABELED", "SKIPPED"]


def test_a_failed_write_is_retried_and_not_lost(project_setup, webapp):
    _label(webapp)
    project_setup.active_writers.add("LABELING.labels")  # DSS refuses the write
    with pytest.raises(Exception, match="another active writer"):
        webapp.sync.flush()
    assert webapp.project.store.get_meta(WATERMARK, "0") == "0"
    assert webapp.sync.pending == 1
    project_setup.active_writers.clear()
    webapp.sync.flush()
    assert len(project_setup.table("labels")) == 1
    # The metadata row was not written before the failure: no duplicate either.
    assert len(project_setup.table("labels_metadata")) == 1


@pytest.mark.parametrize("reviews", [pd.DataFrame({"text": [f"review {i}" for i in range(8)],
                                                    "stars": range(8)})])
def test_a_metadata_dataset_refusing_appends_duplicates_no_labels_row(project_setup, webapp):
    """The labels append of a batch succeeds and the metadata append fails: retries
    append the metadata alone (the batch's labels rows are written), and a later batch
    once: each label is one labels row, not one per failed round."""
    for _ in range(3):
        _label(webapp)
    project_setup.active_writers.add("LABELING.labels_metadata")
    for _ in range(3):
        with pytest.raises(Exception, match="another active writer"):
            webapp.sync.flush()
        _label(webapp)  # labelers go on meanwhile
    project_setup.active_writers.clear()
    webapp.sync.flush()
    assert sorted(project_setup.table("labels")["label_id"]) == [1, 2, 3, 4, 5, 6]
    assert sorted(project_setup.table("labels_metadata")["label_id"]) == [1, 2, 3, 4, 5, 6]


def test_the_background_thread_flushes(project_setup, open_labeling):
    import time

    webapp = open_labeling(background=True, sync_options={"interval": 0.05})
    _label(webapp)
    deadline = time.monotonic() + 5
    while webapp.sync.pending and time.monotonic() < deadline:
        time.sleep(0.02)
    webapp.sync.stop()
    assert len(project_setup.table("labels")) == 1


def test_two_backends_sharing_a_cache_write_each_change_once(project_setup, open_labeling):
    first, second = open_labeling(), open_labeling()
    _label(first)
    _label(second, user=BOB)
    first.sync.flush()
    second.sync.flush()
    assert len(project_setup.table("labels")) == 2
    assert len(project_setup.table("labels_metadata")) == 2


def test_text_columns_reach_the_labels_as_stored(dss, open_labeling):
    """DSS guesses types per chunk: a chunk of digit-only codes reads as numbers.
    The labels row and the page show "01234" as stored, and ids do not change."""
    import pandas as pd

    from assisted_labeling.dku import datasets as dsio
    from assisted_labeling.sources import RowIdentifier, frame_rows

    dss.create_dataset("reviews", pd.DataFrame({"code": ["01234", "00042"],
                                                "text": ["great", "awful"]}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    import dataiku
    guessed = next(dsio.iter_frames(dataiku.Dataset("reviews"), chunksize=10))
    assert guessed["code"].tolist() == [1234, 42]  # what a guess gives
    ids_by_guess = [r.key for r in frame_rows(guessed, RowIdentifier(None))]
    dss.webapp_config = {"unlabeled": "reviews", "labels_ds": "labels",
                         "metadata_ds": "labels_metadata", "label_col_name": "label",
                         "categories": [{"from": "pos", "to": ""}, {"from": "neg", "to": ""}]}
    webapp = open_labeling()
    items = webapp.project.next_items(ALICE, 2)
    assert sorted(i["data"]["code"] for i in items) == ["00042", "01234"]
    assert sorted(i["id"] for i in items) == sorted(ids_by_guess)
    item = next(i for i in items if i["data"]["code"] == "01234")
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "pos"})
    webapp.sync.flush()
    stored = dss.dataset("labels").path.glob("part-*.csv")
    assert "01234" in "".join(p.read_text() for p in stored)


def test_a_plugin_dataset_that_may_not_append_is_rewritten_whole(dss, reviews, open_labeling,
                                                                  config_4x, caplog):
    """A plugin connector without append support overwrites on append: each write of
    such a dataset rewrites it from the store, so no label is lost."""
    dss.create_dataset("reviews", reviews)
    dss.create_dataset("labels", dataset_type="CustomPython_sheets", supports_append=False)
    dss.create_dataset("labels_metadata")
    dss.webapp_config = config_4x
    with caplog.at_level("WARNING"):
        webapp = open_labeling()
    assert "CustomPython_sheets" in caplog.text
    for label in ("pos", "neg", "pos"):
        _label(webapp, label=label)
        webapp.sync.flush()
    assert sorted(dss.table("labels")["label_id"].tolist()) == [1, 2, 3]
    assert _modes(dss, "labels") == [("overwrite", 1), ("overwrite", 2), ("overwrite", 3)]
    assert _modes(dss, "labels_metadata") == [("overwrite", 1), ("overwrite", 2),
                                              ("overwrite", 3)]
    assert webapp.sync.pending == 0


def test_unreadable_dataset_settings_keep_appending(project_setup, caplog):
    import dataiku

    from assisted_labeling.dku.datasets import plugin_type

    class Refusing:
        def get_project(self, key):
            raise dataiku.DataikuException("Action forbidden: READ_CONF")

    with caplog.at_level("WARNING"):
        assert plugin_type(dataiku.Dataset("labels"), Refusing()) is None
    assert "READ_CONF" in caplog.text
    assert plugin_type(dataiku.Dataset("labels"), dataiku.api_client()) is None


def test_a_rewrite_keeps_what_another_webapp_wrote(dss, reviews, open_labeling, config_4x,
                                                   tmp_path):
    dss.create_dataset("reviews", reviews)
    for name in ("labels", "labels_metadata"):
        dss.create_dataset(name, dataset_type="CustomPython_sheets", supports_append=False)
    dss.webapp_config = config_4x
    first = open_labeling(cache_dir=tmp_path / "a")
    second = open_labeling(cache_dir=tmp_path / "b")
    _label(second, user=BOB, label="neg")
    second.sync.flush()
    _label(first, label="pos")
    first.sync.flush()
    assert sorted(dss.table("labels_metadata")["annotator"]) == ["alice", "bob"]
    assert sorted(dss.table("labels")["label"]) == ["neg", "pos"]


def test_reads_that_do_not_pair_up_keep_the_guessed_values(dss, reversed_unguessed_reads,
                                                           caplog):
    import dataiku
    import pandas as pd

    from assisted_labeling.config import Category, LabelingConfig
    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("codes", pd.DataFrame({"code": ["01234", "00042"], "n": [1, 2]}))
    config = LabelingConfig("tabular", (Category("pos"), Category("neg")))
    in_order = list(dsio.iter_items(dataiku.Dataset("codes"), config, chunksize=10))
    assert [i.data["code"] for i in in_order] == ["01234", "00042"]
    reversed_unguessed_reads()
    with caplog.at_level("WARNING"):
        items = list(dsio.iter_items(dataiku.Dataset("codes"), config, chunksize=10))
    assert [i.data["code"] for i in items] == [1234, 42]  # not another row's code
    assert [i.key for i in items] == [i.key for i in in_order]
    assert "another order" in caplog.text


def test_text_and_number_reads_that_do_not_pair_up_are_an_error(dss, reversed_unguessed_reads):
    import dataiku
    import pandas as pd

    from assisted_labeling.dku import datasets as dsio
    from assisted_labeling.errors import LabelingError

    dss.create_dataset("meta", pd.DataFrame({"data_id": ["007", "008"], "label_id": [1, 2]}))
    read = dsio.iter_text_frames(dataiku.Dataset("meta"), chunksize=10, texts=["data_id"],
                                 numbers=["label_id"])
    assert next(read).values.tolist() == [["007", 1], ["008", 2]]
    reversed_unguessed_reads()
    with pytest.raises(LabelingError, match="another order"):
        list(dsio.iter_text_frames(dataiku.Dataset("meta"), chunksize=10,
                                   texts=["data_id"], numbers=["label_id"]))


@pytest.mark.parametrize("later", ["text", "numbers"])
@pytest.mark.parametrize("chunksize", [2, 3, 10])
def test_rows_appended_between_two_reads_are_left_for_the_next_read(dss, monkeypatch,
                                                                     later, chunksize):
    """The webapp appends to the metadata while the trigger or the sampler reads it: the
    read opened second (the numbers) has rows the first lacks, at the end. The rows both
    have pair up; the new ones are read next time, not an error about the order of the
    rows. The first read longer means the rows changed between the two (a compaction
    rewrote them): that is an error."""
    import dataiku
    import pandas as pd

    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("meta", pd.DataFrame({"data_id": ["007", "008", "009"],
                                             "label_id": [1, 2, 3]}))
    real = dsio.iter_frames

    def frames(dataset, *, chunksize, columns=None, infer_with_pandas=True, **rest):
        chunks = list(real(dataset, chunksize=chunksize, columns=columns,
                           infer_with_pandas=infer_with_pandas, **rest))
        if (infer_with_pandas is False) == (later == "text"):
            whole = pd.concat(chunks, ignore_index=True)
            appended = whole.iloc[[0]].copy()
            for name in appended.columns:
                appended[name] = "010" if name == "data_id" else 4
            whole = pd.concat([whole, appended], ignore_index=True)
            chunks = [whole.iloc[i:i + chunksize] for i in range(0, len(whole), chunksize)]
        yield from chunks

    monkeypatch.setattr(dsio, "iter_frames", frames)
    read = dsio.iter_text_frames(dataiku.Dataset("meta"), chunksize=chunksize,
                                 texts=["data_id"], numbers=["label_id"])
    if later == "text":
        from assisted_labeling.errors import LabelingError

        with pytest.raises(LabelingError, match="rewritten meanwhile"):
            list(read)
        return
    assert pd.concat(read).values.tolist() == [["007", 1], ["008", 2], ["009", 3]]


@pytest.mark.parametrize(("guessed", "stored", "same"), [
    ([1234, 42], ["01234", "0042"], True),
    ([1.5, None], ["1.50", "NA"], True),
    ([True, False], ["true", "False"], True),
    (["a", "b"], ["a", "b"], True),
    (["a", "b"], ["b", "a"], False),
    ([1234, 42], ["0042", "01234"], False),
    ([1, 2], ["1"], False),
])
def test_same_cells(guessed, stored, same):
    import pandas as pd

    from assisted_labeling.dku.datasets import same_cells

    assert same_cells(pd.Series(guessed), pd.Series(stored, dtype=object)) is same


def test_text_columns_are_read_again_only_from_a_chunk_where_dss_guessed_numbers(
        dss, monkeypatch):
    import dataiku
    import pandas as pd

    from assisted_labeling.config import Category, LabelingConfig
    from assisted_labeling.dku import datasets as dsio

    real, unguessed = dsio.iter_frames, []

    def frames(dataset, *, chunksize, columns=None, infer_with_pandas=True, **rest):
        for frame in real(dataset, chunksize=chunksize, columns=columns,
                          infer_with_pandas=infer_with_pandas, **rest):
            if not infer_with_pandas:
                unguessed.append(len(frame))
            yield frame

    monkeypatch.setattr(dsio, "iter_frames", frames)
    config = LabelingConfig("tabular", (Category("pos"), Category("neg")))
    dss.create_dataset("words", pd.DataFrame({"code": ["AB", "CD", "EF", "GH"]}))
    list(dsio.iter_items(dataiku.Dataset("words"), config, chunksize=2))
    assert unguessed == []  # text read as text: no second read
    dss.create_dataset("codes", pd.DataFrame({"code": ["AB", "CD", "0042", "0107"]}))
    items = list(dsio.iter_items(dataiku.Dataset("codes"), config, chunksize=2))
    assert [i.data["code"] for i in items] == ["AB", "CD", "0042", "0107"]
    assert unguessed == [2, 2]


def _tabular():
    from assisted_labeling.config import Category, LabelingConfig

    return LabelingConfig("tabular", (Category("pos"), Category("neg")))


# -- same_cells / iter_text_frames / iter_items -------------------------------------------
def test_same_cells_reads_a_true_false_column_with_an_empty_cell(dss):
    """pandas guesses a true/false column with an empty cell as object (True, nan,
    False): True and "true" are the same cell."""
    import dataiku

    from assisted_labeling.dku.datasets import iter_frames, same_cells

    dss.create_dataset("t", pd.DataFrame({"flag": ["true", None, "false"]}, dtype=object))
    guessed = next(iter_frames(dataiku.Dataset("t"), chunksize=10))["flag"]
    stored = next(iter_frames(dataiku.Dataset("t"), chunksize=10,
                              infer_with_pandas=False))["flag"]
    assert guessed.tolist()[0] is True and stored.tolist()[0] == "true"
    assert same_cells(guessed, stored)


def test_a_true_false_column_is_no_false_alarm_for_the_queries(dss):
    import dataiku

    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("reviews", pd.DataFrame(
        {"flag": ["true", None, "false"], "stars": [5, 1, 3]}))
    dss.create_dataset("queries", pd.DataFrame(
        {"flag": ["true", None, "false"], "stars": [5, 1, 3],
         "uncertainty": [0.9, 0.5, 0.1]}))

    got = list(dsio.iter_priorities(dataiku.Dataset("queries"), _tabular(), ["flag", "stars"],
                                    chunksize=10))
    assert len(got) == 3


def test_a_true_false_column_does_not_stop_the_pairing_of_items(dss, caplog):
    import dataiku

    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("codes", pd.DataFrame(
        {"code": ["01234", "00042", "00007"], "flag": ["true", None, "false"]}, dtype=object))
    with caplog.at_level("WARNING"):
        items = list(dsio.iter_items(dataiku.Dataset("codes"), _tabular(), chunksize=10))
    assert "another order" not in caplog.text
    assert [i.data["code"] for i in items] == ["01234", "00042", "00007"]


def test_stored_text_is_kept_when_a_text_column_holds_guessed_booleans(dss):
    """An object column can hold guessed booleans: the stored "true" is kept."""
    import dataiku

    from assisted_labeling.dku import datasets as dsio

    dss.create_dataset("flags", pd.DataFrame(
        {"text": ["a", "b", "c"], "flag": ["true", None, "false"]}, dtype=object))
    items = list(dsio.iter_items(dataiku.Dataset("flags"), _tabular(), chunksize=10))
    assert [i.data["flag"] for i in items] == ["true", None, "false"]


@pytest.mark.filterwarnings("ignore::pandas.errors.DtypeWarning")  # as DSS
def test_stored_text_is_kept_when_a_wide_chunk_mixes_numbers_and_text(dss):
    """pandas' C parser (low_memory, as dataiku's read_table) parses a wide chunk in
    pieces of 8192 rows (>= 64 columns) and concatenates them: digits-only in the first
    piece stay ints in an object column, which the text must replace."""
    import dataiku

    from assisted_labeling.dku import datasets as dsio

    n = 10_000
    data = {"code": ["01234"] * 8192 + ["AB"] * (n - 8192)}
    for i in range(70):
        data[f"c{i}"] = ["x"] * n
    dss.create_dataset("wide", pd.DataFrame(data, dtype=object))
    items = list(dsio.iter_items(dataiku.Dataset("wide"), _tabular(), chunksize=n))
    assert items[0].data["code"] == "01234"




def test_whole_rewrites_are_paced_by_their_own_duration(dss, reviews, open_labeling,
                                                        config_4x, clock, monkeypatch):
    """A rewrite of a plugin dataset may take long (or count against a quota): the next
    one waits ten times as long as the last took, and at least the flush delay."""
    from assisted_labeling.dku.sync import DatasetSync

    dss.create_dataset("reviews", reviews)
    dss.create_dataset("labels", dataset_type="CustomPython_sheets", supports_append=False)
    dss.create_dataset("labels_metadata")
    dss.webapp_config = config_4x
    webapp = open_labeling(sync_options={"clock": clock})
    rewrite = DatasetSync._rewrite_locked

    def slow_rewrite(self, *args):
        rewrite(self, *args)
        clock.now += 3  # the rewrite took 3 s

    monkeypatch.setattr(DatasetSync, "_rewrite_locked", slow_rewrite)
    _label(webapp)
    webapp.sync.tick()
    assert len(dss.table("labels")) == 1
    _label(webapp, label="neg")
    clock.now += 29
    assert not webapp.sync.flush_due()
    clock.now += 1
    assert webapp.sync.flush_due()


def test_a_compaction_reads_the_metadata_dataset_once(project_setup, webapp, monkeypatch):
    """Catching up with other stores and keeping rows of unknown items share one read."""
    from assisted_labeling.dku import sync as sync_mod

    item = _label(webapp)
    webapp.sync.flush()
    webapp.project.annotate(ALICE, {"item_id": item["id"], "label": "neg"})
    real, reads = sync_mod.dsio.iter_metadata, []

    def counted(*args, **kwargs):
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_mod.dsio, "iter_metadata", counted)
    webapp.sync.compact()
    assert len(reads) == 1
    assert project_setup.table("labels")[["label", "label_id"]].values.tolist() == [["neg", 1]]
