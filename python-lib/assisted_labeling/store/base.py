"""The AnnotationStore contract: what every backend (SQLite, PostgreSQL…) provides.

Vocabulary:
- an *item* is one thing to label (a row, a file), with a stable ``key``;
- an *annotation* is the current answer of one annotator on one item: LABELED or
  SKIPPED, editable; it keeps its ``id`` (the history cursor) across edits;
- ``label_id`` is drawn from a store-wide increasing counter when an annotation first
  becomes LABELED (skips take none, unlike 4.x) and is kept when the label is edited;
- a *lease* reserves an item for one annotator until it expires, so two annotators are
  not handed the same item unless it needs several annotators.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    NamedTuple,
    Protocol,
    Sequence,
    Tuple,
    Union,
)


class Status(str, enum.Enum):
    LABELED = "LABELED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Item:
    """One thing to label. ``priority``: higher is served first (the queries'
    ``uncertainty`` column); ``uncertainty``: the model's doubt shown to labelers, None
    when there is none to show (no queries, or a random draw)."""

    key: str
    data: dict[str, Any]
    priority: float | None = None
    uncertainty: float | None = None


#: ``(key, priority)``, or ``(key, priority, uncertainty shown)``.
Priority = Union[Tuple[str, float], Tuple[str, float, Union[float, None]]]


class Synced(NamedTuple):
    """What ``sync_items`` did: items added, items whose data changed, items removed
    (gone from the table, never annotated), items retired (gone from the table,
    annotated: kept, served no more) and the keys of the first few of those."""

    added: int
    updated: int
    removed: int = 0
    retired: int = 0
    retired_keys: tuple[str, ...] = ()


class PrioritiesSet(NamedTuple):
    """What ``set_priorities`` did: items now scored, and entries whose key matched no
    item (a queries table made from another pool, or whose values changed)."""

    items: int
    unmatched: int


@dataclass(frozen=True)
class Annotation:
    """One annotator's current answer on one item."""

    id: int
    item_key: str
    annotator: str
    status: Status
    label: str | None
    label_id: int | None
    comment: str
    session: int
    created_at: float
    updated_at: float
    duration_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_key,
            "annotator": self.annotator,
            "status": self.status.value,
            "label": self.label,
            "label_id": self.label_id,
            "comment": self.comment,
            "session": self.session,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Stats:
    """Progress figures, kept as counters so they cost O(classes) to read."""

    total: int
    complete: int
    labeled: int
    skipped: int
    per_class: dict[str, int]
    mine: dict[str, int] = field(default_factory=dict)
    #: Annotated items whose rows left the table: kept, not counted in total/complete.
    retired: int = 0

    @property
    def remaining(self) -> int:
        return self.total - self.complete

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "complete": self.complete,
            "remaining": self.remaining,
            "labeled": self.labeled,
            "skipped": self.skipped,
            "per_class": dict(self.per_class),
            "mine": dict(self.mine),
            "retired": self.retired,
        }


@dataclass(frozen=True)
class SaveOrder:
    """Which page sent a save, and its place among that page's saves: a save the page
    gave up on (a timeout) may still reach the server after a later one."""

    client: str
    sequence: int


@dataclass(frozen=True)
class User:
    """An account. Only hashes of the password and token are kept."""

    name: str
    role: str
    created_at: float


class AnnotationStore(Protocol):
    """Items, their queue, annotations, leases, accounts and small metadata."""

    # items and queue
    def add_items(self, items: Iterable[Item], *, annotators_per_item: int = 1) -> int:
        """Insert new items (existing keys keep their annotations); returns how many were new."""

    def set_priorities(self, priorities: Iterable[Priority], *,
                       reset_others: bool = True, to_duplicates: bool = False) -> PrioritiesSet:
        """Set queue priorities by item key; items not named go back to no priority.
        Entries are ``(key, priority)`` (shown as the uncertainty too) or ``(key,
        priority, uncertainty)`` (None: nothing to show). Equal priorities are served in
        the order of ``priorities``. ``to_duplicates``: keys are content-hash ids and each
        score also goes to every copy of the same row (``<hash>-<n>``)."""

    def get_item(self, key: str) -> Item:
        """The item with this key, or NotFoundError."""

    def next_items(self, user: str, *, count: int = 1, lease_seconds: float = 600,
                   now: float | None = None) -> list[Item]:
        """The user's leased items, then the best open items they have not done, leased."""

    def renew_leases(self, user: str, *, lease_seconds: float = 600,
                     now: float | None = None) -> int:
        """Extend the user's unexpired leases; returns how many."""

    def release(self, user: str, key: str) -> bool:
        """Give a leased item back to the queue; whether the user held it."""

    def set_annotators_per_item(self, needed: int) -> None:
        """Change how many LABELED annotations complete an item, for every item."""

    # annotations
    def save_label(self, user: str, key: str, label: str, classes: Sequence[str], *,
                   comment: str | None = None, duration_ms: int | None = None,
                   session: int = 0, now: float | None = None,
                   only_new: bool = False, sent: SaveOrder | None = None) -> Annotation:
        """Create or replace the user's annotation of the item as LABELED. ``comment``
        None keeps the stored comment ("" for a new annotation); "" clears it.
        ``only_new``: raise :class:`AlreadyAnnotatedError` (and change nothing) when the
        user has an annotation of the item already, unless ``sent``'s client saved it
        (then this is that client's edit). ``sent``: raise
        :class:`StaleSaveError` (and change nothing) when the annotation was last saved
        by the same client with a sequence at least as high."""

    def save_skip(self, user: str, key: str, *, comment: str | None = None,
                  duration_ms: int | None = None, session: int = 0,
                  now: float | None = None, only_new: bool = False,
                  sent: SaveOrder | None = None) -> Annotation:
        """Create or replace the user's annotation of the item as SKIPPED (``comment``,
        ``only_new`` and ``sent`` as in ``save_label``)."""

    def get_annotation(self, user: str, key: str) -> Annotation | None:
        """The user's current annotation of the item, if any."""

    def history(self, user: str, *, before: int | None = None, after: int | None = None,
                limit: int = 20) -> list[Annotation]:
        """The user's annotations by ``id``: newest first below ``before`` (or all),
        oldest first above ``after``."""

    def iter_items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, data)`` of every item, in the order they were added."""

    def iter_annotations(self, *, status: Status | None = None) -> Iterator[Annotation]:
        """Every current annotation in ``id`` order (for exports)."""

    def iter_annotated_items(self, *, status: Status | None = None
                             ) -> Iterator[tuple[Annotation, dict[str, Any]]]:
        """Every current annotation in ``id`` order with its item's data."""

    def restore(self, annotations: Iterable[Annotation],
                classes_of: Callable[[Annotation], Sequence[str]]) -> int:
        """Replay annotations read back from a host (oldest first), keeping their label
        ids, dates and sessions; unknown items are ignored. Returns how many applied."""

    def reserve_label_ids(self, highest: int) -> None:
        """Make every new label id greater than ``highest``."""

    def renumber_label(self, user: str, key: str) -> int | None:
        """Give ``user``'s label of item ``key`` the next new label id; returns it (None
        when that annotation is no label)."""

    def changes(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, Annotation]]:
        """Saved annotations in save order after change number ``after`` (an outbox)."""

    def last_change(self) -> int:
        """The newest change number (0 when none)."""

    def last_label_id(self) -> int:
        """The highest label id given so far (0 when none)."""

    def stats(self, user: str | None = None) -> Stats:
        """Counters; ``mine`` holds the user's own labeled/skipped counts."""

    # accounts
    def add_user(self, name: str, role: str, password: str) -> str:
        """Create an account; returns its API token (shown once)."""

    def authenticate(self, name: str, password: str) -> User:
        """The user, or AuthenticationError; as slow for an unknown name as for a wrong
        password."""

    def user_for_token(self, token: str) -> User:
        """The user owning an API token, or AuthenticationError."""

    def get_user(self, name: str) -> User:
        """The account with this name, or NotFoundError."""

    def count_users(self) -> int:
        """How many accounts exist."""

    def list_users(self) -> list[User]:
        """Every account, by name."""

    def set_role(self, name: str, role: str) -> None:
        """Change an account's role (NotFoundError if there is no such account)."""

    def delete_user(self, name: str) -> None:
        """Remove an account and end its sessions; its annotations stay."""

    # login sessions (the browser's cookie carries the id; only its hash is stored)
    def get_session(self, session_id: str, *,
                    now: float | None = None) -> tuple[User, str] | None:
        """The account of a live session and its CSRF token, or None."""

    def end_session(self, session_id: str) -> None:
        """Forget a session."""

    # login attempts, counted in the store so that every server process sees them
    def begin_login(self, keys: Sequence[tuple[str, int]], *, window: float,
                    now: float | None = None) -> tuple[int, ...]:
        """Check and record one attempt per ``(key, limit)`` in one transaction, before
        the password check; TooManyAttemptsError past a limit within ``window``."""

    def finish_login(self, attempt: Sequence[int], user: str, *, lifetime: float,
                     forget: Iterable[str] = (), ending: str | None = None,
                     now: float | None = None) -> tuple[str, str]:
        """Success: drop the attempt and ``forget``'s failures, end session ``ending``,
        open a new session (one transaction); returns ``(session id, CSRF token)``."""

    # small key/value metadata (session counter, seed, input fingerprint)
    def get_meta(self, key: str, default: str | None = None) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def set_metas(self, values: Mapping[str, str]) -> None:
        """Several metadata values at once: readers see all of them or none."""

    def close(self) -> None: ...
