"""The every-nb-labeling trigger on the fake DSS: run trigger.py, see whether it fires."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

from assisted_labeling.errors import ConfigError
from assisted_labeling.project import Principal

ROOT = Path(__file__).resolve().parents[2]
TRIGGER = ROOT / "python-triggers" / "every-nb-labeling" / "trigger.py"
SESSION = "ML-ASSISTED-LABELING__queries__session"


def metadata(rows: list[tuple[str, str, int, str, str]]) -> pd.DataFrame:
    """Metadata rows ``(date, data_id, session, status, annotator)`` in the 4.x columns."""
    frame = pd.DataFrame(rows, columns=["date", "data_id", "session", "status", "annotator"])
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    frame.insert(2, "comment", "")
    frame["label"] = ["pos" if s == "LABELED" else None for s in frame["status"]]
    frame["label_id"] = range(1, len(frame) + 1)
    return frame


def run(dss, **config) -> bool:
    """One evaluation of trigger.py; DSS keeps the state of its last firing. The project
    has a queries dataset (the sampler's output, never built unless the test made it)."""
    if dss.full_name("queries") not in dss.datasets:
        dss.create_dataset("queries")
    dss.trigger_config = {"i_labeling_count": 3.0, "ds_metadata": "meta",
                          "ds_queries": "queries", **config}
    before = len(dss.fired)
    runpy.run_path(str(TRIGGER))
    return len(dss.fired) > before


def labeled(n: int, *, session: int = 0, start: int = 0) -> list[tuple]:
    """``n`` metadata rows of labels ``start``, ``start + 1``… in ``session``."""
    return [(f"2024-01-01T10:{i % 60:02d}:00", f"item{i}", session, "LABELED", "alice")
            for i in range(start, start + n)]


def test_fires_when_the_current_session_reaches_n_labels(dss):
    dss.create_dataset("meta", metadata([
        ("2024-01-01T10:00:00", "a", 2, "LABELED", "alice"),
        ("2024-01-01T10:01:00", "b", 2, "LABELED", "alice"),
        ("2024-01-01T10:02:00", "c", 1, "LABELED", "alice"),  # an older session
    ]))
    dss.project_variables()["standard"][SESSION] = 2
    assert not run(dss)
    dss.create_dataset("meta", metadata([
        ("2024-01-01T10:00:00", "a", 2, "LABELED", "alice"),
        ("2024-01-01T10:01:00", "b", 2, "LABELED", "alice"),
        ("2024-01-01T10:03:00", "d", 2, "LABELED", "bob"),
    ]))
    assert run(dss)
    assert run(dss, i_labeling_count=4.0) is False


def test_edits_and_skips_do_not_count(dss):
    dss.create_dataset("meta", metadata([
        ("2024-01-01T10:00:00", "a", 1, "LABELED", "alice"),
        ("2024-01-01T10:01:00", "b", 1, "LABELED", "alice"),
        ("2024-01-01T10:02:00", "a", 1, "LABELED", "alice"),  # "a" edited: appended again
        ("2024-01-01T10:03:00", "c", 1, "SKIPPED", "alice"),
        ("2024-01-01T10:04:00", "d", 1, "LABELED", "alice"),
        ("2024-01-01T10:05:00", "d", 1, "SKIPPED", "alice"),  # label turned into a skip
    ]))
    dss.project_variables()["standard"][SESSION] = 1
    assert not run(dss)  # 2 labels: a, b
    assert run(dss, i_labeling_count=2)


def test_a_fresh_project_is_session_zero(dss):
    dss.create_dataset("meta", metadata(labeled(3)))
    assert dss.project_variables()["standard"] == {}
    assert run(dss)
    assert dss.fired[-1].state is not None  # what it counted, for the next evaluations
    dss.project_variables()["local"][SESSION] = 1  # the sampler ran once since
    assert not run(dss)


def test_without_a_queries_dataset_it_fires_at_every_n_new_labels(dss):
    """The session never changes without a queries dataset: what the last firing counted
    tells the new labels apart, or the trigger would fire at every evaluation."""
    dss.create_dataset("meta", metadata(labeled(2)))
    assert not run(dss, ds_queries="")
    dss.create_dataset("meta", metadata(labeled(3)))
    assert run(dss, ds_queries="")
    assert not run(dss, ds_queries="")  # nothing new: the scenario ran already
    dss.create_dataset("meta", metadata([*labeled(3), *labeled(2, session=1, start=3)]))
    assert not run(dss, ds_queries="")
    # Every label counts, whatever session the webapp wrote it in.
    dss.create_dataset("meta", metadata([*labeled(3), *labeled(3, session=1, start=3)]))
    assert run(dss, ds_queries="")
    assert not run(dss, ds_queries="")


def test_a_session_that_fired_fires_again_only_after_n_more_labels(dss):
    """A scenario that retrains without running the sampler keeps the session: one
    firing per n labels, not one per evaluation."""
    dss.project_variables()["standard"][SESSION] = 2
    dss.create_dataset("meta", metadata(labeled(3, session=2)))
    assert run(dss)
    assert not run(dss)
    dss.create_dataset("meta", metadata(labeled(5, session=2)))
    assert not run(dss)
    dss.create_dataset("meta", metadata(labeled(6, session=2)))
    assert run(dss)
    # The sampler ran: a new session starts from zero, as in 4.x.
    dss.project_variables()["standard"][SESSION] = 3
    assert not run(dss)
    dss.create_dataset("meta", metadata([*labeled(6, session=2),
                                         *labeled(3, session=3, start=6)]))
    assert run(dss)


@pytest.mark.parametrize("state", [None, "", "not json", '{"labeled": "many"}', "[1]"])
def test_a_trigger_without_a_readable_state_has_counted_nothing(dss, state):
    dss.trigger_state = state  # e.g. fired by the 4.x trigger, which saved no state
    dss.create_dataset("meta", metadata(labeled(3)))
    assert run(dss, ds_queries="")


def test_digit_only_ids_stay_text_in_every_chunk(dss):
    """DSS guesses the types of each chunk on its own: "007" must not become 7 in a
    chunk of digit-only ids and stay "007" in the next one."""
    import dataiku

    from assisted_labeling.dku.loop import every_n_labels_fire_state

    dss.create_dataset("meta", metadata([
        ("2024-01-01T10:00:00", "007", 0, "LABELED", "alice"),
        ("2024-01-01T10:01:00", "008", 0, "LABELED", "alice"),
        ("2024-01-01T10:02:00", "007", 0, "SKIPPED", "alice"),  # the label became a skip
        ("2024-01-01T10:03:00", "x1", 0, "SKIPPED", "alice"),
    ]))
    config = {"i_labeling_count": 2.0, "ds_metadata": "meta"}
    assert every_n_labels_fire_state(config, open_dataset=dataiku.Dataset, chunksize=2) is None
    config["i_labeling_count"] = 1.0  # 008 alone is labeled
    assert every_n_labels_fire_state(config, open_dataset=dataiku.Dataset, chunksize=2)


def test_a_metadata_dataset_never_written_does_not_fire(dss):
    dss.create_dataset("meta")  # no schema yet: the webapp has not saved anything
    assert not run(dss)


def test_a_metadata_dataset_that_does_not_exist_is_an_error_naming_it(dss):
    """A typo or a deleted dataset is not "no labels yet": the trigger would never fire
    and only say so in an info log."""
    with pytest.raises(ConfigError, match='"Metadata dataset": Cannot read the dataset '
                                          '"LABELING.meta_typo"'):
        run(dss, ds_metadata="meta_typo")


def test_a_queries_dataset_that_does_not_exist_is_an_error_naming_it(dss):
    """Only the queries dataset's name is used (for the session variable): a typo
    would count session 0 for good, and the loop would stop without a word."""
    dss.project_variables()["standard"][SESSION] = 4
    dss.create_dataset("meta", metadata(labeled(3, session=4)))
    with pytest.raises(ConfigError, match='"Queries dataset": Cannot read the dataset '
                                          '"LABELING.querie"'):
        run(dss, ds_queries="querie")
    assert not dss.fired
    assert run(dss)  # the dataset exists, never built: the sampler has not run yet


@pytest.mark.parametrize("queries", ["", "queries"])
def test_fewer_labels_than_at_the_last_firing_start_the_count_over(dss, queries):
    """Labels cleared, swapped or turned into skips: the count of the last firing no
    longer says what is new, or the trigger would wait for that count plus n."""
    dss.create_dataset("meta", metadata(labeled(6)))
    assert run(dss, ds_queries=queries)
    dss.create_dataset("meta", metadata(labeled(2, start=100)))  # a new metadata dataset
    assert not run(dss, ds_queries=queries)
    dss.create_dataset("meta", metadata(labeled(3, start=100)))
    assert run(dss, ds_queries=queries)  # 3 labels, as in a fresh project (not 6 + 3)
    assert dss.fired[-1].state is not None
    assert not run(dss, ds_queries=queries)  # counted from 3 again
    dss.create_dataset("meta", metadata(labeled(6, start=100)))
    assert run(dss, ds_queries=queries)


def test_wrong_settings_give_messages_with_the_setting_name(dss):
    dss.create_dataset("meta", pd.DataFrame({"x": [1]}))
    with pytest.raises(ConfigError, match='"Metadata dataset": LABELING.meta has no column '
                                          "data_id, status"):
        run(dss)
    with pytest.raises(ConfigError, match='"Labeling count": expected a whole number'):
        run(dss, i_labeling_count=0)
    with pytest.raises(ConfigError, match='"Metadata dataset": choose one'):
        run(dss, ds_metadata="")


def test_the_webapps_own_metadata_rows_drive_the_trigger(project_setup, open_labeling):
    """End to end: labels saved in the webapp and flushed to DSS (appends, an edit, a
    skip), then the trigger reads them back."""
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["great", "awful", "fine"], "stars": [5, 1, 3],
        "uncertainty": [0.9, 0.8, 0.7]}))
    project_setup.project_variables()["standard"][SESSION] = 4
    webapp = open_labeling({**project_setup.webapp_config, "queries_ds": "queries"})
    alice = Principal("alice", "annotator")
    items = webapp.project.next_items(alice, 3)
    for item in items[:2]:
        webapp.project.annotate(alice, {"item_id": item["id"], "label": "pos"})
    webapp.sync.flush()
    webapp.project.annotate(alice, {"item_id": items[0]["id"], "label": "neg"})  # edit
    webapp.project.skip(alice, {"item_id": items[2]["id"]})
    webapp.sync.flush()
    assert len(project_setup.table("labels_metadata")) == 4  # the edit is a second row
    assert set(project_setup.table("labels_metadata")["session"]) == {4}
    assert not run(project_setup, ds_metadata="labels_metadata")
    assert run(project_setup, ds_metadata="labels_metadata", i_labeling_count=2)


def test_labels_saved_right_after_a_sampler_run_count_in_its_session(project_setup,
                                                                     open_labeling):
    """The webapp's background round (every second) sees the sampler's new session, so
    the labels that follow count towards the next firing, not the session that fired."""
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["great", "awful", "fine"], "stars": [5, 1, 3],
        "uncertainty": [0.9, 0.8, 0.7], "session": [1, 1, 1]}))
    project_setup.project_variables()["standard"][SESSION] = 1
    webapp = open_labeling({**project_setup.webapp_config, "queries_ds": "queries"})
    alice = Principal("alice", "annotator")
    first, second = webapp.project.next_items(alice, 2)
    webapp.project.annotate(alice, {"item_id": first["id"], "label": "pos"})
    webapp.sync.flush()
    assert run(project_setup, ds_metadata="labels_metadata", i_labeling_count=1)
    project_setup.project_variables()["standard"][SESSION] = 2  # the sampler ran
    webapp.sync.tick()
    webapp.project.annotate(alice, {"item_id": second["id"], "label": "neg"})
    webapp.sync.flush()
    assert project_setup.table("labels_metadata")["session"].tolist() == [1, 2]
    assert run(project_setup, ds_metadata="labels_metadata", i_labeling_count=1)
