"""``dataiku.customrecipe``: config and roles of a plugin recipe.

https://developer.dataiku.com/latest/api-reference/python/plugin-components/custom_recipes.html
— ``get_input_names_for_role(role)`` / ``get_output_names_for_role(role)`` return the
full names (``PROJECTKEY.name``) of the objects bound to a role.
"""

from __future__ import annotations

import copy
from typing import Any

from . import fake


def get_recipe_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().recipe_config)


def get_plugin_config() -> dict[str, Any]:
    return copy.deepcopy(fake.state().plugin_config)


def get_input_names_for_role(role: str) -> list[str]:
    state = fake.state()
    return [state.full_name(n) for n in state.recipe_inputs.get(role, [])]


def get_output_names_for_role(role: str) -> list[str]:
    state = fake.state()
    return [state.full_name(n) for n in state.recipe_outputs.get(role, [])]
