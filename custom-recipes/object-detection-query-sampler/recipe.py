"""Object detection query sampler: rank images by a detector's uncertainty (F-3)."""

from dataiku.customrecipe import (
    get_input_names_for_role,
    get_output_names_for_role,
    get_recipe_config,
)

from assisted_labeling.dku.sampler import run_detection_sampler

run_detection_sampler(
    get_recipe_config(),
    unlabeled=get_input_names_for_role("unlabeled_samples")[0],
    metadata=next(iter(get_input_names_for_role("metadata")), None),
    queries=get_output_names_for_role("queries")[0],
)
