"""Uncertainty scores, top-k selection and batch diversity on literal arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from assisted_labeling.errors import ValidationError
from assisted_labeling.sampling import (
    STRATEGIES,
    RunningTopK,
    check_probabilities,
    confidence_scores,
    diverse_order,
    entropy_scores,
    get_strategy,
    margin_scores,
    random_scores,
    representative_picks,
    select_batch,
    top_k,
    uncertain_share,
    uncertainty_scores,
)

PROBA = np.array([
    [0.6, 0.3, 0.1],
    [1.0, 0.0, 0.0],
    [1 / 3, 1 / 3, 1 / 3],
    [0.45, 0.1, 0.45],
])


def _entropy(row: list[float]) -> float:
    return -sum(p * math.log(p) for p in row if p > 0) / math.log(len(row))


# --------------------------------------------------------------------------- scores


def test_confidence_is_one_minus_top_probability() -> None:
    assert confidence_scores(PROBA) == pytest.approx([0.4, 0.0, 2 / 3, 0.55])


def test_margin_is_one_minus_gap_between_two_best() -> None:
    assert margin_scores(PROBA) == pytest.approx([0.7, 0.0, 1.0, 1.0])


def test_entropy_is_normalized_by_log_of_class_count() -> None:
    expected = [_entropy(list(row)) for row in PROBA]
    assert entropy_scores(PROBA) == pytest.approx(expected)
    assert expected[1] == 0.0 and expected[2] == pytest.approx(1.0)


def test_binary_margin() -> None:
    p = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    assert margin_scores(p) == pytest.approx([0.2, 1.0, 0.4])
    assert confidence_scores(p) == pytest.approx([0.1, 0.5, 0.2])


def test_many_classes_use_the_same_definitions() -> None:
    # 10 classes: the column loops of the top two and the maximum run past two columns.
    row = np.array([0.05, 0.3, 0.05, 0.05, 0.2, 0.05, 0.1, 0.05, 0.1, 0.05])
    p = np.vstack([row, np.full(10, 0.1)])
    assert margin_scores(p) == pytest.approx([0.9, 1.0])
    assert confidence_scores(p) == pytest.approx([0.7, 0.9])
    assert entropy_scores(p) == pytest.approx([_entropy(list(row)), 1.0])


def test_float32_probabilities_are_accepted() -> None:
    p32 = PROBA.astype(np.float32)
    assert margin_scores(p32) == pytest.approx(margin_scores(PROBA), abs=1e-6)
    assert entropy_scores(p32) == pytest.approx(entropy_scores(PROBA), abs=1e-5)
    assert margin_scores(p32).dtype == np.float64


def test_one_class_scores_zero() -> None:
    p = np.ones((3, 1))
    for strategy in ("confidence", "margin", "entropy"):
        assert uncertainty_scores(p, strategy=strategy).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_empty_pool_gives_empty_scores(strategy: str) -> None:
    assert uncertainty_scores(np.zeros((0, 3)), strategy=strategy, seed=0).shape == (0,)
    assert select_batch(np.zeros((0, 3)), strategy=strategy, batch_size=5, seed=0).size == 0


def test_scores_stay_in_unit_interval_despite_rounding() -> None:
    p = np.array([[1.0004, 0.0], [0.5002, 0.5002]])  # sums within the tolerance
    for strategy in ("confidence", "margin", "entropy"):
        s = uncertainty_scores(p, strategy=strategy)
        assert ((s >= 0) & (s <= 1)).all(), strategy


# --------------------------------------------------------------------------- checks


def test_nan_probabilities_name_how_many_rows() -> None:
    p = PROBA.copy()
    p[1, 2] = np.nan
    p[3, 0] = np.nan
    with pytest.raises(ValidationError, match=r"2 of 4 rows .* NaN .*first: row 1"):
        margin_scores(p)


def test_infinite_probabilities_are_refused() -> None:
    p = PROBA.copy()
    p[2, 0] = np.inf
    with pytest.raises(ValidationError, match="1 of 4 rows"):
        entropy_scores(p)


@pytest.mark.filterwarnings("error")  # nor a numpy RuntimeWarning on the way
def test_plus_and_minus_infinity_in_a_row_are_refused_quietly() -> None:
    with pytest.raises(ValidationError, match="1 of 1 rows .* NaN or infinite"):
        entropy_scores([[np.inf, -np.inf]])


@pytest.mark.filterwarnings("error")
def test_finite_values_too_large_to_sum_are_named_as_such() -> None:
    with pytest.raises(ValidationError, match=r"1 of 2 rows .* too large .*first: row 1"):
        margin_scores([[0.5, 0.5], [1e308, 1e308]], normalize=True)


def test_rows_not_summing_to_one_are_refused_unless_normalized() -> None:
    p = np.array([[2.0, 1.0, 1.0], [0.2, 0.3, 0.5]])
    with pytest.raises(ValidationError, match=r"1 of 2 rows .*sum to 1.*row 0 sums to 4"):
        margin_scores(p)
    assert margin_scores(p, normalize=True) == pytest.approx([0.75, 0.8])


def test_negative_probabilities_are_refused_even_with_normalize() -> None:
    p = np.array([[0.5, 0.5], [1.2, -0.2]])
    with pytest.raises(ValidationError, match=r"1 of 2 rows .*negative.*row 1"):
        confidence_scores(p, normalize=True)


def test_all_zero_row_cannot_be_normalized() -> None:
    with pytest.raises(ValidationError, match="all zero"):
        margin_scores(np.array([[0.0, 0.0], [0.3, 0.7]]), normalize=True)


def test_shape_and_type_errors() -> None:
    with pytest.raises(ValidationError, match="2-D"):
        margin_scores(np.array([0.2, 0.8]))
    with pytest.raises(ValidationError, match="no class"):
        margin_scores(np.zeros((2, 0)))
    with pytest.raises(ValidationError, match="numbers"):
        margin_scores(np.array([["a", "b"]]))


def test_check_probabilities_does_not_copy_valid_arrays() -> None:
    assert check_probabilities(PROBA) is PROBA
    p32 = PROBA.astype(np.float32)
    assert check_probabilities(p32) is p32


def test_unknown_strategy_lists_valid_names() -> None:
    with pytest.raises(ValidationError) as info:
        get_strategy("least_confident")
    message = str(info.value)
    assert '"least_confident"' in message
    for name in ("confidence", "margin", "entropy", "random", "diverse_margin"):
        assert name in message
    assert info.value.details["valid"] == list(STRATEGIES)


# --------------------------------------------------------------------------- random


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_a_seed_that_is_no_whole_number_at_least_0_is_refused_by_name(seed) -> None:
    with pytest.raises(ValidationError, match=f"seed must be a whole number ≥ 0, got {seed}"):
        random_scores(3, seed=seed)


def test_random_is_seeded_and_chunk_proof() -> None:
    a = random_scores(7, seed=42)
    assert random_scores(7, seed=42).tolist() == a.tolist()
    assert random_scores(7, seed=43).tolist() != a.tolist()
    rng = np.random.default_rng(42)
    pieces = np.concatenate([random_scores(3, seed=rng), random_scores(4, seed=rng)])
    assert pieces.tolist() == a.tolist()
    assert ((a >= 0) & (a < 1)).all()


def test_random_strategy_ignores_probability_values() -> None:
    p = np.full((3, 2), np.nan)  # never looked at
    s = uncertainty_scores(p, strategy="random", seed=1)
    assert s.tolist() == random_scores(3, seed=1).tolist()


# --------------------------------------------------------------------------- top-k


def test_top_k_orders_by_score_and_breaks_ties_by_index() -> None:
    s = [0.5, 0.9, 0.5, 0.9, 0.1]
    assert top_k(s, 3).tolist() == [1, 3, 0]
    assert top_k(s, None).tolist() == [1, 3, 0, 2, 4]
    assert top_k(s, 10).tolist() == [1, 3, 0, 2, 4]
    assert top_k(s, 0).tolist() == []
    assert top_k([0.5, 0.5, 0.5, 0.5], 2).tolist() == [0, 1]


def test_top_k_matches_a_stable_full_sort_with_many_ties() -> None:
    s = np.random.default_rng(3).integers(0, 4, 200) / 4
    stable = np.argsort(-s, kind="stable")
    for k in (1, 7, 50, 199):
        assert top_k(s, k).tolist() == stable[:k].tolist()


def test_top_k_refuses_nan_and_negative_k() -> None:
    with pytest.raises(ValidationError, match="1 of 3 scores are NaN"):
        top_k([0.1, np.nan, 0.3], 1)
    with pytest.raises(ValidationError, match="≥ 0"):
        top_k([0.1], -1)
    with pytest.raises(ValidationError, match="a whole number, got 1.5"):
        top_k([0.1, 0.2, 0.3], 1.5)


def _push_in_chunks(scores: np.ndarray, k: int | None, size: int) -> RunningTopK:
    frame = pd.DataFrame({"item": [f"i{i}" for i in range(scores.size)]})
    top = RunningTopK(k)
    for start in range(0, scores.size, size):
        stop = start + size
        top.push(scores[start:stop], np.arange(start, min(stop, scores.size)),
                 frame.iloc[start:stop])
        if k is not None:
            assert len(top) <= k
    return top


@pytest.mark.parametrize("size", [1, 3, 1000])
@pytest.mark.parametrize("k", [0, 1, 4, None])
def test_running_top_k_equals_top_k_whatever_the_chunks(size: int, k: int | None) -> None:
    scores = np.array([0.2, 0.7, 0.7, 0.1, 0.9, 0.7, 0.2, 0.9, 0.0, 0.7])
    kept, positions, payloads = _push_in_chunks(scores, k, size).result()
    expected = top_k(scores, k)
    assert positions.tolist() == expected.tolist()
    assert kept.tolist() == scores[expected].tolist()
    if expected.size:
        assert payloads[0]["item"].tolist() == [f"i{i}" for i in expected]


def test_running_top_k_with_nothing_pushed() -> None:
    scores, positions, payloads = RunningTopK(3).result()
    assert scores.size == 0 and positions.size == 0 and payloads == ()


# --------------------------------------------------------------------------- diversity


def test_diverse_order_skips_near_duplicates() -> None:
    scores = np.array([0.99, 0.98, 0.97, 0.60, 0.50])
    features = np.array([[0.0, 0.0], [0.0, 0.01], [0.01, 0.0], [9.0, 9.0], [5.0, -5.0]])
    assert top_k(scores, 2).tolist() == [0, 1]  # plain margin: two near-copies
    order = diverse_order(scores, batch_size=2, features=features, prefilter=2, seed=0)
    assert order[:2].tolist() == [0, 3]
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    assert order[2:].tolist() == [1, 2, 4]  # the rest by score


def test_diverse_order_diversifies_successive_batches() -> None:
    scores = np.array([0.9, 0.89, 0.88, 0.87, 0.5, 0.4])
    features = np.array([[0.0], [0.0], [0.1], [0.1], [10.0], [20.0]])
    order = diverse_order(scores, batch_size=2, features=features, n_batches=2,
                          prefilter=2, seed=0)
    # batch 1 from {0,1,2,3}: two groups, ~0 and ~0.1; batch 2 from {1,3,4,5}.
    assert order[:2].tolist() == [0, 2]
    assert len(set(order[2:4].tolist()) & {1, 3}) == 1
    assert sorted(order.tolist()) == list(range(6))


def test_diverse_order_with_coinciding_points_still_fills_the_batch() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    order = diverse_order(scores, batch_size=3, features=np.zeros((4, 2)), prefilter=2, seed=0)
    assert order.tolist() == [0, 1, 2, 3]


def test_diverse_order_small_pool_keeps_score_order() -> None:
    order = diverse_order([0.1, 0.5, 0.3], batch_size=5, features=np.eye(3), seed=0)
    assert order.tolist() == [1, 2, 0]
    assert diverse_order([], batch_size=5, features=np.zeros((0, 2))).size == 0


def test_diverse_order_checks_its_inputs() -> None:
    with pytest.raises(ValidationError, match="one row per item"):
        diverse_order([0.1, 0.2], batch_size=1, features=np.zeros((3, 2)))
    with pytest.raises(ValidationError, match="Batch size"):
        diverse_order([0.1, 0.2], batch_size=0, features=np.zeros((2, 2)))
    with pytest.raises(ValidationError, match="NaN"):
        diverse_order([0.1, 0.2], batch_size=1, features=np.array([[0.0], [np.nan]]))


def test_select_batch_diverse_uses_probabilities_by_default() -> None:
    # Rows 0-2 hesitate between classes 0 and 1, row 3 between classes 1 and 2.
    proba = np.array([
        [0.50, 0.50, 0.00],
        [0.51, 0.49, 0.00],
        [0.49, 0.51, 0.00],
        [0.00, 0.52, 0.48],
        [0.90, 0.05, 0.05],
    ])
    assert select_batch(proba, strategy="margin", batch_size=2).tolist() == [0, 1]
    chosen = select_batch(proba, strategy="diverse_margin", batch_size=2, prefilter=2, seed=0)
    assert chosen.tolist() == [0, 3]


@pytest.mark.parametrize("n_classes", [2, 3, 20])
def test_scores_match_a_sorted_reference_across_row_blocks(n_classes):
    rng = np.random.default_rng(n_classes)
    p = rng.random((10_000, n_classes))  # more rows than one block of the column loop
    p[7, :2] = 5.0  # a tie at the top: margin 1
    p /= p.sum(axis=1, keepdims=True)
    ordered = np.sort(p, axis=1)
    assert np.allclose(margin_scores(p), 1 - (ordered[:, -1] - ordered[:, -2]))
    assert np.allclose(confidence_scores(p), 1 - ordered[:, -1])
    assert margin_scores(p)[7] == pytest.approx(1.0)


# --------------------------------------------------------------------------- cold start


def test_uncertain_share_grows_with_the_labels_the_model_learned_from() -> None:
    assert uncertain_share(50, None) == 50  # unknown: no cold start
    assert uncertain_share(50, 10, None) == 50  # turned off
    assert uncertain_share(50, 10) == 5  # half as many as the labels
    assert uncertain_share(50, 60) == 30
    assert uncertain_share(50, 100) == 50
    assert uncertain_share(50, 1000) == 50
    assert uncertain_share(50, 0) == 1  # at least one by uncertainty
    assert uncertain_share(50, 10, 1.0) == 10
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValidationError, match="cold-start ratio"):
            uncertain_share(50, 10, bad)
    with pytest.raises(ValidationError, match="labels"):
        uncertain_share(50, -1)
    with pytest.raises(ValidationError, match="Batch size"):
        uncertain_share(0, 10)


def test_uncertain_share_stays_at_most_half_while_labels_per_class_are_few() -> None:
    assert uncertain_share(10, 20) == 10  # enough labels for the batch
    assert uncertain_share(10, 20, n_classes=10) == 5  # 2 labels per class: not enough
    assert uncertain_share(10, 49, n_classes=10) == 5
    assert uncertain_share(10, 50, n_classes=10) == 10  # 5 per class
    assert uncertain_share(10, 6, n_classes=10) == 3  # the batch rule is lower
    assert uncertain_share(50, 60, n_classes=2) == 30  # as without classes
    assert uncertain_share(10, 20, 1.0, n_classes=10) == 10  # a ratio of 1: no limit
    assert uncertain_share(10, 20, None, n_classes=10) == 10  # turned off
    assert uncertain_share(10, None, n_classes=10) == 10  # unknown labels
    for labels in (20, None):
        with pytest.raises(ValidationError, match="classes"):
            uncertain_share(10, labels, n_classes=0)


def test_select_batch_counts_the_classes_of_the_probabilities() -> None:
    rng = np.random.default_rng(2)
    x, _ = _blobs((40, 40, 40, 40, 40), rng)
    few = rng.dirichlet([1.0] * 2, size=x.shape[0])
    many = rng.dirichlet([1.0] * 10, size=x.shape[0])
    for proba, expected_tail in ((few, 10), (many, 5)):
        out = select_batch(proba, strategy="margin", batch_size=10, features=x,
                           n_labeled=20, seed=0)
        head = select_batch(proba, strategy="margin", batch_size=expected_tail, seed=0)
        assert out[-expected_tail:].tolist() == head.tolist()
        assert len(set(out.tolist())) == 10


def _blobs(sizes: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points around centres 10 apart (one blob per size), with their blob number."""
    x = np.concatenate([rng.normal(10.0 * i, 0.5, size=(n, 2)) for i, n in enumerate(sizes)])
    return x, np.repeat(np.arange(len(sizes)), sizes)


def test_representative_picks_one_typical_item_per_region() -> None:
    rng = np.random.default_rng(0)
    x, blob = _blobs((200, 50, 20), rng)
    picks = representative_picks(x, 3, seed=1)
    assert sorted(blob[picks]) == [0, 1, 2]  # each region once, whatever its size
    centres = np.array([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]])
    near = np.linalg.norm(x[picks] - centres[blob[picks]], axis=1)
    assert (near < 1.0).all()  # typical members, not the blob's edge


def test_representative_picks_edge_cases() -> None:
    x = np.arange(10.0)[:, None]
    assert representative_picks(x, 10).tolist() == list(range(10))
    assert representative_picks(x, 20).tolist() == list(range(10))
    assert representative_picks(x, 0).size == 0
    same = np.zeros((8, 2))  # coinciding rows: one cluster, the count made up
    picks = representative_picks(same, 3, seed=0)
    assert len(set(picks.tolist())) == 3
    with pytest.raises(ValidationError, match="NaN"):
        representative_picks(np.array([[0.0], [np.nan], [1.0]]), 2)


def test_select_batch_cold_start_fills_the_batch_with_typical_items() -> None:
    rng = np.random.default_rng(0)
    x, blob = _blobs((100, 100, 100, 100), rng)
    # The model only hesitates inside blob 0 (it has not seen the other regions' class).
    proba = np.tile([0.95, 0.05], (x.shape[0], 1))
    proba[blob == 0] = np.column_stack([np.linspace(0.5, 0.7, 100), np.linspace(0.5, 0.3, 100)])
    plain = select_batch(proba, strategy="margin", batch_size=8, features=x)
    assert set(blob[plain]) == {0}
    cold = select_batch(proba, strategy="margin", batch_size=8, features=x, n_labeled=4,
                        seed=0)
    assert cold[-2:].tolist() == plain[:2].tolist()  # ½ × 4 labels by uncertainty, last
    assert len(set(cold.tolist())) == 8
    assert set(blob[cold[:-2]]) == {0, 1, 2, 3}  # first, items that cover the pool
    warm = select_batch(proba, strategy="margin", batch_size=8, features=x, n_labeled=16)
    assert warm.tolist() == plain.tolist()
    off = select_batch(proba, strategy="margin", batch_size=8, features=x, n_labeled=4,
                       cold_start=None)
    assert off.tolist() == plain.tolist()
    rand = select_batch(proba, strategy="random", batch_size=8, n_labeled=4, seed=3)
    assert rand.tolist() == select_batch(proba, strategy="random", batch_size=8,
                                         seed=3).tolist()


@pytest.mark.parametrize("strategy", ["confidence", "entropy", "diverse_margin"])
def test_select_batch_cold_start_for_every_uncertainty_strategy(strategy: str) -> None:
    rng = np.random.default_rng(1)
    x, _ = _blobs((60, 60, 60), rng)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=x.shape[0])
    out = select_batch(proba, strategy=strategy, batch_size=12, features=x, n_labeled=6,
                       seed=0)
    head = select_batch(proba, strategy=strategy, batch_size=3, features=x, seed=0)
    assert len(set(out.tolist())) == 12
    if strategy != "diverse_margin":
        assert out[-3:].tolist() == head.tolist()
    # A pool smaller than the batch: every item, once.
    small = select_batch(proba[:5], strategy=strategy, batch_size=12, features=x[:5],
                         n_labeled=2, seed=0)
    assert sorted(small.tolist()) == list(range(5))
    if strategy != "diverse_margin":  # nothing to choose: the plain order
        assert small.tolist() == select_batch(proba[:5], strategy=strategy, batch_size=12,
                                              seed=0).tolist()


def test_a_rounding_negative_counts_as_zero_in_the_entropy() -> None:
    """The check lets values down to -1e-3 through as rounding; the log of the clamped
    value weighed by the negative one added +0.7 to a row's sum of p log p."""
    clean = entropy_scores([[0.5, 0.5, 0.0]])[0]
    for tiny in (1e-3, 1e-4, 1e-5):
        assert entropy_scores([[0.5, 0.5 + tiny, -tiny]])[0] == pytest.approx(clean, abs=2e-3)
    assert entropy_scores([[0.5, 0.501, -0.001], [0.9, 0.05, 0.05]]).argmax() == 0


@pytest.mark.parametrize("classes", [7, 37, 100])
def test_identical_rows_have_identical_entropy_wherever_they_are(classes) -> None:
    """Ties keep pool order only if a row's score depends on the row alone, not on how
    many rows its chunk holds or where the row sits in it."""
    row = np.random.default_rng(classes).dirichlet(np.ones(classes))
    alone = entropy_scores(row[None, :])[0]
    for n in (2, 3, 10, 33):
        assert set(entropy_scores(np.tile(row, (n, 1))).tolist()) == {alone}


def test_normalized_scores_do_not_depend_on_the_other_rows_of_the_chunk() -> None:
    rows = np.array([[0.5, 0.5009], [0.2, 0.9], [0.3, 0.7]])  # sums 1.0009, 1.1, 1.0
    together = margin_scores(rows, normalize=True)
    alone = np.concatenate([margin_scores(r[None, :], normalize=True) for r in rows])
    assert together.tolist() == alone.tolist()
    assert together[0] == pytest.approx(1 - 0.0009 / 1.0009)


def test_entropy_is_exact_to_a_millionth() -> None:
    """Entropy is computed in single precision (for speed): close enough to rank."""
    rng = np.random.default_rng(5)
    for classes in (2, 3, 20, 100):
        p = rng.dirichlet(np.ones(classes), size=50)
        exact = -(p * np.log(p)).sum(axis=1) / np.log(classes)
        assert np.abs(entropy_scores(p) - exact).max() < 1e-6


@pytest.mark.parametrize("classes", [2, 3, 20])
def test_entropy_orders_nearly_uniform_rows_exactly(classes) -> None:
    """Entropy is flat near its maximum: in single precision, rows a few 1e-4 from
    uniform would all score 1.0 and tie, at the head of the queue."""
    d = np.array([1.5e-4, 1e-4, 5e-5, 1e-5, 3e-3, 2e-2])
    p = np.full((d.size, classes), 1 / classes)
    p[:, 0] += d
    p[:, 1] -= d
    exact = -(p * np.log(p)).sum(axis=1) / np.log(classes)
    scores = entropy_scores(p)
    assert np.argsort(-scores, kind="stable").tolist() == [3, 2, 1, 0, 4, 5]
    near = exact > 1 - 1e-3  # scored again in double precision
    assert near[:4].all() and np.abs(scores - exact)[near].max() < 1e-12
    assert np.abs(scores - exact).max() < 1e-6
    if classes == 2:  # two classes, near uniform: entropy ranks like margin
        assert (np.argsort(-scores, kind="stable").tolist()
                == np.argsort(-margin_scores(p), kind="stable").tolist())


def test_the_typical_items_of_a_cold_start_do_not_depend_on_earlier_draws() -> None:
    """Two strategies given the same seed get the same typical items, whatever they drew
    before (diverse_margin's k-means): they then differ by their choices, not by luck."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    proba = rng.dirichlet([1, 1, 1], size=300)

    def typical(consumed: int) -> list[int]:
        seed = np.random.default_rng(7)
        seed.random(consumed)  # draws made before the typical items
        batch = select_batch(proba, strategy="margin", batch_size=20, features=x,
                             n_labeled=6, seed=seed)
        top = set(np.argsort(-margin_scores(proba), kind="stable")[:3].tolist())
        return sorted(set(batch.tolist()) - top)

    assert len(typical(0)) == 17
    assert typical(0) == typical(1) == typical(1000)


def test_a_child_stream_is_spawns_and_needs_no_recent_numpy() -> None:
    from types import SimpleNamespace

    from assisted_labeling.sampling import child_generator

    assert (child_generator(np.random.default_rng(7)).random(3).tolist()
            == np.random.default_rng(7).spawn(1)[0].random(3).tolist())
    # numpy < 1.25 keeps the seed sequence as a private attribute and has no spawn.
    old = SimpleNamespace(bit_generator=SimpleNamespace(_seed_seq=np.random.SeedSequence(7)))
    assert (child_generator(old).random(3).tolist()
            == np.random.default_rng(np.random.SeedSequence(7).spawn(1)[0]).random(3).tolist())
