"""``dataiku.scenario.Trigger``: what a custom Python trigger calls to start its scenario.

https://developer.dataiku.com/latest/api-reference/python/scenarios.html — the fake
records each ``fire()`` in ``FakeDSS.fired``.
"""

from __future__ import annotations

from typing import Any

from . import fake


class Trigger:
    def fire(self, params: dict[str, Any] | None = None) -> None:
        fake.state().fired.append(params)
