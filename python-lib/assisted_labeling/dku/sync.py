"""Mirror the local store to the DSS labels and metadata datasets.

A save is acknowledged once it is committed in the local SQLite store. The store's change
log is an outbox: a background thread appends the changes made since the last flushed
change to the two datasets, in batches, with one DSS writer per dataset per batch, and
records the flushed watermark in the store's metadata. Nothing is rewritten per label.

Pending changes are flushed once ``flush_delay`` seconds passed since the last append
(or at once when a full batch waits), so a busy webapp writes every few seconds, not per
label.

Editing a label (or turning it into a skip) cannot be done in place with appends, so an
edit appends a new row with the same label id and counts the older row as *superseded*.
A **compaction** rewrites both datasets once from the store, removing superseded rows and
merging the many small appends (a file-based dataset gets one file per append). It runs
only when there are superseded rows or ``max_appends`` appends, no append happened for
``quiet_seconds`` (labelers paused) and the previous compaction is at least
``min_compaction_interval`` old: its cost (a full rewrite) is paid rarely and mostly
while nobody labels. Superseded rows that waited ``max_stale_seconds`` are compacted
without a pause: a retraining reads the labels dataset while people label, and would
learn an edited label's old class too. Readers of the datasets between compactions take
the latest row per label id (labels) or per (data_id, annotator) (metadata).

Rows the store does not know (rows of items gone from the input, 4.x rows whose item
cannot be found, rows without an annotator or a label id made by hand) are kept by
compactions, read back from the datasets.

Failures. A batch whose metadata append fails is retried without appending its labels
rows again (``LABELS_WATERMARK``), and the metadata names their ids even if the labels
changed meanwhile (``UNNAMED_LABELS``). A rewrite that fails part-way leaves its dataset
cut (DSS's writer commits what it was sent when it closes). The store holds everything
else, so the next compaction, tried at the next tick, repairs both datasets; the rows it
does not know are recorded in the store until a rewrite has written them
(``FOREIGN_KEPT``). A rebuild that finds labels missing from the labels dataset makes a
compaction due. A metadata dataset cut (or refusing appends) and then the store lost
before a retry (the cache is in a temporary directory: a fresh disk loses it) leaves
labels rows that no metadata row names: the rebuild takes them back onto their item
(by id, else by content) under an unknown annotator ("(unknown)", "(unknown 2)"…); the
skips and comments of the lost rows are gone. Such a row of an item gone from the input
is kept, and taken back once the item returns (``GONE_LABELS``).

Nor is the store the only writer: at a process's first flush and before each
compaction, rows that another store (a cache left behind, another webapp) wrote after
this store's own are taken in (:meth:`DatasetSync._catch_up_locked`); its own labels
that another store took back as "(unknown)" are recognised as its own.

4.x rows name a table row by the 4.x hash of the row (:mod:`.legacy`). On restore, when
the metadata holds such ids, the unlabeled dataset is read once more to find the row of
each: its annotations are restored onto that row's item, and the next compaction writes
them under our id instead of the 4.x rows (the pairs migrated are kept in the store's
metadata, ``dss.legacy_migrated``, until then). A 4.x id whose row is not found stays a
row the store does not know.

Appending needs output datasets whose connection supports it: managed file-based and SQL
datasets do; a plugin dataset appends only if its connector declares ``supportAppend``,
otherwise DSS overwrites (https://developer.dataiku.com/latest/api-reference/python/
plugin-components/custom_datasets.html). That declaration cannot be read from a webapp,
so when an output is a plugin dataset (``rewrite_whole``), every flush is a compaction:
slower, but no batch overwrites the ones before. Partitioned outputs are not supported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Container, Iterator

import pandas as pd

from ..errors import ConfigError, NotFoundError
from ..project import LabelingProject, metadata_row
from ..sampler import PoolKeys
from ..sources import canonical_text, json_value
from ..store import Annotation, Status
from . import datasets as dsio
from .legacy import LegacyKeys, legacy_ids

try:  # POSIX only: serialize flushes of several processes sharing one cache file.
    import fcntl
except ImportError:  # pragma: no cover - DSS runs on Linux
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

WATERMARK = "dss.flushed_seq"
INFLIGHT = "dss.inflight_seq"
#: Changes up to this one have their labels rows written (at least WATERMARK): a batch
#: whose metadata append failed is retried without appending its labels rows again.
LABELS_WATERMARK = "dss.labels_flushed_seq"
#: The metadata rows (by label id, JSON) of the labels rows appended by attempts whose
#: metadata append has not succeeded yet.
UNNAMED_LABELS = "dss.unnamed_labels"
FLUSHED_LABEL_ID = "dss.flushed_label_id"
SUPERSEDED = "dss.superseded_rows"
SUPERSEDED_SINCE = "dss.superseded_since"  # when an edit first superseded rows since a rewrite
LAST_APPEND = "dss.last_append_at"
LAST_COMPACTION = "dss.last_compaction_at"
APPENDS = "dss.appends_since_compaction"
RESTORED = "dss.restored"
LEGACY_MIGRATED = "dss.legacy_migrated"
#: The rows of unknown items that the rewrite under way keeps (JSON): a rewrite that
#: fails part-way leaves its dataset cut, and they exist nowhere else.
FOREIGN_KEPT = "dss.foreign_rows"
#: Ids of the labels rows without metadata that the last rewrite kept because their item
#: had left the input, with the number of items then (JSON): while it is unchanged, the
#: next compaction need not look for their items (an index of every item).
GONE_LABELS = "dss.gone_labels"
#: The annotator of labels taken back without their metadata rows: a name no labeler is
#: likely to have (DSS logins are words), and unlike "" a metadata row with it is
#: restored.
UNKNOWN_ANNOTATOR = "(unknown)"

OpenDataset = Callable[[str], Any]
DATE_RESOLUTION = 0.001  # metadata dates are written to the millisecond
REWRITE_PACE = 10  # a whole rewrite takes at most a tenth of the time (see flush_due)


@dataclasses.dataclass
class _LabelsScan:
    """What one read of the labels dataset tells (:meth:`DatasetSync._scan_labels`)."""

    top: int = 0  # the highest label id
    rows: int = 0
    ids: list[int] = dataclasses.field(default_factory=list)  # those above ``above``
    kept: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # ``wanted`` rows
    # With ``accounted``: rows of other ids whose item the store knows, by id.
    unheld: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    gone: list[int] = dataclasses.field(default_factory=list)  # ids of kept rows of others
    idless: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # no label id


@dataclasses.dataclass
class _Foreign:
    """Rows of items the store does not know, which a rewrite keeps."""

    metadata: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    gone: list[int] = dataclasses.field(default_factory=list)  # see ``GONE_LABELS``


def _loose(value: Any) -> str:
    """A cell's text as any type guess gives it: "00011", "11" and 11 alike, "True" and
    True alike (reads of one dataset guess types chunk by chunk)."""
    text = canonical_text(value)
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return canonical_text(float(text)) if text else text
    except ValueError:
        return text


_AMBIGUOUS = ""  # a loose content that several items share: it names none of them


class _ItemsByContent:
    """The store's item of a labels row: its exact text first, else its loose text
    (:func:`_loose`: the labels row was read with other type guesses than the unlabeled
    dataset's read that keyed the item) when that names one item only. With an id
    column, by its id (a loose id only if the rest of the row matches loosely too);
    else by a short hash of its content, indexed at first use: the first item of a
    content (rows of equal content: a labels row does not tell which it was)."""

    def __init__(self, store: Any, columns: list[str], id_column: str | None) -> None:
        self.store = store
        self.columns = columns
        self.id_column = id_column
        self._exact: dict[bytes, str] | None = None
        self._loose: dict[bytes, str] = {}

    def _digest(self, values: dict[str, Any], text: Callable[[Any], str]) -> bytes:
        joined = "\x1f".join(text(values.get(name)) for name in self.columns)
        return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=12).digest()

    def key_of(self, values: dict[str, Any]) -> str | None:
        if self.id_column:
            return self._by_id(values)
        if self._exact is None:
            self._exact = {}
            for key, data in self.store.iter_items():
                exact = self._exact.setdefault(self._digest(data, canonical_text), key)
                loose = self._digest(data, _loose)
                first = self._loose.setdefault(loose, key)
                if first not in (key, exact):
                    self._loose[loose] = _AMBIGUOUS  # two items of other exact contents
        found = self._exact.get(self._digest(values, canonical_text))
        return found or self._loose.get(self._digest(values, _loose)) or None

    def _by_id(self, values: dict[str, Any]) -> str | None:
        raw = values.get(self.id_column)
        exact = canonical_text(raw)
        if exact and self._item(exact) is not None:
            return exact
        loose = _loose(raw)
        data = self._item(loose) if loose and loose != exact else None
        if data is not None and self._digest(data, _loose) == self._digest(values, _loose):
            return loose
        return None

    def _item(self, key: str) -> dict[str, Any] | None:
        try:
            return self.store.get_item(key).data
        except NotFoundError:
            return None


def _webapp_id(value: Any) -> bool:
    """Whether a label id cell holds an id a webapp gives: a whole number, 1 to 2**63."""
    label_id = dsio.as_int(value)
    return bool(label_id) and str(label_id) == canonical_text(value)


def _placeholder(annotator: str) -> bool:
    """Whether an annotator is one :meth:`DatasetSync._unknown_annotator` made up."""
    return annotator == UNKNOWN_ANNOTATOR or re.fullmatch(r"\(unknown \d+\)", annotator) \
        is not None


def _json_row(values: dict[str, Any]) -> dict[str, Any]:
    """A row kept in the store as JSON. Dates get milliseconds always, as
    :func:`~assisted_labeling.project.metadata_row` writes them: pandas reads a column
    of dates in the format of its first one, and "10:00:00" beside "10:01:00.123"
    would lose the second."""
    return {str(name): value.isoformat(timespec="milliseconds")
            if isinstance(value, datetime) else json_value(value)
            for name, value in values.items()}


def _restorable(row: dsio.MetadataRow) -> bool:
    """A row that stands for an annotation (4.x wrote labels rows without a label)."""
    return row.status is not None and not (row.status is Status.LABELED and row.label is None)


class DatasetSync:
    """Outbox flusher and compactor for one labeling project's two output datasets."""

    def __init__(self, project: LabelingProject, *, open_dataset: OpenDataset,
                 labels_name: str, metadata_name: str, unlabeled_schema: dsio.Schema,
                 lock_path: str | Path | None = None, batch_size: int = 200,
                 chunksize: int = dsio.POOL_CHUNK, interval: float = 1.0, flush_delay: float = 5.0,
                 quiet_seconds: float = 60.0, min_compaction_interval: float = 600.0,
                 max_stale_seconds: float = 300.0,
                 max_appends: int = 200, unlabeled_name: str | None = None,
                 rewrite_whole: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.project = project
        self.store = project.store
        self.open_dataset = open_dataset
        self.labels_name = labels_name
        self.metadata_name = metadata_name
        # The unlabeled dataset, read again to find the rows of 4.x ids on restore.
        self.unlabeled_name = unlabeled_name
        self.label_col = project.config.label_col_name
        self.labels_required = dsio.labels_schema(unlabeled_schema, self.label_col)
        self.metadata_required = dsio.metadata_schema(self.label_col)
        self.labels_schema: dsio.Schema = []
        self.metadata_schema: dsio.Schema = []
        self.schema_stale = False
        self.lock_path = Path(lock_path) if lock_path else None
        self.batch_size = batch_size
        self.chunksize = chunksize
        self.interval = interval
        self.flush_delay = flush_delay
        self.max_appends = max_appends
        # An output whose connector may not append: every flush rewrites both datasets.
        self.rewrite_whole = rewrite_whole
        self.quiet_seconds = quiet_seconds
        self.min_compaction_interval = min_compaction_interval
        self.max_stale_seconds = max_stale_seconds
        self.clock = clock
        self.on_tick: Callable[[], None] | None = None
        self._lock = threading.RLock()
        self._caught_up = False  # with what other stores wrote (see _catch_up_locked)
        self._concurrent_writer: str | None = None
        self._rewrite_seconds = 0.0  # how long the last whole rewrite took
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- small helpers ------------------------------------------------------------------
    def _meta_int(self, key: str) -> int:
        return int(float(self.store.get_meta(key, "0") or 0))

    def _meta_float(self, key: str) -> float:
        return float(self.store.get_meta(key, "0") or 0)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            handle = None
            if fcntl is not None and self.lock_path is not None:
                handle = open(self.lock_path, "a+b")  # noqa: SIM115 - closed below
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if handle is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                    handle.close()

    @property
    def pending(self) -> int:
        """How many changes are not in the datasets yet."""
        return max(0, self.store.last_change() - self._meta_int(WATERMARK))

    @property
    def superseded(self) -> int:
        """Rows in the datasets that a later row replaces (removed by compaction)."""
        return self._meta_int(SUPERSEDED)

    # -- start-up -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Give empty output datasets their schema; note when a schema lacks columns (a
        4.x dataset, or new input columns): the next compaction rewrites it."""
        for name, required, attr in ((self.labels_name, self.labels_required, "labels_schema"),
                                     (self.metadata_name, self.metadata_required,
                                      "metadata_schema")):
            dataset = self.open_dataset(name)
            existing = dsio.read_schema(dataset)
            if not existing:
                dataset.write_schema(required)
                existing = required
            elif len(dsio.merge_schema(existing, required)) != len(existing):
                self.schema_stale = True
            setattr(self, attr, existing)

    def restore(self) -> int:
        """Rebuild a new local store from the metadata dataset: the latest row per
        (data_id, annotator) wins. 4.x row ids are mapped to our items (module doc);
        rows of unknown items are skipped here and kept in the datasets. Returns how many
        annotations were restored."""
        dataset = self.open_dataset(self.metadata_name)
        columns: list[str] = []
        max_label_id = 0
        count = 0
        named: set[int] = set()  # label ids some metadata row names

        def scan() -> Iterator[dsio.MetadataRow]:
            nonlocal columns, max_label_id, count
            for row in dsio.iter_metadata(dataset, self.label_col, chunksize=self.chunksize):
                if not columns:
                    columns = [str(c) for c in row.values]
                max_label_id = max(max_label_id, row.label_id or 0)
                if row.label_id is not None:
                    named.add(row.label_id)
                count += 1
                yield row

        first_seen: dict[tuple[str, str], int] = {}
        try:
            latest_by_key = dsio.latest_rows(scan(), first_seen)
        except Exception as exc:
            raise dsio.read_error("labeling metadata dataset", dataset, exc) from None
        if count and self.label_col not in columns:
            # Restoring without labels would later erase them from the datasets.
            raise ConfigError(
                f'Setting "Labels column": the metadata dataset '
                f'{dataset.full_name} has no column "{self.label_col}" '
                f"(columns: {', '.join(columns)})", setting="Labels column")
        latest_by_key, first_seen, renamed = self._map_legacy(latest_by_key, first_seen)
        latest = [r for r in latest_by_key.values() if _restorable(r)]
        # Replay in the order annotations were first saved: that is the history order.
        latest.sort(key=lambda r: first_seen[(r.data_id or "", r.annotator or "")])
        restored_keys = {(r.data_id, r.annotator) for r in latest}
        migrated = [[old, annotator] for (old, annotator), new in renamed.items()
                    if (new, annotator) in restored_keys]
        self.store.set_meta(LEGACY_MIGRATED, json.dumps(migrated))
        applied = self.store.restore((r.annotation() for r in latest), self._classes_of)
        unknown = len(latest) - applied  # rows of items not in the input
        # Label ids of rows the store skipped (unknown items) must not be reused, nor
        # those of labels rows whose metadata row was never written (the second append
        # failed, then the store was lost).
        scan_labels = self._scan_labels(above=0)
        max_label_id = max(max_label_id, scan_labels.top)
        orphans = set(scan_labels.ids) - named
        recovered = self._labels_without_metadata(orphans) if orphans else []
        applied += self.store.restore(recovered, self._classes_of)
        self.store.reserve_label_ids(max_label_id)
        self.store.set_meta(FLUSHED_LABEL_ID, str(max_label_id))
        # Rows that later ones replaced (edits, labels turned into skips) stay in both
        # datasets until a compaction: count them, so that one is due, as it would have
        # been for the store that was lost.
        # As after an append, it waits for labelers to pause: the start only reads.
        labeled = [r.label_id for r in latest if r.status is Status.LABELED]
        # Labels whose row the labels dataset lacks (a rewrite of it failed part-way):
        # the same compaction writes them.
        missing = len({i for i in labeled if i is not None} - set(scan_labels.ids))
        superseded = max(count - len(latest), scan_labels.rows - len(labeled), missing, 0) \
            + len(recovered)  # their metadata rows are to be written
        if superseded:
            self._add_superseded(superseded, edited=True)  # stale rows found: edits'
            self.store.set_meta(LAST_APPEND, repr(self.clock()))
        self.store.set_meta(RESTORED, "1")
        self._caught_up = True
        log.info("Restored %d annotations from %s (%d rows, %d of unknown items)",
                 applied, dataset.full_name, count, unknown)
        return applied

    def _labels_without_metadata(self, orphans: set[int]) -> list[Annotation]:
        """The labels of the labels rows whose id no metadata row names, as annotations
        of an unknown annotator: their metadata rows were lost (a metadata rewrite cut,
        or appends refused, and then the store lost) while the labels dataset kept them.
        The latest row of an id wins (an edit is appended after). A labels row tells its
        content, not which of the rows of equal content it was: the first one's item
        takes it. Its annotator is the first of "(unknown)", "(unknown 2)"… that has no
        annotation of the item (a name, unlike "": rows without one are dropped). A row
        whose item is not in the input any more stays a row the store does not know
        (compactions keep it)."""
        dataset = self.open_dataset(self.labels_name)
        id_col = f"{self.label_col}_id"
        rows: dict[int, dict[str, Any]] = {}
        try:
            # Its text as stored, as the items hold it: an id "007" guessed would name
            # item 7, a text "01234" match no item exactly.
            for frame in dsio.iter_stored_text_frames(dataset, chunksize=self.chunksize):
                ids = pd.to_numeric(frame[id_col], errors="coerce")
                for values in frame[ids.isin(list(orphans))].to_dict(orient="records"):
                    rows[dsio.as_int(values[id_col])] = values
        except Exception as exc:
            raise dsio.read_error("labels dataset", dataset, exc) from None
        return self._taken_back(rows, self._items())

    def _items(self) -> _ItemsByContent:
        return _ItemsByContent(self.store, [c["name"] for c in self.labels_required[:-2]],
                               self.project.config.id_column)

    def _taken_back(self, rows: dict[int, dict[str, Any]],
                    items: _ItemsByContent) -> list[Annotation]:
        """Labels rows (by id) no metadata row names as annotations of the store's
        items (see :meth:`_labels_without_metadata`)."""
        found: list[Annotation] = []
        named: set[tuple[str, str]] = set()  # (item, annotator) given in this call
        when = self.clock()
        for label_id, values in sorted(rows.items()):
            label = dsio.as_text(values.get(self.label_col))
            key = items.key_of(values)
            if label is None or key is None:
                continue
            annotator = self._unknown_annotator(key, named)
            named.add((key, annotator))
            found.append(Annotation(
                id=0, item_key=key, annotator=annotator, status=Status.LABELED, label=label,
                label_id=label_id, comment="", session=0, created_at=when, updated_at=when))
        if found:
            log.warning("Took back %d labels of the labels dataset %s whose metadata rows "
                        "were lost (their annotator is not known): the next compaction "
                        "writes their metadata rows", len(found), self.labels_name)
        return found

    def _unknown_annotator(self, key: str, named: set[tuple[str, str]]) -> str:
        """The first of "(unknown)", "(unknown 2)"… with no annotation of ``key``."""
        name, n = UNKNOWN_ANNOTATOR, 1
        while (key, name) in named or self.store.get_annotation(name, key) is not None:
            n += 1
            name = f"{UNKNOWN_ANNOTATOR[:-1]} {n})"
        return name

    def _classes_of(self, annotation: Annotation) -> list[str]:
        kind = self.project.kind
        return kind.classes_of(kind.deserialize(annotation.label or "", self.project.config))

    def _catch_up_locked(self, *, rewrite: bool = False) -> _Foreign:
        """A store is not always the only writer: a cache left behind comes back (a
        setting that names the cache, or the run-as user, changed and changed back)
        after another cache, rebuilt from the datasets, labeled more. Trusting the store
        then would hand out label ids given since, and the next compaction would drop
        the other store's labels. So the latest metadata row of each (item, annotator)
        that is later than the store's annotation (or that the store lacks) is taken in,
        with its label id; new label ids follow every id in the datasets; unwritten
        labels of this store whose ids another store gave meanwhile get new ones.

        Two webapps with different caches writing the same datasets at the same time
        give out the same ids between catch-ups: that is not supported, and a catch-up
        that finds rows written while this process ran says so to the labelers
        (:meth:`warnings`). One read of the metadata dataset and of the labels
        dataset's id column, at the first flush of a process, before each compaction and
        before each rewrite of ``rewrite_whole``, which the rows it returns serve: the
        latest metadata rows of items the store does not know, in dataset order (4.x
        rows restored under our keys are the store's now: left out), and with
        ``rewrite``, their labels rows (the labels dataset is then read whole, still
        once), for the rewrite to keep."""
        dataset = self.open_dataset(self.metadata_name)
        flushed_label_id = self._meta_int(FLUSHED_LABEL_ID)
        # Label ids in the datasets that this store has not recorded as written, with
        # the (item, annotator) of their rows.
        owners: dict[int, set[tuple[str, str]]] = {}
        named: set[int] = set()  # label ids some metadata row names
        # Rows without an annotator (made by hand, imported): no annotation of anyone's,
        # kept as they are by a rewrite, with their labels rows.
        anonymous: list[dsio.MetadataRow] = []

        def scan() -> Iterator[dsio.MetadataRow]:
            for row in dsio.iter_metadata(dataset, self.label_col, chunksize=self.chunksize):
                if row.data_id and not row.annotator:
                    anonymous.append(row)
                if row.label_id is not None:
                    named.add(row.label_id)
                    if row.label_id > flushed_label_id:
                        owners.setdefault(row.label_id, set()).add(
                            (row.data_id or "", row.annotator or ""))
                yield row

        try:
            latest = dsio.latest_rows(scan())
        except Exception as exc:
            raise dsio.read_error("labeling metadata dataset", dataset, exc) from None
        mine: dict[tuple[str, str], float] = {}
        own_ids: set[tuple[str, int]] = set()  # (item, label id) of this store's labels
        for annotation in self.store.iter_annotations():
            mine[(annotation.item_key, annotation.annotator)] = annotation.updated_at
            if annotation.label_id is not None:
                own_ids.add((annotation.item_key, annotation.label_id))
        # Rows of this store's own labels that another store, rebuilt while their
        # metadata rows were missing, took back under an unknown annotator: not taken in,
        # and their ids are not another's.
        for key, row in list(latest.items()):
            if _placeholder(key[1]) and (key[0], row.label_id) in own_ids:
                del latest[key]
                owners.pop(row.label_id, None)
        known: dict[str, bool] = {}
        migrated = self._migrated()
        foreign = sorted([*(r for key, r in latest.items() if key not in mine
                            and not self._known(key[0], known) and key not in migrated),
                          *anonymous], key=lambda r: r.position)
        # Dates are written to the millisecond, cut: a row of this store is never later.
        newer = sorted((r for key, r in latest.items() if _restorable(r)
                        and r.timestamp is not None
                        and r.timestamp > mine.get(key, -math.inf) + DATE_RESOLUTION
                        and (key in mine or self._known(key[0], known))),
                       key=lambda r: r.order)
        applied = self.store.restore((r.annotation() for r in newer), self._classes_of)
        # A labels row whose metadata row was never written (the second append failed)
        # holds its id too, for an (item, annotator) that cannot be told.
        wanted = ({r.label_id: r.label for r in foreign
                   if r.status is Status.LABELED and r.label_id is not None}
                  if rewrite else {})
        accounted = None
        still_gone: set[int] = set()
        earlier = self._earlier_foreign()
        if rewrite:  # ids the rewrite writes: from the metadata, the store or kept rows
            id_col = f"{self.label_col}_id"
            accounted = named | {label_id for _, label_id in own_ids} | {
                i for i in (dsio.as_int(v.get(id_col)) for v in earlier["metadata"])
                if i is not None}
            # Rows of items gone from the input, kept by the last rewrite: looked at
            # again (is their item back?) only once the items have changed.
            gone = json.loads(self.store.get_meta(GONE_LABELS) or "{}")
            still_gone = set(gone.get("ids", [])) \
                if gone.get("items") == self.store.stats().total else set()
        items = self._items()
        scan_labels = self._scan_labels(above=flushed_label_id, wanted=wanted,
                                        accounted=accounted, items=items,
                                        gone=still_gone)
        if scan_labels.unheld:  # e.g. kept while their item had left the input
            self.store.restore(self._taken_back(scan_labels.unheld, items),
                               self._classes_of)
        for label_id in scan_labels.ids:
            owners.setdefault(label_id, set())
        self.store.reserve_label_ids(max([scan_labels.top, *owners]))
        renumbered = self._renumber_given(owners) if owners else 0
        if renumbered:
            # A renumbered label's labels row may have gone in under its old id with an
            # attempt whose metadata append failed: the pending labels rows go again
            # (rows of unchanged labels twice, until a compaction).
            watermark = self._meta_int(WATERMARK)
            self.store.set_meta(LABELS_WATERMARK, str(watermark))
            self._add_superseded(max(0, self._meta_int(INFLIGHT) - watermark),
                                 edited=False)
        taken = {(r.data_id, r.annotator) for r in newer}
        # This store's rows of the annotations taken in are replaced in the datasets.
        self._add_superseded(sum(1 for key in taken if key in mine), edited=True)
        if newer:
            log.warning("Took in %d annotations that another store wrote to %s after this "
                        "one's last write (a cache left behind and used again, or another "
                        "webapp on the same datasets); %d unwritten labels got new ids",
                        applied, dataset.full_name, renumbered)
            if self._caught_up:  # written while this process ran
                self._concurrent_writer = dataset.full_name
        self._caught_up = True
        kept = _Foreign([r.values for r in foreign], scan_labels.kept)
        if accounted is None:
            return kept
        kept.gone = scan_labels.gone
        return self._keep_foreign(kept, earlier, mine, known, migrated, accounted, items)

    def _earlier_foreign(self) -> dict[str, list[dict[str, Any]]]:
        """The rows kept for an earlier rewrite that has not written them yet
        (:data:`FOREIGN_KEPT`)."""
        raw = self.store.get_meta(FOREIGN_KEPT)
        return json.loads(raw) if raw else {"metadata": [], "labels": []}

    def _keep_foreign(self, found: _Foreign, earlier: dict[str, list[dict[str, Any]]],
                      mine: Container[tuple[str, str]], known: dict[str, bool],
                      migrated: set[tuple[str, str]], accounted: set[int],
                      items: _ItemsByContent) -> _Foreign:
        """``found`` and the rows an earlier rewrite was to keep and that the datasets
        lack now (that rewrite failed part-way), recorded in the store until a rewrite
        writes them all. A row of an item known again (back in the input) is the
        store's now: left out, its labels row too."""
        id_col = f"{self.label_col}_id"

        def owner(values: dict[str, Any]) -> tuple[str, str]:
            return (dsio.as_text(values.get("data_id")) or "",
                    dsio.as_text(values.get("annotator")) or "")

        have = {owner(v) for v in found.metadata}
        for values in earlier["metadata"]:
            key = owner(values)
            # An item known again (back in the input, or restored) is the store's now.
            mine_now = key in mine or key in migrated or self._known(key[0], known)
            if key not in have and (not key[1] or not mine_now):  # no annotator: kept
                found.metadata.append(values)
        ids = {dsio.as_int(v.get(id_col)) for v in found.labels}
        of_rows = {dsio.as_int(v.get(id_col)) for v in found.metadata}
        # Rows without a webapp's id, by content: those the cut dataset lost come back.
        idless = Counter(json.dumps(_json_row(v), sort_keys=True) for v in found.labels
                         if not _webapp_id(v.get(id_col)))
        for values in earlier["labels"]:
            label_id = dsio.as_int(values.get(id_col))
            if not _webapp_id(values.get(id_col)):
                text = json.dumps(values, sort_keys=True)
                if idless[text]:
                    idless[text] -= 1
                else:
                    found.labels.append(values)
            elif label_id not in ids and (label_id in of_rows or (
                    label_id not in accounted and items.key_of(values) is None)):
                found.labels.append(values)
        self.store.set_meta(FOREIGN_KEPT, json.dumps({
            "metadata": [_json_row(v) for v in found.metadata],
            "labels": [_json_row(v) for v in found.labels]}))
        return found

    def _renumber_given(self, owners: dict[int, set[tuple[str, str]]]) -> int:
        """Give a new id to each unwritten label whose id the datasets hold for another
        (item, annotator), or for one not known (a labels row alone) unless that row is
        this store's own, from the batch that was being written when it stopped."""
        done: set[tuple[str, str]] = set()
        watermark = self._meta_int(WATERMARK)
        inflight_seq = self._meta_int(INFLIGHT)
        inflight: set[tuple[str, str]] = set()
        while True:
            batch = self.store.changes(after=watermark, limit=self.batch_size)
            for seq, annotation in batch:
                key = (annotation.item_key, annotation.annotator)
                if seq <= inflight_seq:
                    inflight.add(key)
                holders = owners.get(annotation.label_id or 0)
                if holders is None or key in done:
                    continue
                # No known holder: a labels row alone, which is this store's own only if
                # it was in the batch being written.
                theirs = key not in holders if holders else key not in inflight
                if theirs:
                    # changes() gives current states: one renumbering per annotation.
                    self.store.renumber_label(annotation.annotator, annotation.item_key)
                    done.add(key)
            if len(batch) < self.batch_size:
                return len(done)
            watermark = batch[-1][0]

    def warnings(self) -> list[str]:
        """What the labelers should know about the datasets (``/api/config``)."""
        if self._concurrent_writer is None:
            return []
        return [f"Another webapp, or this one with other settings, writes labels to "
                f"{self._concurrent_writer} at the same time: label ids can collide. Give "
                "each webapp its own labels and metadata datasets"]

    def _scan_labels(self, *, above: float = math.inf,
                     wanted: dict[int, str | None] | None = None,
                     accounted: set[int] | None = None,
                     items: _ItemsByContent | None = None,
                     gone: Container[int] = ()) -> _LabelsScan:
        """One read of the labels dataset: its highest label id, its number of rows and
        its ids above ``above``, one per row, from its id column alone; and when
        ``wanted`` (label id → latest label in the metadata, of items the store does
        not know) is not empty, the whole rows of those ids. With ``accounted`` (the
        ids a rewrite writes from the metadata or the store), also the rows of other ids:
        their metadata rows were lost with a store that held them. Those of items the
        store does not know (they left the input since) are kept; the others are in
        ``unheld``, for the store to take back (the latest row of an id wins)."""
        dataset = self.open_dataset(self.labels_name)
        id_col = f"{self.label_col}_id"
        scan = _LabelsScan()
        first: dict[int, dict[str, Any]] = {}
        matching: dict[int, dict[str, Any]] = {}
        whole = bool(wanted) or accounted is not None
        try:
            if id_col not in dsio.names(dsio.read_schema(dataset)):
                return scan
            # One read of the rows (two paired by position fail on a SQL table read back
            # in another order), but for their text where DSS's guess changed it: a
            # compaction writes the rows back, and "01234" must not become 1234.
            frames = (dsio.iter_stored_text_frames(dataset, chunksize=self.chunksize)
                      if whole else
                      dsio.iter_frames(dataset, chunksize=self.chunksize, columns=[id_col]))
            for frame in frames:
                scan.rows += len(frame)
                values = pd.to_numeric(frame[id_col], errors="coerce")
                highest = values.max()
                if pd.notna(highest):
                    scan.top = max(scan.top, int(highest))
                scan.ids.extend(values[values > above].astype("int64").tolist())
                if wanted:
                    self._keep_wanted(frame[values.isin(list(wanted))], wanted,
                                      first, matching)
                if accounted is not None:
                    # Ids a webapp could have given: whole, positive, 64 bits.
                    whole_ids = values.notna() & (values == values.round()) & (values > 0) \
                        & (values < 2**63)
                    others = whole_ids & ~values.isin([*accounted, *(wanted or ())])
                    # Rows without an id a webapp gives (made by hand: none, -1, 1.5):
                    # no label of a webapp, kept as they are.
                    scan.idless.extend(frame[~whole_ids].to_dict(orient="records"))
                    for row in frame[others].to_dict(orient="records"):
                        label_id = dsio.as_int(row[id_col])
                        if label_id not in gone \
                                and (items or self._items()).key_of(row) is not None:
                            scan.unheld[label_id] = row
                        else:
                            first.setdefault(label_id, row)
                            matching[label_id] = row
                            scan.gone.append(label_id)
        except Exception as exc:
            raise dsio.read_error("labels dataset", dataset, exc) from None
        scan.kept = [matching.get(label_id, row) for label_id, row in first.items()]
        scan.kept += scan.idless
        return scan

    def _keep_wanted(self, frame: pd.DataFrame, wanted: dict[int, str | None],
                     first: dict[int, dict[str, Any]],
                     matching: dict[int, dict[str, Any]]) -> None:
        """Note the labels rows of ``frame`` (rows of wanted ids) that a rewrite keeps."""
        id_col = f"{self.label_col}_id"
        for values in frame.to_dict(orient="records"):
            label_id = dsio.as_int(values.get(id_col))
            # An edit appended a second row of the id: the one whose label is the
            # metadata's latest is current. Otherwise the first row: the store never
            # appends rows of unknown items and compactions write them first, so it is
            # theirs even if a store label reused the id.
            first.setdefault(label_id, values)
            if dsio.as_text(values.get(self.label_col)) == wanted[label_id]:
                matching[label_id] = values

    def _map_legacy(self, latest: dict[tuple[str, str], dsio.MetadataRow],
                    first_seen: dict[tuple[str, str], int]
                    ) -> tuple[dict[tuple[str, str], dsio.MetadataRow],
                               dict[tuple[str, str], int], dict[tuple[str, str], str]]:
        """``latest`` and ``first_seen`` with 4.x row ids replaced by our item keys, and
        the ``(4.x id, annotator) -> item key`` renamed. When a 4.x row and one of ours
        name the same item and annotator, the later one wins, as for any two rows."""
        known: dict[str, bool] = {}
        candidates = {i for i in legacy_ids(k for k, _ in latest)
                      if not self._known(i, known)}
        if not candidates or not self.unlabeled_name:
            return latest, first_seen, {}
        mapping = self._legacy_items(candidates)
        log.info("%d of %d 4.x row ids found in %s", len(mapping), len(candidates),
                 self.unlabeled_name)
        if not mapping:
            return latest, first_seen, {}
        merged: dict[tuple[str, str], dsio.MetadataRow] = {}
        seen: dict[tuple[str, str], int] = {}
        renamed: dict[tuple[str, str], str] = {}
        for (data_id, annotator), row in latest.items():
            key = (data_id, annotator)
            new_id = mapping.get(data_id)
            if new_id is not None:
                renamed[key] = new_id
                row = dataclasses.replace(row, data_id=new_id)
                key = (new_id, annotator)
            current = merged.get(key)
            if current is None or row.order >= current.order:
                merged[key] = row
            first = first_seen[(data_id, annotator)]
            seen[key] = min(seen.get(key, first), first)
        return merged, seen, renamed

    def _legacy_items(self, legacy: set[str]) -> dict[str, str]:
        """``4.x id -> item key`` for the 4.x ids found in the unlabeled dataset (one
        more chunked read; memory O(len(legacy)))."""
        dataset = self.open_dataset(self.unlabeled_name)
        # only=(): no duplicate counting, so the first row of a content gets its bare
        # hash, which is the key of the first duplicate: the one a 4.x id goes to.
        keys = LegacyKeys(PoolKeys(self.project.config.id_column, only=()), legacy)
        try:
            for frame in dsio.iter_pool_frames(dataset, chunksize=self.chunksize,
                                               id_column=self.project.config.id_column):
                keys(frame)
                if len(keys.matched) == len(legacy):
                    break
        except Exception as exc:
            raise dsio.read_error("unlabeled dataset", dataset, exc) from None
        known: dict[str, bool] = {}
        return {old: new for old, new in keys.matched.items() if self._known(new, known)}

    def _migrated(self) -> set[tuple[str, str]]:
        """(4.x id, annotator) pairs restored under our item keys."""
        raw = self.store.get_meta(LEGACY_MIGRATED)
        try:
            return {(str(old), str(annotator)) for old, annotator in json.loads(raw or "[]")}
        except (TypeError, ValueError):
            return set()

    def mark_restored(self) -> None:
        """The store holds annotations of its own: it is the reference, nothing to read."""
        self.store.set_meta(RESTORED, "1")
        self._caught_up = True

    @property
    def restored(self) -> bool:
        return self.store.get_meta(RESTORED) is not None

    # -- appending ----------------------------------------------------------------------
    def flush(self) -> int:
        """Append every pending change to the datasets; returns the annotations written."""
        with self._locked():
            return self._flush_locked()

    def _flush_locked(self) -> int:
        if self.rewrite_whole:
            pending = self.pending
            if pending or self._meta_int(INFLIGHT) > self._meta_int(WATERMARK):
                started = self.clock()
                # A rewrite drops what it is not given: take in what others wrote first.
                self._rewrite_locked(self._catch_up_locked(rewrite=True))
                self._rewrite_seconds = self.clock() - started
                self.store.set_meta(LAST_APPEND, repr(self.clock()))  # paces rewrites
            return pending
        if not self._caught_up and self.restored:
            self._catch_up_locked()
        watermark = self._meta_int(WATERMARK)
        inflight = self._meta_int(INFLIGHT)
        if inflight > watermark:
            # A batch was being written when the process stopped: some of its rows may
            # be in one dataset already and will be appended again.
            self._add_superseded(inflight - watermark, edited=False)
            self.store.set_meta(INFLIGHT, str(watermark))
        labels_done = max(watermark, self._meta_int(LABELS_WATERMARK))
        written = 0
        while True:
            batch = self.store.changes(after=watermark, limit=self.batch_size)
            if not batch:
                return written
            last_seq = batch[-1][0]
            # The change log gives current states: one row per annotation, in the order
            # annotations were created (restore relies on it for the history order).
            latest = {annotation.id: annotation for _, annotation in batch}
            unwritten = {annotation.id for seq, annotation in batch if seq > labels_done}
            self._append([latest[k] for k in sorted(latest)], last_seq, unwritten)
            watermark = last_seq
            written += len(latest)
            if len(batch) < self.batch_size:
                return written

    def _append(self, annotations: list[Annotation], last_seq: int,
                unwritten: set[int]) -> None:
        """Append a batch: labels rows of the annotations in ``unwritten`` (the others'
        went in with an attempt whose metadata append failed), then every metadata row."""
        flushed_label_id = self._meta_int(FLUSHED_LABEL_ID)
        superseded = edits = 0
        label_rows = []
        named = json.loads(self.store.get_meta(UNNAMED_LABELS) or "{}")
        for annotation in annotations:
            # A label id already written means its labels row is now stale (an edit, or
            # a label turned into a skip); a second save of an annotation means its
            # metadata row is (unless both saves fell in one batch: counted anyway).
            flushed = annotation.label_id is not None and annotation.label_id <= flushed_label_id
            edited = annotation.created_at != annotation.updated_at
            superseded += flushed or edited
            # A label written before and never edited is appended again (after a
            # rewrite, or a failed attempt): a duplicate, which waits for a pause.
            edits += edited
            if annotation.status is Status.LABELED and annotation.id in unwritten:
                row = dict(self.store.get_item(annotation.item_key).data)
                row[self.label_col] = annotation.label
                row[f"{self.label_col}_id"] = annotation.label_id
                label_rows.append(row)
                named[str(annotation.label_id)] = metadata_row(annotation, self.label_col)
        meta_rows = [metadata_row(a, self.label_col) for a in annotations]
        # Labels rows of an attempt whose metadata append failed, whose annotation has
        # another state now (a skip, an edit): their metadata rows of then go first, so
        # that the metadata names every labels row's id (a rebuild takes a labels row no
        # metadata row names for a label whose metadata was lost).
        current = {a.label_id for a in annotations if a.status is Status.LABELED}
        meta_rows[:0] = [row for label_id, row in named.items() if int(label_id) not in current]
        self.store.set_meta(INFLIGHT, str(last_seq))
        dsio.append_rows(self.open_dataset(self.labels_name), label_rows, self.labels_schema)
        self.store.set_metas({LABELS_WATERMARK: str(last_seq), UNNAMED_LABELS: json.dumps(named)})
        dsio.append_rows(self.open_dataset(self.metadata_name), meta_rows, self.metadata_schema)
        top = max((a.label_id or 0 for a in annotations), default=0)
        # One transaction: each takes the store's write lock, which saves wait for.
        self.store.set_metas({
            UNNAMED_LABELS: "", FLUSHED_LABEL_ID: str(max(flushed_label_id, top)),
            WATERMARK: str(last_seq), LAST_APPEND: repr(self.clock()),
            APPENDS: str(self._meta_int(APPENDS) + 1),
            **self._superseded(superseded, edited=edits > 0)})

    def _superseded(self, count: int, *, edited: bool) -> dict[str, str]:
        """The bookkeeping of ``count`` more superseded rows; ``edited``: some of them by
        an edit (or a label turned into a skip), which starts the clock of
        ``max_stale_seconds``."""
        metas = {SUPERSEDED: str(self._meta_int(SUPERSEDED) + count)}
        if edited and self._meta_float(SUPERSEDED_SINCE) <= 0:
            metas[SUPERSEDED_SINCE] = repr(self.clock())
        return metas

    def _add_superseded(self, count: int, *, edited: bool) -> None:
        if count:
            self.store.set_metas(self._superseded(count, edited=edited))

    # -- compaction ---------------------------------------------------------------------
    def flush_due(self) -> bool:
        """Changes wait and either a full batch is ready or ``flush_delay`` has passed.
        A whole rewrite waits ``REWRITE_PACE`` times as long as the last one took, and at
        least ``flush_delay``: its cost grows with the datasets, and a plugin connector
        may count its writes against a quota."""
        pending = self.pending
        if self._meta_int(INFLIGHT) > self._meta_int(WATERMARK):
            return True
        since = self.clock() - self._meta_float(LAST_APPEND)
        if self.rewrite_whole:
            return bool(pending) and since >= max(self.flush_delay,
                                                  REWRITE_PACE * self._rewrite_seconds)
        return bool(pending) and (
            pending >= self.batch_size
            or since >= self.flush_delay)

    def compaction_due(self) -> bool:
        """Superseded rows (or many appends) exist, labelers paused and the last
        compaction is old enough; or a dataset lacks columns."""
        if not self.restored:
            return False
        if self.schema_stale or self.rewrite_whole:
            return self.schema_stale  # when rewriting whole, every flush compacts
        superseded = self._meta_int(SUPERSEDED) > 0
        if not superseded and self._meta_int(APPENDS) < self.max_appends:
            return False
        now = self.clock()
        if now - self._meta_float(LAST_COMPACTION) < self.min_compaction_interval:
            return False
        if now - self._meta_float(LAST_APPEND) >= self.quiet_seconds:
            return True
        # Labelers who never pause: a retraining reading the labels dataset meanwhile
        # must not find an edited label's old row there for long.
        since = self._meta_float(SUPERSEDED_SINCE)
        return superseded and since > 0 and now - since >= self.max_stale_seconds

    def compact(self) -> None:
        """Rewrite both datasets once from the store, keeping rows it does not know."""
        if not self.restored:
            raise RuntimeError("Refusing to rewrite the datasets before the store is restored")
        with self._locked():
            foreign = self._catch_up_locked(rewrite=True)
            if not self.rewrite_whole:
                self._flush_locked()  # appends rows of the store's items only
            self._rewrite_locked(foreign)

    def _rewrite_locked(self, foreign: _Foreign) -> None:
        """The compaction proper: both datasets rewritten from the store and the rows of
        items it does not know."""
        start_seq = self.store.last_change()
        labels = self.open_dataset(self.labels_name)
        metadata = self.open_dataset(self.metadata_name)
        labels_schema = dsio.merge_schema(dsio.read_schema(labels), self.labels_required)
        metadata_schema = dsio.merge_schema(dsio.read_schema(metadata),
                                            self.metadata_required)
        top = [0]

        def label_rows() -> Iterator[dict[str, Any]]:
            yield from foreign.labels
            for row in self.project.label_rows():
                top[0] = max(top[0], row[f"{self.label_col}_id"] or 0)
                yield row

        def meta_rows() -> Iterator[dict[str, Any]]:
            yield from foreign.metadata
            for annotation in self.store.iter_annotations():
                top[0] = max(top[0], annotation.label_id or 0)
                yield metadata_row(annotation, self.label_col)

        dsio.rewrite_rows(labels, label_rows(), labels_schema)
        dsio.rewrite_rows(metadata, meta_rows(), metadata_schema)
        self.labels_schema, self.metadata_schema = labels_schema, metadata_schema
        self.schema_stale = False
        end_seq = self.store.last_change()
        # One transaction: each takes the store's write lock, which saves wait for.
        self.store.set_metas({
            # Changes after start_seq may be in the rewrite and will be appended again:
            # duplicates of rows it may hold, which wait for a pause (no clock started).
            WATERMARK: str(start_seq), LABELS_WATERMARK: str(start_seq),
            INFLIGHT: str(start_seq), SUPERSEDED: str(end_seq - start_seq),
            SUPERSEDED_SINCE: "", APPENDS: "0",
            LEGACY_MIGRATED: "[]",  # their 4.x rows are gone now
            FLUSHED_LABEL_ID: str(max(top[0], self._meta_int(FLUSHED_LABEL_ID))),
            LAST_COMPACTION: repr(self.clock()),
            FOREIGN_KEPT: "",  # written: the datasets hold them again
            GONE_LABELS: json.dumps({"items": self.store.stats().total, "ids": foreign.gone}),
        })
        log.info("Compacted %s and %s (%d rows kept from outside the store)",
                 self.labels_name, self.metadata_name, len(foreign.metadata))

    def _known(self, key: str, cache: dict[str, bool]) -> bool:
        if key not in cache:
            try:
                self.store.get_item(key)
                cache[key] = True
            except NotFoundError:
                cache[key] = False
        return cache[key]

    # -- background thread --------------------------------------------------------------
    def tick(self) -> None:
        """One round of the background work: flush, maybe compact, then ``on_tick``."""
        if self.flush_due():
            self.flush()
        if self.compaction_due():
            self.compact()
        if self.on_tick is not None:
            self.on_tick()

    def start(self) -> None:
        """Run ``tick`` every ``interval`` seconds in a daemon thread; back off on errors
        (DSS unreachable): the labels stay safe in the store meanwhile."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            delay = self.interval
            while not self._stop.wait(delay):
                try:
                    self.tick()
                    delay = self.interval
                except Exception:
                    log.exception("Could not write the labels to DSS; retrying in %.0f s",
                                  min(delay * 2, 60))
                    delay = min(delay * 2, 60.0)

        self._thread = threading.Thread(target=run, name="ml-assisted-labeling-sync",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (tests, shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
