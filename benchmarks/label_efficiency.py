"""How many labels each query strategy needs: a pool-based active-learning simulation.

One command (about 4 minutes on 2 cores):

    PYTHONPATH=python-lib .venv/bin/python benchmarks/label_efficiency.py

For each data set (sklearn digits, sklearn breast cancer, an offline synthetic topic
corpus from ``text_data.py``), a held-out test split (30 %, stratified) measures accuracy;
the rest is the unlabeled pool whose labels the simulation reveals on request. Start from
10 random labels (the same for every strategy of a seed), retrain, let the strategy pick
the next batch (10 or 50 items) with the scoring code of ``assisted_labeling.sampling``,
up to 500 labels (or the whole pool when smaller). 5 seeds. The labeler answers each
batch in the order asked, and accuracy is measured every 10 labels, inside batches of 50
too (a model trained on the labels given so far): "labels needed" is then known to 10
labels for both batch sizes, not only at the 50-label steps where the strategy chooses.

Reported per data set, batch size and strategy, on the learning curve averaged over seeds:
labels needed to reach 95 % and 99 % of the full-pool accuracy (a model trained on every
pool label), and the area under the learning curve (mean accuracy between 10 and 500
labels), and its gain over random for the same seed (mean ± standard error). Random
sampling runs ``--random-draws`` times per seed (10; the same initial labels, other
picks), and a strategy is compared with the mean of those draws: what random sampling
gives from the seed's labels, rather than the luck of one draw, which was most of the
noise in the comparison. Random's draws do not depend on the batch size (one set of runs
serves both) and go on past 500 labels (steps of 50) so that its label needs are known
when it has not arrived by then. Every strategy but random gets the product's cold
start (``--cold-start off`` to compare without it). Verdict per row: the paired gain over
random is more than 2 standard errors above zero ("beats"), below ("loses"), or within
("tie"); ``diverse_margin`` is also compared with ``margin`` the same way. Curves go to
``benchmarks/results/label_efficiency.png``, numbers to ``label_efficiency.json``; any
run with other settings writes ``label_efficiency_<settings>.*`` (e.g.
``label_efficiency_coldstart_off.*``) unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "python-lib"))

from assisted_labeling.sampling import (  # noqa: E402
    DEFAULT_COLD_START,
    DEFAULT_PREFILTER,
    select_batch,
)

STRATEGIES = ("random", "confidence", "margin", "entropy", "diverse_margin")
RESULTS = HERE / "results"


@dataclass
class Task:
    """One data set, split into an unlabeled pool and a test set, with its model."""

    name: str
    x_pool: Any
    y_pool: np.ndarray
    x_test: Any
    y_test: np.ndarray
    make_model: Callable[[], Any]
    features: np.ndarray  # dense description of pool items, for the diversity strategy


def _split(x: Any, y: np.ndarray) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def load_task(name: str) -> Task:
    """Build one of ``digits``, ``breast_cancer``, ``topics``."""
    from sklearn.linear_model import LogisticRegression

    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x_pool, x_test, y_pool, y_test = _split(x / 16.0, y)
        return Task(name, x_pool, y_pool, x_test, y_test,
                    lambda: LogisticRegression(max_iter=3000), x_pool)
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler

        x, y = load_breast_cancer(return_X_y=True)
        x_pool, x_test, y_pool, y_test = _split(x, y)
        scaler = StandardScaler().fit(x_pool)  # unsupervised: uses no label
        x_pool, x_test = scaler.transform(x_pool), scaler.transform(x_test)
        return Task(name, x_pool, y_pool, x_test, y_test,
                    lambda: LogisticRegression(max_iter=3000), x_pool)
    if name == "topics":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize
        from text_data import make_topic_corpus

        docs, y, _ = make_topic_corpus(4000, seed=0)
        d_pool, d_test, y_pool, y_test = _split(np.array(docs, dtype=object), y)
        vec = TfidfVectorizer(sublinear_tf=True).fit(d_pool)  # unsupervised
        x_pool, x_test = vec.transform(d_pool), vec.transform(d_test)
        emb = normalize(TruncatedSVD(64, random_state=0).fit_transform(x_pool))
        return Task(name, x_pool, y_pool, x_test, y_test,
                    lambda: LogisticRegression(C=10.0, max_iter=3000), emb)
    raise SystemExit(f"unknown data set {name!r}")


def _initial_labels(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random pool items holding at least two classes (a classifier needs two)."""
    while True:
        idx = rng.choice(y.size, size=n, replace=False)
        if np.unique(y[idx]).size >= 2:
            return idx


def simulate(
    task: Task,
    strategy: str,
    *,
    batch: int,
    seed: int,
    budget: int,
    extend_to: int | None = None,
    extend_step: int = 50,
    prefilter: float = DEFAULT_PREFILTER,
    diversity: str = "inputs",
    n_initial: int = 10,
    cold_start: float | None = DEFAULT_COLD_START,
    measure_every: int = 10,
    draw: int = 0,
) -> tuple[list[int], list[float]]:
    """Learning curve ``(label counts, test accuracies)`` of one strategy and seed.

    The strategy picks a whole batch from one model, and the labeler answers it in the
    order asked; accuracy is measured every ``measure_every`` labels all the same (a model
    trained on the labels given so far, inside a batch too), so that "labels needed" is
    resolved to 10 labels with batches of 50 as with batches of 10. ``draw`` numbers
    another run of the same seed: the same initial labels, other picks (random's own draw,
    the k-means starts).
    """
    rng = np.random.default_rng(seed)
    labeled = list(_initial_labels(task.y_pool, n_initial, rng))
    pick_rng = np.random.default_rng([seed, 1] if draw == 0 else [seed, 1, draw])
    n_pool = task.y_pool.size
    limit = min(extend_to or budget, n_pool)
    counts, accs = [], []

    def fit(items: list[int]) -> Any:
        model = task.make_model().fit(task.x_pool[items], task.y_pool[items])
        counts.append(len(items))
        accs.append(float(model.score(task.x_test, task.y_test)))
        return model

    while True:
        model = fit(labeled)
        if len(labeled) >= limit:
            break
        step = batch if len(labeled) < budget else extend_step
        size = min(step, (budget if len(labeled) < budget else limit) - len(labeled))
        unlabeled = np.setdiff1d(np.arange(n_pool), labeled)
        proba = model.predict_proba(task.x_pool[unlabeled])
        if diversity == "inputs":
            feats = task.features[unlabeled]
        elif diversity == "proba":
            feats = proba
        else:
            raise SystemExit(f"unknown diversity features {diversity!r}")
        chosen = select_batch(proba, strategy=strategy, batch_size=size, features=feats,
                              seed=pick_rng, prefilter=prefilter, n_labeled=len(labeled),
                              cold_start=cold_start)
        answered = [int(i) for i in unlabeled[chosen]]
        if len(labeled) < budget:
            for j in range(measure_every, len(answered), measure_every):
                fit(labeled + answered[:j])
        labeled.extend(answered)
    return counts, accs


def _job(task: Task, seed: int, batch: int, budget: int, strategies: tuple[str, ...],
         prefilter: float, diversity: str, cold_start: float | None, draw: int = 0
         ) -> list[dict[str, Any]]:
    """Every strategy but random, one seed, batch size and draw."""
    from threadpoolctl import threadpool_limits

    out = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for strategy in strategies:
            if strategy == "random":
                continue
            counts, accs = simulate(task, strategy, batch=batch, seed=seed, budget=budget,
                                    prefilter=prefilter, diversity=diversity,
                                    cold_start=cold_start, draw=draw)
            out.append({"dataset": task.name, "strategy": strategy, "batch": batch,
                        "seed": seed, "draw": draw, "counts": counts, "accs": accs})
    return out


def _random_job(task: Task, seed: int, draw: int, budget: int,
                batches: list[int]) -> list[dict[str, Any]]:
    """One draw of random sampling from the seed's initial labels, run on to the whole
    pool (its label needs are known even past the budget). Random picks do not depend on
    the batch size, so the one run serves every batch size."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts, accs = simulate(task, "random", batch=10, seed=seed, budget=budget,
                                extend_to=task.y_pool.size, draw=draw)
    return [{"dataset": task.name, "strategy": "random", "batch": batch, "seed": seed,
             "draw": draw, "counts": counts, "accs": accs} for batch in batches]


def labels_to_reach(counts: list[int], accs: np.ndarray, target: float) -> int | None:
    """First measured label count at which the (mean) curve reaches ``target``."""
    for n, a in zip(counts, accs):
        if a >= target - 1e-12:
            return int(n)
    return None


def labels_to_reach_interpolated(counts: list[int], accs: np.ndarray,
                                 target: float) -> float | None:
    """Where the (mean) curve, drawn as straight lines between measured points, first
    reaches ``target``: finer than the batch grid (50 labels apart with batches of 50)."""
    previous = None
    for n, a in zip(counts, accs):
        if a >= target - 1e-12:
            if previous is None or a == previous[1]:
                return float(n)
            n0, a0 = previous
            return float(n0 + (n - n0) * (target - a0) / (a - a0))
        previous = (n, a)
    return None


def area_under_curve(counts: list[int], accs: np.ndarray, lo: int, hi: int) -> float:
    """Mean accuracy between ``lo`` and ``hi`` labels (trapezoids)."""
    c = np.asarray(counts, dtype=float)
    a = np.asarray(accs, dtype=float)
    keep = (c >= lo) & (c <= hi)
    c, a = c[keep], a[keep]
    return float(np.sum((c[1:] - c[:-1]) * (a[1:] + a[:-1]) / 2) / (c[-1] - c[0]))


#: The one criterion used for "beats": the paired per-seed AULC gain is more than
#: ``VERDICT_SE`` standard errors above zero ("loses": below); otherwise "tie".
VERDICT_SE = 2.0


def verdict(gain: float | None, se: float | None) -> str | None:
    """``beats`` / ``tie`` / ``loses``: the paired mean gain against ``VERDICT_SE``
    standard errors."""
    if gain is None or se is None:
        return None
    if gain > VERDICT_SE * se:
        return "beats"
    if gain < -VERDICT_SE * se:
        return "loses"
    return "tie"


def _paired_gain(runs: list[dict[str, Any]], group: list[dict[str, Any]],
                 budget: int, against: str = "random") -> dict[str, Any]:
    """AULC minus the AULC of ``against`` (random by default) for the same seed and
    batch: mean over seeds, its standard error, the verdict (``verdict``), the per-seed
    gains, and in how many seeds the strategy came out ahead. Pairing removes what the
    seed's initial labels do to both. A method with several draws of a seed (random's
    ``--random-draws``, the strategies' ``--draws``) counts with their mean AULC: what it
    gives from those initial labels, not the luck of one draw. With 10 seeds or more,
    also how many disjoint blocks of 5 consecutive seeds (the issue's protocol) have a
    positive mean gain: how often a 5-seed run would show the strategy ahead."""
    none = {"aulc_gain": None, "aulc_gain_se": None, "aulc_wins": None,
            "aulc_blocks_of_5_ahead": None, "verdict": None, "aulc_gains_per_seed": None}
    if not group or group[0]["strategy"] == against:
        return none
    n = len(group[0]["counts"])  # random runs on past the budget: compare on one span

    def mean_aulc(strategy: str, seed: int) -> float | None:
        values = [area_under_curve(r["counts"][:n], np.asarray(r["accs"][:n]), 10, budget)
                  for r in runs if r["strategy"] == strategy and (r["dataset"], r["batch"],
                  r["seed"]) == (group[0]["dataset"], group[0]["batch"], seed)]
        return float(np.mean(values)) if values else None

    gains: list[float] = []
    seeds = sorted({r["seed"] for r in group})
    for seed in seeds:
        base = mean_aulc(against, seed)
        if base is None:
            return none
        gains.append(mean_aulc(group[0]["strategy"], seed) - base)
    g = np.asarray(gains)
    se = float(g.std(ddof=1) / np.sqrt(g.size)) if g.size > 1 else None
    blocks = None
    if g.size >= 10:
        means = g[: g.size // 5 * 5].reshape(-1, 5).mean(axis=1)
        blocks = f"{int((means > 0).sum())}/{means.size}"
    return {"aulc_gain": float(g.mean()), "aulc_gain_se": se,
            "aulc_wins": int((g > 0).sum()), "aulc_blocks_of_5_ahead": blocks,
            "verdict": verdict(float(g.mean()), se),
            "aulc_gains_per_seed": [float(v) for v in g]}


def _paired_labels_saved(runs: list[dict[str, Any]], group: list[dict[str, Any]],
                         target: float, budget: int, against: str = "margin"
                         ) -> dict[str, Any]:
    """Labels ``against`` needs to reach ``target`` accuracy minus the labels ``group``'s
    strategy needs, seed by seed: the batch-diversity target is stated in labels, so it
    gets a paired test in labels too (the AULC test weighs the whole curve, most of it
    past both thresholds). Each seed's need is read, interpolated, off that seed's curve
    averaged over its draws, as the table reads the mean curve; a target not reached
    within the budget counts as the budget (a floor: the saving is then understated)."""
    counts = group[0]["counts"]
    n = len(counts)

    def curves(strategy: str, seed: int) -> list[list[float]]:
        return [r["accs"][:n] for r in runs if r["strategy"] == strategy and (
            r["dataset"], r["batch"], r["seed"]) == (group[0]["dataset"],
                                                     group[0]["batch"], seed)]

    def need(strategy: str, seed: int) -> float:
        reached = labels_to_reach_interpolated(counts, np.mean(curves(strategy, seed),
                                                               axis=0), target)
        return float(budget) if reached is None else reached

    # Paired: only the seeds both strategies ran.
    seeds = sorted(s for s in {r["seed"] for r in group} if curves(against, s))
    saved = np.asarray([need(against, s) - need(group[0]["strategy"], s) for s in seeds])
    se = float(saved.std(ddof=1) / np.sqrt(saved.size)) if saved.size > 1 else None
    return {"labels_saved": float(saved.mean()), "labels_saved_se": se,
            "labels_fewer": int((saved > 0).sum()),
            "labels_verdict": verdict(float(saved.mean()), se),
            "labels_saved_per_seed": [float(v) for v in saved]}


def summarize(runs: list[dict[str, Any]], full: dict[str, float],
              budgets: dict[str, int]) -> list[dict[str, Any]]:
    """One row per (data set, batch, strategy): needs at 95/99 % and AULC."""
    rows = []
    keys = sorted({(r["dataset"], r["batch"], r["strategy"]) for r in runs},
                  key=lambda k: (k[0], k[1], STRATEGIES.index(k[2])))
    for ds, batch, strategy in keys:
        group = [r for r in runs if (r["dataset"], r["batch"], r["strategy"]) == (ds, batch,
                                                                                  strategy)]
        counts = group[0]["counts"]
        accs = np.mean([r["accs"] for r in group], axis=0)  # every seed has as many draws
        n_seeds = len({r["seed"] for r in group})
        row = {"dataset": ds, "batch": batch, "strategy": strategy,
               "full_accuracy": full[ds], "seeds": n_seeds,
               "draws_per_seed": len(group) // n_seeds, "counts": counts,
               "mean_accs": accs.tolist(),
               "aulc": area_under_curve(counts, accs, 10, budgets[ds])}
        for frac in (0.95, 0.99):
            target = frac * full[ds]
            row[f"labels_{int(frac * 100)}"] = labels_to_reach(counts, accs, target)
            row[f"labels_{int(frac * 100)}_interpolated"] = labels_to_reach_interpolated(
                counts, accs, target)
        row.update(_paired_gain(runs, group, budgets[ds]))
        if strategy == "diverse_margin":
            # The batch-diversity target compares it with plain margin: same pairing.
            vs = _paired_gain(runs, group, budgets[ds], against="margin")
            row.update({f"vs_margin_{k}": v for k, v in vs.items()})
            if any(r["strategy"] == "margin" and (r["dataset"], r["batch"]) == (ds, batch)
                   for r in runs):
                for frac in (0.95, 0.99):
                    saved = _paired_labels_saved(runs, group, frac * full[ds], budgets[ds])
                    row.update({f"vs_margin_{k}_{int(frac * 100)}": v
                                for k, v in saved.items()})
        rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], budgets: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(len(datasets), len(batches), figsize=(6 * len(batches),
                             3.6 * len(datasets)), squeeze=False)
    colors = dict(zip(STRATEGIES, ("#888888", "#1f77b4", "#d62728", "#2ca02c", "#9467bd")))
    # Binary data sets give confidence, margin and entropy the same ranking: distinct
    # dashes keep the overlapping curves visible.
    styles = dict(zip(STRATEGIES, ("-", (0, (6, 2)), "-", (0, (1, 1.5)), "-")))
    for i, ds in enumerate(datasets):
        for j, batch in enumerate(batches):
            ax = axes[i][j]
            for r in rows:
                if (r["dataset"], r["batch"]) != (ds, batch):
                    continue
                c = np.array(r["counts"])
                keep = c <= budgets[ds]
                ax.plot(c[keep], np.array(r["mean_accs"])[keep], label=r["strategy"],
                        color=colors[r["strategy"]], ls=styles[r["strategy"]], lw=1.6)
                full = r["full_accuracy"]
            ax.axhline(0.99 * full, color="black", ls=":", lw=1, label="99 % of full pool")
            ax.set_title(f"{ds}, batches of {batch}")
            ax.set_xlabel("labels")
            ax.set_ylabel("test accuracy")
            lo = min(min(r["mean_accs"]) for r in rows if r["dataset"] == ds)
            ax.set_ylim(max(lo, 0.9 * full - 0.25), min(1.0, full + 0.03))
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def variant_suffix(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """``""`` for the headline run (every default); else a suffix naming each setting
    that differs, e.g. ``_coldstart_off``, ``_diversity_proba``, ``_seeds20``."""
    parts = []
    for name in ("datasets", "strategies", "batches", "seeds", "first_seed", "budget",
                 "prefilter", "diversity", "cold_start", "random_draws", "draws"):
        value = getattr(args, name)
        if value == parser.get_default(name):
            continue
        text = str(value).replace(",", "-").replace(".", "p")
        label = {"cold_start": "coldstart", "first_seed": "from",
                 "random_draws": "randomdraws"}.get(name, name)
        parts.append(f"{label}{text}" if name in ("seeds", "first_seed", "budget",
                                                  "random_draws", "draws")
                     else f"{label}_{text}")
    return "".join(f"_{p}" for p in parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="digits,breast_cancer,topics")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--batches", default="10,50")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--prefilter", type=float, default=DEFAULT_PREFILTER,
                        help="diverse_margin: candidates per batch slot")
    parser.add_argument("--diversity", choices=("inputs", "proba"), default="inputs",
                        help="diverse_margin: cluster on model inputs or probabilities")
    parser.add_argument("--cold-start", default=str(DEFAULT_COLD_START),
                        help="uncertainty picks at most this × the labels so far of a "
                             "batch (the rest stands for the pool); 'off' to disable")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--random-draws", type=int, default=10,
                        help="random sampling runs per seed (same initial labels, other "
                             "picks); strategies are compared with their mean")
    parser.add_argument("--draws", type=int, default=1,
                        help="runs per seed of every other strategy (their k-means starts "
                             "differ), compared by their mean")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=None,
                        help="output path without extension (default: results/"
                             "label_efficiency, with a suffix naming every setting that "
                             "differs from the headline run, e.g. _coldstart_off, so that "
                             "variants never overwrite the headline files)")
    args = parser.parse_args(argv)
    cold_start = None if args.cold_start == "off" else float(args.cold_start)
    if args.random_draws < 1 or args.draws < 1:
        parser.error("--random-draws and --draws must be at least 1")
    if args.out is None:
        args.out = str(RESULTS / ("label_efficiency" + variant_suffix(args, parser)))
    from joblib import Parallel, delayed

    started = time.perf_counter()
    tasks = [load_task(name) for name in args.datasets.split(",")]
    strategies = tuple(args.strategies.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    budgets = {t.name: min(args.budget, t.y_pool.size) for t in tasks}
    full = {}
    for t in tasks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full[t.name] = float(t.make_model().fit(t.x_pool, t.y_pool).score(t.x_test,
                                                                                t.y_test))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    calls = [delayed(_job)(t, seed, batch, budgets[t.name], strategies, args.prefilter,
                           args.diversity, cold_start, draw)
             for t in tasks for batch in batches for seed in seeds
             for draw in range(args.draws)]
    if "random" in strategies:
        calls += [delayed(_random_job)(t, seed, draw, budgets[t.name], batches)
                  for t in tasks for seed in seeds for draw in range(args.random_draws)]
    results = Parallel(n_jobs=args.jobs)(calls)
    runs = [r for part in results for r in part]
    rows = summarize(runs, full, budgets)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    out.with_suffix(".json").write_text(json.dumps(
        {"settings": settings, "full_accuracy": full, "pool_sizes":
         {t.name: int(t.y_pool.size) for t in tasks}, "rows": rows}, indent=1))
    plot(rows, budgets, out.with_suffix(".png"))

    print(f"{len(runs)} runs in {time.perf_counter() - started:.0f} s "
          f"(seeds {seeds.start}-{seeds.stop - 1}, budget={args.budget}, "
          f"prefilter={args.prefilter}, diversity features={args.diversity}, "
          f"cold start={args.cold_start}, random draws per seed={args.random_draws}, "
          f"draws per seed of the other strategies={args.draws})")
    header = (f"{'data set':<14}{'batch':>6}  {'strategy':<15}{'full acc':>9}{'→95 %':>7}"
              f"{'→99 %':>7}{'→99 % interp.':>14}{'AULC':>8}{'vs random (± s.e.)':>21}"
              f"{'seeds ahead':>13}{'verdict':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        def fmt(v: int | None, r: dict[str, Any] = r) -> str:
            return f">{budgets[r['dataset']]}" if v is None else str(v)

        def interp(v: float | None, r: dict[str, Any] = r) -> str:
            return f">{budgets[r['dataset']]}" if v is None else f"{v:.0f}"

        gain = "" if r["aulc_gain"] is None else f"{r['aulc_gain']:+.4f}"
        if r["aulc_gain_se"] is not None:
            gain += f" ± {r['aulc_gain_se']:.4f}"
        ahead = "" if r["aulc_wins"] is None else f"{r['aulc_wins']}/{r['seeds']}"
        print(f"{r['dataset']:<14}{r['batch']:>6}  {r['strategy']:<15}"
              f"{r['full_accuracy']:>9.3f}{fmt(r['labels_95']):>7}{fmt(r['labels_99']):>7}"
              f"{interp(r['labels_99_interpolated']):>14}{r['aulc']:>8.4f}{gain:>21}"
              f"{ahead:>13}{r['verdict'] or '':>9}")
    print(f"\nverdict: paired per-seed AULC gain over random (the mean of its "
          f"{args.random_draws} draws from the same initial labels) more than "
          f"{VERDICT_SE:g} standard errors above zero = beats, below = loses, within = tie.")
    for r in rows:
        if r.get("vs_margin_aulc_gain") is None:
            continue
        se = r["vs_margin_aulc_gain_se"]
        print(f"diverse_margin - margin, {r['dataset']}, batches of {r['batch']}: AULC "
              f"{r['vs_margin_aulc_gain']:+.4f}" + ("" if se is None else f" ± {se:.4f}")
              + f", ahead in {r['vs_margin_aulc_wins']}/{r['seeds']} seeds"
              + f" ({r['vs_margin_verdict'] or 'n/a'})")
        for pct in (95, 99):
            if r.get(f"vs_margin_labels_saved_{pct}") is None:
                continue
            se = r[f"vs_margin_labels_saved_se_{pct}"]
            print(f"  labels margin needs minus diverse_margin's, to {pct} %, paired per "
                  f"seed: {r[f'vs_margin_labels_saved_{pct}']:+.1f}"
                  + ("" if se is None else f" ± {se:.1f}")
                  + f", fewer in {r[f'vs_margin_labels_fewer_{pct}']}/{r['seeds']} seeds"
                  + f" ({r[f'vs_margin_labels_verdict_{pct}'] or 'n/a'})")
    print(f"\ncurves: {out.with_suffix('.png')}\nnumbers: {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
