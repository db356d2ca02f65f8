"""Webapp settings: 4.x configurations load; bad ones give the user's words."""

from __future__ import annotations

import pandas as pd
import pytest

from assisted_labeling.dku.settings import parse_settings
from assisted_labeling.errors import ConfigError


def test_a_4x_config_loads_with_the_old_defaults(config_4x):
    settings = parse_settings(config_4x)
    assert (settings.unlabeled, settings.labels_ds, settings.metadata_ds) == (
        "reviews", "labels", "labels_metadata")
    assert settings.queries_ds is None
    config = settings.config
    assert config.category_names == ("pos", "neg")
    assert config.categories[0].description == "Positive"
    assert config.label_col_name == "label"
    assert (config.multi_label, config.comments, config.annotators_per_item) == (False, True, 1)
    assert (config.display_columns, config.id_column) == ((), None)
    assert settings.reviewer_groups == frozenset() and settings.manager_users == frozenset()


def test_an_empty_queries_setting_means_no_queries(config_4x):
    assert parse_settings({**config_4x, "queries_ds": ""}).queries_ds is None
    assert parse_settings({**config_4x, "queries_ds": "queries"}).queries_ds == "queries"


def test_new_settings_as_dss_sends_them(config_4x):
    # DSS sends INT parameters as floats and STRINGS as lists.
    settings = parse_settings({
        **config_4x, "multi_label": True, "display_columns": ["text"],
        "annotators_per_item": 2.0, "reviewer_groups": ["qa", " "],
        "manager_users": ["carol"], "instructions": "Be *kind*", "comments": False,
    })
    assert settings.config.multi_label is True
    assert settings.config.display_columns == ("text",)
    assert settings.config.annotators_per_item == 2
    assert settings.config.comments is False
    assert settings.reviewer_groups == frozenset({"qa"})
    assert settings.manager_users == frozenset({"carol"})


@pytest.mark.parametrize("key, words", [
    ("labels_ds", 'Setting "Labels dataset": choose a dataset'),
    ("metadata_ds", 'Setting "Labeling metadata dataset": choose a dataset'),
    ("unlabeled", 'Setting "Unlabeled data": choose a dataset'),
])
def test_a_missing_dataset_is_named(config_4x, key, words):
    with pytest.raises(ConfigError, match=words):
        parse_settings({**config_4x, key: ""})


def test_an_output_cannot_be_an_input(config_4x):
    with pytest.raises(ConfigError, match='"Labels dataset": it is the same dataset as '
                                          '"Unlabeled data"'):
        parse_settings({**config_4x, "labels_ds": "LABELING.reviews"})
    with pytest.raises(ConfigError, match="Labeling metadata dataset"):
        parse_settings({**config_4x, "metadata_ds": "queries", "queries_ds": "queries"})


def test_bad_categories_are_reported(config_4x):
    with pytest.raises(ConfigError, match='Setting "Categories"'):
        parse_settings({**config_4x, "categories": []})


def test_columns_are_checked_against_the_unlabeled_dataset(project_setup, open_labeling,
                                                           config_4x):
    with pytest.raises(ConfigError, match='Setting "Display columns": no column "title"'):
        open_labeling({**config_4x, "display_columns": ["title"]})


def test_the_label_column_must_not_clash_with_an_input_column(dss, open_labeling, config_4x):
    dss.create_dataset("reviews", pd.DataFrame({"text": ["a"], "label": ["x"]}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    with pytest.raises(ConfigError, match='already has a column "label"'):
        open_labeling(config_4x)
    open_labeling({**config_4x, "label_col_name": "human_label"})


def test_an_unbuilt_input_is_reported(dss, open_labeling, config_4x):
    dss.create_dataset("reviews")
    with pytest.raises(ConfigError, match="has no columns; build it first"):
        open_labeling(config_4x)


def test_a_duplicated_id_is_reported_on_the_id_column(dss, open_labeling, config_4x):
    dss.create_dataset("reviews", pd.DataFrame({"rid": [1, 1], "text": ["a", "b"]}))
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    with pytest.raises(ConfigError, match='Setting "Id column": .*"1" appears twice'):
        open_labeling({**config_4x, "id_column": "rid"})


def test_the_cache_is_per_project_and_setup(config_4x, tmp_path):
    from assisted_labeling.dku.webapp import cache_path

    first = cache_path(parse_settings(config_4x), "P1", cache_dir=tmp_path)
    assert first.parent == tmp_path / "P1" and first.suffix == ".db"
    assert cache_path(parse_settings(config_4x), "P1", cache_dir=tmp_path) == first
    assert cache_path(parse_settings(config_4x), "P2", cache_dir=tmp_path) != first
    other = parse_settings({**config_4x, "labels_ds": "labels_v2"})
    assert cache_path(other, "P1", cache_dir=tmp_path) != first


def test_messages_name_settings_as_the_form_labels_them():
    import json
    from pathlib import Path

    from assisted_labeling.dku.settings import LABELS

    webapp_json = Path(__file__).resolve().parents[2] / "webapps/tabular-labeling/webapp.json"
    labels = {p["label"] for p in json.loads(webapp_json.read_text("utf-8"))["params"]}
    used = set(LABELS.values()) | {"Display columns", "Contextual columns", "Id column",
                                   "Existing labels column", "Categories", "Labels column",
                                   "Annotators per item"}
    assert used - labels == set()
