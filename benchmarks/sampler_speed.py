"""Query-sampler speed and memory against the model's bare ``predict_proba``.

One command (about 10 minutes on 2 cores; ``--quick`` for a 1.5-minute smoke run;
``--memory-only`` for the memory part alone, under a minute):

    PYTHONPATH=python-lib .venv/bin/python benchmarks/sampler_speed.py [--quick] [--memory-only]

Pools of 10^5, 10^6 and 10^7 rows × 20 float features are generated chunk by chunk
(50,000 rows a chunk, the same chunks for every measurement), so the pool never sits in
memory. For LogisticRegression and HistGradientBoostingClassifier with 3 and 20 classes:

* ``predict_proba``: iterate the chunks and call ``model.predict_proba`` on each (the
  baseline: what any sampler must at least do);
* ``sampler``: ``score_pool(chunks, model.predict_proba, strategy="margin",
  max_queries=1000)``;
* ``generate``: iterating the chunks alone, so that the ratio can also be given without
  the (shared) cost of producing the data.

Targets: sampler / predict_proba ≤ 1.5 (LR) and ≤ 1.1 (HGB). Extra rows show other
strategies, a full ranking (no ``max_queries``) and the cost of excluding labeled items.

Query path (``--query-only`` for this part alone): what ``ml-assisted-labeling query``
runs, ``queries.score_file`` on a Parquet file of 10^6 rows (with an integer id column,
and without one: content-hash ids; top 1000 and whole-pool ranking), over reading the
same file and calling the same ``TrainedModel.predict_proba`` on each chunk.

Memory: peak RSS (``ru_maxrss`` of a fresh child process, started by a tiny launcher) of a
sampler run with ``max_queries=1000`` over 10^7 rows vs over 10^5 rows (target ≤ 1.5×);
and of what ``ml-assisted-labeling query`` runs on a pool file without an id column
(``queries.score_file``: an id computed for every row from its content) over a Parquet
file of 2×10^6 rows vs 10^5 rows (target ≤ 1.5×).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python-lib"))

from assisted_labeling.sampler import score_pool  # noqa: E402
from assisted_labeling.sources import RowIdentifier, frame_rows  # noqa: E402

N_FEATURES = 20
CHUNK = 50_000
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]
RESULTS = HERE / "results"
QUERY_ROWS = 1_000_000  # pool size of the query-path (score_file) measurement


def pool_chunks(n_rows: int, *, chunk: int = CHUNK, seed: int = 0,
                with_id: bool = False) -> Iterator[pd.DataFrame]:
    """The pool, generated chunk by chunk (deterministic: chunk i from seed [seed, i])."""
    for i, start in enumerate(range(0, n_rows, chunk)):
        n = min(chunk, n_rows - start)
        x = np.random.default_rng([seed, i]).standard_normal((n, N_FEATURES))
        frame = pd.DataFrame(x, columns=COLUMNS, copy=False)
        if with_id:
            frame.insert(0, "id", np.arange(start, start + n))
        yield frame


def train(kind: str, n_classes: int) -> Any:
    """A model fitted on 20,000 synthetic rows whose class depends on the features."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = pd.DataFrame(rng.standard_normal((20_000, N_FEATURES)), columns=COLUMNS)
    w = rng.standard_normal((N_FEATURES, n_classes))
    y = np.argmax(x.to_numpy() @ w + rng.gumbel(size=(20_000, n_classes)), axis=1)
    if kind == "LR":
        model = LogisticRegression(max_iter=500)
    else:
        model = HistGradientBoostingClassifier(max_iter=40, early_stopping=False,
                                               random_state=0)
    return model.fit(x, y)


class Stopwatch:
    """Wraps a function (or an iterator) and adds up the time spent inside it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.seconds += time.perf_counter() - start

        return timed

    def iterate(self, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        while True:
            start = time.perf_counter()
            try:
                chunk = next(chunks)
            except StopIteration:
                self.seconds += time.perf_counter() - start
                return
            self.seconds += time.perf_counter() - start
            yield chunk


def measure(model: Any, n: int, repeats: int, **options: Any) -> dict[str, float]:
    """Bare predict_proba pass and sampler pass over the same chunks, ``repeats`` times;
    keeps the fastest of each. In the sampler pass, time spent inside predict_proba and
    inside chunk generation is measured too (the in-run baseline)."""
    with_id = options.pop("with_id", False)
    options.setdefault("max_queries", 1000)
    options.setdefault("strategy", "margin")
    predict = (lambda f: model.predict_proba(f[COLUMNS])) if with_id else model.predict_proba
    best: dict[str, float] = {"bare_s": float("inf"), "sampler_s": float("inf")}
    for _ in range(repeats):
        start = time.perf_counter()
        for chunk in pool_chunks(n, with_id=with_id):
            predict(chunk)
        best["bare_s"] = min(best["bare_s"], time.perf_counter() - start)

        in_predict, in_generate = Stopwatch(), Stopwatch()
        start = time.perf_counter()
        score_pool(in_generate.iterate(pool_chunks(n, with_id=with_id)),
                   in_predict.wrap(predict), **options)
        total = time.perf_counter() - start
        if total < best["sampler_s"]:
            best.update(sampler_s=total, predict_in_run_s=in_predict.seconds,
                        generate_in_run_s=in_generate.seconds)
    return best


def repeats_for(n: int) -> int:
    return 3 if n <= 100_000 else 2 if n <= 1_000_000 else 1


# --------------------------------------------------------------------------- memory


def rss_child(n: int, strategy: str, max_queries: int) -> None:
    """Run in a fresh process: one sampler run (none for n = 0), then exit."""
    model = train("LR", 20)
    if n:
        score_pool(pool_chunks(n), model.predict_proba, strategy=strategy,
                   max_queries=max_queries or None)


def train_trained_model(n_classes: int = 20, n_rows: int = 5_000) -> Any:
    """A ``models.TrainedModel`` like the one ``query`` loads (the default linear
    pipeline), fitted on synthetic rows of the pool's columns."""
    from assisted_labeling import models

    rng = np.random.default_rng(1)
    x = rng.standard_normal((n_rows, N_FEATURES))
    w = rng.standard_normal((N_FEATURES, n_classes))
    y = np.argmax(x @ w + rng.gumbel(size=(n_rows, n_classes)), axis=1)
    frame = pd.DataFrame(x, columns=COLUMNS).assign(label=[f"c{k}" for k in y])
    return models.train(frame, label_column="label")


def keyed_rss_child(path: str, max_queries: int) -> None:
    """Run in a fresh process: what ``query`` does on a pool file without an id column
    (no scoring for an empty path: the fixed part), then exit."""
    from assisted_labeling import queries

    model = train_trained_model()
    if path:
        queries.score_file(path, model, strategy="margin", id_column=None,
                           max_queries=max_queries or None)


def write_pool_file(path: Path, n: int, *, with_id: bool = False) -> Path:
    """``pool_chunks(n)`` (distinct rows) as a Parquet file, written chunk by chunk so
    that the pool never sits in memory (``with_id``: an integer id column first)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: Any = None
    try:
        for frame in pool_chunks(n, with_id=with_id):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


# A tiny launcher runs each child: the RSS peak of a child created by this (large) process
# would start from this process's own size (vfork + exec keeps the high-water mark), so a
# small process starts it and reports ``RUSAGE_CHILDREN`` for its single child.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_rss_mib(*child_args: str) -> float:
    """Peak resident memory (``ru_maxrss``) of a fresh process running this script with
    ``child_args`` (one of the ``--rss-*`` modes), MiB."""
    child = [sys.executable, __file__, *child_args]
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *child], check=True,
                          capture_output=True, text=True, env=os.environ.copy())
    return int(done.stdout.split()[-1]) / 1024  # Linux: KiB


def measure_memory(quick: bool) -> dict[str, Any]:
    """Peak RSS of each run (one fresh process each) and the large / small ratios."""
    memory: dict[str, float] = {}
    ratios: dict[str, float] = {}

    def run(label: str, *child_args: str) -> None:
        start = time.perf_counter()
        memory[label] = peak_rss_mib(*child_args)
        print(f"  {label:<48}{memory[label]:8.1f} MiB  ({time.perf_counter() - start:.0f} s)",
              flush=True)

    def ratio(name: str, large: str, small: str) -> None:
        ratios[name] = memory[large] / memory[small]
        print(f"  ratio, larger / smaller pool: {ratios[name]:.2f} (target ≤ 1.5)")

    print("\nPeak RSS of score_pool, one fresh process each (LR, 20 classes, margin):")
    sizes = (10_000, 1_000_000) if quick else (100_000, 10_000_000)
    mid = 100_000 if quick else 1_000_000
    run("model only, no sampling", "--rss-child", "0")
    for n in sizes:
        run(f"top 1000 of {n:,} rows", "--rss-child", str(n))
    run(f"full ranking of {mid:,} rows", "--rss-child", str(mid), "--rss-max-queries", "0")
    ratio("score_pool", *(f"top 1000 of {n:,} rows" for n in reversed(sizes)))

    # The file path of ``query`` without an id column: every row's id is its content
    # hash, and the pool is read from a file (twice if a kept row may repeat an earlier
    # one). The files are written before measuring, outside the measured processes.
    print("\nPeak RSS of queries.score_file on a Parquet pool without an id column "
          "(what `query` runs;\nlinear TrainedModel, 20 classes, margin, top 1000; "
          "distinct rows):")
    # Both sizes span at least two 50,000-row chunks: the same working memory per chunk.
    sizes = (100_000, 500_000) if quick else (100_000, 2_000_000)
    prefix = "query, no id column: "
    with tempfile.TemporaryDirectory(prefix="sampler_speed_") as tmp:
        run(f"{prefix}model only, no scoring", "--rss-keyed", "")
        for n in sizes:
            path = write_pool_file(Path(tmp) / f"pool_{n}.parquet", n)
            run(f"{prefix}top 1000 of {n:,} rows", "--rss-keyed", str(path))
            path.unlink()  # 16 MB per 10^5 rows: do not keep them all
    ratio("query, no id column", *(f"{prefix}top 1000 of {n:,} rows" for n in reversed(sizes)))
    return {"peak_rss_mib": memory, "peak_rss_ratio": ratios, "peak_rss_ratio_target": 1.5}


# --------------------------------------------------------------------------- query path


class _TimedModel:
    """A ``TrainedModel`` whose ``predict_proba`` adds up the time spent inside it."""

    def __init__(self, model: Any, watch: Stopwatch) -> None:
        self._model = model
        self.predict_proba = watch.wrap(model.predict_proba)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def measure_query_path(quick: bool, n_classes: int = 20) -> dict[str, Any]:
    """What ``ml-assisted-labeling query`` runs: ``queries.score_file`` on a Parquet
    pool, with an integer id column and without one (content-hash ids), top 1000 and
    whole-pool ranking, over the bare pass a model must at least make: read the same file
    chunk by chunk (``sources.iter_table``, as ``score_file`` reads it) and call the same
    ``TrainedModel.predict_proba`` on each chunk."""
    from assisted_labeling import queries
    from assisted_labeling.sources import READER, iter_table

    n = 100_000 if quick else QUERY_ROWS
    model = train_trained_model(n_classes)
    rows: list[dict[str, Any]] = []
    print(f"\nqueries.score_file on a Parquet pool of {n:,} rows × {N_FEATURES} float "
          f"columns (linear TrainedModel, {n_classes} classes, margin), over the bare pass "
          "over the same file:\nread (sources.iter_table) + TrainedModel.predict_proba of "
          "each chunk. 'in run': time inside predict_proba during the score_file pass.")
    header = (f"{'pool file':<16}{'variant':<20}{'bare s':>8}{'score_file s':>13}"
              f"{'ratio':>7}{'in run: proba s':>17}{'extra µs/row':>14}")
    print(header)
    print("-" * len(header), flush=True)
    with tempfile.TemporaryDirectory(prefix="sampler_speed_") as tmp:
        for id_column in ("id", None):
            path = write_pool_file(Path(tmp) / "pool.parquet", n,
                                   with_id=id_column is not None)

            def bare(path: Path = path, id_column: str | None = id_column) -> float:
                start = time.perf_counter()
                for chunk in iter_table(path, chunksize=CHUNK, reader=READER,
                                        text_columns=[id_column]):
                    model.predict_proba(chunk)
                return time.perf_counter() - start

            bare_s = min(bare() for _ in range(2))
            for variant, max_queries in (("top 1000", 1000), ("whole-pool ranking", None)):
                total, watch = float("inf"), Stopwatch()
                for _ in range(2):  # the faster of two passes, as for the bare pass
                    timer = Stopwatch()
                    start = time.perf_counter()
                    out = queries.score_file(path, _TimedModel(model, timer),
                                             strategy="margin", id_column=id_column,
                                             max_queries=max_queries)
                    if time.perf_counter() - start < total:
                        total, watch = time.perf_counter() - start, timer
                    bare_s = min(bare_s, bare())  # interleaved with the passes
                label = "int id column" if id_column else "no id column"
                row = {"pool_file": label, "variant": variant, "rows": n,
                       "classes": n_classes, "bare_s": bare_s, "score_file_s": total,
                       "ratio": total / bare_s, "predict_in_run_s": watch.seconds,
                       "extra_us_per_row": 1e6 * (total - bare_s) / n,
                       "queries": len(out)}
                rows.append(row)
                print(f"{label:<16}{variant:<20}{bare_s:>8.2f}{total:>13.2f}"
                      f"{row['ratio']:>7.2f}{watch.seconds:>17.2f}"
                      f"{row['extra_us_per_row']:>14.1f}", flush=True)
            path.unlink()
    return {"query_path": rows}


# --------------------------------------------------------------------------- main


def measure_speed(quick: bool, kinds: list[str]) -> dict[str, Any]:
    """The timing table and the content-key cost; returns their numbers."""
    sizes = [10_000, 100_000] if quick else [100_000, 1_000_000, 10_000_000]
    rows: list[dict[str, Any]] = []
    header = (f"{'model':<5}{'cls':>4}{'rows':>12}  {'variant':<25}{'bare s':>8}"
              f"{'sampler s':>10}{'ratio':>7} |{'in run: gen s':>14}{'proba s':>9}"
              f"{'other s':>9}{'ratio':>7}{'target':>8}")
    print("ratio (left) = sampler pass / bare predict_proba pass, both generating the "
          "chunks;\nratio (in run) = (sampler pass - generation) / time inside "
          "predict_proba, same pass.\n")
    print(header)
    print("-" * len(header), flush=True)

    def record(kind: str, c: int, n: int, variant: str, m: dict[str, float],
               target: float | None) -> None:
        other = m["sampler_s"] - m["predict_in_run_s"] - m["generate_in_run_s"]
        in_run = (m["sampler_s"] - m["generate_in_run_s"]) / m["predict_in_run_s"]
        row = {"model": kind, "classes": c, "rows": n, "variant": variant, **m,
               "ratio": m["sampler_s"] / m["bare_s"], "ratio_in_run": in_run,
               "sampler_only_s": other, "target": target}
        rows.append(row)
        tgt = f"≤{target}" if target else ""
        print(f"{kind:<5}{c:>4}{n:>12,}  {variant:<25}{m['bare_s']:>8.2f}"
              f"{m['sampler_s']:>10.2f}{row['ratio']:>7.2f} |"
              f"{m['generate_in_run_s']:>14.2f}{m['predict_in_run_s']:>9.2f}{other:>9.2f}"
              f"{in_run:>7.2f}{tgt:>8}", flush=True)

    for kind, target in (("LR", 1.5), ("HGB", 1.1)):
        if kind not in kinds:
            continue
        for c in (3, 20):
            model = train(kind, c)
            for n in sizes:
                reps = repeats_for(n)
                record(kind, c, n, "margin, top 1000", measure(model, n, reps), target)
                if kind == "LR" and n == sizes[1]:
                    for variant, options in (
                        ("entropy, top 1000", {"strategy": "entropy"}),
                        ("diverse_margin, top 1000", {"strategy": "diverse_margin"}),
                        ("margin, full ranking", {"max_queries": None}),
                        ("margin, excl. 1000 ids", {"exclude_keys": {str(i) for i in
                                                                     range(0, n, n // 1000)},
                                                    "id_column": "id", "with_id": True}),
                    ):
                        record(kind, c, n, variant, measure(model, n, reps, **options),
                               target)

    # Excluding by content hash (no id column): RowIdentifier-compatible keys cost.
    n = sizes[0]
    keys = [r.key for c in pool_chunks(n) for r in frame_rows(c, RowIdentifier())][::100]
    model = train("LR", 3)
    m = measure(model, n, 1, exclude_keys=set(keys))
    record("LR", 3, n, "margin, excl. by content", m, None)
    start = time.perf_counter()
    for chunk in pool_chunks(n):
        for _ in frame_rows(chunk, RowIdentifier()):
            pass
    t_ref = time.perf_counter() - start
    other = m["sampler_s"] - m["predict_in_run_s"] - m["generate_in_run_s"]
    print(f"   content keys: sampler {1e6 * other / n:.1f} µs/row in all; "
          f"sources.frame_rows + RowIdentifier alone {1e6 * t_ref / n:.1f} µs/row")
    return {"rows": rows, "content_key_reference_us_per_row": 1e6 * t_ref / n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small pools, about a minute")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the peak-RSS part; its numbers replace those of the "
                             "results file, whose timings are kept")
    parser.add_argument("--query-only", action="store_true",
                        help="only the query-path part (queries.score_file on Parquet "
                             "files); its numbers replace those of the results file, "
                             "whose other numbers are kept")
    parser.add_argument("--models", default="LR,HGB", help="subset of LR,HGB to time")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rss-keyed", help=argparse.SUPPRESS)
    parser.add_argument("--rss-strategy", default="margin", help=argparse.SUPPRESS)
    parser.add_argument("--rss-max-queries", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "sampler_speed.json"))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.rss_child is not None:
        rss_child(args.rss_child, args.rss_strategy, args.rss_max_queries)
        return 0
    if args.rss_keyed is not None:
        keyed_rss_child(args.rss_keyed, args.rss_max_queries)
        return 0

    out = Path(args.out)
    if args.quick:
        out = out.with_name(out.stem + "_quick.json")
    started = time.perf_counter()
    results: dict[str, Any] = {}
    if args.memory_only or args.query_only:
        # Keep the numbers of the last full run: a partial run must not erase them.
        if out.is_file():
            results = json.loads(out.read_text())
    else:
        results.update(measure_speed(args.quick, args.models.split(",")))
    if not args.memory_only:
        results.update(measure_query_path(args.quick))
    if not args.query_only:
        results.update(measure_memory(args.quick))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; CPU: {os.cpu_count()} cores")

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"numbers: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
