"""Uncertainty of images from a detector's predictions (pure: no I/O, no model).

The object-detection query sampler is model-agnostic: it reads what a detector already
predicted, one cell per image holding a JSON list of boxes. Two box shapes are accepted:

* DSS computer vision: ``{"bbox": [x, y, width, height], "category": "cat",
  "confidence": 0.83}``;
* this plugin's labels: ``{"top", "left", "width", "height", "label", "confidence"}``.

``score`` is accepted for ``confidence``. A box may also carry ``probabilities``, its
class distribution (``{"cat": 0.7, "dog": 0.3}`` or ``[0.7, 0.3]``); without a
confidence, its highest class score is its confidence.

**Box uncertainty**: the normalized entropy of the box's class distribution when it has
one (at least two classes; the scores are divided by their sum first, since detectors
often give one sigmoid score per class), else ``1 - confidence``.

**Image uncertainty**: boxes under ``min_confidence`` are dropped (detectors emit many
near-zero background boxes), then the box uncertainties are aggregated:

==========  ===========================================================================
``max``     the most uncertain box (default): one doubtful object is worth a look
``mean``    the average box: images whose detections are doubtful overall
``any``     ``1 - prod(1 - u)``: the chance that at least one box is wrong, if boxes err
            independently; grows with each doubtful box like a sum, stays in [0, 1]
==========  ===========================================================================

**Images without boxes** (an empty list, an empty cell, or only boxes under
``min_confidence``) get ``empty_uncertainty``, by default 1.0: they come first. A box's
confidence tells how sure the detector is about what it *found*; nothing measures how
sure it is that nothing else is there. An unlabeled image where the detector found
nothing is either truly empty or one where it missed every object (its worst failure,
and invisible to ``1 - confidence``), so it is the image we know least about; the 4.x
sampler ranked such images first too. On pools where most images are truly empty this
floods the top of the queue: set ``empty_uncertainty=0.0`` to rank them last instead.

DSS scoring drops the boxes under the saved model's confidence threshold before they
reach us: an image whose boxes all fell under it arrives empty, the boxes nearest that
threshold (the most uncertain ones) are missing, and ``min_confidence`` cannot go below
it. For active learning, lower the saved model's threshold before scoring the pool.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ValidationError

AGGREGATIONS = ("max", "mean", "any")
DEFAULT_EMPTY_UNCERTAINTY = 1.0
_GEOMETRY = ("top", "left", "width", "height")
_TOLERANCE = 1e-6  # confidences written as 1.0000001 by float32 round trips


@dataclass(frozen=True)
class Box:
    """One predicted box, reduced to what scoring needs."""

    confidence: float
    label: str | None = None
    probabilities: tuple[float, ...] | None = None


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where}: {what} must be a number (got {value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{where}: {what} must be a finite number (got {value!r})")
    return number


def _unit(value: Any, what: str, where: str) -> float:
    number = _number(value, what, where)
    if not -_TOLERANCE <= number <= 1 + _TOLERANCE:
        raise ValidationError(f"{where}: {what} must be between 0 and 1 (got {value!r}); "
                              "percentages are not accepted")
    return min(max(number, 0.0), 1.0)


def _probabilities(value: Any, where: str) -> tuple[float, ...]:
    values = list(value.values()) if isinstance(value, Mapping) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise ValidationError(f'{where}: "probabilities" must be a non-empty list or an '
                              f"object of class scores (got {value!r})")
    scores = [_number(v, "a class score", where) for v in values]
    if min(scores) < 0:
        raise ValidationError(f"{where}: class scores must not be negative (got {value!r})")
    if max(scores) > 1 + _TOLERANCE:
        raise ValidationError(f"{where}: class scores must be probabilities, between 0 "
                              f"and 1 (got {value!r})")
    return tuple(min(s, 1.0) for s in scores)


def _check_geometry(box: Mapping[str, Any], where: str) -> None:
    """Boxes must look like boxes: catches a column of something else early."""
    if "bbox" in box:
        bbox = box["bbox"]
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise ValidationError(f'{where}: "bbox" must be [x, y, width, height] '
                                  f"(got {bbox!r})")
        for v in bbox:
            _number(v, '"bbox" values', where)
        return
    missing = [k for k in _GEOMETRY if k not in box]
    if missing:
        raise ValidationError(f'{where}: a box needs "bbox" or "top", "left", "width", '
                              f"\"height\" (missing {', '.join(missing)})")
    for key in _GEOMETRY:
        _number(box[key], f'"{key}"', where)


def parse_box(raw: Any, *, where: str = "box") -> Box:
    """Validate one box of a predictions cell; raises ValidationError saying what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: a box must be a JSON object (got {raw!r})")
    _check_geometry(raw, where)
    probabilities = None
    if raw.get("probabilities") is not None:
        probabilities = _probabilities(raw["probabilities"], where)
    key = "confidence" if "confidence" in raw else "score" if "score" in raw else None
    if key is not None:
        confidence = _unit(raw[key], f'"{key}"', where)
    elif probabilities is not None:
        # The detector's own highest score: dividing by the sum would make a background
        # box of low sigmoid scores ([0.02, 0.01]) look sure and pass ``min_confidence``,
        # and a lone class score (0.3) look certain.
        confidence = max(probabilities)
    else:
        raise ValidationError(f'{where}: the box has no "confidence": is this a column of '
                              "predictions? (annotations drawn by labelers have none)")
    label = raw.get("category", raw.get("label"))
    return Box(confidence, None if label is None else str(label), probabilities)


def _is_missing(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True
    return isinstance(cell, str) and not cell.strip()


def parse_predictions(cell: Any, *, where: str = "predictions") -> list[Box]:
    """The boxes of one image's predictions cell: a JSON list (text, or already parsed).

    A missing cell (None, NaN, empty text) means no box. Anything else that is not a list
    of boxes raises ValidationError with ``where`` and the reason.
    """
    if _is_missing(cell):
        return []
    value = cell
    if isinstance(cell, (str, bytes)):
        try:
            value = json.loads(cell)
        except RecursionError:
            raise ValidationError(f"{where}: the JSON nests values too deeply to read "
                                  "(boxes are a list of objects)") from None
        except ValueError as exc:
            text = cell if len(cell) <= 80 else f"{cell[:77]}..."
            raise ValidationError(f"{where}: not valid JSON ({exc}): {text!r}") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValidationError(f"{where}: expected a JSON list of boxes (got {value!r})")
    return [parse_box(raw, where=f"{where}, box {i + 1}") for i, raw in enumerate(value)]


def box_uncertainty(box: Box) -> float:
    """Normalized entropy of the box's class distribution (2+ classes), else 1 - confidence."""
    p = box.probabilities
    if p is not None and len(p) >= 2 and sum(p) > 0:
        total = sum(p)
        entropy = -sum((v / total) * math.log(v / total) for v in p if v > 0)
        return min(max(entropy / math.log(len(p)), 0.0), 1.0)
    return 1.0 - box.confidence


def check_options(*, aggregation: str, min_confidence: float, empty_uncertainty: float) -> None:
    """Raise ValidationError for an unknown aggregation or an out-of-range number."""
    if aggregation not in AGGREGATIONS:
        raise ValidationError(f'Unknown aggregation "{aggregation}"; valid aggregations: '
                              f"{', '.join(AGGREGATIONS)}")
    _unit(min_confidence, "the minimum confidence", "Options")
    _unit(empty_uncertainty, "the uncertainty of images without boxes", "Options")


def image_uncertainty(boxes: Sequence[Box], *, aggregation: str = "max",
                      min_confidence: float = 0.0,
                      empty_uncertainty: float = DEFAULT_EMPTY_UNCERTAINTY) -> float:
    """One image's uncertainty in [0, 1] from its boxes (see the module doc)."""
    kept = [box_uncertainty(b) for b in boxes if b.confidence >= min_confidence]
    if not kept:
        return float(empty_uncertainty)
    if aggregation == "max":
        return max(kept)
    if aggregation == "mean":
        return sum(kept) / len(kept)
    if aggregation == "any":
        certain = 1.0
        for u in kept:
            certain *= 1.0 - u
        return 1.0 - certain
    raise ValidationError(f'Unknown aggregation "{aggregation}"; valid aggregations: '
                          f"{', '.join(AGGREGATIONS)}")


class ColumnScorer:
    """The uncertainty of each image of a predictions column, chunk after chunk.

    It also counts the images, the images without a box at ``min_confidence`` and the
    lowest box confidence seen, which tell when a scoring threshold cut the predictions.
    Error messages name the image by its row number (``rows[i]``, default ``i + 1``) and,
    when given, by ``names[i]`` (e.g. its path) and the ``column`` of the cells.
    """

    def __init__(self, *, aggregation: str = "max", min_confidence: float = 0.0,
                 empty_uncertainty: float = DEFAULT_EMPTY_UNCERTAINTY) -> None:
        check_options(aggregation=aggregation, min_confidence=min_confidence,
                      empty_uncertainty=empty_uncertainty)
        self.aggregation = aggregation
        self.min_confidence = min_confidence
        self.empty_uncertainty = empty_uncertainty
        self.images = 0
        self.empty = 0
        self.lowest: float | None = None

    def __call__(self, cells: Sequence[Any], *, names: Sequence[Any] | None = None,
                 rows: Sequence[int] | None = None, column: str | None = None
                 ) -> np.ndarray:
        out = np.empty(len(cells), dtype=np.float64)
        for i, cell in enumerate(cells):
            where = f"Row {i + 1 if rows is None else rows[i]}"
            if names is not None:
                where += f" ({names[i]})"
            if column is not None:
                where += f', column "{column}"'
            boxes = parse_predictions(cell, where=where)
            low = min((b.confidence for b in boxes), default=None)
            if low is not None and (self.lowest is None or low < self.lowest):
                self.lowest = low
            self.images += 1
            self.empty += not any(b.confidence >= self.min_confidence for b in boxes)
            out[i] = image_uncertainty(boxes, aggregation=self.aggregation,
                                       min_confidence=self.min_confidence,
                                       empty_uncertainty=self.empty_uncertainty)
        return out
