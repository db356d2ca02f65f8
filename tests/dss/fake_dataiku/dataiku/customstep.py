"""``dataiku.customstep``: config of a plugin scenario step.

https://doc.dataiku.com/dss/latest/scenarios/steps.html
"""

from __future__ import annotations

import copy
from typing import Any

from . import fake


def get_step_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().step_config)


def get_plugin_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().plugin_config)
