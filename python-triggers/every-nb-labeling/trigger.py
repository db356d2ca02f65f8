"""Trigger every n labeling: fire when the current session holds enough labels."""

from dataiku.customtrigger import get_trigger_config
from dataiku.scenario import Trigger

from assisted_labeling.dku.loop import every_n_labels_due

if every_n_labels_due(get_trigger_config()):
    Trigger().fire()
