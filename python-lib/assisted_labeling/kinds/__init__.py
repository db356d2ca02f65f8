"""One module per data kind: how a label is validated, serialized and counted."""

from __future__ import annotations

from typing import Any, Protocol

from ..config import LabelingConfig
from ..errors import ConfigError


class Kind(Protocol):
    """What the core needs to know of a data kind."""

    name: str

    def validate_label(self, raw: Any, config: LabelingConfig) -> Any:
        """Return the canonical label, or raise ValidationError naming the bad value."""

    def serialize(self, label: Any, config: LabelingConfig) -> str:
        """The label as written to the labels dataset (DSS.md serialization)."""

    def deserialize(self, text: str, config: LabelingConfig) -> Any:
        """Inverse of serialize."""

    def classes_of(self, label: Any) -> list[str]:
        """Class names a label counts towards, for per-class statistics."""


def get_kind(name: str) -> Kind:
    """The kind module registered under ``name``."""
    from . import tabular

    kinds: dict[str, Kind] = {"tabular": tabular.TabularKind()}
    try:
        return kinds[name]
    except KeyError:
        raise ConfigError(
            f'Unknown data kind "{name}" (known: {", ".join(sorted(kinds))})'
        ) from None
