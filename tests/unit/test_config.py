"""Settings validation: 4.x formats load, mistakes are named in the user's words."""

from __future__ import annotations

import pytest

from assisted_labeling.config import build_config, check_columns, parse_categories
from assisted_labeling.errors import ConfigError


def test_categories_in_every_accepted_shape():
    old = parse_categories([{"from": "cat", "to": "A cat"}, {"from": "dog", "to": None}])
    assert [(c.name, c.description) for c in old] == [("cat", "A cat"), ("dog", "")]
    assert [c.name for c in parse_categories("a, b ,c")] == ["a", "b", "c"]
    assert [c.name for c in parse_categories({"x": "ex"})] == ["x"]
    assert [c.name for c in parse_categories(["x", "y"])] == ["x", "y"]


@pytest.mark.parametrize("raw, message", [
    (None, "at least one category"),
    ("a,,b", "empty name"),
    ("a,b,a", 'the category "a" appears twice'),
    (42, "expected a list"),
])
def test_bad_categories(raw, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_categories(raw)
    assert info.value.message.startswith('Setting "Categories"')


def test_defaults_reproduce_the_old_behaviour():
    config = build_config({"categories": "a,b"})
    assert config.label_col_name == "label"
    assert (config.multi_label, config.annotators_per_item, config.comments) == (False, 1, True)


def test_bad_label_column_quotes_the_current_value():
    with pytest.raises(ConfigError) as info:
        build_config({"categories": "a", "label_col_name": "la;bel"})
    assert info.value.message.startswith('Setting "Labels column"')
    assert "'la;bel'" in info.value.message


def test_annotators_per_item_range():
    with pytest.raises(ConfigError, match="between 1 and 100"):
        build_config({"categories": "a", "annotators_per_item": 0})
    with pytest.raises(ConfigError, match="whole number"):
        build_config({"categories": "a", "annotators_per_item": "two"})


def test_unknown_kind():
    with pytest.raises(ConfigError, match="Kind"):
        build_config({"categories": "a", "kind": "video"})


def test_columns_must_exist_in_the_data():
    config = build_config({"categories": "a", "display_columns": "text,lable"})
    with pytest.raises(ConfigError, match='no column "lable"') as info:
        check_columns(config, ["text", "label"])
    assert "columns: text, label" in info.value.message


def test_whole_numbers_accept_what_dss_sends():
    assert build_config({"categories": "a", "annotators_per_item": 2.0}).annotators_per_item == 2
    assert build_config({"categories": "a", "annotators_per_item": "3"}).annotators_per_item == 3
    with pytest.raises(ConfigError, match="whole number"):
        build_config({"categories": "a", "annotators_per_item": 2.5})
    with pytest.raises(ConfigError, match="whole number"):
        build_config({"categories": "a", "annotators_per_item": True})


def test_a_column_listed_twice_is_a_typo_when_typed_and_kept_once_from_a_form():
    with pytest.raises(ConfigError, match="'text' named twice"):
        build_config({"categories": "a", "display_columns": "text,x,text"})
    with pytest.raises(ConfigError, match="expected column names separated by commas"):
        build_config({"categories": "a", "context_columns": " , "})
    # DSS forms send lists: a repeat there must not stop the webapp.
    config = build_config({"categories": "a", "display_columns": ["text", "x", "text"]})
    assert config.display_columns == ("text", "x")
