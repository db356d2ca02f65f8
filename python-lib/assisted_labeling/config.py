"""Typed labeling settings, validated once with messages in the user's words.

Setting names follow the 4.x plugin where one existed (``categories``,
``label_col_name``, ``queries_ds``…), so old DSS configurations load unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import ConfigError

KINDS = ("tabular",)
_LABEL_COL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_ \-]{0,63}$")


def _setting_error(label: str, problem: str, value: Any) -> ConfigError:
    return ConfigError(f'Setting "{label}": {problem} (currently {value!r})', setting=label)


@dataclass(frozen=True)
class Category:
    """One class a labeler can choose, with an optional description shown as help."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class LabelingConfig:
    """Everything a labeling project needs to know, whatever its host."""

    kind: str
    categories: tuple[Category, ...]
    label_col_name: str = "label"
    multi_label: bool = False
    display_columns: tuple[str, ...] = ()
    context_columns: tuple[str, ...] = ()
    existing_labels_column: str | None = None
    id_column: str | None = None
    instructions: str = ""
    comments: bool = True
    annotators_per_item: int = 1
    lease_seconds: int = 600
    title: str = "ML-assisted Labeling"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    def to_public_dict(self) -> dict[str, Any]:
        """What the browser needs to render the labeling UI."""
        return {
            "kind": self.kind,
            "title": self.title,
            "categories": [{"name": c.name, "description": c.description} for c in self.categories],
            "label_column": self.label_col_name,
            "multi_label": self.multi_label,
            "display_columns": list(self.display_columns),
            "context_columns": list(self.context_columns),
            "existing_labels_column": self.existing_labels_column,
            "instructions": self.instructions,
            "comments": self.comments,
            "annotators_per_item": self.annotators_per_item,
            "lease_seconds": self.lease_seconds,
        }


def parse_categories(raw: Any) -> tuple[Category, ...]:
    """Accept the 4.x KEY_VALUE_LIST (``[{"from": name, "to": description}]``),
    a ``{name: description}`` map, a list of names, or ``"a,b,c"``."""
    items: list[tuple[Any, Any]]
    if raw is None or raw == "" or raw == [] or raw == {}:
        raise _setting_error("Categories", "at least one category is needed", raw)
    if isinstance(raw, str):
        items = [(name.strip(), "") for name in raw.split(",")]
    elif isinstance(raw, Mapping):
        items = list(raw.items())
    elif isinstance(raw, Iterable):
        items = []
        for entry in raw:
            if isinstance(entry, Mapping):
                items.append((entry.get("from"), entry.get("to") or ""))
            else:
                items.append((entry, ""))
    else:
        raise _setting_error("Categories", "expected a list of class names", raw)
    seen: set[str] = set()
    categories = []
    for name, description in items:
        name = "" if name is None else str(name).strip()
        if not name:
            raise _setting_error("Categories", "a category has an empty name", raw)
        if name in seen:
            raise _setting_error("Categories", f'the category "{name}" appears twice', raw)
        seen.add(name)
        categories.append(Category(name, "" if description is None else str(description)))
    return tuple(categories)


def column_list(label: str, raw: Any) -> tuple[str, ...]:
    """Column names from a list or a comma-separated string. In a string (typed), a name
    given twice or separators without names are refused: a typo, not a choice. A list (a
    DSS form's) keeps the first of each name: a form saved so should not stop its webapp."""
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        names = tuple(c.strip() for c in raw.split(",") if c.strip())
        if not names:
            raise _setting_error(label, "expected column names separated by commas", raw)
        twice = sorted({c for c in names if names.count(c) > 1})
        if twice:
            raise _setting_error(label, f"{', '.join(repr(c) for c in twice)} named twice",
                                 raw)
        return names
    if isinstance(raw, Iterable):
        return tuple(dict.fromkeys(str(c) for c in raw if str(c)))
    raise _setting_error(label, "expected a list of column names", raw)


def whole_number(label: str, raw: Any, *, default: int | None, minimum: int,
                 maximum: int | None = None) -> int | None:
    """A whole-number setting, ``default`` when empty. DSS sends INT parameters as
    floats (100.0) and forms may send text, so both are accepted when whole."""
    if raw is None or raw == "":
        return default
    try:
        number = float(raw)
    except (TypeError, ValueError):
        number = math.nan
    whole = not isinstance(raw, bool) and number.is_integer()
    if maximum is None:
        if not whole or number < minimum:
            raise _setting_error(label, f"expected a whole number of at least {minimum}", raw)
    elif not whole:
        raise _setting_error(label, "expected a whole number", raw)
    elif not minimum <= number <= maximum:
        raise _setting_error(label, f"must be between {minimum} and {maximum}", raw)
    return int(number)


def build_config(settings: Mapping[str, Any]) -> LabelingConfig:
    """Validate a settings mapping (DSS webapp config or CLI options) into a config."""
    kind = settings.get("kind", "tabular")
    if kind not in KINDS:
        raise _setting_error("Kind", f"must be one of {', '.join(KINDS)}", kind)
    label_col = settings.get("label_col_name") or "label"
    if not isinstance(label_col, str) or not _LABEL_COL_RE.match(label_col):
        raise _setting_error(
            "Labels column", "use letters, digits, spaces, '-' or '_' (64 at most)", label_col
        )
    display = column_list("Display columns", settings.get("display_columns"))
    context = column_list("Contextual columns", settings.get("context_columns"))
    existing = settings.get("existing_labels_column") or None
    id_column = settings.get("id_column") or None
    return LabelingConfig(
        kind=kind,
        categories=parse_categories(settings.get("categories")),
        label_col_name=label_col,
        multi_label=bool(settings.get("multi_label", False)),
        display_columns=display,
        context_columns=context,
        existing_labels_column=existing,
        id_column=id_column,
        instructions=str(settings.get("instructions") or ""),
        comments=bool(settings.get("comments", True)),
        annotators_per_item=whole_number(
            "Annotators per item", settings.get("annotators_per_item"), default=1,
            minimum=1, maximum=100),
        lease_seconds=whole_number("Reservation time", settings.get("lease_seconds"),
                                   default=600, minimum=10, maximum=86400),
        title=str(settings.get("title") or "ML-assisted Labeling"),
    )


def check_columns(config: LabelingConfig, columns: Iterable[str]) -> None:
    """Fail with a clear message when a configured column is not in the data."""
    available = list(columns)
    checks = [("Display columns", c) for c in config.display_columns]
    checks += [("Contextual columns", c) for c in config.context_columns]
    if config.existing_labels_column:
        checks.append(("Existing labels column", config.existing_labels_column))
    if config.id_column:
        checks.append(("Id column", config.id_column))
    for label, column in checks:
        if column not in available:
            raise ConfigError(
                f'Setting "{label}": no column "{column}" in the data '
                f"(columns: {', '.join(available)})",
                setting=label,
            )
