"""Class labels (one class or several), shared by every classification kind."""

from __future__ import annotations

import json
from typing import Any

from ..config import LabelingConfig
from ..errors import ValidationError


def _shown(value: Any, limit: int = 60) -> str:
    """A label as its JSON (``null``, ``{"a": 1}``), not Python's repr; cut when long."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = "a value nested too deep" if isinstance(value, (list, dict)) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _echoed(value: Any) -> Any:
    """The refused value as the error's details give it back: itself when a short
    string or a number (or null), else its JSON, cut (a request may send megabytes)."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:197] + "..."
    return _shown(value, limit=200)


def _check_name(value: Any, config: LabelingConfig) -> str:
    if not isinstance(value, str) or value not in config.category_names:
        raise ValidationError(
            f"Unknown class {_shown(value)}: expected one of "
            f"{', '.join(config.category_names)}",
            value=_echoed(value),
            valid=list(config.category_names),
        )
    return value


class ClassLabels:
    """Single-label: a class name. Multi-label: a list of class names in category order."""

    name = "classes"

    def validate_label(self, raw: Any, config: LabelingConfig) -> Any:
        if not config.multi_label:
            if isinstance(raw, list) and len(raw) == 1:
                raw = raw[0]
            return _check_name(raw, config)
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise ValidationError(
                f"Expected a list of classes for a multi-label project, got {type(raw).__name__}"
            )
        if not raw:
            raise ValidationError("Choose at least one class, or skip the item")
        chosen = {_check_name(value, config) for value in raw}
        return [name for name in config.category_names if name in chosen]

    def serialize(self, label: Any, config: LabelingConfig) -> str:
        if config.multi_label:
            return json.dumps(list(label), ensure_ascii=False)
        return str(label)

    def deserialize(self, text: str, config: LabelingConfig) -> Any:
        if config.multi_label:
            try:
                value = json.loads(text)
            except (TypeError, ValueError, RecursionError):
                return [text] if text else []
            value = value if isinstance(value, list) else [value]
            if any(isinstance(v, (list, dict)) for v in value):
                return [text]  # no class is a list: the cell is shown as the unknown text
            return value
        return text

    def classes_of(self, label: Any) -> list[str]:
        if isinstance(label, list):
            return [str(v) for v in label]
        return [str(label)]
