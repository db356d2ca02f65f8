"""Compute labeling metrics: contradictions between model versions, and the AUC history."""

from dataiku.customstep import get_step_config

from assisted_labeling.dku.loop import compute_labeling_metrics

compute_labeling_metrics(get_step_config())
