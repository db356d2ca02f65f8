"""``dataiku.customwebapp``: the settings of a plugin webapp, read by its backend.

https://doc.dataiku.com/dss/latest/plugins/reference/webapps.html — the values are the
JSON of the settings form (an INT parameter arrives as a float; a KEY_VALUE_LIST as
``[{"from": key, "to": value}]``).
"""

from __future__ import annotations

import copy
from typing import Any

from . import fake


def get_webapp_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().webapp_config)


def get_plugin_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().plugin_config)
