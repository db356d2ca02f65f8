"""Tabular rows (SPEC F-1.1): a row of a table, labeled with one class or several."""

from __future__ import annotations

from .classes import ClassLabels


class TabularKind(ClassLabels):
    """Rows are shown as a two-column table; their labels are plain classes."""

    name = "tabular"
