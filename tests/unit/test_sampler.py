"""The chunked query sampler on literal pools and a fake model with fixed probabilities."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest

from assisted_labeling.errors import ValidationError
from assisted_labeling.sampler import (
    MODEL_UNCERTAINTY_COLUMN,
    PoolKeys,
    SeenDigests,
    among_sorted,
    content_digests,
    integer_keys,
    score_pool,
)
from assisted_labeling.sources import RowIdentifier, frame_rows

# Item "id" → class probabilities the fake model returns for it.
PROBA = {
    "a": [0.90, 0.05, 0.05],  # margin 0.15
    "b": [0.40, 0.35, 0.25],  # 0.95
    "c": [0.50, 0.30, 0.20],  # 0.80
    "d": [0.34, 0.33, 0.33],  # 0.99
    "e": [0.60, 0.30, 0.10],  # 0.70
    "f": [0.40, 0.35, 0.25],  # 0.95, tie with b
    "g": [0.98, 0.01, 0.01],  # 0.03
}
POOL = pd.DataFrame({
    "id": list("abcdefg"),
    "text": ["apple", "berry", "cherry", "date", "elder", "fig", "grape"],
    "x": [1.0, 2.0, 2.5, 4.0, 5.0, 6.0, 7.0],
})
MARGIN_ORDER = ["d", "b", "f", "c", "e", "a", "g"]
MARGINS = [0.99, 0.95, 0.95, 0.80, 0.70, 0.15, 0.03]


class FixedModel:
    """A fake estimator: ``predict_proba`` looks each row's id up in a fixed table."""

    def __init__(self, table: dict[str, list[float]] = PROBA) -> None:
        self.table = table
        self.seen: list[str] = []

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self.seen.extend(frame["id"])
        return np.array([self.table[i] for i in frame["id"]], dtype=float).reshape(-1, 3)


def chunked(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


def reference_keys(frame: pd.DataFrame, id_column: str | None = None) -> list[str]:
    return [row.key for row in frame_rows(frame, RowIdentifier(id_column))]


# --------------------------------------------------------------------------- ranking


def test_queries_are_pool_columns_plus_uncertainty_most_uncertain_first() -> None:
    out = score_pool(chunked(POOL, 3), FixedModel().predict_proba)
    assert list(out.columns) == ["id", "text", "x", "uncertainty", "model_uncertainty"]
    assert out["id"].tolist() == MARGIN_ORDER
    assert out["uncertainty"].tolist() == pytest.approx(MARGINS)
    assert out["model_uncertainty"].tolist() == pytest.approx(MARGINS)
    assert out.index.tolist() == list(range(7))
    assert out.loc[0, "text"] == "date"


@pytest.mark.parametrize(("strategy", "first"), [("confidence", "d"), ("entropy", "d")])
def test_other_strategies(strategy: str, first: str) -> None:
    out = score_pool([POOL], FixedModel().predict_proba, strategy=strategy)
    assert out["id"].iloc[0] == first
    assert out["uncertainty"].is_monotonic_decreasing
    assert out["id"].tolist()[-2:] == ["a", "g"]


@pytest.mark.parametrize("strategy", ["margin", "confidence", "entropy", "random",
                                      "diverse_margin"])
@pytest.mark.parametrize("max_queries", [None, 4])
def test_same_result_whatever_the_chunk_size(strategy: str, max_queries: int | None) -> None:
    def run(size: int) -> pd.DataFrame:
        return score_pool(chunked(POOL, size), FixedModel().predict_proba, strategy=strategy,
                          max_queries=max_queries, batch_size=2, prefilter=2, seed=7)

    base = run(1000)
    for size in (1, 3):
        pd.testing.assert_frame_equal(run(size), base)
    assert len(base) == (7 if max_queries is None else 4)


def test_ties_keep_pool_order_across_chunks() -> None:
    table = {k: [0.5, 0.3, 0.2] for k in "abcdefg"}  # every item ties
    table["e"] = [0.4, 0.4, 0.2]
    for size in (1, 2, 7):
        out = score_pool(chunked(POOL, size), FixedModel(table).predict_proba, max_queries=3)
        assert out["id"].tolist() == ["e", "a", "b"], size


def test_max_queries_keeps_the_best() -> None:
    out = score_pool(chunked(POOL, 2), FixedModel().predict_proba, max_queries=3)
    assert out["id"].tolist() == MARGIN_ORDER[:3]
    empty = score_pool(chunked(POOL, 2), FixedModel().predict_proba, max_queries=0)
    assert list(empty.columns) == ["id", "text", "x", "uncertainty", "model_uncertainty"]
    assert len(empty) == 0


@pytest.mark.parametrize("strategy", ["margin", "diverse_margin", "entropy"])
def test_top_k_with_pruning_equals_the_head_of_the_full_ranking(strategy: str) -> None:
    # Many rows, few of them uncertain: once the top 5 is full, most rows of later
    # chunks are skipped by the margin bound; the result must not change.
    rng = np.random.default_rng(0)
    raw = rng.dirichlet([0.3, 0.3, 0.3], size=300)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(300)], "x": np.arange(300.0)})
    model = FixedModel(dict(zip(pool["id"], raw.tolist())))
    full = score_pool([pool], model.predict_proba, strategy=strategy, batch_size=5,
                      prefilter=2, seed=0)
    for size in (1, 7, 1000):
        top = score_pool(chunked(pool, size), model.predict_proba, strategy=strategy,
                         max_queries=5, batch_size=5, prefilter=2, seed=0)
        if strategy == "diverse_margin":
            # Same candidates (the 10 best margins), so the same diverse batch.
            assert top["id"].tolist() == full["id"].tolist()[:5]
        else:
            pd.testing.assert_frame_equal(top, full.head(5))


def test_max_queries_must_be_a_count() -> None:
    with pytest.raises(ValidationError, match="max_queries"):
        score_pool([POOL], FixedModel().predict_proba, max_queries=-1)
    with pytest.raises(ValidationError, match="max_queries"):
        score_pool([POOL], FixedModel().predict_proba, max_queries=2.5)


def test_session_column_only_when_given() -> None:
    out = score_pool([POOL], FixedModel().predict_proba, session=3)
    assert list(out.columns)[-3:] == ["uncertainty", "model_uncertainty", "session"]
    assert out["session"].tolist() == [3] * 7
    assert "session" not in score_pool([POOL], FixedModel().predict_proba).columns


def test_random_needs_no_model_and_is_seeded() -> None:
    a = score_pool(chunked(POOL, 2), None, strategy="random", seed=5)
    b = score_pool(chunked(POOL, 5), None, strategy="random", seed=5)
    c = score_pool(chunked(POOL, 2), None, strategy="random", seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert a["id"].tolist() != c["id"].tolist()
    assert sorted(a["id"]) == list("abcdefg")
    assert a["uncertainty"].is_monotonic_decreasing
    # The draw orders the queue; it measures no doubt, so none is shown.
    assert a["model_uncertainty"].isna().all()


def test_model_strategies_need_a_model() -> None:
    with pytest.raises(ValidationError, match="needs a model"):
        score_pool([POOL], None, strategy="margin")


def test_unknown_strategy_is_refused_before_reading() -> None:
    def never() -> Iterator[pd.DataFrame]:
        raise AssertionError("the pool must not be read")
        yield POOL

    with pytest.raises(ValidationError, match="valid strategies: confidence, margin"):
        score_pool(never(), FixedModel().predict_proba, strategy="smallest")


# --------------------------------------------------------------------------- empty pools


def test_pool_without_chunks() -> None:
    out = score_pool(iter([]), FixedModel().predict_proba, session=1)
    assert list(out.columns) == ["uncertainty", "model_uncertainty", "session"]
    assert len(out) == 0


def test_pool_of_empty_chunks_keeps_columns() -> None:
    model = FixedModel()
    out = score_pool([POOL.iloc[:0], POOL.iloc[:0]], model.predict_proba)
    assert list(out.columns) == ["id", "text", "x", "uncertainty", "model_uncertainty"]
    assert len(out) == 0
    assert model.seen == []


def test_everything_labeled_gives_no_query() -> None:
    labeled = set(reference_keys(POOL))
    out = score_pool(chunked(POOL, 3), FixedModel().predict_proba, exclude_keys=labeled)
    assert len(out) == 0 and "uncertainty" in out.columns


# --------------------------------------------------------------------------- exclusion


def test_labeled_items_are_excluded_and_never_scored() -> None:
    keys = reference_keys(POOL)
    labeled = {keys[1], keys[3]}  # b and d
    for size in (1, 3, 1000):
        model = FixedModel()
        out = score_pool(chunked(POOL, size), model.predict_proba, exclude_keys=labeled)
        assert out["id"].tolist() == ["f", "c", "e", "a", "g"]
        assert sorted(model.seen) == list("acefg")


def test_exclusion_by_id_column() -> None:
    model = FixedModel()
    out = score_pool(chunked(POOL, 2), model.predict_proba, exclude_keys={"d", "zzz"},
                     id_column="id")
    assert out["id"].tolist() == ["b", "f", "c", "e", "a", "g"]


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_exclusion_by_integer_id_column(size: int) -> None:
    pool = POOL.assign(num=[10, 11, 12, 13, 14, 15, 16])
    assert reference_keys(pool, "num")[1] == "11"
    # Only the exact key text of an id matches: "013", "12.0" and "-0" are other ids.
    labeled = {"11", "013", "12.0", "-0", "x", "99999999999999999999999"}
    out = score_pool(chunked(pool, size), FixedModel().predict_proba, exclude_keys=labeled,
                     id_column="num")
    assert sorted(out["id"]) == ["a", "c", "d", "e", "f", "g"]
    floats = pool.assign(num=pool["num"].astype(float))
    out = score_pool(chunked(floats, size), FixedModel().predict_proba,
                     exclude_keys={"12", "14.5"}, id_column="num")
    assert sorted(out["id"]) == ["a", "b", "d", "e", "f", "g"]


def test_integer_membership_is_exact_for_every_integer_type() -> None:
    keys = integer_keys({"3", "-7", "9223372036854775807", "12", "x", "1e3", "03"})
    assert keys.tolist() == [-7, 3, 12, 2**63 - 1]
    values = np.array([3, 4, -7, 2**63 - 1, 2**63 - 2, 13, 1000], dtype=np.int64)
    assert among_sorted(values, keys).tolist() == [True, False, True, True, False, False,
                                                   False]
    # uint64 beyond int64 must not match the largest int64 through float rounding.
    huge = np.array([2**64 - 1, 2**63, 12, 2**63 - 1], dtype=np.uint64)
    assert among_sorted(huge, keys).tolist() == [False, False, True, True]
    assert among_sorted(values, integer_keys(set())).tolist() == [False] * 7


def test_repeated_integer_ids_are_refused_when_excluding() -> None:
    pool = POOL.assign(num=[1, 2, 3, 2, 5, 6, 7])
    with pytest.raises(ValidationError, match='"2" appears twice'):
        score_pool([pool], FixedModel().predict_proba, exclude_keys={"1"}, id_column="num")


@pytest.mark.parametrize(("strategy", "options"), [
    ("margin", {"max_queries": 5}),
    ("margin", {}),
    ("random", {"max_queries": 5}),
    ("diverse_margin", {"max_queries": 12, "features": lambda f: f[["x"]].to_numpy()}),
    ("entropy", {"max_queries": 12, "n_labeled": 4, "columns": ["id"]}),
])
@pytest.mark.parametrize("labeled", [["r7"], ["r3", "r50", "r99"]])
def test_excluding_rows_gives_the_queries_of_the_pool_without_them(
        strategy: str, options: dict[str, Any], labeled: list[str]) -> None:
    # Labeled rows never reach the model (a DSS predictor is costly): their answers
    # would be NaN here.
    rng = np.random.default_rng(3)
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(100)], "x": rng.random(100)})
    table = dict(zip(pool["id"], rng.dirichlet([0.5] * 3, size=100).tolist()))
    table.update({key: [np.nan] * 3 for key in labeled})
    expected = score_pool([pool[~pool["id"].isin(labeled)]], FixedModel(table).predict_proba,
                          strategy=strategy, batch_size=4, seed=5, **options)
    model = FixedModel(table)
    out = score_pool([pool], model.predict_proba, strategy=strategy,
                     exclude_keys=set(labeled), id_column="id", batch_size=4, seed=5,
                     **options)
    pd.testing.assert_frame_equal(out, expected)
    assert not set(labeled) & set(out["id"])
    assert not set(labeled) & set(model.seen)


def test_exclusion_by_callable() -> None:
    calls: list[int] = []

    def labeled(keys: np.ndarray) -> np.ndarray:
        calls.append(len(keys))
        return np.isin(keys, ["a", "b"])

    out = score_pool(chunked(POOL, 4), FixedModel().predict_proba, exclude_keys=labeled,
                     id_column="id")
    assert out["id"].tolist() == ["d", "f", "c", "e", "g"]
    assert calls == [4, 3]


def test_exclusion_with_a_custom_key_function() -> None:
    out = score_pool(chunked(POOL, 3), FixedModel().predict_proba,
                     exclude_keys={"APPLE", "DATE"},
                     key_fn=lambda frame: frame["text"].str.upper().tolist())
    assert out["id"].tolist() == ["b", "f", "c", "e", "g"]


def test_duplicate_rows_are_told_apart_like_the_webapp_does() -> None:
    pool = pd.DataFrame({"id": list("abab"), "n": [1, 2, 1, 2]})
    keys = reference_keys(pool)
    assert keys[2] == keys[0] + "-1"
    table = {"a": [0.5, 0.5, 0.0], "b": [0.9, 0.1, 0.0]}
    for size in (1, 3):
        out = score_pool(chunked(pool, size), FixedModel(table).predict_proba,
                         exclude_keys={keys[2]})  # the second "a" only
        assert out["id"].tolist() == ["a", "b", "b"]
        assert out["uncertainty"].tolist() == pytest.approx([1.0, 0.2, 0.2])


# --------------------------------------------------------------------------- item keys

MIXED = pd.DataFrame({
    "n": [1, 2, 1, 3],
    "x": [1.0, np.nan, 1.0, 0.1],
    "s": ["a", None, "a", "ü%s"],
    "flag": [True, False, True, False],
    "when": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-02", None]),
    7: [0.5, 1e20, 0.5, -0.0],
})


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_pool_keys_equal_row_identifier_keys(size: int) -> None:
    expected = reference_keys(MIXED)
    keys = PoolKeys()
    got = [k for chunk in chunked(MIXED, size) for k in keys(chunk)]
    assert got == expected
    assert expected[2] == expected[0] + "-1"


def test_content_digest_does_not_depend_on_int_or_float_columns() -> None:
    as_int = pd.DataFrame({"n": [1, 2]})
    as_float = pd.DataFrame({"n": [1.0, 2.0]})
    assert content_digests(as_int) == content_digests(as_float)
    assert content_digests(as_int) == reference_keys(as_int)


def test_pool_keys_only_mode_answers_membership_exactly() -> None:
    pool = pd.DataFrame({"v": [1, 2, 1, 2, 1, 3]})
    expected = reference_keys(pool)  # 1, 2, 1-1, 2-1, 1-2, 3
    only = {expected[4]}  # the third "1"
    keys = PoolKeys(only=only)
    got = [k for chunk in chunked(pool, 2) for k in keys(chunk)]
    assert [k in only for k in got] == [False, False, False, False, True, False]
    assert got[4] == expected[4]


def test_pool_keys_with_id_column() -> None:
    pool = pd.DataFrame({"key": [10, 11.0, "x"], "v": [1, 2, 3]})
    assert list(PoolKeys("key")(pool)) == reference_keys(pool, "key") == ["10", "11", "x"]


def test_pool_keys_refuse_empty_and_repeated_ids() -> None:
    with pytest.raises(ValidationError, match="empty id"):
        PoolKeys("key")(pd.DataFrame({"key": ["a", None]}))
    with pytest.raises(ValidationError, match='"a" appears twice'):
        PoolKeys("key")(pd.DataFrame({"key": ["a", "b", "a"]}))
    keys = PoolKeys("key")
    keys(pd.DataFrame({"key": ["a"]}))
    with pytest.raises(ValidationError, match='"a" appears twice'):
        keys(pd.DataFrame({"key": ["b", "a"]}))
    with pytest.raises(ValidationError, match='id column "nope" is not in the pool'):
        PoolKeys("nope")(pd.DataFrame({"key": ["a"]}))


# --------------------------------------------------------------------------- model output


def test_wrong_number_of_probability_rows() -> None:
    with pytest.raises(ValidationError, match="2 rows of probabilities for 7 items"):
        score_pool([POOL], lambda frame: np.full((2, 3), 1 / 3))


def test_class_count_must_not_change_between_chunks() -> None:
    def proba(frame: pd.DataFrame) -> np.ndarray:
        c = 2 if frame["id"].iloc[0] == "a" else 3
        return np.full((len(frame), c), 1 / c)

    with pytest.raises(ValidationError, match="2 class probabilities for one chunk and 3"):
        score_pool(chunked(POOL, 4), proba)


def test_nan_probabilities_are_reported() -> None:
    table = dict(PROBA, c=[np.nan, 0.5, 0.5])
    with pytest.raises(ValidationError, match="1 of 3 rows .*NaN"):
        score_pool(chunked(POOL, 3), FixedModel(table).predict_proba)


@pytest.mark.parametrize("size", [1, 3, 4, 7])
def test_a_bad_row_is_named_by_its_place_in_the_pool(size) -> None:
    """Not by its place in its chunk, less the labeled rows left out before it."""
    table = dict(PROBA, f=[np.nan, 0.5, 0.5])  # pool row 5
    with pytest.raises(ValidationError, match=r"NaN or infinite \(first: row 5\)") as err:
        score_pool(chunked(POOL, size), FixedModel(table).predict_proba,
                   exclude_keys={"b"}, id_column="id")
    assert err.value.details["first_row"] == 5


def test_normalize_passes_through() -> None:
    table = {k: [2 * p for p in v] for k, v in PROBA.items()}
    with pytest.raises(ValidationError, match="normalize=True"):
        score_pool([POOL], FixedModel(table).predict_proba)
    out = score_pool([POOL], FixedModel(table).predict_proba, normalize=True)
    assert out["uncertainty"].tolist() == pytest.approx(MARGINS)


def test_model_may_return_a_dataframe_of_probability_columns() -> None:
    def proba(frame: pd.DataFrame) -> pd.DataFrame:
        values = FixedModel().predict_proba(frame)
        return pd.DataFrame(values, columns=["proba_x", "proba_y", "proba_z"])

    assert score_pool([POOL], proba)["id"].tolist() == MARGIN_ORDER


# --------------------------------------------------------------------------- progress


def test_progress_callback_gets_rows_read_so_far() -> None:
    seen: list[int] = []
    score_pool(chunked(POOL, 3), FixedModel().predict_proba, progress=seen.append)
    assert seen == [3, 6, 7]


def test_progress_bar_gets_chunk_sizes() -> None:
    class Bar:
        def __init__(self) -> None:
            self.updates: list[int] = []

        def update(self, n: int) -> Any:
            self.updates.append(n)

    bar = Bar()
    score_pool(chunked(POOL, 3), FixedModel().predict_proba, exclude_keys={"x"},
               id_column="id", progress=bar)
    assert bar.updates == [3, 3, 1]


# --------------------------------------------------------------------------- diversity


def test_diverse_margin_avoids_near_duplicates_in_a_batch() -> None:
    pool = pd.DataFrame({"id": list("abcde"), "x": [0.0, 0.01, 0.02, 5.0, 9.0]})
    table = {
        "a": [0.50, 0.49, 0.01],  # margin 0.99
        "b": [0.50, 0.48, 0.02],  # 0.98
        "c": [0.50, 0.47, 0.03],  # 0.97
        "d": [0.60, 0.30, 0.10],  # 0.70
        "e": [0.80, 0.10, 0.10],  # 0.30
    }
    model = FixedModel(table)
    plain = score_pool([pool], model.predict_proba, max_queries=2)
    assert plain["id"].tolist() == ["a", "b"]
    for size in (1, 2, 1000):
        out = score_pool(chunked(pool, size), model.predict_proba,
                         strategy="diverse_margin", batch_size=2, prefilter=2,
                         features=lambda frame: frame[["x"]].to_numpy(), seed=0)
        assert out["id"].tolist()[:2] == ["a", "d"], size
        # The uncertainty column keeps the margin values, re-assigned by rank; each
        # item's own margin stays in model_uncertainty.
        assert out["uncertainty"].tolist() == pytest.approx([0.99, 0.98, 0.97, 0.70, 0.30])
        own = {i: 1 - (p[0] - p[1]) for i, p in table.items()}
        assert out["model_uncertainty"].tolist() == pytest.approx(
            [own[i] for i in out["id"]])


def test_diverse_margin_features_must_match_rows() -> None:
    with pytest.raises(ValidationError, match="features gave 1 rows for 7 items"):
        score_pool([POOL], FixedModel().predict_proba, strategy="diverse_margin",
                   features=lambda frame: np.zeros((1, 2)))


# --------------------------------------------------------------------------- cold start


def _regions_pool(n_per: int = 40) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """Four regions of a 2-D pool; the model hesitates only inside region 0."""
    rng = np.random.default_rng(0)
    ids, xs, ys, region, table = [], [], [], [], {}
    for r in range(4):
        for j in range(n_per):
            item = f"r{r}-{j}"
            ids.append(item)
            xs.append(10.0 * r + rng.normal(0, 0.3))
            ys.append(rng.normal(0, 0.3))
            region.append(r)
            p = 0.5 + 0.4 * j / n_per if r == 0 else 0.97
            table[item] = [p, 1 - p - 0.001, 0.001]
    pool = pd.DataFrame({"id": ids, "x": xs, "y": ys, "region": region})
    return pool.sample(frac=1.0, random_state=1).reset_index(drop=True), table


def _xy(frame: pd.DataFrame) -> np.ndarray:
    return frame[["x", "y"]].to_numpy()


@pytest.mark.parametrize("size", [7, 50, 1000])
def test_cold_start_fills_the_first_batch_with_typical_items_of_every_region(size) -> None:
    pool, table = _regions_pool()
    model = FixedModel(table)
    plain = score_pool([pool], model.predict_proba, batch_size=10)
    assert set(plain["region"][:10]) == {0}  # plain margin: all in the one known region
    out = score_pool(chunked(pool, size), model.predict_proba, batch_size=10, n_labeled=6,
                     features=_xy, seed=0)
    # Typical items of the pool first, then ½ × 6 labels by margin.
    assert set(out["region"][:7]) == {0, 1, 2, 3}
    assert out["id"].tolist()[7:10] == plain["id"].tolist()[:3]
    # Nothing lost, nothing twice; the uncertainty column stays decreasing.
    assert sorted(out["id"]) == sorted(pool["id"])
    assert out["uncertainty"].tolist() == sorted(plain["uncertainty"], reverse=True)
    # Each item keeps its own score for the labelers: the typical items asked first are
    # confidently predicted ones, whatever rank-assigned uncertainty orders them.
    own = dict(zip(plain["id"], plain["model_uncertainty"]))
    assert out["model_uncertainty"].tolist() == [own[i] for i in out["id"]]
    assert out["model_uncertainty"][:7].min() < out["uncertainty"][:7].min()


def test_cold_start_leaves_a_pool_smaller_than_the_batch_in_plain_order() -> None:
    pool, table = _regions_pool()
    model = FixedModel(table)
    plain = score_pool([pool], model.predict_proba, batch_size=len(pool) + 5)
    out = score_pool(chunked(pool, 7), model.predict_proba, batch_size=len(pool) + 5,
                     n_labeled=4, features=_xy, seed=0)
    assert out["id"].tolist() == plain["id"].tolist()


def test_cold_start_with_max_queries_and_diverse_margin() -> None:
    pool, table = _regions_pool()
    model = FixedModel(table)
    for strategy in ("margin", "confidence", "entropy", "diverse_margin"):
        out = score_pool(chunked(pool, 16), model.predict_proba, strategy=strategy,
                         batch_size=10, n_labeled=4, features=_xy, max_queries=6, seed=0)
        assert len(out) == 6 and out["id"].is_unique, strategy
        assert set(out["region"][:6]) >= {1, 2, 3}, strategy


def test_no_cold_start_once_the_model_has_enough_labels_or_when_off() -> None:
    pool, table = _regions_pool()
    model = FixedModel(table)
    plain = score_pool([pool], model.predict_proba, batch_size=10)
    for options in ({"n_labeled": 20}, {"n_labeled": 2, "cold_start": None}, {}):
        out = score_pool(chunked(pool, 9), model.predict_proba, batch_size=10,
                         features=_xy, **options)
        assert out["id"].tolist() == plain["id"].tolist(), options


def test_cold_start_lasts_while_the_model_has_few_labels_per_class() -> None:
    pool, table = _regions_pool()
    model = FixedModel(table)
    plain = score_pool([pool], model.predict_proba, batch_size=6)
    # 12 labels are enough for a batch of 6, not for the 3 classes of the probabilities
    # (5 labels each).
    warm = score_pool(chunked(pool, 9), model.predict_proba, batch_size=6, n_labeled=12,
                      features=_xy, seed=0)
    assert len(set(warm["region"][:3]) - {0}) >= 2  # typical items of other regions first
    assert warm["id"].tolist()[3:6] == plain["id"].tolist()[:3]  # ½ of the batch
    for options in ({"n_labeled": 15}, {"n_labeled": 12, "cold_start": None}):
        out = score_pool(chunked(pool, 9), model.predict_proba, batch_size=6,
                         features=_xy, seed=0, **options)
        assert out["id"].tolist() == plain["id"].tolist(), options


@pytest.mark.parametrize("options", [{"cold_start": -1.0}, {"n_labeled": -3}])
def test_bad_cold_start_settings_are_refused_even_for_an_empty_pool(options) -> None:
    with pytest.raises(ValidationError):
        score_pool([pd.DataFrame({"x": []})], lambda c: np.zeros((len(c), 2)),
                   **{"n_labeled": 5, **options})


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cold_start_without_features_clusters_the_probabilities(seed) -> None:
    pool, table = _regions_pool()
    out = score_pool([pool], FixedModel(table).predict_proba, batch_size=10, n_labeled=2,
                     seed=seed)
    assert out["id"].is_unique and len(out) == len(pool)
    # Regions 1–3 (three quarters of the pool) have the same probabilities: one typical
    # item stands for all three, and the others spread over region 0, the only one whose
    # probabilities differ (on the inputs, every region gets its own: see above).
    regions = out["region"].tolist()
    assert sum(r != 0 for r in regions[:9]) == 1 and regions[9] == 0


@pytest.mark.parametrize("strategy", ["margin", "diverse_margin", "random"])
def test_columns_keeps_only_the_named_pool_columns(strategy: str) -> None:
    full = score_pool(chunked(POOL, 3), FixedModel().predict_proba, strategy=strategy,
                      n_labeled=1, batch_size=4, features=lambda f: f[["x"]].to_numpy(),
                      seed=0)
    slim = score_pool(chunked(POOL, 3), FixedModel().predict_proba, strategy=strategy,
                      n_labeled=1, batch_size=4, features=lambda f: f[["x"]].to_numpy(),
                      seed=0, columns=["id"])
    assert list(slim.columns) == ["id", "uncertainty", MODEL_UNCERTAINTY_COLUMN]
    pd.testing.assert_frame_equal(slim, full[list(slim.columns)])
    empty = score_pool([POOL.iloc[:0]], FixedModel().predict_proba, columns=["id"])
    assert list(empty.columns) == ["id", "uncertainty", MODEL_UNCERTAINTY_COLUMN]


# --------------------------------------------------------------------------- seen digests


def test_seen_digests_never_misses_a_repeat() -> None:
    digests = content_digests(pd.DataFrame({"v": [1, 2, 3, 1, 4, 2, 2]}))
    seen = SeenDigests(bits_log2=16)
    first = seen.check_and_add(digests[:4])  # a repeat inside one call
    assert first.tolist() == [False, False, False, True]
    assert seen.check_and_add(digests[4:]).tolist() == [False, True, True]
    assert seen.check_and_add([]).tolist() == []


def test_seen_digests_false_positives_stay_rare_at_the_default_size() -> None:
    digests = content_digests(pd.DataFrame({"v": np.arange(200_000)}))

    def maybe_share(seen: SeenDigests) -> float:
        return float(np.mean([seen.check_and_add(digests[i:i + 5000]).mean()
                              for i in range(0, len(digests), 5000)]))

    assert maybe_share(SeenDigests()) == 0.0  # 16 MiB: no false positive at 200 k rows
    assert maybe_share(SeenDigests(bits_log2=10)) > 0.9  # 128 bytes: saturated


def test_the_first_batch_does_not_depend_on_max_queries_with_diversity() -> None:
    """diverse_margin clusters one batch per ``max_queries / batch_size``: the cold start's
    typical items, drawn after, must not change with it (the labeler's first batch)."""
    rng = np.random.default_rng(1)
    raw = rng.dirichlet([1, 1, 1], size=997)
    pool = pd.DataFrame({"id": np.arange(997), "x": rng.normal(size=997)})
    firsts = [score_pool([pool], lambda chunk: raw[chunk["id"].to_numpy()],
                         strategy="diverse_margin", batch_size=20, seed=5, n_labeled=3,
                         max_queries=k)["id"].head(20).tolist() for k in (20, 40, 250, None)]
    assert all(first == firsts[0] for first in firsts[1:])


def test_a_model_giving_more_rows_than_asked_is_refused_before_rows_are_named() -> None:
    def extra_nan_row(chunk: pd.DataFrame) -> np.ndarray:
        return np.vstack([np.full((len(chunk), 3), 1 / 3), [np.nan] * 3])

    with pytest.raises(ValidationError, match="gave 4 rows of probabilities for 3 items"):
        score_pool(chunked(POOL, 3), extra_nan_row)


def test_the_cold_start_draws_the_same_typical_rows_for_every_strategy() -> None:
    """diverse_margin draws for its k-means before the typical rows are drawn: with a
    stream of their own, they are margin's (the same three uncertain rows picked)."""
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=n)
    table = {f"r{i}": [0.96, 0.02, 0.02] for i in range(n)}
    for i in (10, 200, 390):  # three far-apart rows the model doubts
        table[f"r{i}"] = [0.34, 0.33, 0.33]
        x[i] = (i - 200) * 1.0
    pool = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "x": x})

    def run(strategy: str) -> pd.DataFrame:
        return score_pool(chunked(pool, 64), FixedModel(table).predict_proba,
                          strategy=strategy, batch_size=20, max_queries=20, n_labeled=6,
                          features=lambda f: f[["x"]].to_numpy(), seed=3)

    margin, diverse = run("margin"), run("diverse_margin")
    assert set(margin["id"].tail(3)) == set(diverse["id"].tail(3)) == {"r10", "r200", "r390"}
    assert margin["id"].head(17).tolist() == diverse["id"].head(17).tolist()


@pytest.mark.parametrize("order", ["increasing", "shuffled", "repeated"])
def test_excluding_by_integer_ids_finds_the_same_rows_in_any_order(order) -> None:
    """Increasing ids (the usual id column) are searched the other way round; the answer
    is the same as for ids in any order, and repeats are refused either way."""
    rng = np.random.default_rng(0)
    ids = np.arange(-500, 4500, 5, dtype=np.int64)
    if order != "increasing":
        rng.shuffle(ids)
    if order == "repeated":
        ids[7] = ids[3]
    frame = pd.DataFrame({"id": ids})
    keys = {str(k) for k in rng.choice(np.arange(-600, 5000), 300, replace=False)}
    keys |= {"x", str(2**63 - 1), str(-(2**63))}
    pool_keys = PoolKeys("id", only=keys)
    if order == "repeated":
        with pytest.raises(ValidationError, match="is not unique"):
            pool_keys.excluded(frame, keys)
        return
    expected = np.array([str(i) in keys for i in ids])
    assert pool_keys.excluded(frame, keys).tolist() == expected.tolist()
    assert expected.any() and not expected.all()
