"""``dataiku.scenario.Trigger``: what a custom Python trigger calls to start its scenario.

As in the dataiku package (``dataiku/scenario/trigger.py``): the constructor reads the
trigger definition and the state DSS kept from the last firing (the ``DKU_TRIGGER`` and
``DKU_TRIGGER_STATE`` variables); ``fire(state=None, params=None)`` posts
``triggerState`` (a form field: text) and ``triggerFireParams`` (``json.dumps(params)``);
DSS saves the state and gives it back through ``get_trigger_state()`` in the later
evaluations (https://developer.dataiku.com/latest/api-reference/python/scenarios.html).
A trigger that does not fire keeps the previous state. The fake records each fire in
``FakeDSS.fired`` and keeps the state in ``FakeDSS.trigger_state``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from . import fake


class Trigger:
    """Handle to a scenario trigger being evaluated."""

    def __init__(self) -> None:
        state = fake.state()
        self.trigger = copy.deepcopy(state.trigger_definition)
        self.trigger_state = state.trigger_state

    def get_trigger(self) -> dict[str, Any]:
        """The trigger definition."""
        return self.trigger

    def get_trigger_state(self) -> str | None:
        """The state saved by the last ``fire(state=...)``, None before any."""
        return self.trigger_state

    def fire(self, state: str | None = None, params: dict[str, Any] | None = None) -> None:
        """Activate the trigger; a ``state`` is saved by DSS for the next evaluations."""
        if state is not None and not isinstance(state, str):
            # DSS sends it as a form field: anything but text would not come back as it
            # was given (a dict would be sent as its keys).
            raise TypeError(f"The trigger state is sent as text; got {type(state).__name__}")
        if params is not None:
            json.dumps(params)  # sent as JSON: must be serializable
        dss = fake.state()
        dss.fired.append(fake.FireEvent(state, copy.deepcopy(params)))
        if state is not None:
            dss.trigger_state = state
