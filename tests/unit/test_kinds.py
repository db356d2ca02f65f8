"""Class labels: validation, serialization and counting."""

from __future__ import annotations

import pytest

from assisted_labeling.config import build_config
from assisted_labeling.errors import ConfigError, ValidationError
from assisted_labeling.kinds import get_kind

SINGLE = build_config({"categories": "cat,dog,bird"})
MULTI = build_config({"categories": "cat,dog,bird", "multi_label": True})
kind = get_kind("tabular")


def test_single_label_accepts_a_known_class():
    assert kind.validate_label("dog", SINGLE) == "dog"
    assert kind.validate_label(["dog"], SINGLE) == "dog"
    assert kind.serialize("dog", SINGLE) == "dog"
    assert kind.classes_of("dog") == ["dog"]


@pytest.mark.parametrize("bad", ["Dog", "", None, 3, ["cat", "dog"], {"a": 1}])
def test_single_label_rejects_anything_else(bad):
    with pytest.raises(ValidationError, match="expected one of cat, dog, bird"):
        kind.validate_label(bad, SINGLE)


def test_multi_label_orders_and_dedupes_by_category():
    label = kind.validate_label(["bird", "cat", "bird"], MULTI)
    assert label == ["cat", "bird"]
    assert kind.serialize(label, MULTI) == '["cat", "bird"]'
    assert kind.deserialize('["cat", "bird"]', MULTI) == ["cat", "bird"]
    assert kind.validate_label("dog", MULTI) == ["dog"]


def test_multi_label_rejects_empty_and_unknown():
    with pytest.raises(ValidationError, match="at least one class"):
        kind.validate_label([], MULTI)
    with pytest.raises(ValidationError, match='"fish"'):
        kind.validate_label(["cat", "fish"], MULTI)
    with pytest.raises(ValidationError, match="list of classes"):
        kind.validate_label(7, MULTI)


def test_unknown_kind_lists_known_ones():
    with pytest.raises(ConfigError, match="tabular"):
        get_kind("video")


@pytest.mark.parametrize("depth", [3, 900, 5000])
def test_a_nested_pre_annotation_is_an_unknown_class_not_a_crash(depth):
    """A cell like [[[…]]] in the existing-labels column: the page shows it as a value
    that is no class (a RecursionError from deep nesting gave a 500 on every /next)."""
    from assisted_labeling.project import LabelingProject

    text = "[" * depth + "]" * depth
    assert kind.deserialize(text, MULTI) == [text]
    project = LabelingProject(build_config({"categories": "cat,dog,bird",
                                            "multi_label": True}), store=None)
    assert project.existing_label(text) is None


@pytest.mark.parametrize("value, shown", [(None, None), ({"a": 1}, '{"a": 1}'),
                                          (["x", "y"], '["x", "y"]'), ("fish", "fish")])
def test_an_unknown_class_is_echoed_as_json_and_cut(value, shown):
    with pytest.raises(ValidationError) as caught:
        kind.validate_label(value, SINGLE)
    assert caught.value.details["value"] == shown
    with pytest.raises(ValidationError) as caught:
        kind.validate_label("x" * 100_000, SINGLE)
    assert len(caught.value.details["value"]) <= 200
    assert len(caught.value.message) <= 300
