"""Shared fixtures: temp stores and tiny tables written in the tests themselves."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "python-lib") not in sys.path:
    sys.path.insert(0, str(ROOT / "python-lib"))
