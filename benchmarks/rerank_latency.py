"""Save latency while a retraining re-ranks the whole queue, against the same server idle.

One command:  .venv/bin/python benchmarks/rerank_latency.py  [--quick] [--out FILE]

A retraining (``serve --retrain-every``) runs in its own process and re-ranks the queue
through ``SQLiteStore.set_priorities``, in write transactions that labelers' saves must
wait for. This serves a pool with `ml-assisted-labeling serve` (gunicorn), then lets 8
client processes loop GET /api/next -> POST /api/annotations twice: once with nothing
else running (the baseline), once while another process re-ranks every item of the pool
again and again, as a retraining does. It prints save and next-item p50 / p99 / max of
both runs, their ratio, and how long one re-rank pass takes alone and under load.

Numbers go to ``benchmarks/results/rerank_latency.json`` (``rerank_latency_quick.json``
with ``--quick``: 50k items instead of 300k).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from label_latency import (  # noqa: E402
    RESULTS,
    free_port,
    prepare,
    run_clients,
    start_server,
)

from assisted_labeling.store.sqlite import SQLiteStore  # noqa: E402


def rerank_once(store: SQLiteStore, n_items: int, rng: np.random.Generator) -> float:
    """One re-rank of every item, as a retraining writes it; returns its seconds."""
    scores = rng.random(n_items)
    began = time.perf_counter()
    store.set_priorities((str(i), float(s), float(s)) for i, s in enumerate(scores))
    return time.perf_counter() - began


def reranker(db: Path, n_items: int, stop, out) -> None:
    """Re-rank until ``stop`` is set; report the pass times."""
    store = SQLiteStore(db)
    rng = np.random.default_rng(1)
    passes = []
    while not stop.is_set():
        passes.append(rerank_once(store, n_items, rng))
    store.close()
    out.put(passes)


def summary(result: dict[str, float]) -> str:
    return (f"save p50 {result['save_p50']:.1f} / p99 {result['save_p99']:.1f} / max "
            f"{result['save_max']:.0f} ms, next p99 {result['next_p99']:.1f} ms, "
            f"{result['saves_per_s']:.0f} saves/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k items, fewer saves")
    parser.add_argument("--saves", type=int, default=None, help="saves per client")
    parser.add_argument("--out", default=None, help="JSON results file")
    args = parser.parse_args()
    n_items = 50_000 if args.quick else 300_000
    saves = args.saves or (150 if args.quick else 400)
    out = Path(args.out or RESULTS / f"rerank_latency{'_quick' if args.quick else ''}.json")
    with tempfile.TemporaryDirectory(prefix="rerank-latency-") as tmp:
        pool, db, tokens = prepare(Path(tmp), n_items, 0, 8)
        store = SQLiteStore(db)
        alone = [rerank_once(store, n_items, np.random.default_rng(0)) for _ in range(2)]
        store.close()
        port = free_port()
        server = start_server(pool, db, port, 1)
        try:
            idle = run_clients(port, tokens, saves)
            print("idle:      ", summary(idle), flush=True)
            ctx = multiprocessing.get_context("fork")
            stop, passes_out = ctx.Event(), ctx.Queue()
            proc = ctx.Process(target=reranker, args=(db, n_items, stop, passes_out))
            proc.start()
            time.sleep(min(alone))  # clients start with a re-rank under way
            busy = run_clients(port, tokens, saves)
            stop.set()
            passes = passes_out.get(timeout=600)
            proc.join()
            print("re-ranking:", summary(busy), flush=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    ratio = busy["save_p99"] / idle["save_p99"]
    print(f"\n{n_items} items, 8 clients: save p99 while re-ranking / idle = {ratio:.2f} "
          f"({busy['save_p99']:.1f} / {idle['save_p99']:.1f} ms)")
    print(f"one re-rank pass: {min(alone):.2f} s alone, {np.mean(passes):.2f} s under load "
          f"({len(passes)} passes)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"items": n_items, "clients": 8, "saves_per_client": saves,
                               "idle": idle, "reranking": busy, "p99_ratio": ratio,
                               "rerank_seconds_alone": min(alone),
                               "rerank_seconds_under_load": passes}, indent=2))
    print(f"numbers: {out}")


if __name__ == "__main__":
    main()
