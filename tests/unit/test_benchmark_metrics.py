"""The figures benchmarks/label_efficiency.py reports, on hand-made learning curves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import label_efficiency as le  # noqa: E402

COUNTS = [10, 20, 30, 40]


def test_labels_to_reach_takes_the_first_point_at_or_above_the_target() -> None:
    accs = np.array([0.5, 0.8, 0.7, 0.9])
    assert le.labels_to_reach(COUNTS, accs, 0.8) == 20
    assert le.labels_to_reach(COUNTS, accs, 0.85) == 40
    assert le.labels_to_reach(COUNTS, accs, 0.95) is None


def test_interpolation_draws_straight_lines_between_points() -> None:
    accs = np.array([0.5, 0.7, 0.9, 0.9])
    assert le.labels_to_reach_interpolated(COUNTS, accs, 0.8) == pytest.approx(25.0)
    assert le.labels_to_reach_interpolated(COUNTS, accs, 0.4) == 10.0
    assert le.labels_to_reach_interpolated(COUNTS, accs, 0.95) is None


def test_area_is_the_mean_accuracy_over_the_span() -> None:
    accs = np.array([0.0, 1.0, 1.0, 1.0])
    # Trapezoids: (0 + 1) / 2 over 10 labels, then 1 over 20, divided by 30 labels.
    assert le.area_under_curve(COUNTS, accs, 10, 40) == pytest.approx(25 / 30)
    assert le.area_under_curve(COUNTS, accs, 20, 40) == pytest.approx(1.0)


def _run(strategy: str, seed: int, accs: list[float]) -> dict:
    return {"dataset": "d", "batch": 10, "strategy": strategy, "seed": seed,
            "counts": COUNTS, "accs": accs}


def test_paired_gain_compares_each_seed_with_its_own_random_run() -> None:
    runs = [_run("random", 0, [0.5, 0.5, 0.5, 0.5]), _run("random", 1, [0.9] * 4),
            _run("margin", 0, [0.5, 0.6, 0.6, 0.6]), _run("margin", 1, [0.9, 0.9, 0.8, 0.8])]
    gain = le._paired_gain(runs, runs[2:], budget=40)
    first = le.area_under_curve(COUNTS, np.array(runs[2]["accs"]), 10, 40) - 0.5
    second = le.area_under_curve(COUNTS, np.array(runs[3]["accs"]), 10, 40) - 0.9
    assert first > 0 > second
    assert gain["aulc_gain"] == pytest.approx((first + second) / 2)
    assert gain["aulc_gain_se"] == pytest.approx(abs(first - second) / 2)
    assert gain["aulc_wins"] == 1
    assert gain["aulc_blocks_of_5_ahead"] is None  # fewer than 10 seeds
    assert gain["aulc_gains_per_seed"] == pytest.approx([first, second])
    assert gain["verdict"] == "tie"  # one seed each way


def test_paired_gain_compares_with_the_mean_of_random_draws_of_the_same_seed() -> None:
    runs = [_run("random", 0, [0.4] * 4), _run("random", 0, [0.6] * 4),
            _run("random", 0, [0.8] * 4), _run("random", 1, [0.9] * 4),
            _run("margin", 0, [0.7] * 4), _run("margin", 1, [0.95] * 4)]
    gain = le._paired_gain(runs, runs[4:], budget=40)
    assert gain["aulc_gains_per_seed"] == pytest.approx([0.1, 0.05])  # 0.7 - mean 0.6
    assert gain["aulc_wins"] == 2


def test_paired_gain_takes_each_seeds_mean_over_a_strategys_draws() -> None:
    runs = [_run("random", 0, [0.5] * 4), _run("random", 1, [0.5] * 4),
            _run("margin", 0, [0.6] * 4), _run("margin", 0, [0.8] * 4),
            _run("margin", 1, [0.4] * 4), _run("margin", 1, [0.5] * 4)]
    gain = le._paired_gain(runs, runs[2:], budget=40)
    assert gain["aulc_gains_per_seed"] == pytest.approx([0.2, -0.05])  # per seed, not run
    assert gain["aulc_wins"] == 1


def test_random_draws_share_initial_labels_and_differ_in_picks() -> None:
    task = le.load_task("breast_cancer")
    first = le.simulate(task, "random", batch=10, seed=3, budget=40)
    again = le.simulate(task, "random", batch=10, seed=3, budget=40)
    other = le.simulate(task, "random", batch=10, seed=3, budget=40, draw=1)
    assert first == again
    assert other[1][0] == first[1][0]  # the same 10 initial labels: the same first model
    assert other[1] != first[1]  # then other picks


def test_summary_counts_seeds_not_draws_and_weighs_seeds_equally() -> None:
    runs = [_run("random", 0, [a] * 4) for a in (0.3, 0.5, 0.7)]
    runs += [_run("random", 1, [a] * 4) for a in (0.8, 0.8, 0.8)]
    runs += [_run("margin", seed, [0.6] * 4) for seed in (0, 1)]
    rows = le.summarize(runs, {"d": 0.6}, {"d": 40})
    random, margin = rows
    assert (random["seeds"], random["draws_per_seed"]) == (2, 3)
    assert (margin["seeds"], margin["draws_per_seed"]) == (2, 1)
    assert random["mean_accs"] == pytest.approx([0.65] * 4)  # (0.5 + 0.8) / 2
    assert margin["aulc_gains_per_seed"] == pytest.approx([0.1, -0.2])


def test_paired_gain_of_random_itself_is_not_reported() -> None:
    runs = [_run("random", 0, [0.5] * 4)]
    assert le._paired_gain(runs, runs, budget=40) == {
        "aulc_gain": None, "aulc_gain_se": None, "aulc_wins": None,
        "aulc_blocks_of_5_ahead": None, "verdict": None, "aulc_gains_per_seed": None}


def test_a_verdict_needs_two_standard_errors() -> None:
    assert le.verdict(0.0041, 0.002) == "beats"
    assert le.verdict(0.0039, 0.002) == "tie"
    assert le.verdict(-0.0039, 0.002) == "tie"
    assert le.verdict(-0.0041, 0.002) == "loses"
    assert le.verdict(None, None) is None


def test_blocks_of_five_consecutive_seeds_are_judged_on_their_mean_gain() -> None:
    # Seeds 0-4 lose a little each, 5-9 win a lot: one block of two ahead, 5 seeds of 10.
    runs, group = [], []
    for seed in reversed(range(10)):  # the order of the runs must not matter
        runs.append(_run("random", seed, [0.5] * 4))
        group.append(_run("margin", seed, [0.49] * 4 if seed < 5 else [0.6] * 4))
    gain = le._paired_gain(runs + group, group, budget=40)
    assert gain["aulc_wins"] == 5
    assert gain["aulc_blocks_of_5_ahead"] == "1/2"
    assert gain["aulc_gain"] == pytest.approx((0.1 - 0.01) / 2)


def test_labels_saved_are_paired_per_seed_on_each_seeds_mean_curve() -> None:
    # Seed 0: margin reaches 0.8 at 30 labels, diverse_margin's two draws average to a
    # curve reaching it at 20 (alone, they would at 17.5 and 25: 21.25 on average); seed 1:
    # both at 40.
    runs = [_run("margin", 0, [0.5, 0.7, 0.8, 0.9]),
            _run("diverse_margin", 0, [0.5, 0.9, 0.9, 0.9]),
            _run("diverse_margin", 0, [0.5, 0.7, 0.9, 0.9]),
            _run("margin", 1, [0.5, 0.6, 0.7, 0.8]),
            _run("diverse_margin", 1, [0.5, 0.6, 0.7, 0.8])]
    group = [r for r in runs if r["strategy"] == "diverse_margin"]
    saved = le._paired_labels_saved(runs, group, target=0.8, budget=40)
    assert saved["labels_saved_per_seed"] == pytest.approx([10.0, 0.0])
    assert saved["labels_saved"] == pytest.approx(5.0)
    assert saved["labels_saved_se"] == pytest.approx(5.0)
    assert saved["labels_fewer"] == 1
    assert saved["labels_verdict"] == "tie"


def test_a_target_never_reached_counts_as_the_whole_budget() -> None:
    runs = [_run("margin", 0, [0.5, 0.6, 0.7, 0.7]), _run("diverse_margin", 0, [0.5] * 4),
            _run("margin", 1, [0.5, 0.6, 0.7, 0.7]), _run("diverse_margin", 1,
                                                           [0.5, 0.6, 0.8, 0.9])]
    group = [r for r in runs if r["strategy"] == "diverse_margin"]
    saved = le._paired_labels_saved(runs, group, target=0.8, budget=40)
    assert saved["labels_saved_per_seed"] == pytest.approx([0.0, 10.0])


def test_summary_reports_labels_saved_against_margin_for_diverse_margin() -> None:
    runs = [_run("margin", s, [0.5, 0.6, 0.7, 0.8]) for s in (0, 1)]
    runs += [_run("diverse_margin", s, [0.5, 0.7, 0.8, 0.9]) for s in (0, 1)]
    rows = le.summarize(runs, {"d": 0.85}, {"d": 40})
    diverse = next(r for r in rows if r["strategy"] == "diverse_margin")
    # 95 % of 0.85 = 0.8075: margin never (counts 40), diverse at 30 + 10 × 0.0075 / 0.1.
    assert diverse["vs_margin_labels_saved_95"] == pytest.approx(40 - 30.75)
    assert diverse["vs_margin_labels_fewer_95"] == 2
    assert "vs_margin_labels_saved_99" in diverse


def test_labels_saved_pair_only_the_seeds_both_strategies_ran():
    runs = [_run("margin", 0, [0.5, 0.6, 0.8, 0.9]),
            _run("diverse_margin", 0, [0.5, 0.8, 0.9, 0.9]),
            _run("diverse_margin", 1, [0.5, 0.8, 0.9, 0.9])]  # no margin run of seed 1
    group = [r for r in runs if r["strategy"] == "diverse_margin"]
    saved = le._paired_labels_saved(runs, group, target=0.8, budget=40)
    assert saved["labels_saved_per_seed"] == pytest.approx([10.0])
