"""The loop's pure rules: the every-n-labels trigger, contradictions, stopping warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assisted_labeling import loop
from assisted_labeling.loop import MetadataEvent


def ev(data_id: str, status: str = "LABELED", *, session: int = 1, annotator: str = "ann",
       at: float | None = 100.0, position: int = 0) -> MetadataEvent:
    return MetadataEvent(data_id, annotator, status, session, at, position)


# -- every n labels ---------------------------------------------------------------------
def due(events: list[MetadataEvent], *, session: int, every: int) -> bool:
    """The trigger's rule on metadata rows, for a trigger that never fired yet."""
    labeled = loop.count_session_labels(events, session)
    return loop.every_n_labels_decision(labeled, every=every, session=session,
                                        last=None) is not None


def test_fires_at_exactly_n_labels_not_before():
    three = [ev("a", position=0), ev("b", position=1), ev("c", position=2)]
    assert due(three, session=1, every=3)
    assert not due(three[:2], session=1, every=3)
    assert due(three, session=1, every=2)


def test_skips_do_not_count():
    events = [ev("a"), ev("b", "SKIPPED"), ev("c", "SKIPPED")]
    assert loop.count_session_labels(events, 1) == 1
    assert not due(events, session=1, every=2)


def test_an_edit_appended_as_a_second_row_counts_once():
    events = [ev("a", at=100.0, position=0), ev("b", at=101.0, position=1),
              ev("a", at=150.0, position=2)]  # "a" relabeled: same item, same annotator
    assert loop.count_session_labels(events, 1) == 2
    assert not due(events, session=1, every=3)


def test_a_label_turned_into_a_skip_no_longer_counts():
    events = [ev("a", at=100.0, position=0), ev("b", at=100.0, position=1),
              ev("a", "SKIPPED", at=200.0, position=2)]
    assert loop.count_session_labels(events, 1) == 1


def test_the_latest_row_wins_by_date_then_by_position():
    # A compaction may write an older row after a newer one: the date decides first.
    by_date = [ev("a", "SKIPPED", at=300.0, position=0), ev("a", at=200.0, position=1)]
    assert loop.count_session_labels(by_date, 1) == 0
    # Same date: the later row in the dataset wins.
    by_position = [ev("a", "SKIPPED", at=200.0, position=0), ev("a", at=200.0, position=1)]
    assert loop.count_session_labels(by_position, 1) == 1
    # A row without a date loses to a dated one.
    undated = [ev("a", at=200.0, position=0), ev("a", "SKIPPED", at=None, position=1)]
    assert loop.count_session_labels(undated, 1) == 1


def test_two_annotators_of_one_item_count_twice():
    events = [ev("a", annotator="alice"), ev("a", annotator="bob")]
    assert loop.count_session_labels(events, 1) == 2


def test_other_sessions_are_ignored():
    events = [ev("a", session=0), ev("b", session=1), ev("c", session=2), ev("d", session=2)]
    assert loop.count_session_labels(events, 2) == 2
    assert loop.count_session_labels(events, 1) == 1
    # An old label edited in the current session moves to it.
    edited = [ev("a", session=1, at=1.0), ev("a", session=2, at=2.0)]
    assert loop.count_session_labels(edited, 2) == 1
    assert loop.count_session_labels(edited, 1) == 0


def test_a_fresh_project_is_session_zero_and_fires_once_enough_labels_exist():
    variables = {"standard": {}, "local": {}}
    session = loop.session_number(
        loop.variable_value(variables, loop.session_variable("queries")))
    assert session == 0
    events = [ev(str(i), session=0, position=i) for i in range(5)]
    assert due(events, session=session, every=5)
    assert not due(events[:4], session=session, every=5)


def test_no_rows_never_fire_and_the_count_must_be_positive():
    assert not due([], session=0, every=1)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="at least 1"):
            loop.should_fire(10, bad)


def test_variable_names_and_values():
    assert loop.session_variable("PROJ.queries") == "ML-ASSISTED-LABELING__queries__session"
    assert loop.metrics_variable("meta") == "ML-ASSISTED-LABELING__meta__metrics"
    variables = {"standard": {"x": 2}, "local": {"x": 5, "y": "3"}}
    assert loop.variable_value(variables, "x") == 2  # standard first, as 4.x wrote it
    assert loop.variable_value(variables, "y") == "3"
    assert loop.variable_value(variables, "z", 7) == 7
    assert [loop.session_number(v) for v in ("3", 4.0, None, "x", float("nan"))] == [
        3, 4, 0, 0, 0]


def test_without_a_session_every_label_counts():
    events = [ev("a", session=0), ev("b", session=1), ev("c", "SKIPPED", session=2)]
    assert loop.count_session_labels(events, None) == 2


def decide(labeled: int, last: loop.TriggerState | None, *, session: int | None = 1,
           every: int = 3) -> loop.TriggerState | None:
    return loop.every_n_labels_decision(labeled, every=every, session=session, last=last)


def test_with_a_session_the_4x_rule_holds_and_a_firing_is_not_repeated():
    assert decide(2, None) is None
    assert decide(3, None) == loop.TriggerState(1, 3)  # fresh: fires once n labels exist
    fired = loop.TriggerState(1, 3)
    assert decide(3, fired) is None  # same session, nothing new: no second retraining
    assert decide(5, fired) is None
    assert decide(6, fired) == loop.TriggerState(1, 6)
    # A new session (the sampler ran) counts from zero, whatever the last firing saw.
    assert decide(3, loop.TriggerState(0, 40)) == loop.TriggerState(1, 3)
    assert decide(2, loop.TriggerState(0, 1)) is None


def test_without_a_session_it_fires_every_n_new_labels():
    assert decide(3, None, session=None) == loop.TriggerState(None, 3)
    assert decide(5, loop.TriggerState(None, 3), session=None) is None
    assert decide(6, loop.TriggerState(None, 3), session=None) == loop.TriggerState(None, 6)
    # A state saved with a session (a queries dataset was set then) counted other labels.
    assert decide(3, loop.TriggerState(0, 3), session=None) == loop.TriggerState(None, 3)


@pytest.mark.parametrize("session", [None, 1])
def test_n_labels_fewer_than_the_last_firing_counted_start_over(session):
    """The labels were replaced: the count starts over, as in a fresh project."""
    fired = loop.TriggerState(session, 6)
    assert decide(2, fired, session=session) is None
    assert decide(3, fired, session=session) == loop.TriggerState(session, 3)


@pytest.mark.parametrize("session", [None, 1])
def test_a_label_turned_into_a_skip_does_not_fire_again(session):
    """A drop smaller than n keeps the count: starting over would fire at every drop."""
    fired = loop.TriggerState(session, 1000)
    for labeled in (999, 998, 950, 1099):
        assert decide(labeled, fired, session=session, every=100) is None
    assert decide(1100, fired, session=session, every=100) == loop.TriggerState(session, 1100)


def test_the_trigger_state_round_trips_as_text_and_junk_is_no_state():
    for state in (loop.TriggerState(4, 120), loop.TriggerState(None, 7)):
        assert loop.TriggerState.from_text(state.to_text()) == state
    for junk in (None, "", "nope", "[]", '{"session": 1}', '{"labeled": "x"}',
                 '{"session": "s", "labeled": 3}', 42):
        assert loop.TriggerState.from_text(junk) is None


# -- contradictions ---------------------------------------------------------------------
def test_contradictions_on_labels_and_on_probabilities():
    assert loop.contradictions(["a", "b", "a", "b"], ["a", "a", "a", "b"]) == 0.25
    before = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    after = np.array([[0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    assert loop.contradictions(before, after) == pytest.approx(1 / 3)
    assert loop.contradictions([1, 2], [1, 2]) == 0.0


def test_contradictions_refuse_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="different numbers"):
        loop.contradictions([1, 2], [1])
    with pytest.raises(ValueError, match="no items"):
        loop.contradictions([], [])


def test_predictions_are_compared_on_the_items_both_versions_scored():
    # Two versions that agree on every item both scored: one dropped item 0, the other
    # item 1. By position they would disagree on 2 of 5; by item, never.
    previous = pd.Series(["b", "a", "b", "a"], index=[1, 2, 3, 4])
    current = pd.Series(["a", "a", "b", "a"], index=[0, 2, 3, 4])
    assert loop.compare_predictions(previous, current) == (0.0, 3)
    # Different numbers of dropped items compare too; NaN is "not scored".
    current = pd.Series(["a", None, "b", "b"], index=[0, 2, 3, 4])
    assert loop.compare_predictions(previous, current) == (0.5, 2)
    assert loop.compare_predictions(previous, pd.Series(["a"], index=[9])) == (None, 0)
    with pytest.raises(ValueError, match="twice"):
        loop.compare_predictions(pd.Series(["a", "b"], index=[1, 1]), previous)


def test_add_entry_replaces_the_same_version_and_keeps_the_last_entries():
    first = loop.metrics_entry(n_samples=10, contradictions=None, auc=0.7, version_id="v1")
    assert first == {"n_samples": 10, "contradictions": None, "auc": 0.7, "versionId": "v1",
                     "n_compared": None}
    history = loop.add_entry(None, first)
    second = loop.metrics_entry(n_samples=10, contradictions=0.2, auc=0.8, version_id="v2")
    history = loop.add_entry(history, second)
    again = loop.metrics_entry(n_samples=10, contradictions=0.1, auc=0.8, version_id="v2")
    history = loop.add_entry(history, again)
    assert [(e["versionId"], e["contradictions"]) for e in history] == [
        ("v1", None), ("v2", 0.1)]
    assert len(loop.add_entry(history * 3, second, keep=2)) == 2


# -- stopping warnings ------------------------------------------------------------------
def entry(contradictions: float | None, auc: float | None, n: int = 1000) -> dict:
    return {"n_samples": n, "contradictions": contradictions, "auc": auc, "versionId": "v"}


def test_a_stalled_history_gives_one_warning_with_the_numbers():
    history = [entry(None, 0.850), entry(0.05, 0.900), entry(0.008, 0.902),
               entry(0.004, 0.903), entry(0.002, 0.904)]
    warnings = loop.stopping_warnings(history)
    assert len(warnings) == 1
    text = warnings[0]
    # Plain words before the figures: labelers read it too.
    assert text.startswith("Labeling more may not help: new labels have barely changed")
    assert text.index("Consider stopping") < text.index("Details:") < text.index("0.8%")
    for number in ("0.8%", "0.4%", "0.2%", "1000", "1.0%", "0.900", "0.904", "+0.004",
                   "0.005"):
        assert number in text


def test_a_retraining_on_the_same_labels_is_no_evidence_of_a_stall():
    """A restart with other settings retrains on the labels of the last retraining: the
    model barely changes (0 % with the same model), which says nothing about whether
    more labels would help."""
    changing = [entry(None, 0.850), entry(0.05, 0.889), entry(0.004, 0.889),
                entry(0.004, 0.890)]
    same = {**entry(0.0, 0.890), "same_labels": True}
    assert loop.stopping_warnings(changing) == []
    assert loop.stopping_warnings([*changing, same]) == []
    stalled = [*changing, same, entry(0.004, 0.891), entry(0.003, 0.891)]
    assert len(loop.stopping_warnings(stalled)) == 1


def test_a_stall_near_chance_says_the_model_learns_nothing_not_to_stop():
    """A model that cannot read its inputs (reviews one-hot encoded) stalls at 0.5: more
    labels will not help, but stopping would leave the labels unranked for good."""
    history = [entry(None, 0.500), entry(0.0, 0.500), entry(0.0, 0.500), entry(0.0, 0.500)]
    text = loop.stopping_warnings(history)[0]
    assert text.startswith("The model has learned next to nothing from the labels "
                           "(AUC 0.500; 0.5 is chance)")
    assert "Consider stopping" not in text and "Details:" in text
    history = [entry(None, 0.6), *[entry(0.0, 0.6)] * 3]  # at the threshold: a stall
    assert loop.stopping_warnings(history)[0].startswith("Labeling more may not help")


def test_a_model_at_chance_is_said_to_learn_nothing_even_if_its_auc_wanders_up():
    """Features that cannot tell the classes apart: the AUC drifts by noise (0.39 →
    0.49) and the predictions do not change; a gain under chance is no progress."""
    history = [entry(None, 0.39), entry(0.0, 0.46), entry(0.0, 0.47), entry(0.0, 0.49)]
    text = loop.stopping_warnings(history)[0]
    assert text.startswith("The model has learned next to nothing")
    assert "stayed under 0.6" in text and "0.460 to 0.490" in text
    # Climbing out of chance within the window is progress: no warning.
    history = [entry(None, 0.39), entry(0.0, 0.46), entry(0.0, 0.55), entry(0.0, 0.65)]
    assert loop.stopping_warnings(history) == []


def test_no_warning_while_the_model_still_changes():
    # Contradictions at the 1% threshold: not stalled (strictly below is required).
    history = [entry(None, 0.900), entry(0.005, 0.900), entry(0.010, 0.901),
               entry(0.003, 0.901)]
    assert loop.stopping_warnings(history) == []
    # Contradictions low but the AUC still gains 0.005 over the window.
    history = [entry(None, 0.900), entry(0.005, 0.901), entry(0.004, 0.903),
               entry(0.003, 0.905)]
    assert loop.stopping_warnings(history) == []
    # Just under the AUC gain threshold: warns.
    history[-1] = entry(0.003, 0.9049)
    assert len(loop.stopping_warnings(history)) == 1


def test_the_warning_counts_the_items_compared_when_known():
    history = [entry(None, 0.850), entry(0.008, 0.851), entry(0.004, 0.852),
               {**entry(0.002, 0.853), "n_compared": 990}]
    assert "of 990 sampled unlabeled items" in loop.stopping_warnings(history)[0]


def test_no_warning_without_enough_history_or_auc():
    assert loop.stopping_warnings([]) == []
    assert loop.stopping_warnings([entry(0.001, 0.9), entry(0.001, 0.9)]) == []
    # The first version has no contradictions: three entries hold only two comparisons.
    assert loop.stopping_warnings([entry(None, 0.9), entry(0.001, 0.9),
                                   entry(0.001, 0.9)]) == []
    # No AUC: the AUC gain cannot be known, nothing is claimed.
    assert loop.stopping_warnings([entry(0.001, None)] * 4) == []


def test_a_hand_edited_history_is_read_leniently():
    history = ["junk", {"contradictions": "0.001", "auc": 0.9}, entry(0.001, 0.9),
               entry(0.001, 0.9), {"contradictions": 0.0, "auc": "0.9", "n_samples": None}]
    assert len(loop.stopping_warnings(history)) == 1
    assert loop.stopping_warnings({"not": "a list"}) == []


def test_thresholds_and_window_are_options():
    history = [entry(None, 0.9), entry(0.03, 0.9), entry(0.03, 0.9)]
    assert loop.stopping_warnings(history) == []
    assert len(loop.stopping_warnings(history, window=2, max_contradictions=0.05)) == 1
    with pytest.raises(ValueError, match="window"):
        loop.stopping_warnings(history, window=0)


# -- sampling ---------------------------------------------------------------------------
def test_sample_rows_is_seeded_uniform_and_keeps_row_order():
    frame = pd.DataFrame({"x": range(100)})
    chunks = [frame.iloc[i:i + 7] for i in range(0, 100, 7)]
    one = loop.sample_rows(chunks, 10, seed=1)
    assert len(one) == 10 and one["x"].is_monotonic_increasing
    assert one["x"].tolist() == loop.sample_rows(chunks, 10, seed=1)["x"].tolist()
    assert one["x"].tolist() != loop.sample_rows(chunks, 10, seed=2)["x"].tolist()
    # The chunking does not change the sample.
    assert one["x"].tolist() == loop.sample_rows([frame], 10, seed=1)["x"].tolist()
    assert loop.sample_rows([frame.head(3)], 10)["x"].tolist() == [0, 1, 2]
    assert loop.sample_rows([], 10).empty


@pytest.mark.parametrize("value", [-5, "-3", 2**63, "9999999999999999999", 1e300,
                                   2**31])
def test_a_session_no_counter_reaches_is_unreadable(value):
    # Negative or past 32 bits: no sampler ever wrote it; used as it was, it overflowed
    # SQLite and numpy seeds, or gave labels a negative session.
    assert loop.session_number(value) == 0


def test_the_largest_session_is_kept():
    assert loop.session_number(2**31 - 1) == 2**31 - 1


def test_a_warning_given_holds_through_auc_noise_until_the_model_moves_again():
    """Predictions that do not change (0 % contradictions) and a cross-validated AUC
    that wanders by 0.01: the warning does not come and go with each retraining. It
    ends when a retraining changes predictions again, or the AUC clearly climbs."""
    stalled = [entry(None, 0.950), entry(0.0, 0.951), entry(0.0, 0.952), entry(0.0, 0.953)]
    assert len(loop.stopping_warnings(stalled)) == 1
    noisy = [*stalled, entry(0.0, 0.965), entry(0.0, 0.955), entry(0.0, 0.968)]
    for end in range(len(stalled), len(noisy) + 1):
        assert len(loop.stopping_warnings(noisy[:end])) == 1, end
    assert loop.stopping_warnings([*noisy, entry(0.02, 0.968)]) == []  # it moves again
    assert loop.stopping_warnings([*noisy, entry(0.0, 0.990)]) == []  # +0.022 in 3
    # Never stalled before: the usual rule alone (a gain of 0.005 is progress).
    assert loop.stopping_warnings([entry(None, 0.950), entry(0.0, 0.951),
                                   entry(0.0, 0.952), entry(0.0, 0.965)]) == []


def test_an_auc_change_is_never_written_as_zero_when_its_ends_differ():
    history = [entry(None, 0.9694), entry(0.0, 0.9695), entry(0.0, 0.9696),
               entry(0.0, 0.9698)]
    text = loop.stopping_warnings(history)[0]
    assert "+0.000," not in text and "+0.0004" in text


def test_the_hold_keeps_a_warning_of_its_own_kind_only():
    """A model learning nothing (AUC under 0.6) that starts to climb is progress: the
    hold of that warning never turns it into "Consider stopping"."""
    history = [entry(None, 0.580), entry(0.0, 0.590), entry(0.0, 0.595), entry(0.0, 0.598)]
    assert loop.stopping_warnings(history)[0].startswith("The model has learned next")
    assert loop.stopping_warnings([*history, entry(0.0, 0.597), entry(0.0, 0.610)]) == []


def test_a_retraining_without_an_auc_keeps_a_warning_held():
    stalled = [entry(None, 0.950), entry(0.0, 0.951), entry(0.0, 0.952), entry(0.0, 0.953)]
    held = [*stalled, entry(0.0, None), entry(0.0, 0.960)]
    assert len(loop.stopping_warnings(held)) == 1
    assert loop.stopping_warnings([*held, entry(0.05, 0.960)]) == []


def test_an_auc_change_shows_the_digits_that_tell_its_ends_apart():
    assert loop._auc_change(0.96941, 0.96944) == "0.96941 to 0.96944 (+0.00003"
    assert loop._auc_change(0.9, 0.904) == "0.900 to 0.904 (+0.004"
