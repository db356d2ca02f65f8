"""ml-assisted-labeling: serve | export | users | demo."""

from __future__ import annotations

import argparse
import getpass
import logging
import shutil
import sys
from pathlib import Path
from typing import Sequence

from . import sampling
from .config import column_list
from .errors import LabelingError

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def _serve_settings(args: argparse.Namespace) -> dict:
    return {
        "kind": args.kind,
        "categories": args.categories,
        "label_col_name": args.label_column,
        "multi_label": args.multi_label,
        "display_columns": args.display_columns,
        "context_columns": args.context_columns,
        "existing_labels_column": args.existing_labels_column,
        "id_column": args.id_column,
        "instructions": Path(args.instructions).read_text("utf-8") if args.instructions else "",
        "comments": not args.no_comments,
        "annotators_per_item": args.annotators_per_item,
        "title": args.title,
    }


def _start_retrainer(args: argparse.Namespace, settings: dict, project) -> None:
    """Spawn the retraining process: it never shares the server's CPU time slices."""
    import multiprocessing
    import os

    from .retrain import RetrainSettings, default_features, worker
    from .sources import table_columns

    if args.retrain_every < 1:
        raise LabelingError("--retrain-every must be at least 1")
    features = column_list("Feature columns", args.feature_columns)
    if not args.text_column and not features:
        features = tuple(default_features(table_columns(args.input), project.config))
    retrain = RetrainSettings(
        every=args.retrain_every, strategy=args.strategy,
        model_path=Path(args.model_output or Path(args.store).with_suffix(".model.skops")),
        text_column=args.text_column, feature_columns=features, model=args.model)
    process = multiprocessing.get_context("spawn").Process(
        target=worker, args=(args.input, args.store, settings, retrain, os.getpid()),
        daemon=True, name="retrain")
    process.start()
    print(f"Retraining {retrain.model_path} every {retrain.every} labels "
          f"({retrain.strategy} ranking)", file=sys.stderr)


def _run_server(args: argparse.Namespace, settings: dict) -> int:
    from .server import serve
    from .standalone import is_loopback, open_project
    from .web.app import create_app

    project = open_project(args.input, args.store, settings)
    if getattr(args, "queries", None):
        from .queries import priorities_from_file

        id_column = project.config.id_column
        scored = project.store.set_priorities(priorities_from_file(args.queries, id_column),
                                              to_duplicates=id_column is None)
        print(f"Queue ordered by {args.queries}: {scored} items scored", file=sys.stderr)
    if getattr(args, "retrain_every", None):
        _start_retrainer(args, settings, project)
    local = is_loopback(args.host)
    if not local and project.store.count_users() == 0:
        raise LabelingError(
            f"Refusing to listen on {args.host} without accounts: anyone on the network could "
            f"label. Add one with: ml-assisted-labeling users add NAME --role manager "
            f"--store {args.store}"
        )
    app = create_app(project, local_mode=local)
    stats = project.stats()
    print(f"Labeling {stats.total} items ({stats.complete} done) from {args.input}; "
          f"labels in {args.store}", file=sys.stderr)
    print(f"Open http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    serve(lambda: app, host=args.host, port=args.port, workers=args.workers,
          threads=args.threads)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    return _run_server(args, _serve_settings(args))


def cmd_train(args: argparse.Namespace) -> int:
    import time

    from . import models
    from .sources import read_table

    frame = read_table(args.input)
    started = time.perf_counter()
    print(f"Training a {args.model} model on {args.input}…", file=sys.stderr)
    trained = models.train(frame, label_column=args.label_column,
                           text_column=args.text_column,
                           feature_columns=column_list("Feature columns", args.feature_columns),
                           model=args.model)
    models.save(trained, args.output)
    labeled = int(frame[args.label_column].notna().sum())
    print(f"Trained on {labeled} labeled rows ({', '.join(trained.classes)}) in "
          f"{time.perf_counter() - started:.1f}s: {args.output}", file=sys.stderr)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from . import models
    from .export import write_frame
    from .queries import ITEM_ID, labeled_keys, progress_bar, score_file
    from .sampler import SESSION_COLUMN
    from .sampling import DEFAULT_COLD_START
    from .sources import read_table

    model = models.load(args.model)
    store, exclude, id_column = None, None, args.id_column
    if args.store:
        from .standalone import stored_settings
        from .store.sqlite import SQLiteStore

        if not Path(args.store).is_file():
            raise LabelingError(f'No store at "{args.store}"')
        store = SQLiteStore(args.store)
        exclude = labeled_keys(store)
        id_column = id_column or stored_settings(store).get("id_column")
        session = int(store.get_meta("session", "0") or 0) + 1
    else:
        session = 1
        if Path(args.output).is_file():
            previous = read_table(args.output)
            if SESSION_COLUMN in previous and len(previous):
                session = int(previous[SESSION_COLUMN].max()) + 1
    with progress_bar(f"Scoring {Path(args.input).name}") as bar:
        queries = score_file(args.input, model, strategy=args.strategy,
                             id_column=id_column, exclude=exclude,
                             max_queries=args.max_queries, seed=args.seed, progress=bar,
                             batch_size=args.batch_size,
                             cold_start=None if args.no_cold_start else DEFAULT_COLD_START)
    queries = queries.drop(columns=[ITEM_ID])
    queries[SESSION_COLUMN] = session
    write_frame(queries, args.output)
    if store is not None:
        store.set_meta("session", str(session))
    print(f"Wrote {len(queries)} queries (session {session}) to {args.output}",
          file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .config import build_config
    from .export import export_rows
    from .project import LabelingProject
    from .standalone import stored_settings
    from .store.sqlite import SQLiteStore

    if not Path(args.store).is_file():
        raise LabelingError(f'No store at "{args.store}"')
    store = SQLiteStore(args.store)
    settings = stored_settings(store)
    if args.label_column:
        settings["label_col_name"] = args.label_column
    project = LabelingProject(build_config(settings), store)
    if args.table == "labels":
        rows = project.label_rows()
        columns = None
    else:
        col = project.config.label_col_name
        rows = project.metadata_rows()
        columns = ["date", "data_id", "comment", "session", "status", "annotator", col,
                   f"{col}_id"]
    count = export_rows(rows, args.output, fmt=args.format, columns=columns)
    print(f"Wrote {count} {args.table} rows to {args.output}", file=sys.stderr)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise LabelingError("The two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from .store.sqlite import SQLiteStore

    store = SQLiteStore(args.store)
    if args.action == "add":
        token = store.add_user(args.name, args.role, _read_password(args))
        print(f"Added {args.name} ({args.role}). API token (shown once):", file=sys.stderr)
        print(token)
    else:
        for user in store.list_users():
            print(f"{user.name}\t{user.role}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "reviews.csv"
    if not data.exists():
        shutil.copyfile(DEMO_DIR / "reviews.csv", data)
    settings = {
        "kind": "tabular",
        "categories": [
            {"from": "positive", "to": "The customer is satisfied"},
            {"from": "negative", "to": "The customer complains"},
            {"from": "neutral", "to": "Neither: a question, a plain fact"},
        ],
        "display_columns": ["review", "rating"],
        "context_columns": ["product", "date"],
        "existing_labels_column": "auto_label",
        "id_column": "review_id",
        "instructions": (DEMO_DIR / "instructions.md").read_text("utf-8"),
        "title": "Demo: customer reviews",
    }
    args.input, args.store = str(data), str(workdir / "labels.db")
    return _run_server(args, settings)


STRATEGIES = list(sampling.STRATEGIES)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", help="train on this text column (TF-IDF)")
    parser.add_argument("--feature-columns", help="train on these columns, comma-separated")
    parser.add_argument("--model", default="linear", choices=["linear", "gbdt"])
    if parser.prog.endswith("serve"):
        parser.add_argument("--strategy", default="margin", choices=STRATEGIES)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; others need accounts)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml-assisted-labeling",
                                     description="Label data fast, with active learning.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the labeling webapp on a local table")
    serve.add_argument("input", help="table of items: .csv, .parquet or .jsonl")
    serve.add_argument("--kind", default="tabular", choices=["tabular"])
    serve.add_argument("--categories", required=True, help="classes, comma-separated")
    serve.add_argument("--label-column", default="label")
    serve.add_argument("--store", default="labels.db", help="SQLite file for the labels")
    serve.add_argument("--multi-label", action="store_true")
    serve.add_argument("--display-columns", help="columns to show (default: all)")
    serve.add_argument("--context-columns", help="columns shown folded above the item")
    serve.add_argument("--existing-labels-column", help="pre-annotations to accept/correct")
    serve.add_argument("--id-column", help="a column of unique item ids")
    serve.add_argument("--instructions", help="markdown file shown to labelers")
    serve.add_argument("--no-comments", action="store_true", help="hide the comment box")
    serve.add_argument("--annotators-per-item", type=int, default=1)
    serve.add_argument("--title", default="ML-assisted Labeling")
    serve.add_argument("--queries", help="queries table: serve by decreasing uncertainty")
    serve.add_argument("--retrain-every", type=int, metavar="N",
                       help="retrain the model and re-rank the queue every N new labels")
    serve.add_argument("--model-output", help="model file kept up to date by retraining "
                       "(default: next to the store)")
    _add_model_options(serve)
    _add_server_options(serve)
    serve.set_defaults(func=cmd_serve)

    train = sub.add_parser("train", help="train the default model on a labeled table")
    train.add_argument("input", help="table with a label column (e.g. a labels export)")
    train.add_argument("--label-column", default="label")
    train.add_argument("-o", "--output", required=True, help="model file (.skops)")
    _add_model_options(train)
    train.set_defaults(func=cmd_train)

    query = sub.add_parser("query", help="rank a pool by model uncertainty")
    query.add_argument("--model", required=True, help="model file made by `train`")
    query.add_argument("--input", required=True, help="the pool: .csv, .parquet, .jsonl")
    query.add_argument("--strategy", default="margin", choices=STRATEGIES)
    query.add_argument("-o", "--output", required=True,
                       help="queries table (.csv, .parquet or .jsonl)")
    query.add_argument("--max-queries", type=int, help="keep only the k most uncertain")
    query.add_argument("--store", help="leave out the items labeled in this store, and "
                       "count sessions there")
    query.add_argument("--id-column", help="a column of unique item ids")
    query.add_argument("--batch-size", type=int, default=100,
                       help="labels between two retrains (default 100): the batch that "
                            "diverse_margin diversifies and the cold start fills")
    query.add_argument("--no-cold-start", action="store_true",
                       help="rank the whole first batch by uncertainty even when the model "
                            "learned from fewer labels than the batch holds")
    query.add_argument("--seed", type=int, default=0)
    query.set_defaults(func=cmd_query)

    export = sub.add_parser("export", help="write the labels or metadata table to a file")
    export.add_argument("--store", required=True)
    export.add_argument("--table", choices=["labels", "metadata"], default="labels")
    export.add_argument("--format", choices=["csv", "parquet", "jsonl"])
    export.add_argument("--label-column", help="override the label column name")
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(func=cmd_export)

    users = sub.add_parser("users", help="manage accounts")
    users.add_argument("action", choices=["add", "list"])
    users.add_argument("name", nargs="?")
    users.add_argument("--role", default="annotator",
                       choices=["viewer", "annotator", "reviewer", "manager"])
    users.add_argument("--store", default="labels.db")
    users.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input")
    users.set_defaults(func=cmd_users)

    demo = sub.add_parser("demo", help="serve a bundled sample project (works offline)")
    demo.add_argument("--dir", default="demo-data", help="where the demo keeps its files")
    _add_server_options(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "users" and args.action == "add" and not args.name:
        parser.error("users add needs a NAME")
    try:
        return args.func(args)
    except LabelingError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
