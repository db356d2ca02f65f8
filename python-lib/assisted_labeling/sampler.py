"""The query sampler: score a pool of any size, chunk by chunk, into a queries table.

:func:`score_pool` reads the pool as an iterable of DataFrames (one chunk at a time),
drops the items that are already labeled, asks the model for class probabilities, scores
them with a strategy of :mod:`assisted_labeling.sampling` and returns the pool's columns
plus ``uncertainty`` (higher = label first), sorted by decreasing uncertainty, ties in
pool order, and ``model_uncertainty``, the strategy's own score of each item (what a
labeler is shown; ``uncertainty`` may be re-assigned by rank to keep an asking order).

Memory: with ``max_queries=k`` only the ``k`` best items seen so far are kept (plus the
current chunk), so a pool of 10^7 rows needs about as much memory as one of 10^5.
Without ``max_queries`` every unlabeled row is returned, and the output is the only thing
that grows.

Item keys: already-labeled items are recognised by their key, which must be the key the
labeling webapp gives them: :class:`assisted_labeling.sources.RowIdentifier`. That class
works row by row on Python dicts (about 20 µs a row for 20 columns, and a counter of every
row seen); :class:`PoolKeys` computes the same keys column-wise and, when only membership
in a known set of keys matters, counts duplicates only for the rows that could match.
:class:`SeenDigests` tells, in bounded memory, which rows may repeat an earlier one: only
those need their occurrence counted to get their exact key.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Callable, Collection, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import ValidationError
from .sampling import (
    DEFAULT_COLD_START,
    DEFAULT_PREFILTER,
    RunningTopK,
    as_generator,
    check_probabilities,
    child_generator,
    diverse_order,
    get_strategy,
    random_scores,
    representative_picks,
    uncertain_share,
)
from .sources import canonical_text

#: The queue's ordering key (4.x: the webapp serves by decreasing uncertainty).
UNCERTAINTY_COLUMN = "uncertainty"
#: The strategy's own score of the item, shown to labelers; NaN for ``random``.
MODEL_UNCERTAINTY_COLUMN = "model_uncertainty"
SESSION_COLUMN = "session"
#: What a sampler adds to the pool's columns: a pool holding one of them is a queries table.
QUERY_COLUMNS = (UNCERTAINTY_COLUMN, MODEL_UNCERTAINTY_COLUMN, SESSION_COLUMN)

_DIGEST_KEY = re.compile(r"^([0-9a-f]{16})(?:-[1-9][0-9]*)?$")
_INT_KEY = re.compile(r"^(?:0|-?[1-9][0-9]*)$")  # str(int) of some integer
_INT64_LIMIT = 2.0**63
_DIGEST_BLOCK = 4096  # rows hashed together by content_digests


# --------------------------------------------------------------------------- item keys


def canonical_column(column: pd.Series) -> list[str]:
    """``sources.canonical_text(v)`` for every value of ``column``,
    vectorized for numpy bool, int, float and object columns (exact fallback otherwise)."""
    values = column._values if hasattr(column, "_values") else np.asarray(column)
    if not isinstance(values, np.ndarray):  # extension arrays, datetimes, categories…
        return [canonical_text(v) for v in column]
    kind = values.dtype.kind
    if kind == "b":
        return np.where(values, "true", "false").tolist()
    if kind in "iu":
        return values.astype(str).tolist()
    if kind == "f":
        return _canonical_floats(values.astype(np.float64, copy=False))
    if kind == "O":
        return [v if type(v) is str else canonical_text(v) for v in values]
    return [canonical_text(values.item(i)) for i in range(values.size)]


def _canonical_floats(a: np.ndarray) -> list[str]:
    out = np.empty(a.size, dtype=object)
    finite = np.isfinite(a)
    integral = finite & (np.floor(a) == a)
    small = integral & (np.abs(a) < _INT64_LIMIT)
    out[np.isnan(a)] = ""
    if small.any():
        out[small] = a[small].astype(np.int64).astype(str).tolist()
    big = integral & ~small
    if big.any():
        out[big] = [str(int(v)) for v in a[big].tolist()]
    other = ~integral & ~np.isnan(a)  # non-integral finite values and ±inf
    if other.any():
        out[other] = [repr(v) for v in a[other].tolist()]
    return out.tolist()


def content_digests(frame: pd.DataFrame) -> list[str]:
    """``sources.content_hash`` of every row of ``frame`` (no occurrence suffix)."""
    from hashlib import blake2b

    names = [str(c) for c in frame.columns]
    last: dict[str, int] = {}
    for position, name in enumerate(names):
        last[name] = position  # like the row dict of frame_rows: the last column wins
    ordered = sorted(last)
    if not ordered:
        empty = blake2b(digest_size=8).hexdigest()
        return [empty] * len(frame)
    template = "".join(name.replace("%", "%%") + "\x1f%s\x1e" for name in ordered)
    digests: list[str] = []
    # A block of rows at a time: the canonical strings of a whole chunk (rows × columns
    # Python strings) would cost far more memory than the chunk itself.
    for start in range(0, len(frame), _DIGEST_BLOCK):
        block = frame.iloc[start:start + _DIGEST_BLOCK]
        columns = [canonical_column(block.iloc[:, last[name]]) for name in ordered]
        digests.extend(
            blake2b((template % values).encode("utf-8", "surrogatepass"),
                    digest_size=8).hexdigest()
            for values in zip(*columns))
    return digests


class PoolKeys:
    """Item keys of consecutive pool chunks, equal to ``RowIdentifier(id_column)`` keys.

    Call it on each chunk in pool order (it counts duplicate rows across chunks).

    ``only``: when the keys are only used to test membership in a known set (the labeled
    items), pass that set. Duplicates are then counted only for rows whose content hash
    is that of a key in the set, so memory stays O(len(only)) instead of O(pool); a later
    duplicate of any other row gets its bare hash instead of ``hash-n``, which changes no
    membership answer. ``None`` gives exact keys (memory O(distinct rows)).

    With an id column, an empty id or an id repeated within a chunk raises
    :class:`ValidationError` like ``RowIdentifier``; repeats across chunks are only
    caught in exact mode (``only=None``).
    """

    def __init__(self, id_column: str | None = None, *,
                 only: Collection[str] | None = None) -> None:
        self.id_column = id_column
        self.exact = only is None
        self._tracked: set[str] | None = None
        if not self.exact and not id_column:
            self._tracked = {m.group(1) for m in map(_DIGEST_KEY.match, only) if m}
        self._seen: Counter[str] = Counter()
        self._ids: set[str] = set()
        self._int_cache: tuple[Collection[str], np.ndarray] | None = None

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return self._id_keys(frame) if self.id_column else self._content_keys(frame)

    def excluded(self, frame: pd.DataFrame, keys: Collection[str]) -> np.ndarray:
        """Boolean mask of the rows of ``frame`` whose key is in ``keys``.

        Same answer as testing ``self(frame)`` against ``keys``; an integer id column is
        compared as integers, without making strings.
        """
        if self.id_column and not self.exact:
            column = self._id_column(frame)
            values = column._values
            if isinstance(values, np.ndarray) and values.dtype.kind == "i":
                keys_array = self._integer_keys(keys)
                if _increasing(values):  # the usual id column: unique, and searchable
                    return _sorted_among(values, keys_array)
                return among_sorted(self._refuse_repeats(values), keys_array)
        found = self(frame)
        return np.fromiter((k in keys for k in found), dtype=bool, count=len(found))

    def compact(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows' keys, except that an integer id column gives its integers
        themselves (the key of ``v`` is ``str(v)``): no string per row, for a caller that
        makes strings only of the rows it keeps. Integers only without exact counting
        (``only`` given), where no id is remembered across chunks."""
        if self.id_column and not self.exact:
            values = self._id_column(frame)._values
            if isinstance(values, np.ndarray) and values.dtype.kind == "i":
                return self._unique_integers(values)
        return self(frame)

    def _unique_integers(self, values: np.ndarray) -> np.ndarray:
        if _increasing(values):  # unique: no hash table to build
            return values
        return self._refuse_repeats(values)

    def _refuse_repeats(self, values: np.ndarray) -> np.ndarray:
        index = pd.Index(values)
        if not index.is_unique:
            raise ValidationError(
                f'The id column "{self.id_column}" is not unique: '
                f'"{values[index.duplicated()][0]}" appears twice', column=self.id_column)
        return values

    def _integer_keys(self, keys: Collection[str]) -> np.ndarray:
        cached = self._int_cache
        if cached is not None and cached[0] is keys:
            return cached[1]
        array = integer_keys(keys)
        self._int_cache = (keys, array)
        return array

    def _id_column(self, frame: pd.DataFrame) -> pd.Series:
        name = self.id_column
        positions = [i for i, c in enumerate(frame.columns) if str(c) == name]
        if not positions:
            raise ValidationError(
                f'The id column "{name}" is not in the pool (columns: '
                f"{', '.join(map(str, frame.columns))})",
                column=name,
            )
        return frame.iloc[:, positions[-1]]

    def _id_keys(self, frame: pd.DataFrame) -> np.ndarray:
        name = self.id_column
        keys = np.array(canonical_column(self._id_column(frame)), dtype=object)
        if keys.size and (keys == "").any():
            raise ValidationError(f'A row has an empty id in column "{name}"', column=name)
        dup = pd.Series(keys).duplicated()
        if dup.any():
            key = keys[int(np.argmax(dup.to_numpy()))]
            raise ValidationError(
                f'The id column "{name}" is not unique: "{key}" appears twice', column=name
            )
        if self.exact:
            again = [k for k in keys if k in self._ids]
            if again:
                raise ValidationError(
                    f'The id column "{name}" is not unique: "{again[0]}" appears twice',
                    column=name,
                )
            self._ids.update(keys.tolist())
        return keys

    def _content_keys(self, frame: pd.DataFrame) -> np.ndarray:
        return self.from_digests(content_digests(frame))

    def from_digests(self, digests: Sequence[str]) -> np.ndarray:
        """The keys of the next rows, given their ``content_digests`` (no id column)."""
        keys = np.array(digests, dtype=object)
        seen = self._seen
        tracked = self._tracked
        for i, digest in enumerate(digests):
            if tracked is not None and digest not in tracked:
                continue
            occurrence = seen[digest]
            seen[digest] = occurrence + 1
            if occurrence:
                keys[i] = f"{digest}-{occurrence}"
        return keys


def integer_keys(keys: Collection[str]) -> np.ndarray:
    """The keys that are the text of an int64 (``"12"``, ``"-3"``), as sorted integers
    (for :func:`among_sorted`)."""
    ints = []
    for key in keys:
        if _INT_KEY.match(key):
            value = int(key)
            if -(2**63) <= value < 2**63:
                ints.append(value)
    return np.unique(np.array(ints, dtype=np.int64))


def among_sorted(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for ``keys`` sorted: a binary search per value, about
    half the time of ``isin``, which sorts the keys again on every chunk."""
    if not keys.size:
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind == "u":  # mixed with int64 keys, numpy would compare as floats
        small = values <= np.iinfo(np.int64).max
        found = np.zeros(values.shape, dtype=bool)
        found[small] = among_sorted(values[small].astype(np.int64), keys)
        return found
    at = np.searchsorted(keys, values)
    at[at == keys.size] = 0
    return keys[at] == values


def _increasing(values: np.ndarray) -> bool:
    """Whether ``values`` strictly increase (then they are unique and sorted)."""
    return values.size < 2 or bool((values[1:] > values[:-1]).all())


def _sorted_among(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``among_sorted`` for strictly increasing ``values``: each key is looked up among
    the values (a chunk holds far more rows than there are labeled keys)."""
    found = np.zeros(values.shape, dtype=bool)
    if not keys.size or not values.size:
        return found
    at = np.searchsorted(values, keys)
    hit = at < values.size
    at = at[hit]
    found[at[values[at] == keys[hit]]] = True
    return found


class SeenDigests:
    """Which content digests may have come before: a Bloom filter of fixed size.

    A row's key is its bare digest unless an earlier row had the same content; counting
    every digest to know that costs memory O(pool). This filter answers "certainly new"
    or "maybe seen" in ``2**bits_log2 / 8`` bytes whatever the pool size, so only the
    "maybe" rows (true duplicates and a few false positives) need an exact count later.
    With the default 16 MiB and 4 probes, a new row is wrongly "maybe" with probability
    about ``(1 - exp(-4 n / 2**27))**4``: 4e-5 after 1.5 M rows, 0.4 % after 10 M.
    """

    def __init__(self, *, bits_log2: int = 27, probes: int = 4) -> None:
        if not 3 <= bits_log2 <= 40 or probes < 1:
            raise ValueError("bits_log2 must be in [3, 40] and probes ≥ 1")
        self._bits = np.zeros(1 << (bits_log2 - 3), dtype=np.uint8)
        self._mask = np.uint64((1 << bits_log2) - 1)
        self._probes = probes

    def check_and_add(self, digests: Sequence[str]) -> np.ndarray:
        """True for each digest that may equal an earlier one (in an earlier call, or
        earlier in this one); then remembers them all."""
        n = len(digests)
        if not n:
            return np.zeros(0, dtype=bool)
        # The digests are already uniform 64-bit hashes: derive the probes from their two
        # halves (Kirsch–Mitzenmacher double hashing) instead of hashing again.
        h = np.frombuffer(bytes.fromhex("".join(digests)), dtype=">u8").astype(np.uint64)
        low, step = h & np.uint64(0xFFFFFFFF), (h >> np.uint64(32)) | np.uint64(1)
        bits = np.stack([(low + np.uint64(i) * step) & self._mask
                         for i in range(self._probes)], axis=1)
        byte = (bits >> np.uint64(3)).astype(np.intp)
        mask = (np.uint8(1) << (bits & np.uint64(7)).astype(np.uint8))
        maybe = ((self._bits[byte] & mask) != 0).all(axis=1)
        maybe |= pd.Series(digests).duplicated().to_numpy()  # exact within this call
        np.bitwise_or.at(self._bits, byte.ravel(), mask.ravel())
        return maybe


# --------------------------------------------------------------------------- scoring


def _report(progress: Any, rows_in_chunk: int, rows_done: int) -> None:
    if progress is None:
        return
    if hasattr(progress, "update"):
        progress.update(rows_in_chunk)  # tqdm and alike
    else:
        progress(rows_done)


def _excluded(keys: Any, exclude: Any) -> np.ndarray:
    if callable(exclude):
        mask = np.asarray(exclude(keys), dtype=bool)
        if mask.shape != (len(keys),):
            raise ValidationError(
                f"exclude_keys returned {mask.size} answers for {len(keys)} keys"
            )
        return mask
    return np.fromiter((k in exclude for k in keys), dtype=bool, count=len(keys))


def _cold_start_rows(rows: pd.DataFrame, scores: np.ndarray, positions: np.ndarray,
                     order: np.ndarray, sample: tuple[np.ndarray, np.ndarray, tuple[Any, ...]],
                     *, n_uncertain: int, fill: int, prefilter: float,
                     rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``fill`` representatives of ``sample``, then the first ``n_uncertain`` ranked rows,
    then the other ranked rows; scores (decreasing) re-assigned by rank, and each row's
    own score. When the batch holds every row, the ranked order."""
    _, s_positions, (s_rows, s_scores, s_feats) = sample
    head = order[:n_uncertain]
    free = np.flatnonzero(~np.isin(s_positions, positions[head]))
    if free.size <= fill:  # the batch takes the whole pool: nothing to choose
        return rows.iloc[order], scores, scores[order]
    free = free[: math.ceil(prefilter * fill)]
    picks = free[representative_picks(s_feats[free], fill, seed=rng)]
    picks = picks[np.lexsort((s_positions[picks], -s_scores[picks]))]  # most uncertain first
    tail = order[n_uncertain:]
    tail = tail[~np.isin(positions[tail], s_positions[picks])]
    merged = pd.concat([s_rows.iloc[picks], rows.iloc[head], rows.iloc[tail]])
    own = np.concatenate([s_scores[picks], scores[head], scores[tail]])
    return merged, -np.sort(-own, kind="stable"), own


def _cold_start_plan(batch_size: int, max_queries: int | None, n_labeled: int | None,
                     cold_start: float | None, n_classes: int, prefilter: float
                     ) -> tuple[int, int, RunningTopK | None]:
    """How many queries of the first batch uncertainty picks, how many typical rows fill
    it, and the bounded uniform sample they come from (``n_uncertain`` extra rows for
    those the uncertain head of the batch takes)."""
    n_uncertain = uncertain_share(batch_size, n_labeled, cold_start, n_classes)
    first = batch_size if max_queries is None else min(batch_size, max_queries)
    fill = max(first - n_uncertain, 0)
    sample = RunningTopK(math.ceil(prefilter * fill) + n_uncertain) if fill else None
    return n_uncertain, fill, sample


def score_pool(
    chunks: Iterable[pd.DataFrame],
    predict_proba: Callable[[pd.DataFrame], Any] | None,
    *,
    strategy: str = "margin",
    max_queries: int | None = None,
    exclude_keys: Collection[str] | Callable[[np.ndarray], Any] | None = None,
    id_column: str | None = None,
    key_fn: Callable[[pd.DataFrame], Sequence[str]] | None = None,
    features: Callable[[pd.DataFrame], Any] | None = None,
    batch_size: int = 100,
    prefilter: float = DEFAULT_PREFILTER,
    normalize: bool = False,
    seed: int | np.random.Generator | None = None,
    session: int | None = None,
    progress: Any = None,
    n_labeled: int | None = None,
    cold_start: float | None = DEFAULT_COLD_START,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Score every unlabeled item of the pool; return the queries, most uncertain first.

    ``chunks`` are read once, in pool order. ``predict_proba(chunk)`` returns one row of
    class probabilities per row of ``chunk`` (an array, or a DataFrame of ``proba_*``
    columns); it is not called for ``random``, nor for empty chunks.

    Exclusion: ``exclude_keys`` is a set of item keys (labeled items), or a function
    taking an array of keys and returning a boolean mask (True = exclude). Keys come from
    ``key_fn(chunk)``, by default :class:`PoolKeys` with ``id_column`` (the keys of
    ``sources.RowIdentifier``). Keys are computed only when ``exclude_keys`` is given.
    A function gets exact keys (a repeated row's ``hash-n``), which the default
    ``key_fn`` makes by remembering every distinct row: memory then grows with the pool
    (about 100 bytes a row); a set, or a ``key_fn`` of one's own, keeps it bounded.

    Errors about a row of probabilities name it by its place in the pool (from 0).

    ``random`` writes its seeded uniform draw in the ``uncertainty`` column: it orders the
    queue, it does not measure doubt, so its ``model_uncertainty`` is NaN.

    ``columns``: the pool columns the queries keep (default: all). A caller that only
    sets priorities keeps the item id alone, so memory holds no whole rows.

    ``max_queries``: keep only the best ``k`` rows (memory O(k + chunk)); ``None`` keeps
    every unlabeled row. ``session``: when given, adds a ``session`` column holding it.
    ``progress``: a tqdm-like object (``update(rows)`` per chunk) or a callable receiving
    the number of pool rows read so far.

    ``diverse_margin`` works with chunks as follows: rows are ranked by margin in the
    bounded top-k, and the features (``features(chunk)``, default: the class
    probabilities) of the best ``(n_batches - 1) * batch_size + prefilter * batch_size``
    items are kept with them (``n_batches = ceil(max_queries / batch_size)``, or 1 without
    ``max_queries``). At the end, :func:`~assisted_labeling.sampling.diverse_order`
    re-ranks those candidates batch by batch. The ``uncertainty`` column then holds the
    margin scores re-assigned by rank (the i-th query gets the i-th highest margin), so it
    stays in [0, 1] and decreasing, and an app that serves by decreasing uncertainty
    keeps the diverse order; ``model_uncertainty`` keeps each item's own margin.

    Cold start (:func:`~assisted_labeling.sampling.uncertain_share`): when the model
    learned from ``n_labeled`` labels, too few for a batch of ``batch_size``, only
    ``cold_start × n_labeled`` queries of the first batch are chosen by uncertainty; the
    rest stands for the pool: k-means on the features of a uniform sample of the
    unlabeled rows (``prefilter`` times the places to fill, drawn while reading, so memory
    stays bounded), the row nearest each centre. Those typical rows come first, then the
    uncertain ones (see :func:`~assisted_labeling.sampling.select_batch`). Scores are
    re-assigned by rank as above (``model_uncertainty`` keeps each item's own).
    The classes are those of the probabilities (their columns): the cold start goes on
    while the model has few labels per class. ``n_labeled=None`` or ``cold_start=None``
    turns this off; ``random`` has no cold start.
    """
    chosen = get_strategy(strategy)
    if max_queries is not None and (not isinstance(max_queries, (int, np.integer))
                                    or max_queries < 0):
        raise ValidationError(f"max_queries must be a whole number ≥ 0, got {max_queries!r}")
    if batch_size < 1:
        raise ValidationError(f"batch_size must be ≥ 1, got {batch_size!r}")
    if chosen.score is not None and predict_proba is None:
        raise ValidationError(f'The "{strategy}" strategy needs a model (predict_proba)')
    pool_keys: PoolKeys | None = None
    if exclude_keys is not None and key_fn is None:
        only = None if callable(exclude_keys) else exclude_keys
        pool_keys = PoolKeys(id_column, only=only)
        key_fn = pool_keys
    rng = as_generator(seed)
    # The cold start's typical items: a stream of their own, as in select_batch.
    typical_rng = child_generator(rng)
    if chosen.score is not None:  # bad cold-start settings are refused before reading
        uncertain_share(batch_size, n_labeled, cold_start)

    n_candidates: int | None = None
    n_batches = 1
    if chosen.diverse:
        n_batches = 1 if max_queries is None else max(1, math.ceil(max_queries / batch_size))
        width = max(batch_size, math.ceil(prefilter * batch_size))
        n_candidates = (n_batches - 1) * batch_size + width
    keep = max_queries
    if keep is not None and n_candidates is not None:
        keep = max(keep, n_candidates)
    ranking = RunningTopK(keep)
    candidates = RunningTopK(n_candidates) if n_candidates is not None else None
    n_uncertain = batch_size
    fill = 0
    # A uniform sample of the unlabeled rows (random keys in a bounded top-k), from which
    # the cold start picks representatives: sized at the first probabilities, which give
    # the number of classes.
    sample: RunningTopK | None = None

    template: pd.DataFrame | None = None
    n_classes: int | None = None
    offset = 0
    for chunk in chunks:
        n = len(chunk)
        if template is None:
            template = (chunk if columns is None else chunk[list(columns)]).iloc[:0]
        positions = np.arange(offset, offset + n, dtype=np.int64)
        offset += n
        if exclude_keys is not None and n:
            if pool_keys is not None and not callable(exclude_keys):
                drop = pool_keys.excluded(chunk, exclude_keys)
            else:
                keys = key_fn(chunk)
                if len(keys) != n:
                    raise ValidationError(f"key_fn gave {len(keys)} keys for {n} rows")
                drop = _excluded(keys, exclude_keys)
            if drop.any():
                chunk = chunk[~drop]
                positions = positions[~drop]
        if len(chunk):
            proba = None
            if chosen.score is not None:
                given = predict_proba(chunk)
                if np.ndim(given) and np.shape(given)[0] != len(chunk):  # before naming rows
                    raise ValidationError(
                        f"The model gave {np.shape(given)[0]} rows of probabilities "
                        f"for {len(chunk)} items"
                    )
                proba = check_probabilities(given, normalize=normalize,
                                            row_numbers=positions)
                if n_classes is None:
                    n_classes = proba.shape[1]
                    n_uncertain, fill, sample = _cold_start_plan(
                        batch_size, max_queries, n_labeled, cold_start, n_classes, prefilter)
                elif proba.shape[1] != n_classes:
                    raise ValidationError(
                        f"The model gave {n_classes} class probabilities for one chunk "
                        f"and {proba.shape[1]} for another"
                    )
                scores = chosen.score(proba)
            else:
                scores = random_scores(len(chunk), seed=rng)
            kept = chunk if columns is None else chunk[list(columns)]
            ranking.push(scores, positions, kept)
            if candidates is not None or sample is not None:
                feats = proba if features is None else np.asarray(features(chunk))
                if feats.shape[0] != len(chunk):
                    raise ValidationError(
                        f"features gave {feats.shape[0]} rows for {len(chunk)} items"
                    )
                if candidates is not None:
                    candidates.push(scores, positions, feats)
                if sample is not None:
                    sample.push(typical_rng.random(len(chunk)), positions, kept, scores,
                                feats)
        _report(progress, n, offset)

    scores, positions, payloads = ranking.result()
    if not payloads:
        out = (template if template is not None else pd.DataFrame()).copy()
        out[UNCERTAINTY_COLUMN] = pd.Series(dtype=np.float64)
        out[MODEL_UNCERTAINTY_COLUMN] = pd.Series(dtype=np.float64)
        if session is not None:
            out[SESSION_COLUMN] = pd.Series(dtype=np.int64)
        return out
    rows = payloads[0]
    own = scores  # each row's own score, in the output's order
    order = np.arange(positions.size)
    if candidates is not None:
        c_scores, c_positions, (c_feats,) = candidates.result()
        top = c_positions.size
        if not np.array_equal(c_positions, positions[:top]):  # pragma: no cover - invariant
            raise RuntimeError("diversity candidates out of step with the ranking")
        # A generator of its own: how many batches it clusters (``max_queries``) must not
        # change the draws of the cold start's typical items, asked before them.
        order = diverse_order(c_scores, batch_size=batch_size, features=c_feats,
                              n_batches=n_batches, prefilter=prefilter,
                              seed=int(rng.integers(2**63)), first_batch=n_uncertain)
        order = np.concatenate([order, np.arange(top, positions.size)])
    if sample is not None:
        rows, scores, own = _cold_start_rows(rows, scores, positions, order, sample.result(),
                                             n_uncertain=n_uncertain, fill=fill,
                                             prefilter=prefilter, rng=typical_rng)
    elif candidates is not None:
        # ``scores`` stay decreasing: the diverse order gets them by rank.
        rows, own = rows.iloc[order], scores[order]
    if max_queries is not None:
        rows, scores, own = rows.iloc[:max_queries], scores[:max_queries], own[:max_queries]
    out = rows.copy(deep=False)  # a frame of its own, sharing the (already taken) data
    out.index = pd.RangeIndex(len(out))
    out[UNCERTAINTY_COLUMN] = scores
    out[MODEL_UNCERTAINTY_COLUMN] = own if chosen.score is not None else np.nan
    if session is not None:
        out[SESSION_COLUMN] = np.int64(session)
    return out
