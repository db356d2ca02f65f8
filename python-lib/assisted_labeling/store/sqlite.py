"""The embedded store: one SQLite file in WAL mode, shared safely by several processes.

Cost model (n items, m annotations):
- a save touches one item row, one annotation row, one lease and a few counter rows:
  O(log n + log m), never a rewrite;
- "next" walks a partial index of open items in queue order: O(log n) plus the items
  the user already did among the open ones;
- queue order: decreasing priority; equal priorities in the order ``set_priorities``
  received them (the queries' asking order); items without priority last, in a seeded
  random order (``rank``, a keyed hash of the key: stable, and the same in every
  process, so no file order shows through);
- stats read counter rows: O(classes).

Writes are serialized by a thread lock inside a process and an ``flock`` on a side file
across processes, so waiting writers wake as soon as the lock is free instead of
polling SQLite's busy handler (which sleeps in steps of up to 100 ms and ruins p99).
WAL with ``synchronous=NORMAL`` makes a committed transaction survive the death of the
process (kill -9); ``durability="full"`` also survives power loss, at an fsync per save.

The file holds password hashes and login sessions as well as every label, so it and its
side files are readable by their owner only (0600), see ``_private_file``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import sqlite3
import stat
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..errors import (
    AlreadyAnnotatedError,
    AuthenticationError,
    ConfigError,
    ConflictError,
    NotFoundError,
    ResendDiffersError,
    StaleSaveError,
    TooManyAttemptsError,
    ValidationError,
)
from .accounts import ROLES, hash_password, hash_token, new_token, verify_password
from .base import (
    Annotation,
    Item,
    PrioritiesSet,
    Priority,
    SaveOrder,
    Stats,
    Status,
    Synced,
    User,
)

try:  # POSIX only; elsewhere SQLite's own busy handler serializes processes.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# 2: items.uncertainty (the score shown) and items.qpos (the queries' order).
# 3: login sessions and failed logins kept in the store; no cookie-signing key any more.
# 4: items some annotators labeled that need more come first (queue order _STARTED).
# 5: save_orders: the highest sequence each page (client) saved each annotation with.
# 6: save_orders.request: a digest of that save's content, to tell a resend from another.
# 7: unscored items after every scored one whatever its priority (they came before
#    priorities of -1 and below), and waiting ones before any (infinite queue orders).
SCHEMA_VERSION = "7"
# The queue order of a scored item is its priority negated: finite (priorities are), so
# that any one (queries made by other tools can hold any number) comes after the waiting
# items and before the unscored ones.
_UNSCORED = math.inf  # queue order of items with no priority: after every scored item
# Queue order of items some annotators labeled that need more (several annotators per
# item): before every other item, so that overlaps complete (agreement, review) instead
# of waiting behind the whole queue; samplers leave labeled items out of their queries.
_STARTED = -math.inf
_STARTED_LITERAL = "-9e999"  # how SQL writes it: a number too large for a double is ±Inf
_STARTED_SQL = "labeled > 0 AND labeled < needed"
_STARTED_WINDOW = 1000  # waiting items one next-item request looks at (_fresh)
#: ``items.needed`` of an item whose row left the table: it needs no annotator, and its
#: open places (needed - labeled - leases) stay ≤ 0 whatever is saved on it.
RETIRED = 0
_QORDER_SQL = (f"CASE WHEN {_STARTED_SQL} THEN ? WHEN priority IS NULL THEN ? "
               "ELSE -priority END")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    priority REAL,
    uncertainty REAL,
    qorder REAL NOT NULL,
    qpos INTEGER NOT NULL DEFAULT 0,
    rank INTEGER NOT NULL,
    needed INTEGER NOT NULL,
    labeled INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL,
    pgen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS items_scored ON items (pgen) WHERE priority IS NOT NULL;
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id INTEGER NOT NULL REFERENCES items (id),
    annotator TEXT NOT NULL,
    status TEXT NOT NULL,
    label TEXT,
    classes TEXT NOT NULL DEFAULT '[]',
    label_id INTEGER,
    comment TEXT NOT NULL DEFAULT '',
    session INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    duration_ms INTEGER,
    UNIQUE (item_id, annotator)
);
CREATE INDEX IF NOT EXISTS annotations_by_user ON annotations (annotator, id);
CREATE TABLE IF NOT EXISTS save_orders (
    annotation_id INTEGER NOT NULL,
    client TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    request TEXT,
    PRIMARY KEY (annotation_id, client)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    item_id INTEGER NOT NULL,
    annotator TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (item_id, annotator)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_at);
CREATE INDEX IF NOT EXISTS leases_by_user ON leases (annotator);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    annotation_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS class_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_counts (
    annotator TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (annotator, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_name);
CREATE TABLE IF NOT EXISTS login_failures (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (key, at);
"""

# Created after the migration: schema 1 had an index of this name on (qorder, rank).
QUEUE_INDEX = ("CREATE INDEX IF NOT EXISTS items_queue ON items (qorder, qpos, rank) "
               "WHERE open > 0")

_COUNTERS = ("total", "complete", "labeled", "skipped", "label_id", "priority_generation",
             "retired")
_RETIRED_SQL = f"SELECT count(*) FROM items WHERE needed = {RETIRED}"
_ANNOTATION_COLUMNS = (
    "a.id, i.key, a.annotator, a.status, a.label, a.label_id, a.comment, a.session, "
    "a.created_at, a.updated_at, a.duration_ms"
)


def _annotation(row: Sequence[Any]) -> Annotation:
    return Annotation(
        id=row[0], item_key=row[1], annotator=row[2], status=Status(row[3]), label=row[4],
        label_id=row[5], comment=row[6], session=row[7], created_at=row[8],
        updated_at=row[9], duration_ms=row[10],
    )


def _qorder(priority: float | None) -> float:
    return _UNSCORED if priority is None else -float(priority)


def _finite(value: float | None) -> float | None:
    """A priority or an uncertainty to show, or None (missing, NaN, infinite: the item
    is unscored, and JSON could not carry it to the page)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _unknown_item(key: str) -> NotFoundError:
    """The error for an item id the store does not hold, the id cut to 100 characters
    (a request may name one with megabytes of text)."""
    shown = key if len(key) <= 100 else key[:97] + "..."
    return NotFoundError(f'No item with id "{shown}"', item_id=shown)


_SQLITE_HEADER = b"SQLite format 3\x00"


def check_store_file(path: str | Path, *, existing: bool = False) -> None:
    """Refuse a path that holds something else than a store (a directory, the pool
    itself, any other file) before anything is created or changed beside it.
    ``existing``: the store must be there already (a command that reads one), not
    missing nor empty (opening makes any empty file a store)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f'The store "{path}" is a directory: give a file name, e.g. '
                          f'"{path / "labels.db"}"')
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        if existing:
            raise ConfigError(f'No store at "{path}"') from None
        if not path.absolute().parent.is_dir():  # a mistyped path, not a new project
            raise ConfigError(f'Cannot make the store "{path}": the directory '
                              f'"{path.absolute().parent}" does not exist; create it '
                              "first") from None
        return
    except OSError as exc:
        raise ConfigError(f'Cannot open the store "{path}": {exc.strerror}') from None
    _refuse_hard_links(path)  # first: even a read-only look may make files beside it
    if (header or existing) and (header != _SQLITE_HEADER
                                 or (existing and not _has_meta_table(path))):
        raise ConfigError(f'"{path}" is not a labeling store (an SQLite file that `serve` '
                          "made): choose another store file; this one was left as it is")


def _has_meta_table(path: Path) -> bool:
    """Whether the SQLite file at ``path`` has our ``meta`` table (read only)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                uri=True)) as conn:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                "AND name = 'meta'").fetchone() is not None
    except sqlite3.Error:
        return False


#: The side file a server holds locked for as long as it serves the store.
SERVING = ".serving"
#: Files SQLiteStore (and a server) keeps beside its database file.
SIDE_FILES = (".lock", SERVING, "-wal", "-shm", "-journal")


def hold_for_serving(path: str | Path) -> int | None:
    """Hold the store for this server until its process (and the workers it forks) ends,
    even killed with -9: a second server on the same store would sync its own pool into
    it, changing the first one's items under its labelers. Returns the held descriptor
    (None where ``flock`` does not exist); raises ConfigError naming the process that
    holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    # By the real path: a symbolic link to the store is the same store (a hard link is
    # refused by check_store_file, before this).
    descriptor = os.open(f"{os.path.realpath(path)}{SERVING}", os.O_RDWR | os.O_CREAT,
                         0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 20, 0).decode("ascii", "replace").strip()
        os.close(descriptor)
        who = f" (process {holder}, or its workers)" if holder.isdigit() else ""
        raise ConfigError(f'Another server{who} serves the store "{path}": stop it first, '
                          "or give this server a store of its own (--store)") from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, str(os.getpid()).encode("ascii"), 0)
    return descriptor


def _refuse_hard_links(path: Path) -> None:
    """Refuse a store file with more than one name, before anything opens it: SQLite
    keeps its write-ahead log beside the name it opened, so a program under another
    name sees neither the log nor the serving hold (keyed on a name), and writing
    through both names corrupts the store."""
    try:
        names = os.stat(path).st_nlink
    except FileNotFoundError:
        return  # a new store
    if names > 1:
        raise ConfigError(
            f'The store "{path}" has {names} names (hard links), and SQLite keeps its '
            "recent changes beside the name a program opened it by: through another name "
            "they are lost. Stop every program using it, then remove the extra names, "
            'keeping the one with a "-wal" file beside it if there is one (or use a copy '
            "made with cp). The files were left as they are")


def release_serving(descriptor: int | None) -> None:
    """End a :func:`hold_for_serving` (the server stopped)."""
    if descriptor is not None:
        os.close(descriptor)


def remove_store(path: str | Path) -> None:
    """Delete a store's database and side files (close it first). Through a link, the
    database it names goes, with the side files beside either; the link, the user's,
    stays."""
    real = os.path.realpath(path)
    for base in {str(path), real}:
        for name in SIDE_FILES:
            Path(f"{base}{name}").unlink(missing_ok=True)
    Path(real).unlink(missing_ok=True)


def _private_file(path: Path, *, create: bool) -> None:
    """Make ``path`` accessible to its owner only (0600 when created here).

    A new file is created so from the start (whatever the umask). An existing one that
    others can read is tightened when this process owns it, else only reported: the
    file holds password hashes, login sessions and every label. SQLite gives its -wal
    and -shm files the mode of the database file, so they follow."""
    if os.name != "posix":
        return  # Windows: access is a matter of ACLs, which the user's profile sets
    if create:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return
        except (FileExistsError, PermissionError):
            pass  # exists already (or a read-only folder): check it below
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode) or not mode & 0o077:
        return  # not a file (SQLite will say so), or private already
    if info.st_uid != os.geteuid():
        log.warning("%s is readable by other users (mode %o) and belongs to another user: "
                    "its owner should make it private (chmod 600)", path, mode)
        return
    try:
        os.chmod(path, mode & 0o700)
    except OSError as exc:
        log.warning("%s is readable by other users (mode %o) and could not be made "
                    "private: %s", path, mode, exc)
        return
    log.warning("Made %s private (mode %o, was %o): it holds password hashes and "
                "login sessions", path, mode & 0o700, mode)


def check_account(name: str, role: str, password: str) -> None:
    """Refuse an account :meth:`SQLiteStore.add_user` would refuse (also before a store
    is made for it)."""
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if not name or not name.strip() or len(name) > 64:
        raise ValidationError("A user name must have 1 to 64 characters")
    _check_password(password)


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise ValidationError("A password must have at least 8 characters")


class SQLiteStore:
    """AnnotationStore on one SQLite file. Thread-safe; safe across processes."""

    def __init__(self, path: str | os.PathLike[str], *, durability: str = "normal",
                 busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout  # seconds a connection waits for another's lock
        if durability not in ("normal", "full"):
            raise ValidationError('durability must be "normal" or "full"')
        self._synchronous = durability.upper()
        check_store_file(self.path)  # before touching it: a mistyped path stays as it was
        self._local = threading.local()
        self._lock = threading.Lock()  # one writer at a time in this process
        self._connections_lock = threading.Lock()
        # A connection must not cross a fork (gunicorn preloads the app, then forks).
        if hasattr(os, "register_at_fork"):
            forget = weakref.WeakMethod(self._forget_connections)
            os.register_at_fork(after_in_child=lambda: (f := forget()) and f())
        self._lock_path = Path(f"{self.path}.lock")
        _private_file(self.path, create=True)
        _private_file(self._lock_path, create=True)
        for suffix in ("-wal", "-shm"):  # left by an earlier run, maybe world-readable
            _private_file(Path(f"{self.path}{suffix}"), create=False)
        self._connections: list[sqlite3.Connection] = []
        try:
            self._open_schema()
        except sqlite3.OperationalError as exc:  # locked, read-only, disk full…
            self.close()
            raise ConfigError(f'Cannot open the store "{self.path}": {exc} (is another '
                              "program holding it, or is its folder read-only?)") from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise ConfigError(f'The store "{self.path}" is damaged ({exc}): restore it from '
                              "a backup or choose another store file") from None
        self._seed = (self.get_meta("seed") or "").encode()

    def _open_schema(self) -> None:
        """Create or migrate the tables, counters and metadata."""
        self._conn().executescript(SCHEMA)
        with self._write() as conn:
            self._migrate(conn)
            if conn.execute("SELECT 1 FROM counters WHERE name = 'retired'").fetchone() \
                    is None:  # a store of an earlier version: counted once
                conn.execute(f"INSERT INTO counters (name, value) SELECT 'retired', "
                             f"({_RETIRED_SQL})")
            conn.executemany(
                "INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)",
                [(name,) for name in _COUNTERS],
            )
            conn.execute(QUEUE_INDEX)
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('seed', ?)",
                (os.urandom(8).hex(),),
            )

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Bring a store of an earlier schema up to date, in place, keeping everything.

        New tables come from ``SCHEMA`` (``IF NOT EXISTS``); this adds what it cannot."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return  # a new store: SCHEMA made it current
        orders = {r[1] for r in conn.execute("PRAGMA table_info(save_orders)")}
        if "request" not in orders:  # schema 5 or earlier: older saves have none
            conn.execute("ALTER TABLE save_orders ADD COLUMN request TEXT")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(items)")}
        if "qpos" not in columns:  # schema 1
            conn.execute("ALTER TABLE items ADD COLUMN uncertainty REAL")
            conn.execute("ALTER TABLE items ADD COLUMN qpos INTEGER NOT NULL DEFAULT 0")
            # Schema 1 showed the priority as the uncertainty: keep showing it.
            conn.execute("UPDATE items SET uncertainty = priority WHERE priority IS NOT NULL")
            conn.execute("DROP INDEX IF EXISTS items_queue")
        if row[0] in ("1", "2"):
            # Schema 3 keeps login sessions in the store: the key that signed the old
            # session cookies is useless now, and anyone who read it could forge them.
            # Dropping it also ends every cookie it signed (their users sign in again).
            conn.execute("DELETE FROM meta WHERE key = 'secret_key'")
        if row[0] in ("1", "2", "3", "4", "5", "6"):
            conn.execute(f"UPDATE items SET qorder = {_QORDER_SQL}", (_STARTED, _UNSCORED))
        if row[0] != SCHEMA_VERSION:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                         (SCHEMA_VERSION,))

    # -- connections and transactions -------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA cache_size=-32000")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            lock_file = None
            if fcntl is not None:
                lock_file = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                conn = self._conn()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if lock_file is not None:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
                    os.close(lock_file)

    @contextmanager
    def _bulk_write(self, pause: bool) -> Iterator[sqlite3.Connection]:
        """One transaction of a long bulk write (ranking or importing a whole pool).

        With ``pause``, then wait as long as the transaction took, waiting for the lock
        included (the busier the other writers, the longer the pause): saves that queued
        for it meanwhile go first. A lock is not handed over in order, and a bulk writer
        that took it again at once kept labelers waiting through many transactions
        (``benchmarks/rerank_latency.py``)."""
        began = time.perf_counter()
        with self._write() as conn:
            yield conn
        if pause:
            time.sleep(time.perf_counter() - began)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot across several SELECTs."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _forget_connections(self) -> None:
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        self._connections_lock = threading.Lock()

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- metadata ---------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.set_metas({key: value})

    def set_metas(self, values: Mapping[str, str]) -> None:
        """Several metadata values in one transaction: readers see all or none."""
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # -- items and queue --------------------------------------------------------------
    def _rank(self, key: str) -> int:
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8,
                                 key=self._seed[:64]).digest()
        return int.from_bytes(digest, "big") >> 1

    def add_items(self, items: Iterable[Item], *, annotators_per_item: int = 1,
                  batch_size: int | None = None, pause: bool = True) -> int:
        return self.sync_items(items, annotators_per_item=annotators_per_item,
                               batch_size=batch_size, update=False, pause=pause)[0]

    def sync_items(self, items: Iterable[Item], *, annotators_per_item: int = 1,
                   batch_size: int | None = None, update: bool = True,
                   pause: bool = True) -> Synced:
        """Make the store's items those of ``items`` (a new version of the table): add
        the new ones; with ``update``, also give existing items their new data (a row
        edited in the table), keeping their annotations and place in the queue, and
        retire the items that are not among ``items`` (rows deleted from the table):
        one never annotated is removed; one with annotations keeps them (exports show
        them) but is served no more. An item that comes back is served again.

        ``pause`` (off for a new store, which no one else uses yet): smaller
        transactions, each followed by a pause as long as it took
        (:meth:`_bulk_write`), so that labelers' saves are not held up meanwhile."""
        batch_size = batch_size or (2000 if pause else 10_000)
        added = updated = 0
        batch: list[tuple[Any, ...]] = []
        if update:
            with self._write() as conn:  # the keys seen, on disk: the pool may be huge
                conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen_keys "
                             "(key TEXT PRIMARY KEY) WITHOUT ROWID")
                conn.execute("DELETE FROM seen_keys")

        def flush() -> None:
            nonlocal added, updated
            with self._bulk_write(pause) as conn:
                if update:
                    conn.executemany("INSERT OR IGNORE INTO seen_keys VALUES (?)",
                                     [row[:1] for row in batch])
                before = conn.total_changes
                if update:
                    conn.executemany("UPDATE items SET data = ?2 WHERE key = ?1 AND data != ?2",
                                     [row[:2] for row in batch])
                changed = conn.total_changes - before
                conn.executemany(
                    "INSERT OR IGNORE INTO items (key, data, priority, uncertainty, qorder, rank,"
                    " needed, open) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    batch,
                )
                new = conn.total_changes - before - changed
                conn.execute("UPDATE counters SET value = value + ? WHERE name = 'total'", (new,))
            batch.clear()
            added, updated = added + new, updated + changed

        for item in items:
            batch.append((
                item.key, json.dumps(item.data, ensure_ascii=False), item.priority,
                _finite(item.uncertainty), _qorder(item.priority), self._rank(item.key),
                annotators_per_item, annotators_per_item,
            ))
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if not update:
            return Synced(added, updated)
        return Synced(added, updated, *self._retire_unseen(annotators_per_item))

    def _retire_unseen(self, needed: int) -> tuple[int, int, tuple[str, ...]]:
        """Retire the items not in ``seen_keys`` (see :meth:`sync_items`) and serve again
        the retired ones that are; returns (removed, retired, first retired keys)."""
        with self._write() as conn:
            gone = "NOT EXISTS (SELECT 1 FROM seen_keys s WHERE s.key = items.key)"
            annotated = "EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = items.id)"
            conn.execute(f"DELETE FROM leases WHERE item_id IN (SELECT id FROM items "
                         f"WHERE {gone})")
            removed = conn.execute(f"DELETE FROM items WHERE {gone} AND NOT {annotated}"
                                   ).rowcount
            retired = conn.execute(f"SELECT count(*) FROM items WHERE {gone}").fetchone()[0]
            keys = tuple(r[0] for r in conn.execute(
                f"SELECT key FROM items WHERE {gone} ORDER BY id LIMIT 3"))
            # Served no more, whatever is saved on it later or the annotators per item
            # become: needed = RETIRED (items need at least 1), so open stays ≤ 0.
            self._set_needed(conn, RETIRED, gone)
            # Back in the table: served again, as many times as any item.
            self._set_needed(conn, needed,
                             "EXISTS (SELECT 1 FROM seen_keys s WHERE s.key = items.key)")
            self._after_needed(conn)
            conn.execute("UPDATE counters SET value = value - ? WHERE name = 'total'",
                         (removed,))
            # Every retired item is one of these now: no scan to count them again.
            conn.execute("UPDATE counters SET value = ? WHERE name = 'retired'", (retired,))
            conn.execute("DELETE FROM seen_keys")
        return removed, retired, keys

    def set_annotators_per_item(self, needed: int) -> None:
        """Change how many LABELED annotations complete an item, for every item (retired
        items keep needing none)."""
        with self._write() as conn:
            self._set_needed(conn, needed, f"needed != {RETIRED}")
            self._after_needed(conn)

    @staticmethod
    def _set_needed(conn: sqlite3.Connection, needed: int, where: str) -> None:
        """How many LABELED annotations complete the items ``where`` says, and so their
        open places (then :meth:`_after_needed`, once)."""
        conn.execute(
            "UPDATE items SET needed = :n, open = :n - labeled - "
            "(SELECT count(*) FROM leases l WHERE l.item_id = items.id) "
            f"WHERE needed != :n AND {where}", {"n": needed})

    @staticmethod
    def _after_needed(conn: sqlite3.Connection) -> None:
        """Queue order and the count of complete items, after ``needed`` changed."""
        conn.execute(f"UPDATE items SET qorder = {_QORDER_SQL} WHERE labeled > 0",
                     (_STARTED, _UNSCORED))
        conn.execute("UPDATE counters SET value = (SELECT count(*) FROM items "
                     "WHERE labeled >= needed) WHERE name = 'complete'")

    def set_priorities(self, priorities: Iterable[Priority], *, reset_others: bool = True,
                       batch_size: int | None = None, to_duplicates: bool = False,
                       pause: bool = True) -> PrioritiesSet:
        """Set queue priorities, a batch per transaction so labelers are never held up
        for long. New scores land first (tagged with a new generation), then the items
        left from older generations lose theirs: meanwhile the queue mixes old and new
        scores, but never loses its scored items.

        Each entry is ``(key, priority)`` or ``(key, priority, uncertainty)``: the
        uncertainty shown to labelers when it differs from the ordering key (None or NaN:
        none to show); a pair shows its priority. Equal priorities are served in the
        order of ``priorities`` (a sampler writes its queries in the order it means them
        to be asked).

        ``to_duplicates``: keys are content-hash ids (``<hash>``, ``<hash>-<n>`` for the
        n-th copy of the same row) and each score also goes to every copy. A table of
        queries re-read in score order cannot tell which copy a row was, and copies of one
        row get the same score anyway.

        ``reset_others``: the items these entries do not name lose their priority, except
        the items labeled by some annotators that still need more (several annotators
        per item): those are served before any other item, whatever their priority.

        ``pause``: smaller transactions, each followed by a pause as long as it took,
        so that labelers' saves are not held up (:meth:`_bulk_write`); off when no one
        else can be writing (before the server starts).

        Returns how many items these entries scored (each once, however many named
        it) and how many entries matched no item. Entries of which none matched (another
        pool's queries) leave the previous ranking in place rather than erase it."""
        batch_size = batch_size or (1000 if pause else 5000)
        with self._write() as conn:
            self._bump(conn, "priority_generation", 1)
            generation = self._counter(conn, "priority_generation")
        matched = entries = 0
        batch: list[tuple[float, float | None, float, int, int, str]] = []

        def flush() -> int:
            with self._bulk_write(pause) as conn:
                before = conn.total_changes
                conn.executemany(
                    "UPDATE items SET priority = ?, uncertainty = ?, qorder = "
                    f"CASE WHEN {_STARTED_SQL} THEN {_STARTED_LITERAL} ELSE ? END, qpos = ?, "
                    "pgen = ? WHERE key = ?", batch)
                changed = conn.total_changes - before  # keys are unique: one per match
                if to_duplicates:
                    # Copies are "<hash>-1", "<hash>-2"…: the keys between "<hash>-" and
                    # "<hash>." ("." sorts right after "-"), an index range scan.
                    conn.executemany(
                        "UPDATE items SET priority = ?, uncertainty = ?, qorder = "
                        f"CASE WHEN {_STARTED_SQL} THEN {_STARTED_LITERAL} ELSE ? END, "
                        "qpos = ?, pgen = ? WHERE key > ? AND key < ?",
                        [(*values, f"{base}-", f"{base}.") for *values, base in
                         ((*entry[:-1], entry[-1].split("-", 1)[0]) for entry in batch)])
            batch.clear()
            return changed

        for position, entry in enumerate(priorities, start=1):
            value = _finite(entry[1])
            shown = _finite(entry[2]) if len(entry) > 2 else value
            batch.append((value, shown, _qorder(value), position, generation, entry[0]))
            entries = position
            if len(batch) >= batch_size:
                matched += flush()
        if batch:
            matched += flush()
        while reset_others and (matched or not entries):
            with self._bulk_write(pause) as conn:
                reset = conn.execute(
                    "UPDATE items SET priority = NULL, uncertainty = NULL, qorder = ?, "
                    "qpos = 0, pgen = 0 WHERE id IN "
                    "(SELECT id FROM items INDEXED BY items_scored "
                    " WHERE priority IS NOT NULL AND pgen < ?"
                    # Started items keep their place (first) and their uncertainty.
                    f"   AND NOT ({_STARTED_SQL}) LIMIT ?)",
                    (_UNSCORED, generation, batch_size),
                ).rowcount
            if reset < batch_size:
                break
        with self._read() as conn:
            scored = conn.execute(
                "SELECT COUNT(*) FROM items INDEXED BY items_scored "
                "WHERE priority IS NOT NULL AND pgen = ?", (generation,)).fetchone()[0]
        return PrioritiesSet(int(scored), entries - matched)

    def get_item(self, key: str) -> Item:
        row = self._conn().execute(
            "SELECT key, data, priority, uncertainty FROM items WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise _unknown_item(key)
        return Item(row[0], json.loads(row[1]), row[2], row[3])

    def next_items(self, user: str, *, count: int = 1, lease_seconds: float = 600,
                   now: float | None = None) -> list[Item]:
        now = time.time() if now is None else now
        expires = now + lease_seconds
        with self._write() as conn:
            self._expire_leases(conn, now)
            rows = conn.execute(
                "SELECT i.id, i.key, i.data, i.priority, i.uncertainty FROM leases l "
                "JOIN items i ON i.id = l.item_id WHERE l.annotator = ? "
                "ORDER BY i.qorder, i.qpos, i.rank LIMIT ?",
                (user, count),
            ).fetchall()
            if rows:
                conn.execute("UPDATE leases SET expires_at = ? WHERE annotator = ?",
                             (expires, user))
            if len(rows) < count:
                fresh = self._fresh(conn, user, count - len(rows))
                conn.executemany(
                    "INSERT INTO leases (item_id, annotator, expires_at) VALUES (?, ?, ?)",
                    [(r[0], user, expires) for r in fresh],
                )
                conn.executemany("UPDATE items SET open = open - 1 WHERE id = ?",
                                 [(r[0],) for r in fresh])
                rows += fresh
        return [Item(r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    @staticmethod
    def _fresh(conn: sqlite3.Connection, user: str, count: int) -> list[Any]:
        """Up to ``count`` open items ``user`` has neither done nor reserved, in queue order.

        Items waiting for more annotators come first, but only the first
        :data:`_STARTED_WINDOW` of them are looked at: a labeler ahead of the others has
        labeled many of them, and walking past all of those on every request would make
        the next item cost time in proportion to them."""
        mine = ("AND NOT EXISTS (SELECT 1 FROM annotations a "
                "                WHERE a.item_id = i.id AND a.annotator = :u) "
                "AND NOT EXISTS (SELECT 1 FROM leases l "
                "                WHERE l.item_id = i.id AND l.annotator = :u) ")
        params = {"u": user, "k": count, "s": _STARTED, "w": _STARTED_WINDOW}
        select = ("SELECT i.id, i.key, i.data, i.priority, i.uncertainty FROM items i "
                  "INDEXED BY items_queue WHERE open > 0 ")
        order = f"{mine}ORDER BY qorder, qpos, rank LIMIT :k"
        # The window's last item, by a walk of the queue index alone (no row is read).
        edge = conn.execute(
            "SELECT qpos, rank FROM items INDEXED BY items_queue WHERE open > 0 "
            "AND qorder = :s ORDER BY qpos, rank LIMIT 1 OFFSET :w - 1", params).fetchone()
        if edge is None:  # fewer waiting items than the window: one walk of the queue
            return conn.execute(select + order, params).fetchall()
        # Waiting items all have qorder _STARTED, so (qpos, rank) bounds the index range.
        params.update(q=edge[0], r=edge[1])
        rows = conn.execute(f"{select}AND qorder = :s AND (qpos, rank) <= (:q, :r) {order}",
                            params).fetchall()
        if len(rows) < count:
            params["k"] = count - len(rows)
            rows += conn.execute(f"{select}AND qorder > :s {order}", params).fetchall()
        return rows

    def renew_leases(self, user: str, *, lease_seconds: float = 600,
                     now: float | None = None) -> int:
        """Extend the user's leases (their page is open: the items on it stay theirs);
        returns how many."""
        now = time.time() if now is None else now
        with self._write() as conn:
            return conn.execute("UPDATE leases SET expires_at = ? WHERE annotator = ? "
                                "AND expires_at > ?", (now + lease_seconds, user, now)
                                ).rowcount

    @staticmethod
    def _expire_leases(conn: sqlite3.Connection, now: float) -> None:
        expired = conn.execute(
            "SELECT item_id FROM leases WHERE expires_at <= ?", (now,)
        ).fetchall()
        if expired:
            conn.executemany("UPDATE items SET open = open + 1 WHERE id = ?", expired)
            conn.execute("DELETE FROM leases WHERE expires_at <= ?", (now,))

    def release(self, user: str, key: str) -> bool:
        with self._write() as conn:
            item_id = self._item_id(conn, key)
            if conn.execute("DELETE FROM leases WHERE item_id = ? AND annotator = ?",
                            (item_id, user)).rowcount:
                conn.execute("UPDATE items SET open = open + 1 WHERE id = ?", (item_id,))
                return True
            return False

    # -- annotations ------------------------------------------------------------------
    @staticmethod
    def _item_id(conn: sqlite3.Connection, key: str) -> int:
        row = conn.execute("SELECT id FROM items WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise _unknown_item(key)
        return row[0]

    @staticmethod
    def _counter(conn: sqlite3.Connection, name: str) -> int:
        return conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]

    @staticmethod
    def _bump(conn: sqlite3.Connection, name: str, delta: int) -> None:
        if delta:
            conn.execute("UPDATE counters SET value = value + ? WHERE name = ?", (delta, name))

    @staticmethod
    def _bump_user(conn: sqlite3.Connection, user: str, status: Status, delta: int) -> None:
        conn.execute(
            "INSERT INTO user_counts (annotator, status, n) VALUES (?, ?, ?) "
            "ON CONFLICT (annotator, status) DO UPDATE SET n = n + excluded.n",
            (user, status.value, delta),
        )

    @staticmethod
    def _bump_classes(conn: sqlite3.Connection, classes: Iterable[str], delta: int) -> None:
        conn.executemany(
            "INSERT INTO class_counts (name, n) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET n = n + excluded.n",
            [(name, delta) for name in classes],
        )

    def _save(self, user: str, key: str, status: Status, label: str | None,
              classes: Sequence[str], comment: str | None, duration_ms: int | None,
              session: int, now: float | None, only_new: bool,
              sent: SaveOrder | None) -> Annotation:
        with self._write() as conn:
            return self._apply(conn, user, key, status, label, classes, comment, duration_ms,
                               session, time.time() if now is None else now,
                               only_new=only_new, sent=sent)

    def _apply(self, conn: sqlite3.Connection, user: str, key: str, status: Status,
               label: str | None, classes: Sequence[str], comment: str | None,
               duration_ms: int | None, session: int, now: float,
               restored_label_id: int | None = None, log_change: bool = True,
               only_new: bool = False, sent: SaveOrder | None = None) -> Annotation:
        """One annotation write inside the caller's transaction. ``comment`` None keeps
        the stored comment ("" for a new annotation); ``only_new`` and ``sent`` as in
        ``save_label``."""
        row = conn.execute(
            "SELECT id, needed, labeled FROM items WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise _unknown_item(key)
        # What this save asks for, to tell a resend of it from another save.
        request = None if sent is None else hashlib.sha256(json.dumps(
            [status.value, sorted(classes), comment]).encode("utf-8", "surrogatepass")
        ).hexdigest()[:32]
        item_id, needed, labeled = row
        old = conn.execute(
            "SELECT status, classes, label_id, id FROM annotations "
            "WHERE item_id = ? AND annotator = ?",
            (item_id, user),
        ).fetchone()
        stored = None
        if sent is not None and old is not None:
            stored = conn.execute(
                "SELECT sequence, request FROM save_orders WHERE annotation_id = ? AND "
                "client = ?", (old[3], sent.client)).fetchone()
            if stored is not None and stored[0] == sent.sequence:
                if stored[1] is not None and stored[1] != request:
                    raise ResendDiffersError(
                        f"Save {sent.sequence} of this page was applied already, with "
                        "other content: a resend repeats its request; give another save "
                        "a higher sequence", item_id=key, status=old[0])
                # The same request again (a retry below the page): it was applied.
                return _annotation(conn.execute(
                    f"SELECT {_ANNOTATION_COLUMNS} FROM annotations a"
                    " JOIN items i ON i.id = a.item_id WHERE a.id = ?", (old[3],)).fetchone())
        # A first save from a page that already saved this annotation (its answer was
        # lost) is that page's edit, not a label from another tab or window.
        if only_new and old is not None and stored is None:
            raise AlreadyAnnotatedError(
                "You have annotated this item already (in another tab or window?): your "
                "annotation is kept; change it from your history",
                item_id=key, status=old[0])
        if stored is not None and stored[0] > sent.sequence:
            raise StaleSaveError(
                "A later save of this item from the same page is stored already: this "
                "earlier one, delayed, is not applied", item_id=key, status=old[0])
        had_lease = conn.execute(
            "DELETE FROM leases WHERE item_id = ? AND annotator = ?", (item_id, user)
        ).rowcount
        was = Status(old[0]) if old else None
        label_id = old[2] if was is Status.LABELED else None

        # An open slot is consumed by a lease or a LABELED annotation; give back the
        # lease's slot, then take one for the label if it is new.
        open_delta = 1 if had_lease else 0
        labeled_delta = 0
        if was is Status.LABELED:
            self._bump_classes(conn, json.loads(old[1]), -1)
        if status is Status.LABELED:
            self._bump_classes(conn, classes, +1)
            if restored_label_id is not None:
                label_id = restored_label_id
                conn.execute(
                    "UPDATE counters SET value = max(value, ?) WHERE name = 'label_id'",
                    (label_id,),
                )
            if was is not Status.LABELED:
                labeled_delta = 1
                if restored_label_id is None:
                    self._bump(conn, "label_id", 1)
                    label_id = self._counter(conn, "label_id")
        else:
            label_id = None
            if was is Status.LABELED:
                labeled_delta = -1
        open_delta -= labeled_delta
        if open_delta or labeled_delta:
            conn.execute(
                "UPDATE items SET open = open + ?, labeled = labeled + ? WHERE id = ?",
                (open_delta, labeled_delta, item_id),
            )
        now_labeled = labeled + labeled_delta
        if (0 < labeled < needed) != (0 < now_labeled < needed):  # started, or no more
            conn.execute(f"UPDATE items SET qorder = {_QORDER_SQL} WHERE id = ?",
                         (_STARTED, _UNSCORED, item_id))
        now_complete = labeled + labeled_delta >= needed
        self._bump(conn, "complete", int(now_complete) - int(labeled >= needed))
        if was is not status:
            self._bump(conn, status.value.lower(), 1)
            self._bump_user(conn, user, status, 1)
            if was is not None:
                self._bump(conn, was.value.lower(), -1)
                self._bump_user(conn, user, was, -1)
        saved = conn.execute(
            "INSERT INTO annotations (item_id, annotator, status, label, classes, label_id,"
            " comment, session, created_at, updated_at, duration_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, coalesce(?, ''), ?, ?, ?, ?)"
            " ON CONFLICT (item_id, annotator) DO UPDATE SET status = excluded.status,"
            " label = excluded.label, classes = excluded.classes,"
            " label_id = excluded.label_id, comment = coalesce(?, annotations.comment),"
            # An edited label keeps the session it was first given: the every-n trigger
            # counts new labels of a session, and a correction is not a new label.
            " session = CASE WHEN annotations.status = 'LABELED'"
            "   AND excluded.status = 'LABELED' THEN annotations.session"
            "   ELSE excluded.session END, updated_at = excluded.updated_at,"
            " duration_ms = CASE WHEN excluded.duration_ms IS NULL"
            "   THEN annotations.duration_ms"
            "   ELSE coalesce(annotations.duration_ms, 0) + excluded.duration_ms END"
            " RETURNING id, created_at, duration_ms, comment, session",
            (item_id, user, status.value, label, json.dumps(list(classes)), label_id,
             comment, session, now, now, duration_ms, comment),
        ).fetchone()
        if log_change:
            conn.execute("INSERT INTO changes (annotation_id) VALUES (?)", (saved[0],))
        if sent is not None:
            conn.execute(
                "INSERT INTO save_orders (annotation_id, client, sequence, request) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (annotation_id, client) DO UPDATE SET "
                "sequence = excluded.sequence, request = excluded.request",
                (saved[0], sent.client, sent.sequence, request))
        return Annotation(
            id=saved[0], item_key=key, annotator=user, status=status, label=label,
            label_id=label_id, comment=saved[3], session=saved[4], created_at=saved[1],
            updated_at=now, duration_ms=saved[2],
        )

    def save_label(self, user: str, key: str, label: str, classes: Sequence[str], *,
                   comment: str | None = None, duration_ms: int | None = None,
                   session: int = 0, now: float | None = None,
                   only_new: bool = False, sent: SaveOrder | None = None) -> Annotation:
        return self._save(user, key, Status.LABELED, label, classes, comment, duration_ms,
                          session, now, only_new, sent)

    def save_skip(self, user: str, key: str, *, comment: str | None = None,
                  duration_ms: int | None = None, session: int = 0,
                  now: float | None = None, only_new: bool = False,
                  sent: SaveOrder | None = None) -> Annotation:
        return self._save(user, key, Status.SKIPPED, None, (), comment, duration_ms, session,
                          now, only_new, sent)

    def restore(self, annotations: Iterable[Annotation],
                classes_of: Callable[[Annotation], Sequence[str]], *,
                batch_size: int = 2000) -> int:
        """Replay annotations read back from a host's datasets (oldest first), keeping
        their label ids, dates and sessions; later rows for the same (item, annotator)
        replace earlier ones. Unknown items are ignored. Returns how many were applied."""
        applied = 0
        batch: list[Annotation] = []

        def flush() -> int:
            done = 0
            with self._write() as conn:
                for a in batch:
                    try:
                        classes = classes_of(a) if a.status is Status.LABELED else ()
                        self._apply(conn, a.annotator, a.item_key, a.status, a.label,
                                    classes, a.comment, a.duration_ms, a.session,
                                    a.updated_at, a.label_id, log_change=False)
                        done += 1
                    except NotFoundError:
                        continue
            batch.clear()
            return done

        for annotation in annotations:
            batch.append(annotation)
            if len(batch) >= batch_size:
                applied += flush()
        if batch:
            applied += flush()
        return applied

    def reserve_label_ids(self, highest: int) -> None:
        """Make every new label id greater than ``highest`` (ids used by rows this store
        cannot map to an item, e.g. 4.x rows with old hashed ids)."""
        with self._write() as conn:
            conn.execute("UPDATE counters SET value = max(value, ?) WHERE name = 'label_id'",
                         (int(highest),))

    def renumber_label(self, user: str, key: str) -> int | None:
        """Give ``user``'s label of item ``key`` the next new label id (another store gave
        its id meanwhile); returns it, None when that annotation is no label."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT a.id FROM annotations a JOIN items i ON i.id = a.item_id "
                "WHERE i.key = ? AND a.annotator = ? AND a.label_id IS NOT NULL",
                (key, user)).fetchone()
            if row is None:
                return None
            self._bump(conn, "label_id", 1)
            new = self._counter(conn, "label_id")
            conn.execute("UPDATE annotations SET label_id = ? WHERE id = ?", (new, row[0]))
            return new

    def changes(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, Annotation]]:
        """Saved annotations in save order after change ``after`` (an outbox for hosts
        that mirror labels elsewhere, and a counter of new labels for retraining)."""
        rows = self._conn().execute(
            f"SELECT c.seq, {_ANNOTATION_COLUMNS} FROM changes c "
            "JOIN annotations a ON a.id = c.annotation_id JOIN items i ON i.id = a.item_id "
            "WHERE c.seq > ? ORDER BY c.seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [(r[0], _annotation(r[1:])) for r in rows]

    def last_change(self) -> int:
        """The sequence number of the newest change (0 when none)."""
        row = self._conn().execute("SELECT max(seq) FROM changes").fetchone()
        return row[0] or 0

    def last_label_id(self) -> int:
        """The highest label id given so far (0 when none)."""
        return self._counter(self._conn(), "label_id")

    def get_annotation(self, user: str, key: str) -> Annotation | None:
        row = self._conn().execute(
            f"SELECT {_ANNOTATION_COLUMNS} FROM annotations a JOIN items i ON i.id = a.item_id"
            " WHERE i.key = ? AND a.annotator = ?",
            (key, user),
        ).fetchone()
        return None if row is None else _annotation(row)

    def history(self, user: str, *, before: int | None = None, after: int | None = None,
                limit: int = 20) -> list[Annotation]:
        base = (f"SELECT {_ANNOTATION_COLUMNS} FROM annotations a "
                "JOIN items i ON i.id = a.item_id WHERE a.annotator = ? ")
        if after is not None:
            rows = self._conn().execute(base + "AND a.id > ? ORDER BY a.id LIMIT ?",
                                        (user, after, limit))
        elif before is not None:
            rows = self._conn().execute(base + "AND a.id < ? ORDER BY a.id DESC LIMIT ?",
                                        (user, before, limit))
        else:
            rows = self._conn().execute(base + "ORDER BY a.id DESC LIMIT ?", (user, limit))
        return [_annotation(r) for r in rows.fetchall()]

    def first_item_data(self) -> dict[str, Any] | None:
        """The data of the first item stored (its columns are every item's), or None."""
        row = self._conn().execute("SELECT data FROM items ORDER BY id LIMIT 1").fetchone()
        return None if row is None else json.loads(row[0])

    def iter_items(self, *, batch_size: int = 5000) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(key, data)`` of every item in the order they were added, in keyset pages."""
        last = 0
        while True:
            rows = self._conn().execute(
                "SELECT id, key, data FROM items WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_size)).fetchall()
            for _, key, data in rows:
                yield key, json.loads(data)
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def iter_annotations(self, *, status: Status | None = None,
                         batch_size: int = 5000) -> Iterator[Annotation]:
        for annotation, _ in self.iter_annotated_items(status=status, batch_size=batch_size):
            yield annotation

    def iter_annotated_items(self, *, status: Status | None = None,
                             batch_size: int = 5000) -> Iterator[tuple[Annotation, dict]]:
        """Annotations in id order with their item's data, read in keyset pages."""
        last = 0
        where = "" if status is None else "AND a.status = ? "
        while True:
            params: tuple[Any, ...] = (last,) + ((status.value,) if status else ()) + (
                batch_size,)
            rows = self._conn().execute(
                f"SELECT {_ANNOTATION_COLUMNS}, i.data FROM annotations a "
                f"JOIN items i ON i.id = a.item_id WHERE a.id > ? {where}"
                "ORDER BY a.id LIMIT ?",
                params,
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _annotation(row), json.loads(row[11])
            last = rows[-1][0]

    def stats(self, user: str | None = None) -> Stats:
        with self._read() as conn:
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
            per_class = dict(conn.execute(
                "SELECT name, n FROM class_counts WHERE n != 0 ORDER BY name").fetchall())
            mine: dict[str, int] = {"labeled": 0, "skipped": 0}
            if user is not None:
                for status, n in conn.execute(
                    "SELECT status, n FROM user_counts WHERE annotator = ?", (user,)
                ):
                    mine[status.lower()] = n
        # Items whose rows left the table keep their annotations (counted in labeled and
        # skipped) but are no items to label: not in total, nor complete (they need none).
        retired = counters["retired"]
        return Stats(
            total=counters["total"] - retired, complete=counters["complete"] - retired,
            labeled=counters["labeled"], skipped=counters["skipped"], per_class=per_class,
            mine=mine, retired=retired,
        )

    # -- accounts ---------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> str:
        check_account(name, role, password)
        token = new_token()
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO users (name, role, password_hash, token_hash, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, role, hash_password(password), hash_token(token), time.time()),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(f'A user named "{name}" exists already') from None
        return token

    def get_user(self, name: str) -> User:
        row = self._conn().execute(
            "SELECT name, role, created_at FROM users WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f'No user named "{name}"')
        return User(*row)

    def authenticate(self, name: str, password: str) -> User:
        row = self._conn().execute(
            "SELECT name, role, created_at, password_hash FROM users WHERE name = ?", (name,)
        ).fetchone()
        # An unknown name costs the same hashing as a wrong password: the answer's
        # timing must not tell which names exist.
        if not verify_password(password, None if row is None else row[3]):
            raise AuthenticationError("Wrong user name or password")
        return User(row[0], row[1], row[2])

    def set_role(self, name: str, role: str) -> None:
        """Change an account's role; it applies to the account's next request."""
        if role not in ROLES:
            raise ValidationError(f"Unknown role {role!r}: expected one of {', '.join(ROLES)}")
        with self._write() as conn:
            if not conn.execute("UPDATE users SET role = ? WHERE name = ?",
                                (role, name)).rowcount:
                raise NotFoundError(f'No user named "{name}"')
            if ROLES.index(role) < ROLES.index("annotator"):
                self._release_all(conn, name)  # may label no more: others may have them

    def reset_user(self, name: str, password: str) -> str:
        """Give an account a new password and a new API token (returned), and end its
        sessions: what a leaked password or token calls for."""
        _check_password(password)
        token = new_token()
        with self._write() as conn:
            if not conn.execute(
                    "UPDATE users SET password_hash = ?, token_hash = ? WHERE name = ?",
                    (hash_password(password), hash_token(token), name)).rowcount:
                raise NotFoundError(f'No user named "{name}"')
            conn.execute("DELETE FROM sessions WHERE user_name = ?", (name,))
        return token

    def annotation_count(self, annotator: str) -> int:
        """How many annotations (labels and skips) carry this annotator's name."""
        row = self._conn().execute(
            "SELECT coalesce(sum(n), 0) FROM user_counts WHERE annotator = ?", (annotator,)
        ).fetchone()
        return int(row[0])

    def delete_user(self, name: str) -> None:
        """Remove an account and end its sessions; its annotations stay."""
        with self._write() as conn:
            if not conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
                raise NotFoundError(f'No user named "{name}"')
            conn.execute("DELETE FROM sessions WHERE user_name = ?", (name,))
            self._release_all(conn, name)

    @staticmethod
    def _release_all(conn: sqlite3.Connection, user: str) -> None:
        """Give back every item reserved for ``user``: others are served them at once,
        not when the reservations expire."""
        conn.execute("UPDATE items SET open = open + 1 WHERE id IN "
                     "(SELECT item_id FROM leases WHERE annotator = ?)", (user,))
        conn.execute("DELETE FROM leases WHERE annotator = ?", (user,))

    def user_for_token(self, token: str) -> User:
        row = self._conn().execute(
            "SELECT name, role, created_at FROM users WHERE token_hash = ?", (hash_token(token),)
        ).fetchone()
        if row is None:
            raise AuthenticationError("Unknown API token")
        return User(*row)

    def count_users(self) -> int:
        return self._conn().execute("SELECT count(*) FROM users").fetchone()[0]

    def list_users(self) -> list[User]:
        return [User(*r) for r in self._conn().execute(
            "SELECT name, role, created_at FROM users ORDER BY name").fetchall()]

    # -- login sessions ---------------------------------------------------------------
    @staticmethod
    def _insert_session(conn: sqlite3.Connection, user: str, *, lifetime: float,
                        now: float) -> tuple[str, str]:
        """A new login session: ``(session id, CSRF token)``. Only a hash of the id is
        kept, so a copy of the store opens no session. Expired ones are purged."""
        session_id, csrf = new_token(), secrets.token_urlsafe(24)
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        conn.execute(
            "INSERT INTO sessions (id_hash, user_name, csrf, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (hash_token(session_id), user, csrf, now, now + lifetime),
        )
        return session_id, csrf

    def get_session(self, session_id: str, *,
                    now: float | None = None) -> tuple[User, str] | None:
        """The account of a live session (its role as it is now) and the session's CSRF
        token; None when the session is unknown, ended, expired or its account gone."""
        now = time.time() if now is None else now
        row = self._conn().execute(
            "SELECT u.name, u.role, u.created_at, s.csrf FROM sessions s "
            "JOIN users u ON u.name = s.user_name WHERE s.id_hash = ? AND s.expires_at > ?",
            (hash_token(session_id), now),
        ).fetchone()
        return None if row is None else (User(row[0], row[1], row[2]), row[3])

    def end_session(self, session_id: str) -> None:
        """Forget a session (logout); unknown ids are ignored."""
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (hash_token(session_id),))

    # -- login attempts ---------------------------------------------------------------
    def begin_login(self, keys: Sequence[tuple[str, int]], *, window: float,
                    now: float | None = None) -> tuple[int, ...]:
        """Count a login attempt against each ``(key, limit)`` (a name, an address)
        before its password is checked; returns the attempt for ``finish_login``.

        The count and the record are one write transaction: checking first and
        recording after the slow password hash let parallel guesses all pass. An
        attempt counts as failed until ``finish_login`` removes it. Raises
        TooManyAttemptsError when a key had ``limit`` attempts within ``window`` s, until
        the oldest of them is ``window`` old; older attempts are purged."""
        now = time.time() if now is None else now
        wait, attempt = 0.0, ()
        with self._write() as conn:
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (now - window,))
            for key, limit in keys:
                row = conn.execute(
                    "SELECT at FROM login_failures WHERE key = ? AND at > ? "
                    "ORDER BY at DESC LIMIT 1 OFFSET ?",
                    (key, now - window, max(limit, 1) - 1),
                ).fetchone()
                if row is not None:
                    wait = max(wait, row[0] + window - now)
            if wait <= 0:
                attempt = tuple(
                    conn.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)",
                                 (key, now)).lastrowid or 0
                    for key, _ in keys)
        if wait > 0:  # raised after the commit: the purge above stays done
            seconds = math.ceil(wait)
            raise TooManyAttemptsError(
                f"Too many failed sign-ins for this name or from this address: try again "
                f"in {math.ceil(seconds / 60)} min", retry_after=seconds)
        return attempt

    def finish_login(self, attempt: Sequence[int], user: str, *, lifetime: float,
                     forget: Iterable[str] = (), ending: str | None = None,
                     now: float | None = None) -> tuple[str, str]:
        """A successful login: in one transaction, remove the attempt (it did not fail)
        and the failures of the ``forget`` keys, end the session ``ending`` (the one the
        browser had) and open a new one; returns ``(session id, CSRF token)``."""
        now = time.time() if now is None else now
        with self._write() as conn:
            conn.executemany("DELETE FROM login_failures WHERE rowid = ?",
                             [(rowid,) for rowid in attempt])
            conn.executemany("DELETE FROM login_failures WHERE key = ?",
                             [(key,) for key in forget])
            if ending:
                conn.execute("DELETE FROM sessions WHERE id_hash = ?", (hash_token(ending),))
            return self._insert_session(conn, user, lifetime=lifetime, now=now)
