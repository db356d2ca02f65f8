"""Trigger every n labeling: fire once n new labels exist (see trigger.json)."""

from dataiku.customtrigger import get_trigger_config
from dataiku.scenario import Trigger

from assisted_labeling.dku.loop import every_n_labels_fire_state

trigger = Trigger()
state = every_n_labels_fire_state(get_trigger_config(),
                                  trigger_state=trigger.get_trigger_state())
if state is not None:
    trigger.fire(state=state)
