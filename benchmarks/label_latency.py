"""Label-save and next-item latency through HTTP on the real server, and the 4.x baseline.

One command:  .venv/bin/python benchmarks/label_latency.py  [--quick] [--out FILE]

Numbers go to ``benchmarks/results/label_latency.json``; ``--quick`` (and ``--saves``)
runs write ``label_latency_quick.json`` (``_saves<N>``) instead, unless ``--out`` is given.

For each pool (10k and 1M items) and each number of existing labels (0 and 100k), it
serves the pool with `ml-assisted-labeling serve` (gunicorn), then 1 and 8 client
processes (8 accounts, Bearer tokens, keep-alive connections) each loop
GET /api/next -> POST /api/annotations. It prints p50/p99 of both requests and the
saves per second. In the same run it times the 4.x behaviour, which rewrote the whole
labels dataset on every save (read it, append the row, write it back), at the same
number of existing labels, and prints the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python-lib"))

from assisted_labeling.standalone import open_project  # noqa: E402
from assisted_labeling.store import Annotation, Status  # noqa: E402

CATEGORIES = ["a", "b", "c"]
RESULTS = ROOT / "benchmarks" / "results"


def make_pool(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    pd.DataFrame({
        "id": np.arange(n),
        "x1": rng.normal(size=n).round(4),
        "x2": rng.integers(0, 100, size=n),
        "text": np.char.add("row ", np.arange(n).astype(str)),
    }).to_csv(path, index=False)


def annotators_per_item(n_items: int, n_labels: int) -> int:
    """1, unless the labels outnumber the items: then enough that items stay open."""
    return 1 if n_labels <= n_items else -(-n_labels // n_items) + 2


def settings(n_items: int, n_labels: int) -> dict:
    return {"categories": CATEGORIES, "id_column": "id",
            "annotators_per_item": annotators_per_item(n_items, n_labels)}


def prepare(workdir: Path, n_items: int, n_labels: int, n_clients: int) -> tuple[Path, Path,
                                                                                  list[str]]:
    """Pool file + store with items imported, ``n_labels`` existing labels and accounts."""
    pool, db = workdir / f"pool_{n_items}.csv", workdir / f"store_{n_items}_{n_labels}.db"
    if not pool.exists():
        make_pool(pool, n_items)
    for stale in workdir.glob(f"{db.name}*"):
        stale.unlink()
    project = open_project(pool, db, settings(n_items, n_labels), progress=False)
    store = project.store
    now = time.time()
    # More labels than items: earlier annotators each labeled the whole pool once.
    existing = (
        Annotation(id=0, item_key=str(i % n_items), annotator=f"old{i // n_items}",
                   status=Status.LABELED,
                   label=CATEGORIES[i % 3], label_id=i + 1, comment="", session=0,
                   created_at=now, updated_at=now)
        for i in range(n_labels)
    )
    store.restore(existing, lambda a: [a.label])
    tokens = [store.add_user(f"bench{i}", "annotator", "benchmark-password")
              for i in range(n_clients)]
    store.close()
    return pool, db, tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(pool: Path, db: Path, port: int, per_item: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "assisted_labeling.cli", "serve", str(pool), "--categories",
         ",".join(CATEGORIES), "--id-column", "id", "--store", str(db), "--port", str(port),
         "--annotators-per-item", str(per_item)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python-lib")})
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/plugins/ml-assisted-labeling/resource/none")
            conn.getresponse().read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def client(port: int, token: str, saves: int, start_at: float, out) -> None:
    """One labeler: next, then save, ``saves`` times; reports latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    next_ms, save_ms = [], []
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.perf_counter()
    for i in range(saves):
        t0 = time.perf_counter()
        conn.request("GET", "/api/next?count=1", headers=headers)
        response = conn.getresponse()
        items = json.loads(response.read())["items"]
        t1 = time.perf_counter()
        if response.status != 200 or not items:
            raise RuntimeError(f"no item to label ({response.status})")
        # As the labeling page sends it: a first save, with its page and sequence.
        body = json.dumps({"item_id": items[0]["id"], "label": CATEGORIES[i % 3],
                           "new": True, "client_id": f"bench-{os.getpid()}", "sequence": i})
        conn.request("POST", "/api/annotations", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        t2 = time.perf_counter()
        if response.status != 201:
            raise RuntimeError(f"save failed: {response.status}")
        next_ms.append((t1 - t0) * 1000)
        save_ms.append((t2 - t1) * 1000)
    out.put((next_ms, save_ms, time.perf_counter() - began))


def run_clients(port: int, tokens: list[str], saves: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 0.5
    procs = [ctx.Process(target=client, args=(port, t, saves, start_at, queue))
             for t in tokens]
    for p in procs:
        p.start()
    results = []
    deadline = time.time() + 600
    while len(results) < len(procs):
        try:
            results.append(queue.get(timeout=1))
        except Empty:  # a client that died (a refused save) says so at once
            failed = any(p.exitcode not in (None, 0) for p in procs)
            if failed or time.time() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError("a client failed: see its traceback above" if failed
                                   else "the clients did not finish in 10 minutes") from None
    for p in procs:
        p.join()
    next_ms = np.concatenate([r[0] for r in results])
    save_ms = np.concatenate([r[1] for r in results])
    wall = max(r[2] for r in results)
    return {
        "save_p50": float(np.percentile(save_ms, 50)),
        "save_p99": float(np.percentile(save_ms, 99)),
        "save_max": float(save_ms.max()),
        "next_p50": float(np.percentile(next_ms, 50)),
        "next_p99": float(np.percentile(next_ms, 99)),
        "saves_per_s": len(save_ms) / wall,
        "saves": int(len(save_ms)),
    }


def rewrite_baseline(workdir: Path, n_labels: int, saves: int) -> float:
    """The 4.x save: read the whole labels table, append one row, write it all back.
    Timed in-process (no HTTP), which flatters the baseline. Returns ms per save."""
    path = workdir / f"labels_4x_{n_labels}.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame({
        "id": np.arange(n_labels), "x1": rng.normal(size=n_labels).round(4),
        "x2": rng.integers(0, 100, size=n_labels),
        "text": np.char.add("row ", np.arange(n_labels).astype(str)),
        "label": rng.choice(CATEGORIES, size=n_labels), "label_id": np.arange(n_labels),
    }).to_csv(path, index=False)
    began = time.perf_counter()
    for i in range(saves):
        labels = pd.read_csv(path)
        row = pd.DataFrame([{"id": n_labels + i, "x1": 0.0, "x2": 1, "text": "new",
                             "label": "a", "label_id": n_labels + i}])
        pd.concat([labels, row], ignore_index=True).to_csv(path, index=False)
    return (time.perf_counter() - began) * 1000 / saves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small pools, few saves")
    parser.add_argument("--saves", type=int, default=None, help="saves per client")
    parser.add_argument("--out", default=None,
                        help="JSON results file (default: results/label_latency.json; "
                             "label_latency_quick.json with --quick and a _saves<N> suffix "
                             "with --saves, so that such runs keep the headline file)")
    args = parser.parse_args()
    if args.out is None:
        name = "label_latency" + ("_quick" if args.quick else "")
        name += f"_saves{args.saves}" if args.saves else ""
        args.out = str(RESULTS / f"{name}.json")
    pools = [10_000, 100_000] if args.quick else [10_000, 1_000_000]
    label_counts = [0, 5_000] if args.quick else [0, 100_000]
    saves = args.saves or (100 if args.quick else 400)
    rows = []
    with tempfile.TemporaryDirectory(prefix="label-latency-") as tmp:
        workdir = Path(tmp)
        for n_items in pools:
            for n_labels in label_counts:
                pool, db, tokens = prepare(workdir, n_items, n_labels, 8)
                port = free_port()
                server = start_server(pool, db, port, annotators_per_item(n_items, n_labels))
                try:
                    for n_clients in (1, 8):
                        per_client = saves * (2 if n_clients == 1 else 1)
                        result = run_clients(port, tokens[:n_clients], per_client)
                        rows.append({"items": n_items, "labels": n_labels,
                                     "per_item": annotators_per_item(n_items, n_labels),
                                     "clients": n_clients, **result})
                        print(json.dumps(rows[-1]), flush=True)
                finally:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=30)
        baseline_labels = label_counts[-1]
        baseline_ms = rewrite_baseline(workdir, baseline_labels, 10 if args.quick else 20)

    table = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print("\nLatency through HTTP (ms), gunicorn 2 workers x 4 threads, SQLite WAL:")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    at = (table["items"] == pools[-1]) & (table["labels"] == baseline_labels)
    worst = table[at & (table["clients"] == 8)].iloc[0]
    single = table[at & (table["clients"] == 1)].iloc[0]
    baseline_rate = 1000 / baseline_ms
    print(f"\n4.x baseline (rewrite the labels table per save) at {baseline_labels} labels: "
          f"{baseline_ms:.1f} ms/save, {baseline_rate:.1f} saves/s (in-process, no HTTP)")
    print(f"Ours at {pools[-1]} items / {baseline_labels} labels: 8 clients save p99 "
          f"{worst['save_p99']:.1f} ms (target < 25), {worst['saves_per_s']:.0f} saves/s "
          f"(target >= 400)")
    print(f"Speed-up over the baseline: {baseline_ms / single['save_p50']:.0f}x per save "
          f"(1 client, p50, HTTP included), {worst['saves_per_s'] / baseline_rate:.0f}x in "
          f"throughput (8 clients) (target >= 100x)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(
        {"rows": rows, "baseline_ms_per_save": baseline_ms, "baseline_labels": baseline_labels,
         "quick": args.quick, "saves_per_client": saves}, indent=2))
    print(f"numbers: {out}")


if __name__ == "__main__":
    main()
