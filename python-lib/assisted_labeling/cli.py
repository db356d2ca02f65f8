"""ml-assisted-labeling: serve | train | query | export | users | demo."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shutil
import sys
import threading
import traceback
from contextlib import contextmanager, nullcontext, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from . import sampling
from .config import column_list
from .errors import ConfigError, LabelingError, one_line
from .store.accounts import ROLES

if TYPE_CHECKING:  # the CLI imports the heavy modules only for the command run
    from .project import LabelingProject

DEMO_DIR = Path(__file__).resolve().parent / "demo"
MODEL_SUFFIX = ".skops"
DEFAULT_LABEL_COLUMN = "label"  # as in the 4.x plugin's label_col_name
#: Text tables up to this size get their lines counted for a progress total: beyond it
#: the count would cost a second pass over a file that may not be in the page cache.
LINE_COUNT_LIMIT = 64 * 2**20
#: A model file from this size on takes seconds to load: `query` says so meanwhile.
BIG_MODEL_BYTES = 16 * 2**20


# -- errors the user's files cause ------------------------------------------------------
def _from_data(exc: BaseException) -> bool:
    """Whether ``exc`` is what libraries raise on unsuitable data or files: a bad value
    type for the model (ValueError, TypeError; pandas parser errors are ValueErrors), an
    unreadable file (OSError) or a Parquet problem (any pyarrow error)."""
    if isinstance(exc, (ValueError, TypeError, OSError)):
        return True
    pyarrow = sys.modules.get("pyarrow")  # not imported: cannot be a pyarrow error
    return pyarrow is not None and isinstance(exc, pyarrow.ArrowException)


def _one_line(exc: BaseException) -> str:
    """A library's message, on one line and of bounded length."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return one_line(text) or type(exc).__name__


@contextmanager
def _user_data(failure: str, check: str) -> Iterator[None]:
    """Report the data errors of the block (see :func:`_from_data`) as ``failure: what
    the library said; check``, and a column's wrong values (a ``LabelingError`` naming
    it) as ``failure: what is wrong``; other exceptions are bugs and keep their
    traceback."""
    try:
        yield
    except LabelingError as exc:
        if "column" not in exc.details:
            raise
        raise type(exc)(f"{failure}: {exc.message}", **exc.details) from exc
    except Exception as exc:
        if not _from_data(exc):
            raise
        raise LabelingError(f"{failure}: {_one_line(exc)}; {check}") from exc


# -- progress on stderr -----------------------------------------------------------------
def _row_count(path: str | Path) -> int | None:
    """The number of rows of a table when it is cheap to know, else None: the Parquet
    footer; the lines of a small CSV or JSONL file (a CSV value may hold a line break:
    the count is then an estimate, which :func:`_progress` corrects at the end)."""
    from .sources import table_format

    path = Path(path)
    try:
        fmt = table_format(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if path.stat().st_size > LINE_COUNT_LIMIT:
            return None
        lines, last = 0, b"\n"
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(2**20), b""):
                lines, last = lines + block.count(b"\n"), block[-1:]
    except Exception:  # a progress total is a nicety: the read itself reports the problem
        return None
    lines += last != b"\n"  # a last line without its line break
    return max(lines - (fmt == "csv"), 0)  # the CSV header is no row


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Any]:
    """A bar on stderr counting rows, with a percentage and ETA when ``total`` is known.
    On success it ends at 100 % even if ``total`` was an estimate."""
    from .queries import progress_bar

    bar = progress_bar(label, total)
    try:
        yield bar
        if total is not None and not bar.disable and bar.n != total:
            bar.total = bar.n
            bar.refresh()
    finally:
        bar.close()


#: Queries from this many rows on take seconds to write: the wait is shown.
LONG_WRITE_ROWS = 100_000


@contextmanager
def _stage(label: str) -> Iterator[None]:
    """Show ``label`` with a ticking elapsed time on stderr while the block runs (a
    fit reports no progress of its own); a plain line when stderr is not a terminal."""
    from tqdm import tqdm

    bar = tqdm(desc=label, bar_format="{desc} {elapsed}", file=sys.stderr, disable=None)
    if bar.disable:
        print(f"{label}…", file=sys.stderr, flush=True)
        yield
        return
    done = threading.Event()

    def tick() -> None:
        while not done.wait(1.0):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True, name="progress")
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        bar.close()


# -- paths, checked before any work -----------------------------------------------------
def _check_model_output(path: str | Path) -> None:
    """A model file: a .skops name in a writable directory."""
    from .export import check_writable

    if Path(path).suffix.lower() != MODEL_SUFFIX:
        raise ConfigError(f'Cannot write the model "{path}": expected a file ending in '
                          f"{MODEL_SUFFIX}")
    check_writable(path)


def _load_model(path: str | Path) -> Any:
    """``models.load``, showing a stage on stderr while a big file loads."""
    from . import models

    size = 0
    with suppress(OSError):  # missing, a directory…: `load` says what is wrong
        size = Path(path).stat().st_size if Path(path).is_file() else 0
    if size < BIG_MODEL_BYTES:
        return models.load(path)
    with _stage(f"Loading the model {Path(path).name} ({size / 2**20:.0f} MB)"):
        return models.load(path)


def _check_label_columns(label: str, columns: Iterable[str], what: str) -> None:
    """Refuse data (``what``: 'The pool "p.csv" has') with a column named like the label
    or its id in the labels export: the export would write the labels over the data (and
    retraining would learn from annotation ids)."""
    columns = set(columns)
    taken = [c for c in (label, f"{label}_id") if c in columns]
    if not taken:
        return
    free = next(name for name in ("annotation", "human_label", "answer", "label_given")
                if name not in columns and f"{name}_id" not in columns)
    names = " and ".join(f'"{c}"' for c in taken)
    raise LabelingError(
        f"{what} a column {names}, which the labels export writes (the label "
        f'"{label}" and its id "{label}_id"): name the label column otherwise, e.g. '
        f"--label-column {free}")


def _check_pool(pool: str | Path, output: str | Path, columns: list[str],
                model_columns: list[str]) -> None:
    """Refuse a pool that `query` would score wrongly or destroy."""
    from .sampler import QUERY_COLUMNS

    if Path(pool).resolve() == Path(output).resolve():
        raise ConfigError(f'The output "{output}" is the pool itself: writing the queries '
                          "there would replace it; choose another output file")
    taken = [c for c in QUERY_COLUMNS if c in columns]
    if taken:
        raise ConfigError(f'The pool "{pool}" already has the column(s) {", ".join(taken)}, '
                          "which query adds: is it a queries file? Pass the original pool "
                          "as --input")
    from .queries import INTERNAL_COLUMNS

    internal = [c for c in INTERNAL_COLUMNS if c in columns]
    if internal:
        raise ConfigError(f'The pool "{pool}" has a column named {internal[0]}, a name '
                          "query keeps for its own use: rename that column")
    missing = [c for c in model_columns if c not in columns]
    if missing:
        # One column whose name holds separators: a CSV file not separated by commas.
        only = columns[0][:60] if len(columns) == 1 else ""
        hint = (f' (its only column is "{only}": is the file separated by something other '
                "than commas? Save it as CSV with commas)"
                if any(sep in only for sep in ";\t|") else "")
        raise ConfigError(f'The pool "{pool}" lacks the model\'s column(s) '
                          f"{', '.join(missing)}: give a pool with the columns it was "
                          f"trained on ({', '.join(model_columns)}){hint}")


def _check_replaceable(output: str | Path, pool_columns: Iterable[str],
                       label_column: str | None) -> None:
    """Refuse to replace a table that `query` did not write (the training table, say),
    or queries edited since `query` wrote them that hold what it does not write: values
    in a column the pool has not, or labels typed into the label column (queries leave
    out labeled rows, so that column comes out empty)."""
    from .sampler import QUERY_COLUMNS, UNCERTAINTY_COLUMN
    from .sources import has_value, iter_table, table_columns

    path = Path(output)
    if not path.is_file() or path.stat().st_size == 0:  # a JSONL file of no queries
        return
    try:
        columns = table_columns(path)
    except (LabelingError, OSError, ValueError):
        columns = []
    if UNCERTAINTY_COLUMN not in columns:
        raise ConfigError(f'The output "{output}" exists and is not a queries table (it has '
                          f'no "{UNCERTAINTY_COLUMN}" column): query would replace it. '
                          "Choose another output file, or delete this one first")
    if _untouched(path):  # as `query` wrote it (from another pool, maybe): nothing typed
        return
    known = set(pool_columns) | set(QUERY_COLUMNS)
    watched = [c for c in columns if c not in known or c == label_column]
    filled: dict[str, int] = dict.fromkeys(watched, 0)
    if watched:
        for chunk in iter_table(path, text_columns=watched):
            for name in watched:
                filled[name] += int(has_value(chunk[name]).sum())
    lost = {name: count for name, count in filled.items() if count}
    if lost:
        what = ", ".join(f'{count:,} value(s) in its column "{name}"'
                         + ("" if name == label_column else ", which the pool has not")
                         for name, count in list(lost.items())[:3])
        raise ConfigError(f'The output "{output}" holds {what}: query would replace it and '
                          "they would be lost. Choose another output file (or move this "
                          "one away first)")


def _written_file(output: Path) -> Path:
    """Where `query` notes the size, times and inode of the output it wrote."""
    return output.with_name(f".{output.name}.written")


def _signature(path: Path) -> str:
    # The inode and ctime too: a file replaced, or edited with its time set back,
    # changes them.
    status = path.stat()
    return f"{status.st_size} {status.st_mtime_ns} {status.st_ino} {status.st_ctime_ns}"


def _mark_written(output: str | Path) -> None:
    with suppress(OSError):  # without the mark, the next run reads the output to check
        _written_file(Path(output)).write_text(_signature(Path(output)), "utf-8")


def _untouched(output: Path) -> bool:
    """Whether ``output`` is as `query` last wrote it."""
    try:
        return _written_file(output).read_text("utf-8").strip() == _signature(output)
    except OSError:
        return False


# -- sessions without a store -----------------------------------------------------------
def _session_file(output: str | Path) -> Path:
    """Where `query` without --store keeps its last session: an empty queries table
    holds no session value, yet the next run must still count on from it."""
    output = Path(output)
    return output.with_name(f".{output.name}.session")


def _last_session(output: str | Path) -> int:
    """The session of the previous run that wrote ``output`` (0: none, the output does
    not exist, so deleting the output starts the count anew)."""
    if not Path(output).is_file():
        return 0
    last = 0
    with suppress(OSError, ValueError):  # absent (older runs) or damaged: the output decides
        last = int(_session_file(output).read_text("utf-8").strip())
    if Path(output).stat().st_size == 0:  # a JSONL file of no queries, or any empty file
        return last
    return max(last, _table_session(output))


def _table_session(path: str | Path) -> int:
    """The largest session number in a queries table (0 without a session column)."""
    from .sampler import SESSION_COLUMN
    from .sources import iter_table

    last = 0
    # Chunk by chunk: without --max-queries a queries table is the whole pool.
    for chunk in iter_table(path):
        if SESSION_COLUMN not in chunk:
            break
        last = max(last, _max_whole(chunk[SESSION_COLUMN]))
    return last


def _max_whole(column: Any) -> int:
    """The largest whole number of a column (0 if it holds none)."""
    import pandas as pd

    value = pd.to_numeric(column, errors="coerce").max()
    return 0 if pd.isna(value) else int(value)


def _instructions(path: str) -> str:
    """The labelers' instructions file, as text."""
    try:
        return Path(path).read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelingError(f'Cannot read the instructions "{path}": not UTF-8 text (byte '
                            f"{exc.start}); save it as UTF-8 Markdown") from None
    except OSError as exc:
        raise LabelingError(f'Cannot read the instructions "{path}": '
                            f"{exc.strerror or exc}") from None


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
        "instructions": _instructions(args.instructions) if args.instructions else "",
        "comments": not args.no_comments,
        "annotators_per_item": args.annotators_per_item,
        "title": args.title,
    }


def _retrain_settings(args: argparse.Namespace, config, columns: Sequence[str]):
    """The retraining's settings, checked against the pool's columns (now, not after the
    first labels, and before the store is made)."""
    from .models import refused_feature
    from .retrain import RetrainSettings, default_features

    features = _check_model_columns(args)
    for name in (args.text_column, *features):
        if name and name not in columns:
            raise LabelingError(f'No column "{name}" in "{args.input}" to train on '
                                f"(columns: {', '.join(columns)})")
        refused = name and refused_feature(name, label_column=config.label_col_name)
        if refused:
            raise LabelingError(refused)
    text_column = args.text_column
    if len(config.categories) < 2:
        raise LabelingError("--retrain-every needs at least 2 categories: a model learns "
                            "to tell classes apart")
    head = None if text_column else _pool_head(args.input)  # read once, used twice
    if not text_column and not features:
        text_column, features = _default_retrain_columns(
            head, default_features(columns, config))
    model = args.model or DEFAULT_MODEL
    _check_model_kind(model, text_column, chosen=not args.text_column)
    _check_feature_values(args.input, head, features)
    return RetrainSettings(
        every=args.retrain_every, strategy=args.strategy or DEFAULT_STRATEGY,
        model_path=Path(args.model_output or Path(args.store).with_suffix(".model.skops")),
        text_column=text_column, feature_columns=tuple(features), model=model)


def _check_model_kind(model: str, text_column: str | None, *, chosen: bool = False) -> None:
    """Refuse --model gbdt with a text column: text is always learned by a logistic
    regression on TF-IDF, and the option would be ignored unsaid."""
    if model == "gbdt" and text_column:
        how = (f'the pool\'s columns are free text, learned from as the text column '
               f'"{text_column}"' if chosen else "--text-column is given")
        raise LabelingError(f"--model gbdt learns from feature columns, but {how}: a text "
                            "is learned by TF-IDF and a logistic regression. Leave --model "
                            "out, or give --feature-columns")


def _check_model_columns(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--feature-columns``, after refusing ``--text-column ''`` or
    ``--feature-columns ''`` (not the same as leaving the option out), both options
    together, and an id column among them (an id tells items apart, it teaches nothing
    about them)."""
    for option, value in (("--text-column", args.text_column),
                          ("--feature-columns", args.feature_columns)):
        if value is not None and not value.strip():
            what = "a column name" if option == "--text-column" else "column names"
            raise LabelingError(f"{option}: expected {what} (leave the option out to let "
                                "the columns be chosen)")
    features = column_list("--feature-columns", args.feature_columns)
    if args.text_column and features:
        raise LabelingError("--text-column or --feature-columns: give one, not both (a "
                            "model learns from a text or from feature columns)")
    read = [args.text_column] if args.text_column else features
    id_column = getattr(args, "id_column", None)  # `demo` has none
    if id_column and id_column in read:
        raise LabelingError(f'"{id_column}" is the id column: a model learns nothing from '
                            "ids; leave it out of --text-column / --feature-columns")
    return features


def _pool_head(pool: str, rows: int = 10_000):
    """The first ``rows`` rows of the pool, typed as `train` sees them (None: empty)."""
    from .sources import iter_table

    return next(iter_table(pool, chunksize=rows), None)


def _default_retrain_columns(head, features: Sequence[str]) -> tuple[str | None, list[str]]:
    """The text column and features retraining reads when none are given, as `train`
    chooses them, on the pool's first rows: its columns but id-like ones
    (``models.is_identifier``), or its free text alone when they all are
    (``models.split_free_text``); free text beside other columns is left out, and said
    now."""
    from .models import free_text_note, is_identifier, split_free_text

    if head is None or not features:
        return None, list(features)
    text_column, kept, free_text = split_free_text(head, [
        c for c in features if c in head.columns and not is_identifier(head, c)])
    if free_text:
        print(f"Note: {free_text_note(free_text)}", file=sys.stderr)
    if text_column:
        print(f'Retraining reads "{text_column}" as text (TF-IDF)', file=sys.stderr)
    return text_column, kept


def _check_feature_values(pool: str, head, features: Sequence[str]) -> None:
    """Refuse feature columns that the first rows of the pool (``head``) show `train`
    could never learn from (numbers mixed with text): said now, not by a warning after
    the first labels."""
    from .errors import ValidationError
    from .models import column_type

    for name in features:
        if head is not None and name in head.columns:
            try:
                column_type(head[name], name)
            except ValidationError as exc:
                raise LabelingError(f"Cannot retrain on {pool}: {exc}") from None


def _start_retrainer(args: argparse.Namespace, settings: dict, project, retrain) -> None:
    """Start the retraining process: it never shares the server's CPU time slices."""
    from .retrain import (
        keep_alive,
        other_retrainer,
        retrain_warnings,
        retraining_state,
        start_worker,
    )

    other = other_retrainer(project.store)
    if other is not None:
        print(f"Warning: another server seems to retrain on {args.store} (its retraining "
              f"process {other} runs): both would retrain on the same labels and count "
              "each session twice; stop the other server", file=sys.stderr)
    keep_alive(lambda: start_worker(args.input, args.store, settings, retrain,
                                    debug=getattr(args, "debug", False)), project.store)
    # Why a retraining failed reaches labelers with the other warnings.
    project.add_warnings(lambda: retrain_warnings(project.store), watched=True)
    project.show_retraining(lambda: retraining_state(project.store, retrain.every))
    print(f"Retraining {retrain.model_path} every {retrain.every} labels "
          f"({retrain.strategy} ranking)", file=sys.stderr)


def _order_queue(project, queries: str, pool: str) -> None:
    """Order the queue by a queries table; the labels that follow belong to its session.

    Rows that match no item of the pool are reported: all of them (another pool's
    queries) is an error, some of them a warning."""
    from .queries import priorities_from_file
    from .sources import READER, file_fingerprint
    from .standalone import RANKED_BY, store_reader

    fingerprint = file_fingerprint(queries)
    if project.store.get_meta(f"{RANKED_BY}:{fingerprint}") == "1" and \
            project.store.get_meta(RANKED_BY) == "retraining":
        # A restart with the same command would bring back an outdated ranking.
        print(f'The queue keeps the order of the latest retraining: "{queries}" ordered '
              "it before, and the model has been retrained since.", file=sys.stderr)
        return
    id_column = project.config.id_column
    reader = store_reader(project.store)
    done = project.store.set_priorities(
        priorities_from_file(queries, id_column, reader=reader, pool=pool),
        to_duplicates=id_column is None, pause=False)  # the server does not serve yet
    # A store made by an older version: query must read the pool as it does.
    hint = (" Without an id column, rows are named by their cells, and a CSV file reads "
            '"00001" as the number 1 where Parquet and JSONL keep the text: make the '
            "queries from the file served, or serve with --id-column."
            if reader == READER and id_column is None else "" if reader == READER else
            f" This store reads its table as older versions did: make the queries with "
            f"`query --store {project.store.path}`.")
    if done.unmatched and not done.items:
        raise LabelingError(
            f'No row of "{queries}" is an item of "{pool}" (the queue keeps its previous '
            f"order): were these queries made from another table?{hint}")
    if done.unmatched:
        print(f'Warning: {done.unmatched} rows of "{queries}" match no item of "{pool}" '
              "(rows changed since the queries were made?): the items they stood for are "
              f"not ranked.{hint}", file=sys.stderr)
    if not done.items:
        print(f'Warning: "{queries}" holds no queries (made when every item was labeled?): '
              "it ranks no item", file=sys.stderr)
    else:
        print(f"Queue ordered by {queries}: {done.items} items scored", file=sys.stderr)
    project.store.set_meta(RANKED_BY, fingerprint)
    project.store.set_meta(f"{RANKED_BY}:{fingerprint}", "1")
    session = _table_session(queries)
    current = int(project.store.get_meta("session", "0") or 0)
    if session > current:
        project.store.set_meta("session", str(session))
    elif 0 < session < current:  # sessions only go up: the labels cannot count in it
        print(f'Warning: "{queries}" holds the queries of session {session}, lower than '
              f"the store's session {current}: the labels that follow count in session "
              f"{current} (sessions only go up). `query --store` counts sessions in the "
              "store, and ranks by the latest model if you give it",
              file=sys.stderr)


def _say_kept_ranking(project) -> None:
    """A restart without --queries keeps the queue's last ranking: say which."""
    from .standalone import RANKED_BY

    ranked_by = project.store.get_meta(RANKED_BY)
    if ranked_by:
        how = ("the latest retraining" if ranked_by == "retraining"
               else "the queries it was last given")
        print(f"The queue keeps the order of {how} (--queries FILE orders it anew)",
              file=sys.stderr)


#: Gunicorn's threads read a request's headers themselves: a few clients that send them
#: slowly hold every thread (gunicorn's deployment docs ask for a buffering proxy).
EXPOSED_WARNING = (
    "Warning: listening beyond this machine. Put a reverse proxy that buffers requests "
    "(such as nginx) in front, with TLS: on its own, a few slow clients can hold every "
    "server thread, and passwords would cross the network in clear.")


def _run_server(args: argparse.Namespace, settings: dict) -> int:
    from .config import build_config
    from .server import serve
    from .sources import table_columns
    from .standalone import is_loopback
    from .store.sqlite import check_store_file, hold_for_serving, release_serving
    from .web.app import create_app

    _check_server_options(args)
    check_store_file(args.store)  # a mistyped path is said first, not after other advice
    accounts, stored = _existing_store(args.store)  # before reading a big pool
    if settings.get("id_column") is None and stored:
        # Left out on a restart: "as before", not "other ids" (which would be refused).
        settings = {**settings, "id_column": stored}
        print(f'Items keep the store\'s id column "{stored}"', file=sys.stderr)
    # Before the store is written.
    config, columns = build_config(settings), table_columns(args.input)
    _check_label_columns(config.label_col_name, columns, f'The pool "{args.input}" has')
    retrain = (_retrain_settings(args, config, columns)
               if getattr(args, "retrain_every", None) else None)
    queries = getattr(args, "queries", None)
    if queries and not Path(queries).is_file():
        raise LabelingError(f'No queries file "{queries}"')
    behind_proxy = getattr(args, "behind_proxy", False)
    # Behind a proxy every request arrives from the proxy: accounts are always needed.
    local = is_loopback(args.host) and not behind_proxy
    if not local and accounts == 0:
        raise LabelingError(
            f"Refusing to {'serve behind a proxy' if behind_proxy else 'listen on ' + args.host}"
            f" without accounts: anyone on the network could label. Add one with: "
            f"ml-assisted-labeling users add NAME --role manager "
            f"--store {args.store}"
        )
    _check_port(args.host, args.port)  # before the pool is read and the URL is shown
    created = not Path(args.store).exists()
    # Held until the server stops, or this process and its workers end (even killed);
    # before the pool is synced into the store.
    hold = hold_for_serving(args.store)
    try:
        project = _open_for_serving(args, settings, retrain=retrain, local=local,
                                    created=created)
        app = create_app(project, local_mode=local, behind_proxy=behind_proxy)
        stats = project.stats()
        print(f"Labeling {stats.total} items ({stats.complete} done) from {args.input}; "
              f"labels in {args.store}", file=sys.stderr)
        print(_where_to_open(args.host, args.port), file=sys.stderr, flush=True)
        serve(lambda: app, host=args.host, port=args.port, workers=args.workers,
              threads=args.threads)
    finally:
        release_serving(hold)
    return 0


def _open_for_serving(args: argparse.Namespace, settings: dict, *, retrain: Any,
                      local: bool, created: bool):
    """The project, its queue ordered and its retraining started; on failure, a store
    this start made is removed again (unless another program wrote to it meanwhile)."""
    from .standalone import open_project

    project = None
    queries = getattr(args, "queries", None)
    try:
        project = open_project(args.input, args.store, settings)
        if not local and not getattr(args, "behind_proxy", False):
            print(EXPOSED_WARNING, file=sys.stderr)
        _warn_unknown_pre_annotations(project, args.input)
        _warn_left_out_classes(project)
        if queries:  # once the server may start: a refusal changes nothing
            _order_queue(project, queries, args.input)
        elif retrain is None:
            _say_kept_ranking(project)
        if retrain is not None:
            _start_retrainer(args, settings, project, retrain)
    except BaseException:
        if project is not None:
            project.store.close()
        if created:
            _remove_if_unused(args.store)
        raise
    return project


def _warn_unknown_pre_annotations(project, pool: str, rows: int = 10_000) -> None:
    """Say when the existing-labels column holds values that are no class (in the first
    ``rows`` rows): labelers see them, but cannot accept them as they are."""
    import itertools

    from .sources import iter_rows
    from .standalone import store_reader

    column = project.config.existing_labels_column
    if not column:
        return
    # The cells as the page shows them (a CSV's "1", not the 1.0 of a column with blanks).
    head = [row.data for row in itertools.islice(
        iter_rows(pool, id_column=project.config.id_column,
                  reader=store_reader(project.store)), rows)]
    given = [str(v) for data in head if (v := data.get(column)) is not None and v != ""]
    unknown = [value for value in given if project.existing_label(value) is None]
    if unknown:
        print(f'Warning: {len(unknown)} of {len(given)} existing labels in column '
              f'"{column}" (first {len(head):,} rows) are not classes, such as {unknown[0]!r}: '
              "labelers see them but must choose a class themselves (classes: "
              f"{', '.join(project.config.category_names)})", file=sys.stderr)


def _warn_left_out_classes(project: LabelingProject) -> None:
    """Say when labels were given to classes that --categories no longer lists (times
    each class was given: a multi-label annotation may give several)."""
    counts = project.store.stats().per_class
    gone = {name: n for name, n in counts.items()
            if name not in project.config.category_names}
    if gone:
        classes = ", ".join(f'"{name}" {n} time{"s" * (n != 1)}' for name, n in gone.items())
        print(f"Warning: the store holds labels of classes no longer in --categories "
              f"({classes}): they stay in the exports, but labelers cannot choose these "
              "classes", file=sys.stderr)


def _remove_if_unused(path: str | Path) -> None:
    """Remove a store a failed start-up made, with its side files, so that it leaves
    nothing behind; unless it holds accounts or annotations (another program may have
    written to it meanwhile)."""
    from .store.sqlite import SQLiteStore, remove_store

    if Path(path).is_file():
        try:
            store = SQLiteStore(path)
        except LabelingError:
            store = None  # not even a store yet: nothing in it to keep
        if store is not None:
            try:
                stats = store.stats()
                if store.count_users() or stats.labeled or stats.skipped:
                    return
            finally:
                store.close()
    remove_store(path)


def _check_server_options(args: argparse.Namespace) -> None:
    """Refuse a port, process or thread count the server could not start with (or
    would start with and never answer)."""
    if not 1 <= args.port <= 65535:
        raise LabelingError(f"--port must be between 1 and 65535 (got {args.port})")
    for option, value in (("--workers", args.workers), ("--threads", args.threads)):
        if value < 1:
            raise LabelingError(f"{option} must be at least 1 (got {value})")


def _check_port(host: str, port: int) -> None:
    """Refuse a port another program (another project's server?) listens on."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:  # not an address of this machine's
            raise LabelingError(f"Cannot listen on {host}: {exc.strerror}; check --host") \
                from None
        except OSError as exc:
            raise LabelingError(f"Cannot listen on {host} port {port}: {exc.strerror}; "
                                "choose another with --port") from None


def _existing_store(store_path: str | Path) -> tuple[int, str | None]:
    """How many accounts a store has and the id column it was served with; (0, None)
    when there is no store yet (none is made)."""
    from .standalone import CONFIG_META
    from .store.sqlite import SQLiteStore

    if not Path(store_path).is_file():
        return 0, None
    store = SQLiteStore(store_path)
    try:
        raw = store.get_meta(CONFIG_META)
        return store.count_users(), json.loads(raw).get("id_column") if raw else None
    finally:
        store.close()


def _check_retrain_options(args: argparse.Namespace) -> None:
    """Refuse retraining options that would be silently ignored, or a negative period."""
    if args.retrain_every is not None and args.retrain_every < 0:
        raise LabelingError("--retrain-every must be 0 (no retraining) or more")
    if args.retrain_every and args.multi_label:
        raise LabelingError("--retrain-every learns one class per item: multi-label "
                            "projects are not retrained (leave one of them out)")
    if args.retrain_every:
        return
    # None: left out. serve's parser has no defaults for these, so that an explicit
    # "--strategy margin" is refused too (_retrain_settings fills them in).
    given = [option for option, value in (
        ("--text-column", args.text_column), ("--feature-columns", args.feature_columns),
        ("--model", args.model), ("--strategy", args.strategy),
        ("--model-output", args.model_output)) if value is not None]
    if given:
        raise LabelingError(f"{', '.join(given)}: only used with --retrain-every N; add it, "
                            "or leave these out")


def cmd_serve(args: argparse.Namespace) -> int:
    _check_retrain_options(args)
    if args.retrain_every and args.model_output:
        _check_model_output(args.model_output)
    return _run_server(args, _serve_settings(args))


def _read_input(path: str | Path, *, text_columns: Sequence[str | None] = ()) -> Any:
    """A whole table, counting rows on stderr while it is read."""
    from .sources import read_table

    with _progress(f"Reading {Path(path).name}", _row_count(path)) as bar:
        return read_table(path, progress=bar, text_columns=text_columns)


def cmd_train(args: argparse.Namespace) -> int:
    import time

    from . import models

    _check_model_output(args.output)
    # Classes and ids are text: a CSV's "01" and "1", "None" or "NA" stay what they say.
    frame = _read_input(args.input, text_columns=[args.label_column, args.id_column])
    columns = {"label_column": args.label_column, "text_column": args.text_column,
               "feature_columns": _check_model_columns(args), "id_column": args.id_column}
    text_column = models.training_columns(frame, **columns)[0]  # before "Fitting"
    _check_model_kind(args.model, text_column, chosen=not args.text_column)
    started = time.perf_counter()
    with _stage(f"Fitting a {args.model} model"), _user_data(
            f'Cannot train on "{args.input}"',
            "check that each feature column holds one type (numbers or text)"):
        trained = models.train(frame, model=args.model, **columns)
    with _user_data(f'Cannot write the model "{args.output}"',
                    "check the free disk space and the directory's permissions"):
        models.save(trained, args.output)
    unlabeled = len(frame) - (trained.n_labels or 0)
    shown = trained.classes[:10] + ([f"… {len(trained.classes)} classes"]
                                    if len(trained.classes) > 10 else [])
    print(f"Trained on {trained.n_labels} labeled rows ({', '.join(shown)}) in "
          f"{time.perf_counter() - started:.1f}s: {args.output}"
          + (f" ({unlabeled} rows without a label left out)" if unlabeled else ""),
          file=sys.stderr)
    features = (f"{trained.text_column} (as text: TF-IDF)" if trained.text_column else
                ", ".join(f"{c} ({trained.column_types.get(c, 'category')})"
                          for c in trained.columns))
    print(f"Features: {features}; not read: {', '.join(trained.left_out) or 'none'}",
          file=sys.stderr)
    for name in models.wordy_categories(frame, trained):
        print(f'Note: "{name}" holds several words a value, read as categories (its '
              "values repeat): each distinct value is one feature, which teaches nothing "
              f"of a new text. To learn from its words: --text-column {name}",
              file=sys.stderr)
    if trained.empty_left_out:
        print(f"Note: {', '.join(trained.empty_left_out)} "
              f"{'hold' if len(trained.empty_left_out) > 1 else 'holds'} no value in the "
              "labeled rows: not read", file=sys.stderr)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from .export import check_output, write_frame
    from .queries import ITEM_ID, labeled_keys, score_file
    from .sampler import SESSION_COLUMN
    from .sampling import DEFAULT_COLD_START
    from .sources import READER, table_columns

    if args.max_queries is not None and args.max_queries < 1:
        raise LabelingError("--max-queries must be at least 1 (leave it out to rank the "
                            "whole pool)")
    if args.batch_size < 1:
        raise LabelingError("--batch-size must be at least 1")
    if args.seed < 0:
        raise LabelingError(f"--seed must be 0 or more (got {args.seed})")
    check_output(args.output)  # now, not after scoring the whole pool
    columns = table_columns(args.input)
    model = _load_model(args.model)
    _check_pool(args.input, args.output, columns, model.columns)
    if args.id_column and args.id_column not in columns:
        raise LabelingError(f'No column "{args.id_column}" (--id-column) in the pool '
                            f'"{args.input}" (its columns: {", ".join(columns)})')
    store, exclude, id_column, reader = None, None, args.id_column, READER
    if args.store and args.label_column:
        raise LabelingError("--store tells which items are labeled: leave --label-column "
                            "out (a pool that serve labels has no label column)")
    # Without a store, the pool may be the table `train` learned from.
    label_column = None if args.store else (
        args.label_column or model.label_column or DEFAULT_LABEL_COLUMN)
    if label_column in model.columns:
        if args.label_column:
            raise LabelingError(f'--label-column {args.label_column} is a column the model '
                                "reads: its values are not labels of this model")
        label_column = None  # an older model file that reads a column named "label"
    if label_column not in columns:
        if args.label_column:
            raise LabelingError(f'No column "{args.label_column}" in the pool '
                                f'"{args.input}" (its columns: {", ".join(columns)})')
        label_column = None
    _check_replaceable(args.output, columns, label_column)
    if args.store:
        from .retrain import other_retrainer
        from .standalone import store_reader, stored_settings
        from .store.sqlite import SQLiteStore, check_store_file

        check_store_file(args.store, existing=True)
        store = SQLiteStore(args.store)
        exclude = labeled_keys(store)
        reader = store_reader(store)  # read the pool as the store's items were read
        stored_id = stored_settings(store).get("id_column")
        if id_column and id_column != stored_id:
            # Its items' ids come from the store's own id column: no labeled item would
            # be found, and every one would come back among the queries.
            raise LabelingError(
                f'--id-column {id_column} differs from the store\'s, which is '
                f"{stored_id or 'none (ids from row contents)'}: leave --id-column out")
        if stored_id and stored_id not in columns:
            raise LabelingError(f'The store "{args.store}" names its items by the column '
                                f'"{stored_id}", which the pool "{args.input}" has not: is '
                                "it the store of another table?")
        item = store.first_item_data()
        if item and not set(map(str, item)) & set(map(str, columns)):
            raise LabelingError(f'The items of the store "{args.store}" have no column of '
                                f'the pool "{args.input}" (they have '
                                f"{', '.join(list(map(str, item))[:5])}): is it the store "
                                "of another table?")
        id_column = stored_id
        last_session = int(store.get_meta("session", "0") or 0)
        other = other_retrainer(store)
        if other is not None:
            print(f'Warning: a server seems to retrain on "{args.store}" (serve '
                  f"--retrain-every; its retraining process {other} runs): it ranks its "
                  "queue itself, and this run counts its session in the same store, "
                  "between its retrainings.", file=sys.stderr)
    else:
        last_session = _last_session(args.output)
    with _progress(f"Scoring {Path(args.input).name}", _row_count(args.input)) as bar, \
            _user_data(f'Cannot score "{args.input}" with the model "{args.model}"',
                       f"check that its columns ({', '.join(model.columns)}) hold the "
                       "types of the data the model was trained on"):
        queries = score_file(args.input, model, strategy=args.strategy,
                             id_column=id_column, exclude=exclude,
                             max_queries=args.max_queries, seed=args.seed, progress=bar,
                             batch_size=args.batch_size, reader=reader,
                             cold_start=None if args.no_cold_start else DEFAULT_COLD_START,
                             label_column=label_column)
    pool_rows, left_out = queries.attrs["pool_rows"], queries.attrs["left_out"]
    if not pool_rows:
        raise LabelingError(f'The pool "{args.input}" has no rows: nothing to rank')
    labeled_where = " and ".join(
        ([f'in the store "{args.store}"'] if store is not None else [])
        + ([f'in its column "{label_column}"'] if label_column else []))
    if left_out:
        print(f"Left out {left_out:,} of {pool_rows:,} rows, labeled {labeled_where}",
              file=sys.stderr)
    elif exclude:
        # Fine for a pool of new items; otherwise the labeled items come back as queries.
        print(f"Note: none of the {len(exclude):,} item{'s' * (len(exclude) > 1)} labeled "
              f"in the store "
              f'"{args.store}" is in this pool: a pool of new items, or one whose rows '
              "differ from those the store was made from (another version of the file, "
              "or another format of it: without an id column, rows are named by their "
              'cells, and CSV reads "00001" as 1 where Parquet and JSONL keep the text)',
              file=sys.stderr)
    queries = queries.drop(columns=[ITEM_ID])
    # Nothing left to label: the empty table replaces older queries, and no session
    # starts, since no label can follow it.
    session = last_session if queries.empty else last_session + 1
    queries[SESSION_COLUMN] = session
    with _user_data(f'Cannot write "{args.output}"',
                    "check the free disk space and the directory's permissions"), \
            (_stage(f"Writing {len(queries):,} queries to {args.output}")
             if len(queries) >= LONG_WRITE_ROWS else nullcontext()):
        write_frame(queries, args.output)
        _mark_written(args.output)
        if store is None and not queries.empty:
            _session_file(args.output).write_text(f"{session}\n", "utf-8")
    if queries.empty:
        print(f"Every row of the pool is labeled ({labeled_where}): wrote an empty "
              f"queries table to {args.output}; the session stays {session}",
              file=sys.stderr)
        return 0
    if store is not None:
        store.set_meta("session", str(session))
    noun = "query" if len(queries) == 1 else "queries"
    print(f"Wrote {len(queries)} {noun} (session {session}) to {args.output}",
          file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .config import build_config
    from .export import check_output, export_rows, typed_items
    from .project import LabelingProject
    from .standalone import pool_format, pool_path, stored_settings
    from .store import Status
    from .store.sqlite import SQLiteStore, check_store_file

    if args.label_column is not None and not args.label_column.strip():
        raise LabelingError("--label-column needs a name (leave it out: the store's)")
    check_output(args.output, fmt=args.format, stdout=True)
    check_store_file(args.store, existing=True)
    store = SQLiteStore(args.store)
    settings = stored_settings(store)
    pool = pool_path(store)
    if args.output != "-" and pool is not None and Path(args.output).resolve() == pool:
        raise ConfigError(f'The output "{args.output}" is the table the store\'s items come '
                          f"from: writing the {args.table} there would replace it; choose "
                          "another output file")
    if args.label_column:
        settings["label_col_name"] = args.label_column
    project = LabelingProject(build_config(settings), store)
    typed, whole, free_text = None, (), ()
    if args.table == "labels":
        # The items of a store come from one table: one labeled item tells its columns.
        columns = None
        for _, data in store.iter_annotated_items(status=Status.LABELED):
            _check_label_columns(project.config.label_col_name, data, "The items have")
            break
        else:  # no label yet: the table's columns all the same, for a header
            col = project.config.label_col_name
            columns = [*(store.first_item_data() or {}), col, f"{col}_id"]
        rows = project.label_rows()
        if pool_format(store) == "csv":
            typed = partial(typed_items, label_column=project.config.label_col_name,
                            id_column=project.config.id_column)
    else:
        col = project.config.label_col_name
        rows = project.metadata_rows()
        columns = ["date", "data_id", "comment", "session", "status", "annotator", col,
                   f"{col}_id"]
        whole, free_text = ("session", f"{col}_id"), ("comment",)
    count = export_rows(rows, args.output, fmt=args.format, columns=columns, typed=typed,
                        whole_numbers=whole, free_text=free_text)
    where = "the standard output" if args.output == "-" else args.output
    print(f"Wrote {count} row{'s' * (count != 1)} of {args.table} to {where}", file=sys.stderr)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():  # getpass would warn, then read a line it cannot hide
        raise LabelingError("No terminal to type the password at: pipe it with "
                            "--password-stdin")
    try:
        first = getpass.getpass(f"Password for {args.name}: ")
        again = getpass.getpass("Again: ")
    except EOFError:  # no terminal and nothing on the standard input (a script, CI)
        raise LabelingError("No password given: type it at the prompt, or pipe it with "
                            "--password-stdin") from None
    if again != first:
        raise LabelingError("The two passwords differ")
    return first


def _where_to_open(host: str, port: int) -> str:
    """The address to open: a wildcard one (every interface) is no address to browse."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        return (f"Open http://{socket.gethostname()}:{port}/ from other machines (listening "
                f"on every address), http://127.0.0.1:{port}/ from this one")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"Open http://{shown}:{port}/"


def cmd_users(args: argparse.Namespace) -> int:
    from .store.sqlite import SQLiteStore, check_account, check_store_file

    if args.action != "list" and not args.name:
        raise ConfigError(f"users {args.action} needs a user name")
    if args.action == "set-role" and args.role is None:
        raise ConfigError("users set-role needs --role")
    if args.action != "add" or Path(args.store).exists():
        check_store_file(args.store, existing=True)
    # A new store is made only once the password is read and the account checked: a
    # refusal leaves no file.
    password = None
    if args.action == "add" and not Path(args.store).exists():
        password = _read_password(args)
        check_account(args.name, args.role or "annotator", password)
    store = SQLiteStore(args.store)
    if args.action == "add":
        from .web.auth import LOCAL_USER

        role = args.role or "annotator"
        earlier = store.annotation_count(args.name)
        if earlier and not args.same_person and \
                args.name not in {user.name for user in store.list_users()}:
            # Annotations are kept by name: a new person would see and edit them.
            whose = ("labeling without accounts" if args.name == LOCAL_USER.name
                     else "a deleted account")
            raise LabelingError(
                f"{earlier} annotation{'s carry' if earlier > 1 else ' carries'} the name "
                f'"{args.name}", from {whose}: choose another name for someone else, or '
                "add --same-person to give them to this account")
        token = store.add_user(args.name, role,
                               password if password is not None else _read_password(args))
        print(f"Added {args.name} ({role}). API token (shown once):", file=sys.stderr)
        print(token)
    elif args.action == "reset":
        token = store.reset_user(args.name, _read_password(args))
        print(f"{args.name} has a new password and API token (shown once); their sessions "
              "ended:", file=sys.stderr)
        print(token)
    elif args.action == "set-role":
        store.set_role(args.name, args.role)
        print(f"{args.name} is now {args.role}, from their next request", file=sys.stderr)
    elif args.action == "delete":
        store.delete_user(args.name)
        print(f"Deleted {args.name} and ended their sessions; their annotations stay",
              file=sys.stderr)
    else:
        users = store.list_users()
        for user in users:
            print(f"{user.name}\t{user.role}")
        if not users:
            print("No accounts in this store: the server is open to this machine alone "
                  "(users add NAME --role ROLE creates one)", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.retrain_every < 0:  # before anything is created
        raise LabelingError("--retrain-every must be 0 (no model) or more")
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
    if args.retrain_every:
        # The active-learning loop on the review texts: the model's doubts order the
        # queue and show on each item after the first labels. Many reviews repeat the
        # same words: diverse_margin keeps copies out of one batch, where margin would
        # ask them back to back.
        args.text_column, args.feature_columns, args.model = "review", None, "linear"
        args.strategy, args.model_output = "diverse_margin", None
    return _run_server(args, settings)


STRATEGIES = list(sampling.STRATEGIES)
DEFAULT_MODEL, DEFAULT_STRATEGY = "linear", "margin"
DEBUG_HELP = "show the Python traceback of errors"
STRATEGY_HELP = "how the model's doubt ranks the items"


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that states each option's default, when it has a telling one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        silent = action.default is None or action.default is False \
            or action.default == argparse.SUPPRESS
        if action.option_strings and not silent and "default" not in text:
            text += " (default: %(default)s)"
        return text.strip()


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    serve = parser.prog.endswith("serve")
    parser.add_argument("--text-column", help="train on this text column (TF-IDF)")
    parser.add_argument("--feature-columns", help="train on these columns, comma-separated")
    # serve fills in the defaults itself, once it knows whether they were given.
    parser.add_argument("--model", default=None if serve else DEFAULT_MODEL,
                        choices=["linear", "gbdt"],
                        help="logistic regression, or histogram gradient boosting (feature "
                             "columns only: a text is learned by a logistic regression)"
                             + (f" (default: {DEFAULT_MODEL})" if serve else ""))
    if serve:
        parser.add_argument("--strategy", choices=STRATEGIES,
                            help=f"{STRATEGY_HELP} (default: {DEFAULT_STRATEGY})")


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--behind-proxy", action="store_true",
                        help="a reverse proxy forwards the requests (trust its "
                             "X-Forwarded-For/-Proto/-Host headers; accounts required)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; others need accounts)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml-assisted-labeling",
                                     description="Label data fast, with active learning.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="more messages: each step of the work, as it happens")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    # --debug after the command too; SUPPRESS: a subcommand's default would hide the
    # value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=DEBUG_HELP)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=summary,
                              formatter_class=_DefaultsFormatter)

    serve = command("serve", "serve the labeling webapp on a local table")
    serve.add_argument("input", help="table of items: .csv, .parquet or .jsonl")
    serve.add_argument("--kind", default="tabular", choices=["tabular"],
                       help="what the items are")
    serve.add_argument("--categories", required=True, help="classes, comma-separated")
    serve.add_argument("--label-column", default=DEFAULT_LABEL_COLUMN,
                       help="name of the label column in exports")
    serve.add_argument("--store", default="labels.db", help="SQLite file for the labels")
    serve.add_argument("--multi-label", action="store_true")
    serve.add_argument("--display-columns", help="columns to show (default: all)")
    serve.add_argument("--context-columns", help="columns shown folded above the item")
    serve.add_argument("--existing-labels-column", help="pre-annotations to accept/correct")
    serve.add_argument("--id-column", help="a column of unique item ids")
    serve.add_argument("--instructions", help="markdown file shown to labelers")
    serve.add_argument("--no-comments", action="store_true", help="hide the comment box")
    serve.add_argument("--annotators-per-item", type=int, default=1,
                       help="labels wanted per item, each by another annotator")
    serve.add_argument("--title", default="ML-assisted Labeling", help="page title")
    serve.add_argument("--queries", help="queries table: serve by decreasing uncertainty")
    serve.add_argument("--retrain-every", type=int, metavar="N",
                       help="retrain the model and re-rank the queue every N new labels")
    serve.add_argument("--model-output", help="model file kept up to date by retraining "
                       "(default: next to the store)")
    _add_model_options(serve)
    _add_server_options(serve)
    serve.set_defaults(func=cmd_serve)

    train = command("train", "train the default model on a labeled table")
    train.add_argument("input", help="table with a label column (e.g. a labels export)")
    train.add_argument("--label-column", default=DEFAULT_LABEL_COLUMN,
                       help="the column to predict")
    train.add_argument("--id-column", help="a column of unique item ids (not a feature)")
    train.add_argument("-o", "--output", required=True, help="model file (.skops)")
    _add_model_options(train)
    train.set_defaults(func=cmd_train)

    query = command("query", "rank a pool by model uncertainty")
    query.add_argument("--model", required=True, help="model file made by `train`")
    query.add_argument("--input", required=True, help="the pool: .csv, .parquet, .jsonl")
    query.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=STRATEGIES,
                       help=STRATEGY_HELP)
    query.add_argument("-o", "--output", required=True,
                       help="queries table (.csv, .parquet or .jsonl); without --store, "
                            "the session count is kept beside it in .NAME.session")
    query.add_argument("--max-queries", type=int, help="write at most k queries (at "
                       "least 1; default: the whole pool): the k most uncertain, except "
                       "that diverse_margin spreads each batch out and that, while the "
                       "model learned from few labels, the first batch (k items if k is "
                       "under --batch-size) also holds items typical of the pool, asked "
                       "first (see --no-cold-start)")
    query.add_argument("--store", help="leave out the items labeled in this store, and "
                       "count sessions there")
    query.add_argument("--id-column", help="a column of unique item ids")
    query.add_argument("--label-column",
                       help="without --store: rows holding a value in this column are "
                            "labeled already and left out (default: the column the model "
                            "learned its labels from, when the pool has it: the table "
                            "`train` learned from)")
    query.add_argument("--batch-size", type=int, default=100,
                       help="labels between two retrains (default 100): the batch that "
                            "diverse_margin diversifies and the cold start fills")
    query.add_argument("--no-cold-start", action="store_true",
                       help="rank the whole first batch by uncertainty even when the model "
                            "learned from few labels (fewer than twice the batch, or than "
                            "5 per class on average)")
    query.add_argument("--seed", type=int, default=0,
                       help="seed of random choices (random strategy, clustering)")
    query.set_defaults(func=cmd_query)

    export = command("export", "write the labels or metadata table to a file")
    export.add_argument("--store", required=True,
                        help="the SQLite file `serve` keeps the labels in")
    export.add_argument("--table", choices=["labels", "metadata"], default="labels",
                        help="labels: the labeled items; metadata: one row per annotation "
                             "(who, when, status, comment)")
    export.add_argument("--format", choices=["csv", "parquet", "jsonl"],
                        help="default: the output's extension (CSV for -)")
    export.add_argument("--label-column", help="override the label column name")
    export.add_argument("-o", "--output", required=True,
                        help="a .csv, .parquet or .jsonl file, or - for the standard "
                             "output (CSV unless --format says otherwise)")
    export.set_defaults(func=cmd_export)

    users = command("users", "manage accounts")
    users.add_argument("action", choices=["add", "list", "set-role", "reset", "delete"],
                       help="reset: a new password and API token, ending the sessions")
    users.add_argument("name", nargs="?")
    users.add_argument("--role", choices=ROLES,
                       help="add: the new account's role (default annotator); set-role: "
                            "the new role")
    users.add_argument("--store", default="labels.db", help="SQLite file of the project")
    users.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input")
    users.add_argument("--same-person", action="store_true",
                       help="add: the annotations of a deleted account of this name are "
                            "this person's")
    users.set_defaults(func=cmd_users)

    demo = command("demo", "serve a bundled sample project (works offline)")
    demo.add_argument("--dir", default="demo-data", help="where the demo keeps its files")
    demo.add_argument("--retrain-every", type=int, default=10, metavar="N",
                      help="retrain on the reviews' text after every N labels and re-rank "
                           "the queue (default 10; 0: no model)")
    _add_server_options(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


class CliLogFormatter(logging.Formatter):
    """Warnings read like the tool's other notes ("Warning: …"); other records keep
    their level and logger, which matter when reading the server's log."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.WARNING and not record.exc_info:
            return f"Warning: {record.getMessage()}"
        return super().format(record)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(CliLogFormatter())
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        handlers=[handler])
    try:
        return args.func(args)
    except LabelingError as exc:
        return _fail(exc.message, exc, debug=args.debug)
    except BrokenPipeError:
        # The reader of the standard output stopped (`export -o - | head`): no message,
        # and none from Python either when it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a file the user named: missing, unreadable, disk full…
        from .export import written_path

        # Outputs are written to a temporary file beside them first: name the output.
        name = f' "{written_path(exc.filename)}"' if exc.filename else ""
        return _fail(f"Cannot use{name}: {_one_line(exc)}; check the path and its "
                     "permissions", exc, debug=args.debug)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, exc: BaseException, *, debug: bool) -> int:
    """Print one line for the user (after the traceback with --debug); exit code 2."""
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    elif exc.__cause__ is not None:
        message += " (--debug shows the traceback)"
    print(f"error: {message}", file=sys.stderr)
    return 2

if __name__ == "__main__":
    sys.exit(main())
