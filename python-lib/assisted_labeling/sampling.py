"""Uncertainty scores on class probabilities, and top-k selection (pure numpy, no I/O).

Every strategy turns an ``(n_items, n_classes)`` array of class probabilities into one
score per item in ``[0, 1]``; a higher score means "ask a labeler first":

==================  =====================================================================
``confidence``      ``1 - p(1)``, with ``p(1)`` the highest class probability
``margin``          ``1 - (p(1) - p(2))``, with ``p(2)`` the second highest
``entropy``         ``-sum(p log p) / log(n_classes)``
``random``          uniform in ``[0, 1)``, seeded; the probabilities are not looked at
``diverse_margin``  ``margin`` per item; a batch is then re-ranked so that it does not hold
                    near-duplicates (see :func:`diverse_order`)
==================  =====================================================================

Conventions, each covered by a test:

* one class (``n_classes == 1``): the model has nothing to hesitate between, so
  ``confidence``, ``margin`` and ``entropy`` score every item 0;
* ties: items with equal scores keep their pool order (lower index first);
* NaN or infinite probabilities: :class:`~assisted_labeling.errors.ValidationError` that
  says how many rows are affected and which one comes first;
* negative probabilities, or rows whose sum is off 1 by more than ``atol``: an error, unless
  ``normalize=True`` is passed, which divides each row by its sum (negative values remain an
  error); small rounding (within ``atol``) is accepted as is and scores are clipped to
  ``[0, 1]``;
* an empty pool (``n_items == 0``) gives an empty result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .errors import ValidationError

#: Row-wise max / top-2 go column by column (numpy's reductions along short rows are
#: slow), over blocks of this many rows so that the strided columns stay in cache:
#: 2x faster than ``np.partition`` at 20 classes, 1.7x at 50 (benchmarks/README.md).
_BLOCK_ROWS = 4096

#: How far from 1 a row of probabilities may sum and still be accepted as is.
SUM_TOLERANCE = 1e-3

#: Default width of the uncertainty pre-filter of ``diverse_margin``, in batches
#: (see ``benchmarks/README.md`` for how it was chosen).
DEFAULT_PREFILTER = 20

#: Cold start: a model that learned from ``n`` labels picks at most ``ratio × n`` items of
#: a batch by uncertainty (see :func:`uncertain_share`; chosen in
#: ``benchmarks/label_efficiency.py`` on seeds other than the reported ones).
DEFAULT_COLD_START = 0.5

#: ... and keeps doing so, whatever the batch size, until it learned from this many
#: labels per class on average (the classes of its probabilities): chosen like the ratio.
COLD_START_LABELS_PER_CLASS = 5

# --------------------------------------------------------------------------- checks


def check_probabilities(
    proba: Any, *, normalize: bool = False, atol: float = SUM_TOLERANCE,
    row_numbers: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``proba`` as a 2-D float array (no copy when it already is one), or raise.

    Raises :class:`ValidationError` for a wrong shape, NaN/infinite values, negative
    values, and rows that do not sum to 1 within ``atol`` (unless ``normalize``, which
    rescales each row by its sum instead). ``row_numbers``: what to call each row in
    errors (a chunk's rows by their place in the pool); default, their index.
    """
    def number(i: int) -> int:
        return int(i if row_numbers is None else row_numbers[i])

    p = np.asarray(proba)
    if p.ndim != 2:
        raise ValidationError(
            f"Class probabilities must be a 2-D array (items × classes), got shape {p.shape}",
            shape=list(p.shape),
        )
    if p.dtype.kind not in "f":
        if p.dtype.kind not in "iub":
            raise ValidationError(
                f"Class probabilities must be numbers, got values of type {p.dtype}"
            )
        p = p.astype(np.float64)
    n, c = p.shape
    if n == 0:
        return p
    if c == 0:
        raise ValidationError(f"Class probabilities have no class column ({n} rows)")
    # Rescaled rows use numpy's reduction, whose rounding depends on the row alone (see
    # _entropy): a row's scores must not depend on the other rows of its chunk.
    with np.errstate(over="ignore", invalid="ignore"):  # such rows are refused below
        sums = (np.add.reduce(p, axis=1) if normalize else _row_sum(p)).astype(
            np.float64, copy=False)
    bad = ~np.isfinite(sums)
    if bad.any():
        rows = np.flatnonzero(bad)
        broken = rows[~np.isfinite(p[rows]).all(axis=1)]
        what = "are NaN or infinite" if broken.size else "hold values too large to sum"
        rows = broken if broken.size else rows
        raise ValidationError(
            f"{rows.size} of {n} rows of class probabilities {what} "
            f"(first: row {number(rows[0])})",
            rows=int(rows.size),
            first_row=number(rows[0]),
        )
    if p.min() < -atol:
        rows = np.flatnonzero((p < -atol).any(axis=1))
        raise ValidationError(
            f"{rows.size} of {n} rows of class probabilities hold negative values "
            f"(first: row {number(rows[0])})",
            rows=int(rows.size),
            first_row=number(rows[0]),
        )
    off = np.abs(sums - 1.0) > atol
    if off.any() and not normalize:
        rows = np.flatnonzero(off)
        raise ValidationError(
            f"{rows.size} of {n} rows of class probabilities do not sum to 1 "
            f"(first: row {number(rows[0])} sums to {sums[rows[0]]:.6g}); "
            "pass normalize=True to rescale each row by its sum",
            rows=int(rows.size),
            first_row=number(rows[0]),
        )
    if normalize:  # every row, not only those off by more than ``atol``
        zero = np.flatnonzero(sums <= 0)
        if zero.size:
            raise ValidationError(
                f"{zero.size} of {n} rows of class probabilities are all zero "
                f"(first: row {number(zero[0])}) and cannot be normalized",
                rows=int(zero.size),
                first_row=number(zero[0]),
            )
        p = p / sums[:, None].astype(p.dtype, copy=False)
    return p


def _row_sum(p: np.ndarray) -> np.ndarray:
    # A matrix-vector product (BLAS) beats numpy's reduction along short rows by 5-15×;
    # NaN and ±inf propagate through it like through a sum.
    return p @ np.ones(p.shape[1], dtype=p.dtype)


def _row_max(p: np.ndarray) -> np.ndarray:
    best = np.empty(p.shape[0], dtype=p.dtype)
    for start in range(0, p.shape[0], _BLOCK_ROWS):
        block, out = p[start:start + _BLOCK_ROWS], best[start:start + _BLOCK_ROWS]
        out[:] = block[:, 0]
        for j in range(1, p.shape[1]):
            np.maximum(out, block[:, j], out=out)
    return best


def _top_two(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Highest and second-highest value of each row (needs at least 2 columns)."""
    n, c = p.shape
    first = np.empty(n, dtype=p.dtype)
    second = np.empty(n, dtype=p.dtype)
    for start in range(0, n, _BLOCK_ROWS):
        block = p[start:start + _BLOCK_ROWS]
        top, runner_up = first[start:start + _BLOCK_ROWS], second[start:start + _BLOCK_ROWS]
        np.maximum(block[:, 0], block[:, 1], out=top)
        np.minimum(block[:, 0], block[:, 1], out=runner_up)
        for j in range(2, c):
            column = block[:, j]
            np.maximum(runner_up, np.minimum(top, column), out=runner_up)
            np.maximum(top, column, out=top)
    return first, second


def _as_scores(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    np.clip(out, 0.0, 1.0, out=out)
    return out


# --------------------------------------------------------------------------- scores


def _confidence(p: np.ndarray) -> np.ndarray:
    if p.shape[0] == 0:
        return np.zeros(0)
    return _as_scores(1.0 - _row_max(p))


def _margin(p: np.ndarray) -> np.ndarray:
    n, c = p.shape
    if n == 0 or c == 1:
        return np.zeros(n)
    first, second = _top_two(p)
    return _as_scores(1.0 - (first - second))


def _entropy(p: np.ndarray) -> np.ndarray:
    n, c = p.shape
    if n == 0 or c == 1:
        return np.zeros(n)
    # 0 · log 0 = 0: clamp to the smallest positive float, and weigh by the clamped
    # value, so that a rounding negative (which the check lets through) counts as 0.
    # In single precision: the logarithm and the products are most of the cost and run
    # several times faster on float32 (SIMD), and a score to 1e-6 ranks as well as one
    # to 1e-15.
    scores = _entropy_in(p, np.float32)
    # Near its maximum, entropy is flat (1 − O(d²) for probabilities d away from
    # uniform): single precision would tie items whose probabilities differ by up to
    # 1e-4, at the head of the queue. Those few rows are scored again in double.
    near = np.flatnonzero(scores > 1 - NEAR_UNIFORM)
    if near.size:
        scores[near] = _entropy_in(np.take(p, near, axis=0), np.float64)
    return scores


#: Entropy scores above ``1 - NEAR_UNIFORM`` are computed in double precision.
NEAR_UNIFORM = 1e-3


def _entropy_in(p: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    q = np.maximum(p, np.finfo(dtype).tiny, dtype=dtype, casting="same_kind")
    # einsum's fused row products, not the BLAS row sum: their rounding depends only on
    # the row, so identical rows tie whatever the chunk they are in (ties keep pool
    # order); faster, too.
    return _as_scores(np.einsum("ij,ij->i", q, np.log(q)) / -math.log(p.shape[1]))


def confidence_scores(proba: Any, *, normalize: bool = False) -> np.ndarray:
    """Least confidence: ``1 - p(1)``. One class: all 0."""
    return _confidence(check_probabilities(proba, normalize=normalize))


def margin_scores(proba: Any, *, normalize: bool = False) -> np.ndarray:
    """Smallest margin: ``1 - (p(1) - p(2))``. One class: all 0."""
    return _margin(check_probabilities(proba, normalize=normalize))


def entropy_scores(proba: Any, *, normalize: bool = False) -> np.ndarray:
    """Entropy normalized by ``log(n_classes)``, so 1 = uniform. One class: all 0."""
    return _entropy(check_probabilities(proba, normalize=normalize))


def random_scores(n: int, *, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``n`` uniform scores in ``[0, 1)``. Drawing ``a`` then ``b`` scores from one
    generator gives the same numbers as drawing ``a + b`` at once (chunk-proof)."""
    return as_generator(seed).random(int(n))


def child_generator(rng: np.random.Generator) -> np.random.Generator:
    """A stream of its own, whatever was drawn from ``rng`` before: the n-th child of
    its seed (``Generator.spawn(1)[0]`` for a ``default_rng``, which numpy < 1.25 lacks;
    the plugin's code environments may have numpy 1.22)."""
    bits = rng.bit_generator
    sequence = getattr(bits, "seed_seq", None) or bits._seed_seq
    return np.random.default_rng(sequence.spawn(1)[0])


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed, or the generator itself."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValidationError(f"A seed must be a whole number ≥ 0, got {seed}")
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class Strategy:
    """A query strategy: how one item is scored, and whether batches are diversified.

    ``score`` takes probabilities already checked by :func:`check_probabilities`; it is
    ``None`` for ``random``, which does not look at them.
    """

    name: str
    description: str
    score: Callable[[np.ndarray], np.ndarray] | None
    needs_model: bool = True
    diverse: bool = False


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("confidence", "smallest confidence: 1 - p(1)", _confidence),
        Strategy("margin", "smallest margin: 1 - (p(1) - p(2))", _margin),
        Strategy("entropy", "greatest entropy / log(n_classes)", _entropy),
        Strategy("random", "uniform random order (seeded)", None, needs_model=False),
        Strategy(
            "diverse_margin",
            "smallest margin, each batch re-ranked to avoid near-duplicates",
            _margin,
            diverse=True,
        ),
    )
}


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; an unknown name raises an error listing valid ones."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        valid = ", ".join(STRATEGIES)
        raise ValidationError(
            f'Unknown query strategy "{name}"; valid strategies: {valid}',
            strategy=str(name),
            valid=list(STRATEGIES),
        ) from None


def uncertainty_scores(
    proba: Any,
    *,
    strategy: str = "margin",
    seed: int | np.random.Generator | None = None,
    normalize: bool = False,
) -> np.ndarray:
    """Score each item (row of ``proba``) in ``[0, 1]`` with the named strategy.

    ``random`` ignores the probabilities (only their row count is used, so ``proba`` may
    be any sequence with a length). ``diverse_margin`` scores items like ``margin``; the
    batch re-ranking is :func:`diverse_order`.
    """
    chosen = get_strategy(strategy)
    if chosen.score is None:
        return random_scores(len(proba), seed=seed)
    return chosen.score(check_probabilities(proba, normalize=normalize))


# --------------------------------------------------------------------------- top-k


def _check_scores(scores: Any) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValidationError(f"Scores must be a 1-D array, got shape {s.shape}")
    nan = np.isnan(s)
    if nan.any():
        raise ValidationError(
            f"{int(nan.sum())} of {s.size} scores are NaN (first: item {np.argmax(nan)})"
        )
    return s


def top_k(scores: Any, k: int | None) -> np.ndarray:
    """Indices of the ``k`` highest scores, highest first; equal scores keep index order.

    ``k=None`` (or ``k >= n``) ranks every item. Cost: one ``np.partition`` plus a sort of
    ``k`` values, instead of a full sort of ``n``.
    """
    s = _check_scores(scores)
    n = s.size
    if k is not None and not isinstance(k, (int, np.integer)):
        raise ValidationError(f"The number of items to select must be a whole number, got {k}")
    if k is not None and k < 0:
        raise ValidationError(f"The number of items to select must be ≥ 0, got {k}")
    if k is None or k >= n:
        return np.argsort(-s, kind="stable")
    if k == 0:
        return np.zeros(0, dtype=np.intp)
    threshold = np.partition(s, n - k)[n - k]  # the k-th highest score
    above = np.flatnonzero(s > threshold)
    level = np.flatnonzero(s == threshold)[: k - above.size]
    chosen = np.concatenate([above, level])
    chosen.sort()
    return chosen[np.argsort(-s[chosen], kind="stable")]


def _take(payload: Any, idx: np.ndarray) -> Any:
    if payload is None:
        return None
    if isinstance(payload, (pd.DataFrame, pd.Series)):
        return payload.iloc[idx]
    return payload[idx]


def _concat(parts: Sequence[Any]) -> Any:
    if parts[0] is None:
        return None
    if isinstance(parts[0], (pd.DataFrame, pd.Series)):
        return pd.concat(parts, ignore_index=True, copy=False) if len(parts) > 1 else parts[0]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


class RunningTopK:
    """Keep the ``k`` best-scored items seen over many chunks, in O(k) memory.

    Each :meth:`push` takes a chunk's scores, the items' positions in the pool (their
    order for ties) and payloads (DataFrames or arrays with one row per item). Only the
    chunk's own top ``k`` (found with a partition, not a sort) are merged with the kept
    items, so memory stays O(k + chunk). With ``k=None`` everything is kept (a full
    ranking), and the sort happens once, in :meth:`result`.
    """

    def __init__(self, k: int | None) -> None:
        if k is not None and k < 0:
            raise ValidationError(f"The number of items to keep must be ≥ 0, got {k}")
        self.k = k
        self._scores = np.zeros(0)
        self._positions = np.zeros(0, dtype=np.int64)
        self._payloads: tuple[Any, ...] | None = None
        self._parts: list[tuple[np.ndarray, np.ndarray, tuple[Any, ...]]] = []

    def __len__(self) -> int:
        if self.k is None:
            return sum(part[0].size for part in self._parts)
        return int(self._scores.size)

    def push(self, scores: Any, positions: Any, *payloads: Any) -> None:
        """Offer a chunk: ``scores[i]`` belongs to the item at pool position
        ``positions[i]`` and to row ``i`` of each payload."""
        s = _check_scores(scores)
        pos = np.asarray(positions, dtype=np.int64)
        if pos.shape != s.shape:
            raise ValidationError(f"{s.size} scores but {pos.size} positions")
        if self.k is None:
            self._parts.append((s, pos, payloads))
            return
        if self.k == 0 or s.size == 0:
            return
        if self._scores.size >= self.k:
            # Only items strictly better than the worst kept one can enter: an equal score
            # loses the tie to the kept item, which came earlier in the pool.
            worst = self._scores[-1]
            better = np.flatnonzero(s > worst)
            if better.size == 0:
                return
            if better.size < s.size:
                s, pos = s[better], pos[better]
                payloads = tuple(_take(p, better) for p in payloads)
        local = top_k(s, self.k)
        s, pos = s[local], pos[local]
        payloads = tuple(_take(p, local) for p in payloads)
        if self._payloads is None:
            merged_s, merged_pos, merged_payloads = s, pos, payloads
        else:
            merged_s = np.concatenate([self._scores, s])
            merged_pos = np.concatenate([self._positions, pos])
            merged_payloads = tuple(
                _concat([old, new]) for old, new in zip(self._payloads, payloads)
            )
        order = np.lexsort((merged_pos, -merged_s))[: self.k]
        self._scores = merged_s[order]
        self._positions = merged_pos[order]
        self._payloads = tuple(_take(p, order) for p in merged_payloads)

    def result(self) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...]]:
        """``(scores, positions, payloads)`` of the kept items, best first, ties by
        position. Payloads is an empty tuple when nothing was pushed."""
        if self.k is None:
            if not self._parts:
                return np.zeros(0), np.zeros(0, dtype=np.int64), ()
            parts, self._parts = self._parts, []  # let the pieces go once merged
            s = np.concatenate([part[0] for part in parts])
            pos = np.concatenate([part[1] for part in parts])
            n_payloads = len(parts[0][2])
            merged = [_concat([part[2][i] for part in parts]) for i in range(n_payloads)]
            del parts
            order = np.lexsort((pos, -s))
            self._scores, self._positions = s[order], pos[order]
            self._payloads = tuple(_take(merged.pop(0), order) for _ in range(n_payloads))
            self.k = len(order)  # from now on, a bounded top-k holding everything
            return self._scores, self._positions, self._payloads
        return self._scores, self._positions, self._payloads or ()


# --------------------------------------------------------------------------- diversity


def _kmeans(
    x: np.ndarray,
    k: int,
    *,
    weights: np.ndarray,
    rng: np.random.Generator,
    n_iter: int = 30,
) -> np.ndarray:
    """Weighted k-means (k-means++ seeding from the heaviest point, then Lloyd).

    Returns a cluster label per row; fewer than ``k`` clusters when points coincide.
    """
    m = x.shape[0]
    norms = np.einsum("ij,ij->i", x, x)
    first = int(np.argmax(weights))
    centers = [first]
    d2 = np.maximum(norms - 2.0 * (x @ x[first]) + norms[first], 0.0)
    for _ in range(1, k):
        p = d2 * weights
        total = p.sum()
        if total <= 0:
            break  # every remaining point coincides with a centre
        nxt = int(np.searchsorted(np.cumsum(p), rng.random() * total, side="right"))
        nxt = min(nxt, m - 1)
        centers.append(nxt)
        np.minimum(d2, np.maximum(norms - 2.0 * (x @ x[nxt]) + norms[nxt], 0.0), out=d2)
    c = x[centers].copy()
    weighted = x * weights[:, None]
    clusters = np.arange(len(c))
    labels = np.full(m, -1)
    for _ in range(n_iter):
        new = np.argmin(_sq_distances(x, c, norms), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        members = (labels[:, None] == clusters).astype(x.dtype)  # m × k, one-hot
        w = weights @ members
        keep = w > 0
        c[keep] = (members.T @ weighted)[keep] / w[keep, None]
    return labels


def diverse_order(
    scores: Any,
    *,
    batch_size: int,
    features: Any,
    n_batches: int = 1,
    prefilter: float = DEFAULT_PREFILTER,
    seed: int | np.random.Generator | None = None,
    first_batch: int | None = None,
) -> np.ndarray:
    """Re-rank items so that each of the first ``n_batches`` batches is diverse.

    Why this design (uncertainty pre-filter + weighted k-means, Zhdanov 2019, "Diverse
    mini-batch active learning"): the top ``batch_size`` items by margin often sit on the
    same stretch of the decision boundary (the same confusable pair of classes, or
    near-copies of one item), so a batch of them teaches the model one thing many times.
    For each batch, take the ``prefilter × batch_size`` most uncertain remaining items,
    cluster them into ``batch_size`` groups by k-means on ``features`` (weighted by
    uncertainty, so clusters gather where the model hesitates most), and take the most
    uncertain item of each group. Greedy k-center was the other candidate; it favours
    outliers, which a small labeled set cannot afford, and did worst in
    ``benchmarks/label_efficiency.py``. The default pre-filter (20 batches) was chosen
    there, on seeds other than the reported ones: wide enough to explore while the model
    is poor (10 labels, 8 classes), still restricted to uncertain items.

    ``features`` is a numeric ``(n, d)`` array describing the items (model inputs, an
    embedding, or the class probabilities themselves). Inside a batch, items are ordered by
    score; after the diversified batches, the remaining items follow by score. Returns a
    permutation of ``range(n)``. ``first_batch`` (default ``batch_size``) sizes the first
    batch alone: the cold start makes it smaller (:func:`uncertain_share`).
    """
    s = _check_scores(scores)
    n = s.size
    if batch_size < 1:
        raise ValidationError(f"Batch size must be ≥ 1, got {batch_size}")
    if prefilter < 1:
        raise ValidationError(f"The pre-filter must be ≥ 1 batch, got {prefilter}")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n:
        raise ValidationError(
            f"Diversity features must have one row per item: {n} items, shape {x.shape}"
        )
    if n and not np.isfinite(x).all():
        raise ValidationError("Diversity features hold NaN or infinite values")
    rng = as_generator(seed)
    ranked = top_k(s, None)
    remaining = ranked  # by decreasing score, ties by index
    order: list[np.ndarray] = []
    for i in range(max(int(n_batches), 0)):
        if remaining.size == 0:
            break
        size = batch_size if i or first_batch is None else max(int(first_batch), 1)
        width = max(size, int(math.ceil(prefilter * size)))
        pool = remaining[:width]
        if pool.size <= size:
            order.append(pool)
            remaining = remaining[pool.size:]
            continue
        labels = _kmeans(x[pool], size, weights=s[pool] + 1e-12, rng=rng)
        # Most uncertain member of each cluster: ``pool`` is sorted by score, so the first
        # occurrence of each label is its best member (ties by index).
        _, first = np.unique(labels, return_index=True)
        picked = np.zeros(pool.size, dtype=bool)
        picked[first] = True
        if picked.sum() < size:  # coinciding points gave fewer clusters
            spare = np.flatnonzero(~picked)[: size - int(picked.sum())]
            picked[spare] = True
        order.append(pool[picked])
        remaining = np.concatenate([pool[~picked], remaining[width:]])
    order.append(remaining)
    return np.concatenate(order) if order else np.zeros(0, dtype=np.intp)


def uncertain_share(batch_size: int, n_labeled: int | None,
                    cold_start: float | None = DEFAULT_COLD_START,
                    n_classes: int | None = None) -> int:
    """How many items of a batch of ``batch_size`` the model's uncertainty may choose.

    Why: a model that learned from a handful of labels is confidently wrong about whole
    regions of the pool (classes it has not seen yet, for a start), so its most uncertain
    items sit on the few boundaries it knows; a large batch of them teaches less than a
    random batch (the "cold start" of uncertainty sampling, worst with batches much larger
    than the labeled set). So uncertainty picks at most ``cold_start × n_labeled`` items
    (at least 1) and the rest of the batch stands for the whole pool
    (:func:`representative_picks`). Once the model has learned from ``batch_size /
    cold_start`` labels, the whole batch is by uncertainty, unless it has learned from
    fewer than ``COLD_START_LABELS_PER_CLASS × n_classes`` labels (5 per class on
    average; how they split between classes is not known here): until then uncertainty
    picks at most ``cold_start`` of the batch (with small batches and
    many classes the model still knows some classes from a label or two, and the least
    sure items of ten classes are then mostly odd ones). ``n_labeled=None`` (unknown) or
    ``cold_start=None`` turns this off.
    """
    if batch_size < 1:
        raise ValidationError(f"Batch size must be ≥ 1, got {batch_size}")
    if n_classes is not None and n_classes < 1:
        raise ValidationError(f"The number of classes must be ≥ 1, got {n_classes}")
    if n_labeled is None or cold_start is None:
        return batch_size
    if not cold_start > 0:
        raise ValidationError(f"The cold-start ratio must be > 0, got {cold_start}")
    if n_labeled < 0:
        raise ValidationError(f"The number of labels must be ≥ 0, got {n_labeled}")
    share = cold_start * n_labeled
    if n_classes is not None and n_labeled < COLD_START_LABELS_PER_CLASS * n_classes:
        share = min(share, cold_start * batch_size)
    return max(1, min(batch_size, int(share)))


def representative_picks(
    features: Any, k: int, *, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """``k`` row indices of ``features`` that stand for all the rows, in no special order.

    k-means with equal weights into ``k`` clusters, then the member nearest each centre:
    the typical item of each region of the pool, never one on a region's edge (unlike
    k-center greedy, which goes for the edges and outliers). As in any k-means, a point far
    enough from all others can still make a cluster of its own. Rows that coincide can
    give fewer clusters than ``k``: random other rows make up the count.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    m = x.shape[0]
    if k >= m:
        return np.arange(m)
    if k < 1:
        return np.zeros(0, dtype=np.intp)
    if not np.isfinite(x).all():
        raise ValidationError("Features hold NaN or infinite values")
    rng = as_generator(seed)
    labels = _kmeans(x, k, weights=np.ones(m), rng=rng)
    clusters, counts = np.unique(labels, return_counts=True)
    members = labels[:, None] == clusters  # m × clusters
    centres = (members.T.astype(np.float64) @ x) / counts[:, None]
    d = _sq_distances(x, centres)
    d[~members] = np.inf
    picks = np.argmin(d, axis=0)
    if picks.size < k:
        spare = np.setdiff1d(np.arange(m), picks)
        picks = np.concatenate([picks, rng.choice(spare, k - picks.size, replace=False)])
    return picks.astype(np.intp)


def _sq_distances(x: np.ndarray, centres: np.ndarray,
                  x_norms: np.ndarray | None = None) -> np.ndarray:
    """Squared distances, rows of ``x`` × ``centres`` (``x_norms``: the rows' squared
    norms, when already known)."""
    if x_norms is None:
        x_norms = np.einsum("ij,ij->i", x, x)
    d = x_norms[:, None] - 2.0 * (x @ centres.T) + np.einsum("ij,ij->i", centres, centres)
    return np.maximum(d, 0.0, out=d)


def select_batch(
    proba: Any,
    *,
    strategy: str,
    batch_size: int,
    features: Any = None,
    seed: int | np.random.Generator | None = None,
    prefilter: float = DEFAULT_PREFILTER,
    normalize: bool = False,
    n_labeled: int | None = None,
    cold_start: float | None = DEFAULT_COLD_START,
) -> np.ndarray:
    """Indices of the ``batch_size`` items to label next, in asking order.

    ``features`` (default: the probabilities) describe the items for ``diverse_margin``
    and for the cold start. ``n_labeled``: how many labels the model learned from; while
    they are few, part of the batch is chosen to stand for the pool
    (:func:`uncertain_share`), and is asked first: the cold start holds that a barely
    trained model's doubts are worth less than an overview of the pool, so a labeler who
    stops halfway through the batch has the overview. ``random`` ignores both.
    """
    chosen = get_strategy(strategy)
    rng = as_generator(seed)
    scores = uncertainty_scores(proba, strategy=strategy, seed=rng, normalize=normalize)
    if chosen.score is None:
        return top_k(scores, batch_size)
    size = min(batch_size, scores.size)
    # A batch that takes the whole pool has nothing to choose: no cold start.
    n_uncertain = size if size == scores.size else uncertain_share(
        batch_size, n_labeled, cold_start, n_classes=np.shape(proba)[1])
    feats = None
    if chosen.diverse or n_uncertain < size:
        feats = check_probabilities(proba, normalize=normalize) if features is None \
            else np.asarray(features)
    # The typical items come from a stream of their own: whatever the strategy drew
    # before (diverse_margin's k-means), the same seed gives the same ones, so that two
    # strategies differ by their choices, not by their luck in the cold start.
    typical_rng = child_generator(rng)
    if not chosen.diverse:
        picked = top_k(scores, n_uncertain)
    else:
        picked = diverse_order(scores, batch_size=batch_size, first_batch=n_uncertain,
                               features=feats, prefilter=prefilter, seed=rng)[:n_uncertain]
    fill = size - picked.size
    if fill <= 0:
        return picked
    rest = np.setdiff1d(np.arange(scores.size), picked)
    wanted = int(math.ceil(prefilter * fill))
    if rest.size <= wanted:
        sample = rest
    else:
        # Drawn from the whole pool, then the picked items left out (as score_pool's
        # sample): other picks change the sample by those items only.
        drawn = typical_rng.permutation(scores.size)[:wanted + picked.size]
        sample = np.sort(drawn[~np.isin(drawn, picked)][:wanted])
    typical = sample[representative_picks(feats[sample], fill, seed=typical_rng)]
    typical = typical[np.lexsort((typical, -scores[typical]))]  # most uncertain first
    return np.concatenate([typical, picked])
