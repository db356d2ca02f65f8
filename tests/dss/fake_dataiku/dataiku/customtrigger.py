"""``dataiku.customtrigger``: config of a plugin scenario trigger.

https://doc.dataiku.com/dss/latest/scenarios/triggers.html — a Python trigger is run
periodically, only for active scenarios, and fires with ``dataiku.scenario.Trigger().fire()``.
"""

from __future__ import annotations

import copy
from typing import Any

from . import fake


def get_trigger_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().trigger_config)


def get_plugin_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().plugin_config)
