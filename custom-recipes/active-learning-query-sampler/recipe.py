"""Query sampler: rank the unlabeled items by the saved model's uncertainty (F-3)."""

from dataiku.customrecipe import (
    get_input_names_for_role,
    get_output_names_for_role,
    get_recipe_config,
)

from assisted_labeling.dku.sampler import run_query_sampler

run_query_sampler(
    get_recipe_config(),
    model=get_input_names_for_role("saved_model")[0],
    unlabeled=get_input_names_for_role("unlabeled_samples")[0],
    metadata=next(iter(get_input_names_for_role("metadata")), None),
    queries=get_output_names_for_role("queries")[0],
)
