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
    dss.trigger_config = {"i_labeling_count": 3.0, "ds_metadata": "meta",
                          "ds_queries": "queries", **config}
    before = len(dss.fired)
    runpy.run_path(str(TRIGGER))
    return len(dss.fired) > before


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
    dss.create_dataset("meta", metadata([
        ("2024-01-01T10:00:00", "a", 0, "LABELED", "alice"),
        ("2024-01-01T10:01:00", "b", 0, "LABELED", "alice"),
        ("2024-01-01T10:02:00", "c", 0, "LABELED", "alice"),
    ]))
    assert dss.project_variables()["standard"] == {}
    assert run(dss)
    assert run(dss, ds_queries="")  # no queries dataset at all: session 0 as well
    dss.project_variables()["local"][SESSION] = 1  # the sampler ran once since
    assert not run(dss)


def test_a_metadata_dataset_never_written_does_not_fire(dss):
    dss.create_dataset("meta")  # no schema yet: the webapp has not saved anything
    assert not run(dss)


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
