"""The DSS webapp backend: settings -> labeling project -> ``/api`` on DSS's Flask app.

``backend.py`` calls :func:`setup_webapp` with the ``app`` DSS injects. Start-up:

1. validate the webapp settings (4.x names kept);
2. open the local store, a cache file under the system temp dir keyed by the project and
   the settings' datasets (no DSS folder needed; a new machine just rebuilds it); a save
   is acknowledged once committed there;
3. import the unlabeled rows as items (chunked); on a new store, restore the annotations
   from the metadata dataset;
4. rank items by the queries dataset's ``uncertainty`` (unscored items after scored ones),
   again whenever the sampler's session number changes; a problem with the queries
   (rows matching no item, no ``uncertainty`` column, unreadable) leaves items unranked
   and is shown to the labelers among the ``/api/config`` warnings, next to the
   stopping warnings, until the next ranking;
5. flush changes left unwritten by a previous run, then keep flushing in the background.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import loop
from ..config import check_columns
from ..errors import ConfigError, LabelingError
from ..project import LabelingProject
from ..store.sqlite import SQLiteStore
from ..web.api import MAX_BODY_BYTES
from ..web.auth import HeaderAuthenticator
from . import datasets as dsio
from .auth import dss_authenticator
from .loop import StoppingWarnings
from .settings import DssSettings, parse_settings
from .sync import DatasetSync

log = logging.getLogger(__name__)

CACHE_ENV = "ML_ASSISTED_LABELING_CACHE_DIR"
PRIORITIES_SESSION = "dss.priorities_session"


def default_cache_dir() -> Path:
    """``<temp>/ml-assisted-labeling-<uid>``, private to the OS user running the backend
    (with user isolation, each DSS user's backends run as their own OS user)."""
    owner = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    base = Path(tempfile.gettempdir()) / f"ml-assisted-labeling-{owner}"
    base.mkdir(mode=0o700, exist_ok=True)
    if not hasattr(os, "getuid"):
        return base
    # The temp dir is shared: a folder of that name made by another user beforehand
    # would let them read or replace the label store. Only a real folder of ours will do.
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        private = Path(tempfile.mkdtemp(prefix=f"ml-assisted-labeling-{owner}-"))
        log.warning("%s is not a folder owned by this user: the label store goes to %s "
                    "instead (set %s to choose a folder)", base, private, CACHE_ENV)
        return private
    if info.st_mode & 0o077:
        os.chmod(base, 0o700)
        log.warning("%s was open to other users: made it private", base)
    return base


def cache_path(settings: DssSettings, project_key: str, *,
               cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the local store lives: ``<cache dir>/<project key>/<hash>.db``.

    The cache dir is ``$ML_ASSISTED_LABELING_CACHE_DIR`` or :func:`default_cache_dir`.
    The hash covers what changes item ids or output rows (datasets, label column, id
    column), so a changed setup starts from a fresh store rebuilt from the datasets.
    """
    chosen = cache_dir or os.environ.get(CACHE_ENV)
    base = Path(chosen) if chosen else default_cache_dir()
    identity = json.dumps({
        "project": project_key,
        "unlabeled": settings.unlabeled, "labels": settings.labels_ds,
        "metadata": settings.metadata_ds, "queries": settings.queries_ds,
        "label_col": settings.config.label_col_name, "id_column": settings.config.id_column,
    }, sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    safe_key = "".join(c if c.isalnum() or c in "-_" else "_" for c in project_key)
    return base / safe_key / f"{digest}.db"


class SessionVariable:
    """The sampler's session number (a project variable), re-read at most every ``ttl``
    seconds by requests: it is written to each annotation and changes rarely. The
    background round re-reads it every second (:meth:`refresh`), so labels saved just
    after a sampler run count in its session, as the every-n trigger expects."""

    def __init__(self, queries_name: str | None, read_variables: Callable[[], Mapping],
                 *, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = loop.session_variable(queries_name) if queries_name else None
        self._read = read_variables
        self.ttl = ttl
        self._clock = clock
        self._value = 0
        self._expires = -1.0
        self._failing = False
        self._lock = threading.Lock()

    def __call__(self) -> int:
        if self.name is None:
            return 0
        with self._lock:
            if self._clock() < self._expires:
                return self._value
            try:
                # Read as the sampler and the trigger read it: a label's session is
                # the one the trigger counts.
                self._value = loop.session_number(loop.variable_value(self._read(),
                                                                      self.name))
                self._failing = False
            except Exception as exc:  # keep the last value if DSS cannot answer
                if not self._failing:  # said once while it repeats
                    log.warning("Could not read the project variable %s: %s", self.name,
                                exc)
                self._failing = True
            self._expires = self._clock() + self.ttl
            return self._value

    def refresh(self) -> int:
        """Read the variable now, whatever the age of the cached value."""
        with self._lock:
            self._expires = -1.0
        return self()


class QueueWarnings:
    """What went wrong with the queries dataset at the last ranking, for the labelers
    (``/api/config`` warnings); replaced at each ranking."""

    def __init__(self) -> None:
        self._value: tuple[str, ...] = ()

    def set(self, problems: list[str]) -> None:
        self._value = tuple(problems)

    def __call__(self) -> list[str]:
        return list(self._value)


@dataclass
class QueueLoad:
    """What :func:`load_queue` did: new items, items ranked, problems for the labelers."""

    added: int
    scored: int
    problems: list[str] = field(default_factory=list)


@dataclass
class DssWebapp:
    """Everything a running DSS labeling backend holds."""

    settings: DssSettings
    project: LabelingProject
    auth: HeaderAuthenticator
    sync: DatasetSync
    session: SessionVariable
    queue_warnings: QueueWarnings = field(default_factory=QueueWarnings)

    def refresh_queue(self, *, force: bool = False, pause: bool = True) -> bool:
        """Re-import new unlabeled rows and re-rank by the queries dataset when the
        sampler ran since the last ranking (its session number changed). ``pause``
        (off before the backend serves): let labelers' saves in between (see
        ``SQLiteStore.set_priorities``)."""
        current = self.session()
        store = self.project.store
        if not force and store.get_meta(PRIORITIES_SESSION) == str(current):
            return False
        import dataiku

        done = load_queue(self.project, self.settings, dataiku.Dataset,
                          chunksize=self.sync.chunksize, session=current, pause=pause)
        self.queue_warnings.set(done.problems)
        store.set_meta(PRIORITIES_SESSION, str(current))
        return True

    def close(self) -> None:
        self.sync.stop()
        store = self.project.store
        if isinstance(store, SQLiteStore):
            store.close()


def load_queue(project: LabelingProject, settings: DssSettings,
               open_dataset: Callable[[str], Any], *, chunksize: int,
               session: int | None = None, pause: bool = True) -> QueueLoad:
    """Import the unlabeled rows (new ones only) and the queries' priorities (those of
    the sampler's ``session`` when the queries hold several).

    Labeling works without ranking: a problem with the queries dataset is logged and
    returned in :attr:`QueueLoad.problems` (in the labelers' words) instead of raised.
    """
    store, config = project.store, project.config
    unlabeled = open_dataset(settings.unlabeled)
    try:
        added = store.add_items(dsio.iter_items(unlabeled, config, chunksize=chunksize),
                                annotators_per_item=config.annotators_per_item, pause=pause)
    except LabelingError as exc:
        setting = "Id column" if config.id_column else "Unlabeled data"
        raise ConfigError(f'Setting "{setting}": {exc.message}', setting=setting) from None
    except Exception as exc:
        raise dsio.read_error("unlabeled dataset", unlabeled, exc) from None
    scored = 0
    problems: list[str] = []
    if settings.queries_ds:
        queries = open_dataset(settings.queries_ds)
        columns = dsio.names(dsio.read_schema(unlabeled))
        unreadable: dict[str, Any] = {}
        try:
            done = store.set_priorities(
                dsio.iter_priorities(queries, config, columns, chunksize=chunksize,
                                     unreadable=unreadable, session=session),
                reset_others=True, to_duplicates=config.id_column is None, pause=pause)
            scored = done.items
            if unreadable:
                count = unreadable["count"]
                rows = "1 row" if count == 1 else f"{count} rows"
                problems.append(
                    f"{rows} of the queries dataset {queries.full_name} "
                    f"{'has' if count == 1 else 'have'} an uncertainty that is not a "
                    f"number (such as {str(unreadable['example'])[:40]!r}): "
                    f"{'it ranks' if count == 1 else 'they rank'} no item. Run the query "
                    "sampler again")
            if done.unmatched:
                rows = ("1 row of the queries dataset {q} matches" if done.unmatched == 1
                        else f"{done.unmatched} rows of the queries dataset {{q}} match")
                problems.append(
                    rows.format(q=queries.full_name) + f" no row of {unlabeled.full_name} "
                    "(made from another dataset, or rows changed since): the items they "
                    "stood for are not ranked. Run the query sampler on "
                    f"{unlabeled.full_name} again")
        except LabelingError as exc:
            problems.append(f"Items are not ranked: {exc.message}")
        except Exception as exc:
            log.warning("Could not read the queries dataset %s: %s", queries.full_name, exc)
            problems.append(f"Items are not ranked: could not read the queries dataset "
                            f"{queries.full_name} (the backend log has the details)")
    if not store.stats().total:
        problems.insert(0, f"The unlabeled dataset {unlabeled.full_name} has no rows: "
                           "nothing to label (build it, then restart this webapp)")
    for problem in problems:
        log.warning("%s", problem)
    log.info("Queue: %d new items, %d ranked by uncertainty", added, scored)
    return QueueLoad(added, scored, problems)


def open_webapp(raw_config: Mapping[str, Any] | None = None, *,
                cache_dir: str | os.PathLike[str] | None = None, background: bool = True,
                chunksize: int = dsio.POOL_CHUNK, auth_info: Any = None,
                sync_options: Mapping[str, Any] | None = None) -> DssWebapp:
    """Build the labeling project of a DSS webapp from its settings (see module doc)."""
    import dataiku

    if raw_config is None:
        from dataiku.customwebapp import get_webapp_config

        raw_config = get_webapp_config()
    settings = parse_settings(raw_config)
    config = settings.config
    unlabeled = dataiku.Dataset(settings.unlabeled)
    schema = dsio.read_schema(unlabeled)
    if not schema:
        raise ConfigError(f'Setting "Unlabeled data": the dataset {unlabeled.full_name} has '
                          "no columns; build it first", setting="Unlabeled data")
    columns = dsio.names(schema)
    check_columns(config, columns)
    for name in (config.label_col_name, f"{config.label_col_name}_id"):
        if name in columns:
            raise ConfigError(
                f'Setting "Labels column": the unlabeled data already has a '
                f'column "{name}"; choose another name (currently '
                f'"{config.label_col_name}")', setting="Labels column")

    path = cache_path(settings, unlabeled.project_key, cache_dir=cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)  # the cache is ours to make
    store = SQLiteStore(path)
    session = SessionVariable(settings.queries_ds,
                              lambda: dataiku.Project().get_variables())
    # Read from the metrics variable the labeling-metrics step writes (F-5).
    stopping = StoppingWarnings(settings.metadata_ds,
                                lambda: dataiku.Project().get_variables(),
                                queries_name=settings.queries_ds)
    queue_warnings = QueueWarnings()
    project = LabelingProject(
        config, store, session=session, warnings=queue_warnings,
        ranked_session=lambda: int(store.get_meta(PRIORITIES_SESSION, "0") or 0))
    project.add_warnings(stopping)
    plugin_outputs = {name: kind for name in (settings.labels_ds, settings.metadata_ds)
                      if (kind := dsio.plugin_type(dataiku.Dataset(name),
                                                   dataiku.api_client()))}
    for name, kind in plugin_outputs.items():
        log.warning("%s is a plugin dataset (%s), whose connector may not append: the "
                    "labels and metadata datasets are rewritten whole at each write, "
                    "which is slower than appending; a file-based or SQL dataset appends",
                    name, kind)
    sync = DatasetSync(project, open_dataset=dataiku.Dataset, rewrite_whole=bool(plugin_outputs),
                       labels_name=settings.labels_ds, metadata_name=settings.metadata_ds,
                       unlabeled_schema=schema, unlabeled_name=settings.unlabeled,
                       lock_path=f"{path}.dss-sync.lock", chunksize=chunksize,
                       **dict(sync_options or {}))
    project.add_warnings(sync.warnings)
    webapp = DssWebapp(settings, project, dss_authenticator(settings, auth_info), sync,
                       session, queue_warnings)

    try:
        _start(webapp)
    except BaseException:
        store.close()
        raise

    seen = [session()]  # the session the last round saw (the cache may move it between)

    def refresh() -> None:
        now = session.refresh()
        if now != seen[0]:
            seen[0] = now
            stopping.expire()
        webapp.refresh_queue()

    sync.on_tick = refresh
    if background:
        sync.start()
    log.info("Labeling backend ready: %s, store %s", store.stats().to_dict(), path)
    return webapp


def _start(webapp: DssWebapp) -> None:
    """Queue, restore, schemas, leftovers: the start-up steps that read and write DSS."""
    store, sync, config = webapp.project.store, webapp.sync, webapp.project.config
    webapp.refresh_queue(force=True, pause=False)  # before the backend serves
    if store.get_meta("annotators_per_item") != str(config.annotators_per_item):
        store.set_annotators_per_item(config.annotators_per_item)
        store.set_meta("annotators_per_item", str(config.annotators_per_item))
    if not sync.restored:
        if store.last_change() == 0:
            sync.restore()  # a new store (new machine, lost cache): read the datasets back
        else:
            sync.mark_restored()
    sync.prepare()
    try:
        # Whatever a previous run acknowledged but did not write goes first.
        sync.flush()
        if sync.compaction_due():
            sync.compact()
    except Exception:
        log.exception("Could not write pending labels to DSS yet; the background "
                      "thread will retry")


def _error_blueprint(error: LabelingError) -> Any:
    from flask import Blueprint, jsonify

    blueprint = Blueprint("labeling_api_unavailable", __name__)

    @blueprint.route("/", defaults={"_path": ""}, methods=["GET", "POST"])
    @blueprint.route("/<path:_path>", methods=["GET", "POST"])
    def unavailable(_path: str):
        return jsonify(error.to_dict()), 503

    return blueprint


def setup_webapp(app: Any, raw_config: Mapping[str, Any] | None = None,
                 **options: Any) -> DssWebapp | None:
    """Register the labeling API under ``/api`` on the Flask ``app`` DSS injects.

    If the settings or datasets cannot work, every ``/api`` call answers a JSON error
    with the user-facing message (the UI shows it) instead of the backend failing.
    """
    from ..web.api import create_api_blueprint, install_error_handlers, install_json

    # Flask's defaults hold the key (None: no limit), so setdefault would keep None.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    install_json(app)
    install_error_handlers(app)
    try:
        webapp = open_webapp(raw_config, **options)
    except LabelingError as exc:
        log.error("The labeling webapp cannot start: %s", exc.message)
        app.register_blueprint(_error_blueprint(exc), url_prefix="/api")
        return None
    except Exception:
        log.exception("The labeling webapp cannot start")
        error = LabelingError("The labeling backend could not start: the backend log has "
                              "the details")
        app.register_blueprint(_error_blueprint(error), url_prefix="/api")
        return None
    app.register_blueprint(create_api_blueprint(webapp.project, webapp.auth),
                           url_prefix="/api")
    return webapp
