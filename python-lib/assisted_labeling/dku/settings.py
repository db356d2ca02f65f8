"""The DSS webapp settings: 4.x parameter names plus the new ones, validated once.

This module does not import ``dataiku``: it maps the settings dict that
``dataiku.customwebapp.get_webapp_config()`` returns onto typed settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..config import LabelingConfig, build_config
from ..errors import ConfigError

LABELS = {
    "unlabeled": "Unlabeled data",
    "labels_ds": "Labels dataset",
    "metadata_ds": "Labeling metadata dataset",
    "queries_ds": "Queries",
    "reviewer_groups": "Reviewer groups",
    "reviewer_users": "Reviewers",
    "manager_groups": "Manager groups",
    "manager_users": "Managers",
}


@dataclass(frozen=True)
class DssSettings:
    """Which DSS objects a labeling webapp uses, its labeling config and its roles."""

    unlabeled: str
    labels_ds: str
    metadata_ds: str
    queries_ds: str | None
    config: LabelingConfig
    reviewer_groups: frozenset[str] = frozenset()
    reviewer_users: frozenset[str] = frozenset()
    manager_groups: frozenset[str] = frozenset()
    manager_users: frozenset[str] = frozenset()


def _optional_dataset(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ConfigError(f'Setting "{LABELS[key]}": expected a dataset name '
                          f"(currently {value!r})", setting=LABELS[key])
    return value.strip()


def _dataset(raw: Mapping[str, Any], key: str) -> str:
    value = _optional_dataset(raw, key)
    if value is None:
        raise ConfigError(f'Setting "{LABELS[key]}": choose a dataset (currently empty)',
                          setting=LABELS[key])
    return value


def _names(raw: Mapping[str, Any], key: str) -> frozenset[str]:
    """A STRINGS parameter (list) or a comma-separated string, as a set of names."""
    value = raw.get(key)
    if value is None or value == "":
        return frozenset()
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ConfigError(f'Setting "{LABELS[key]}": expected a list of names '
                          f"(currently {value!r})", setting=LABELS[key])
    return frozenset(str(v).strip() for v in items if str(v).strip())


def parse_settings(raw: Mapping[str, Any]) -> DssSettings:
    """Validate a webapp config (4.x or 5.x) into settings; raises ConfigError."""
    unlabeled = _dataset(raw, "unlabeled")
    labels = _dataset(raw, "labels_ds")
    metadata = _dataset(raw, "metadata_ds")
    queries = _optional_dataset(raw, "queries_ds")
    outputs = {"labels_ds": labels, "metadata_ds": metadata}
    inputs = {"unlabeled": unlabeled, "queries_ds": queries}
    # Writing into an input would destroy it: refuse before any write happens.
    for out_key, out_name in outputs.items():
        for in_key, in_name in inputs.items():
            if in_name and _short(in_name) == _short(out_name):
                raise ConfigError(
                    f'Setting "{LABELS[out_key]}": it is the same dataset as '
                    f'"{LABELS[in_key]}" (currently {out_name!r}); choose another dataset',
                    setting=LABELS[out_key])
    if _short(labels) == _short(metadata):
        raise ConfigError(f'Setting "{LABELS["metadata_ds"]}": it must differ from the '
                          f"labels dataset (currently {metadata!r})",
                          setting=LABELS["metadata_ds"])
    settings = {k: v for k, v in raw.items() if k != "kind"}
    return DssSettings(
        unlabeled=unlabeled, labels_ds=labels, metadata_ds=metadata, queries_ds=queries,
        config=build_config({**settings, "kind": "tabular"}),
        reviewer_groups=_names(raw, "reviewer_groups"),
        reviewer_users=_names(raw, "reviewer_users"),
        manager_groups=_names(raw, "manager_groups"),
        manager_users=_names(raw, "manager_users"),
    )


def _short(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else name
