"""Image uncertainty from a detector's predictions: parsing, box and image scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from assisted_labeling.detection import (
    Box,
    ColumnScorer,
    box_uncertainty,
    image_uncertainty,
    parse_predictions,
)
from assisted_labeling.errors import ValidationError


def dss_box(confidence: float, category: str = "cat") -> dict:
    return {"bbox": [10, 20, 30, 40], "category": category, "confidence": confidence}


def our_box(confidence: float, label: str = "cat") -> dict:
    return {"top": 20, "left": 10, "width": 30, "height": 40, "label": label,
            "confidence": confidence}


# -- parsing ----------------------------------------------------------------------------
def test_both_box_shapes_parse_to_the_same_box():
    dss = parse_predictions(json.dumps([dss_box(0.8)]))
    ours = parse_predictions(json.dumps([our_box(0.8)]))
    assert dss == ours == [Box(0.8, "cat")]


def test_an_already_parsed_list_and_score_instead_of_confidence_are_accepted():
    boxes = parse_predictions([{"bbox": [0, 0, 1, 1], "category": "dog", "score": 0.25}])
    assert boxes == [Box(0.25, "dog")]


@pytest.mark.parametrize("cell", [None, float("nan"), "", "  ", "[]"])
def test_missing_and_empty_cells_have_no_box(cell):
    assert parse_predictions(cell) == []


def test_class_probabilities_give_the_confidence_when_it_is_absent():
    (box,) = parse_predictions([{"bbox": [0, 0, 1, 1], "probabilities": {"a": 0.6, "b": 0.2}}])
    assert box.probabilities == (0.6, 0.2)
    assert box.confidence == 0.6  # the detector's highest score, not 0.6 / (0.6 + 0.2)
    # One class score: as sure as a box whose confidence is that score.
    (lone,) = parse_predictions([{"bbox": [0, 0, 1, 1], "probabilities": {"cat": 0.3}}])
    assert box_uncertainty(lone) == pytest.approx(0.7)
    # Low sigmoid scores of a background box: under min_confidence, not a sure box.
    cell = [{"bbox": [0, 0, 1, 1], "confidence": 0.95, "probabilities": [0.95, 0.05]},
            {"bbox": [0, 0, 1, 1], "probabilities": [0.02, 0.01]}]
    assert image_uncertainty(parse_predictions(cell), min_confidence=0.1) == pytest.approx(
        box_uncertainty(parse_predictions(cell[:1])[0]))


@pytest.mark.parametrize("cell, words", [
    ('[{"bbox": [0, 0, 1, 1], "confidence": 0.5', "not valid JSON"),
    ('{"bbox": [0, 0, 1, 1], "confidence": 0.5}', "expected a JSON list of boxes"),
    ("0.83", "expected a JSON list of boxes"),
    ('["cat"]', "box 1: a box must be a JSON object"),
    ('[{"bbox": [0, 0, 1, 1], "category": "cat"}]', 'has no "confidence"'),
    ('[{"bbox": [0, 0, 1], "confidence": 0.5}]', '"bbox" must be [x, y, width, height]'),
    ('[{"top": 0, "left": 0, "confidence": 0.5}]', "missing width, height"),
    ('[{"bbox": [0, 0, 1, 1], "confidence": 87}]', "between 0 and 1"),
    ('[{"bbox": [0, 0, 1, 1], "confidence": "high"}]', "must be a number"),
    ('[{"bbox": [0, 0, 1, 1], "confidence": 0.5, "probabilities": [0.5, -0.1]}]',
     "must not be negative"),
    ('[{"bbox": [0, 0, 1, 1], "probabilities": [3.2, 0.4]}]', "between 0 and 1"),
])
def test_bad_cells_raise_errors_that_say_where_and_why(cell, words):
    with pytest.raises(ValidationError) as caught:
        parse_predictions(cell, where="Row 7 (/a.png)")
    assert words in caught.value.message
    assert caught.value.message.startswith("Row 7 (/a.png)")


def test_the_second_box_is_named_in_the_error():
    cell = json.dumps([dss_box(0.9), {"bbox": [0, 0, 1, 1]}])
    with pytest.raises(ValidationError, match="Row 3, box 2"):
        parse_predictions(cell, where="Row 3")


# -- box and image uncertainty ----------------------------------------------------------
def test_box_uncertainty_is_one_minus_confidence():
    assert box_uncertainty(Box(0.8)) == pytest.approx(0.2)


def test_box_uncertainty_is_the_normalized_entropy_of_its_class_scores():
    assert box_uncertainty(Box(0.5, probabilities=(0.5, 0.5))) == pytest.approx(1.0)
    # Unnormalized sigmoid scores (0.6, 0.2) are read as (0.75, 0.25).
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert box_uncertainty(Box(0.75, probabilities=(0.6, 0.2))) == pytest.approx(expected)
    # One class: nothing to hesitate between, so the confidence decides.
    assert box_uncertainty(Box(0.9, probabilities=(0.9,))) == pytest.approx(0.1)


BOXES = [Box(0.9), Box(0.6), Box(0.3)]  # uncertainties 0.1, 0.4, 0.7


@pytest.mark.parametrize("aggregation, expected", [
    ("max", 0.7),
    ("mean", 0.4),
    ("any", 1 - 0.9 * 0.6 * 0.3),
])
def test_aggregations(aggregation, expected):
    assert image_uncertainty(BOXES, aggregation=aggregation) == pytest.approx(expected)


def test_boxes_under_the_minimum_confidence_are_ignored():
    assert image_uncertainty(BOXES, min_confidence=0.5) == pytest.approx(0.4)


def test_images_without_boxes_come_first_by_default_and_last_on_request():
    assert image_uncertainty([]) == 1.0
    assert image_uncertainty([], empty_uncertainty=0.0) == 0.0
    # Only background boxes left under the threshold: also "no box".
    assert image_uncertainty([Box(0.02)], min_confidence=0.1) == 1.0


def test_a_column_of_cells_is_scored_in_order():
    cells = [json.dumps([dss_box(0.9)]), "[]", json.dumps([our_box(0.6), our_box(0.95)])]
    scores = ColumnScorer()(cells)
    assert scores.dtype == np.float64
    assert scores.tolist() == pytest.approx([0.1, 1.0, 0.4])


def test_the_scorer_counts_images_empty_ones_and_the_lowest_confidence_across_chunks():
    scorer = ColumnScorer(min_confidence=0.3)
    scorer([json.dumps([dss_box(0.9)]), "[]"])
    assert (scorer.images, scorer.empty, scorer.lowest) == (2, 1, 0.9)
    # A box under the minimum confidence still counts as the lowest one seen, but its
    # image has no box left: it is an image without boxes.
    scores = scorer([json.dumps([our_box(0.2)]), json.dumps([our_box(0.6)])])
    assert scores.tolist() == pytest.approx([1.0, 0.4])
    assert (scorer.images, scorer.empty, scorer.lowest) == (4, 2, 0.2)


def test_column_errors_give_the_row_number_and_the_image_name():
    cells = ["[]", "[{oops"]
    with pytest.raises(ValidationError, match=r"Row 12 \(/b.png\): not valid JSON"):
        ColumnScorer()(cells, names=["/a.png", "/b.png"], rows=[11, 12])


@pytest.mark.parametrize("options, words", [
    ({"aggregation": "sum"}, "valid aggregations: max, mean, any"),
    ({"min_confidence": 1.5}, "between 0 and 1"),
    ({"empty_uncertainty": -1.0}, "between 0 and 1"),
])
def test_bad_options_are_refused_before_any_cell_is_read(options, words):
    with pytest.raises(ValidationError, match=words):
        ColumnScorer(**options)
