"""Annotation stores: the protocol and its backends."""

from __future__ import annotations

from pathlib import Path

from .base import (
    Annotation,
    AnnotationStore,
    Item,
    PrioritiesSet,
    Priority,
    SaveOrder,
    Stats,
    Status,
    Synced,
    User,
)

__all__ = ["Annotation", "AnnotationStore", "Item", "PrioritiesSet", "Priority", "SaveOrder",
           "Stats", "Status", "Synced", "User", "open_store"]


def open_store(location: str | Path) -> AnnotationStore:
    """Open the store at ``location``: a SQLite file path (or ``sqlite:///path``)."""
    text = str(location)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    from .sqlite import SQLiteStore

    return SQLiteStore(text)
