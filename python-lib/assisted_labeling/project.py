"""A labeling project: settings + data kind + store, behind the operations the API offers.

Both hosts (DSS webapp backend and the standalone server) build one of these and hand
it to the same Flask blueprint. The DSS adapter mirrors saved annotations to the DSS
datasets from the store's change log, not from this class.
"""

from __future__ import annotations

import logging
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from .config import LabelingConfig
from .errors import AlreadyAnnotatedError, NotFoundError, StaleSaveError, ValidationError
from .kinds import Kind, get_kind
from .store import Annotation, AnnotationStore, Item, SaveOrder, Stats, Status

log = logging.getLogger(__name__)

MAX_COMMENT = 10_000
MAX_NEXT = 50
MAX_DURATION_MS = 86_400_000  # a day on one item is a clock or client bug, not work

@dataclass(frozen=True)
class Principal:
    """Who makes a request, and with which role."""

    name: str
    role: str


def _payload(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("The request body must be a JSON object")
    return body


def _item_key(body: Mapping[str, Any]) -> str:
    key = body.get("item_id")
    if not isinstance(key, str) or not key:
        raise ValidationError('"item_id" is required and must be a non-empty string')
    return key


def _comment(body: Mapping[str, Any]) -> str | None:
    """The comment to store; None (no ``comment`` key, or null) keeps the stored one."""
    comment = body.get("comment")
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise ValidationError(f'"comment" must be a string (got {type(comment).__name__})')
    if len(comment) > MAX_COMMENT:
        raise ValidationError(f'"comment" is too long ({len(comment)} characters, '
                              f"{MAX_COMMENT} at most)")
    return comment


def _only_new(body: Mapping[str, Any]) -> bool:
    """``"new": true``: the caller means a first annotation of the item (from the queue),
    so an annotation it already has is not to be overwritten."""
    value = body.get("new", False)
    if not isinstance(value, bool):
        raise ValidationError(f'"new" must be true or false (got {value!r:.20})')
    return value


MAX_CLIENT_ID = 64
MAX_SEQUENCE = 2**53 - 1  # the largest integer a browser counts exactly


def _sent(body: Mapping[str, Any]) -> SaveOrder | None:
    """``client_id`` and ``sequence``, given together: the page that sends the save and
    the save's place among that page's saves, so that a delayed earlier one is refused."""
    client, sequence = body.get("client_id"), body.get("sequence")
    if client is None and sequence is None:
        return None
    if not isinstance(client, str) or not 1 <= len(client) <= MAX_CLIENT_ID:
        raise ValidationError(f'"client_id" must be a string of 1 to {MAX_CLIENT_ID} '
                              f"characters, given with \"sequence\" (got {client!r:.20})")
    if isinstance(sequence, bool) or not isinstance(sequence, int) \
            or not 0 <= sequence <= MAX_SEQUENCE:
        raise ValidationError(f'"sequence" must be a whole number from 0 to {MAX_SEQUENCE}, '
                              f'given with "client_id" (got {sequence!r:.20})')
    return SaveOrder(client, sequence)


def _duration(body: Mapping[str, Any]) -> int | None:
    value = body.get("duration_ms")
    if value is None:
        return None
    # The range check alone also refuses NaN, ±inf and huge ints; math.isfinite would
    # raise OverflowError on an int past the float range (10**400).
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 <= value <= MAX_DURATION_MS):
        raise ValidationError(f'"duration_ms" must be a number of milliseconds from 0 to '
                              f"{MAX_DURATION_MS} (got {value!r:.20})")
    return int(value)


class LabelingProject:
    """The operations of the labeling API, independent of HTTP and of the host."""

    def __init__(self, config: LabelingConfig, store: AnnotationStore, *,
                 kind: Kind | None = None,
                 session: Callable[[], int] | None = None,
                 ranked_session: Callable[[], int] | None = None,
                 warnings: Callable[[], list[str]] | None = None) -> None:
        """``session``: the loop's current session, given to new labels.
        ``ranked_session`` (default: ``session``): the session the queue is ranked for,
        which ``/api/config`` tells the page; where the two can differ for a while (DSS
        re-ranks after the sampler's variable changed), a page told the new session
        before the re-ranking would fetch items again and get the old ranking."""
        self.config = config
        self.store = store
        self.kind = kind or get_kind(config.kind)
        self._session = session or (lambda: int(store.get_meta("session", "0") or 0))
        self._ranked_session = ranked_session or self._session
        self._warnings: list[Callable[[], list[str]]] = [warnings] if warnings else []
        self._watched: list[Callable[[], list[str]]] = []
        self._retraining: Callable[[], dict[str, Any]] | None = None

    def show_retraining(self, source: Callable[[], dict[str, Any]]) -> None:
        """Give the page the state of a retraining loop (``/api/config``'s
        ``retraining``: see :func:`assisted_labeling.retrain.retraining_state`)."""
        self._retraining = source

    def add_warnings(self, source: Callable[[], list[str]], *, watched: bool = False) -> None:
        """Show the warnings ``source`` returns too (read again for each ``/api/config``),
        e.g. why the standalone loop's last retraining failed. ``watched``: a cheap
        source whose change the page must see at once, not at its next periodic read:
        the answers to its frequent requests carry a tag of it (:meth:`warnings_tag`)."""
        self._warnings.append(source)
        if watched:
            self._watched.append(source)

    def warnings_tag(self) -> str | None:
        """A short tag of the watched warnings (None: none are watched). A failed
        retraining changes no session, so without it a page would tell its labelers only
        at its next periodic read, a minute and many labels later."""
        if not self._watched:
            return None
        text = "\n".join(w for source in self._watched for w in source())
        return format(zlib.crc32(text.encode("utf-8")), "08x")

    # -- reading ----------------------------------------------------------------------
    def config_payload(self, user: Principal) -> dict[str, Any]:
        """Settings for the UI, who the user is, progress and loop warnings."""
        stats = self.stats(user)
        return {
            **self.config.to_public_dict(),
            "user": {"name": user.name, "role": user.role},
            "stats": stats.to_dict(),
            "session": self.ranked_session(),
            "warnings_tag": self.warnings_tag(),
            "warnings": [*self._former_classes(stats),
                         *(w for source in self._warnings for w in source())],
            "retraining": self._retraining() if self._retraining else None,
        }

    def _former_classes(self, stats: Stats) -> list[str]:
        """A warning when labels hold classes that are no longer categories (removed or
        renamed in the settings): nothing is lost, but the buttons no longer offer them."""
        former = {c: n for c, n in stats.per_class.items()
                  if c not in self.config.category_names}
        if not former:
            return []
        listed = ", ".join(f'"{c}" ({n})' for c, n in sorted(former.items())[:5])
        return [f"Some labels hold classes that are no longer categories: {listed}"
                f"{', …' if len(former) > 5 else ''}. They are kept and exported; past "
                "items show them, but they can no longer be chosen"]

    def ranked_session(self) -> int:
        """The session the queue is ranked for. Besides ``/api/config``, the answers to
        the page's frequent requests (next items, saves) carry it: a page that sees it
        change re-reads the configuration at once (the retrained model's warnings and
        scores) rather than at its next periodic read."""
        return self._ranked_session()

    def stats(self, user: Principal | None = None) -> Stats:
        return self.store.stats(None if user is None else user.name)

    def _pre_annotation(self, data: Mapping[str, Any]) -> Any:
        column = self.config.existing_labels_column
        if not column:
            return None
        raw = data.get(column)
        if raw is None or raw == "":
            return None
        label = self.existing_label(raw)
        # Show an unknown pre-annotation as it is rather than hide it.
        return raw if label is None else label

    def existing_label(self, raw: Any) -> Any:
        """The label an existing-labels cell stands for, None when it is none of the
        project's classes."""
        try:
            return self.kind.validate_label(
                self.kind.deserialize(str(raw), self.config), self.config)
        except ValidationError:
            return None

    def item_payload(self, item: Item, annotation: Annotation | None = None) -> dict[str, Any]:
        """An item as the UI shows it: its data, the model's uncertainty (not the queue
        order, which a cold start may re-assign), pre-annotation and the user's own
        annotation when there is one."""
        return {
            "id": item.key,
            "data": item.data,
            "uncertainty": item.uncertainty,
            "pre_annotation": self._pre_annotation(item.data),
            "annotation": None if annotation is None else self.annotation_payload(annotation),
        }

    def annotation_payload(self, annotation: Annotation) -> dict[str, Any]:
        payload = annotation.to_dict()
        if annotation.label is not None:
            payload["label"] = self.kind.deserialize(annotation.label, self.config)
        return payload

    def next_items(self, user: Principal, count: int = 1) -> list[dict[str, Any]]:
        if not 1 <= count <= MAX_NEXT:
            raise ValidationError(f'"count" must be between 1 and {MAX_NEXT} (got {count})')
        items = self.store.next_items(user.name, count=count,
                                      lease_seconds=self.config.lease_seconds)
        return [self.item_payload(item) for item in items]

    def release(self, user: Principal, body: Any) -> int:
        """Give back the user's reserved items named in ``{"item_ids": [...]}`` (up to
        MAX_NEXT): a page drops the items it fetched ahead when the queue is ranked
        anew, for the new ranking's first items. Ids the user does not hold are passed
        over; returns how many were given back."""
        keys = _payload(body).get("item_ids")
        if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_NEXT or \
                not all(isinstance(k, str) and k for k in keys):
            raise ValidationError(f'"item_ids" must be a list of 1 to {MAX_NEXT} item ids')
        released = 0
        for key in dict.fromkeys(keys):
            try:
                released += self.store.release(user.name, key)
            except NotFoundError:
                continue  # no such item: nothing held
        return released

    def keep_reservations(self, user: Principal) -> None:
        """Renew the user's reserved items: their page is still open."""
        self.store.renew_leases(user.name, lease_seconds=self.config.lease_seconds)

    def history(self, user: Principal, *, before: int | None = None,
                after: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The user's own annotations around a cursor, each with its item."""
        if not 1 <= limit <= 200:
            raise ValidationError(f'"limit" must be between 1 and 200 (got {limit})')
        entries = self.store.history(user.name, before=before, after=after, limit=limit)
        return [self.item_payload(self.store.get_item(a.item_key), a) for a in entries]

    # -- writing ----------------------------------------------------------------------
    def annotate(self, user: Principal, body: Any) -> Annotation:
        """Validate and save a label; return the stored annotation."""
        body = _payload(body)
        key = _item_key(body)
        if "label" not in body:
            raise ValidationError('"label" is required')
        label = self.kind.validate_label(body["label"], self.config)
        comment = _comment(body)
        with self._telling_the_kept_annotation(user, key):
            return self.store.save_label(
                user.name, key, self.kind.serialize(label, self.config),
                self.kind.classes_of(label), comment=comment, duration_ms=_duration(body),
                session=self._session(), only_new=_only_new(body), sent=_sent(body),
            )

    def skip(self, user: Principal, body: Any) -> Annotation:
        """Record that the user skipped the item."""
        body = _payload(body)
        key = _item_key(body)
        with self._telling_the_kept_annotation(user, key):
            return self.store.save_skip(
                user.name, key, comment=_comment(body), duration_ms=_duration(body),
                session=self._session(), only_new=_only_new(body), sent=_sent(body),
            )

    @contextmanager
    def _telling_the_kept_annotation(self, user: Principal, key: str) -> Iterator[None]:
        """A refused ``"new"`` or stale save answers with the annotation kept, for the UI
        to show."""
        try:
            yield
        except (AlreadyAnnotatedError, StaleSaveError) as exc:
            kept = self.store.get_annotation(user.name, key)
            if kept is not None:
                exc.details["annotation"] = self.annotation_payload(kept)
            raise

    # -- exports ----------------------------------------------------------------------
    def label_rows(self) -> Iterable[dict[str, Any]]:
        """Rows of the labels table (DSS.md): input columns + label + label id."""
        col = self.config.label_col_name
        for annotation, data in self.store.iter_annotated_items(status=Status.LABELED):
            row = dict(data)
            row[col] = annotation.label
            row[f"{col}_id"] = annotation.label_id
            yield row

    def metadata_rows(self) -> Iterable[dict[str, Any]]:
        """Rows of the metadata table (DSS.md), one per (item, annotator)."""
        for annotation in self.store.iter_annotations():
            yield metadata_row(annotation, self.config.label_col_name)


def metadata_row(annotation: Annotation, label_col: str) -> dict[str, Any]:
    """One metadata row: ``date, data_id, comment, session, status, annotator,
    <label_col>, <label_col>_id``."""
    from datetime import datetime, timezone

    return {
        "date": datetime.fromtimestamp(annotation.updated_at, tz=timezone.utc)
        .isoformat(timespec="milliseconds"),
        "data_id": annotation.item_key,
        "comment": annotation.comment,
        "session": annotation.session,
        "status": annotation.status.value,
        "annotator": annotation.annotator,
        label_col: annotation.label,
        f"{label_col}_id": annotation.label_id,
    }
