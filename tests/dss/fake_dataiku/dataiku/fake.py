"""Control panel of the fake DSS: not part of the ``dataiku`` API.

Tests call :func:`reset` (the ``dss`` fixture does) to get a fresh :class:`FakeDSS` rooted in
a temporary directory, then create datasets, folders, saved models, users and component
configs on it. Everything the fake ``dataiku`` package does goes through the current
instance, so tests can look at what was written:

- each dataset is a directory of CSV part files, one per write session (as managed
  file-based datasets store one file per written partition/session); an overwrite
  replaces every part, an append adds one;
- ``writes`` / ``reads`` log every write session and every read, to count them.

A recipe test, for example::

    def test_sampler(dss):                       # fixture from tests/dss/conftest.py
        dss.create_dataset("pool", pd.DataFrame({"x": [1, 2]}))
        dss.create_dataset("queries")            # an output: no schema yet
        dss.add_model("model", ["a", "b"], [ModelVersion("v1", proba_fn, active=True)])
        dss.recipe_inputs = {"saved_model": ["model"], "unlabeled_samples": ["pool"]}
        dss.recipe_outputs = {"queries": ["queries"]}
        dss.recipe_config = {"strategy": "confidence"}
        runpy.run_path("custom-recipes/active-learning-query-sampler/recipe.py")
        assert dss.table("queries")["uncertainty"].between(0, 1).all()
"""

from __future__ import annotations

import copy
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

# pandas dtype -> DSS storage type, as ``get_schema_from_df`` maps them.
_PANDAS_TO_DSS = {
    "int64": "bigint", "Int64": "bigint", "int32": "int", "Int32": "int",
    "int16": "smallint", "int8": "tinyint", "float64": "double", "float32": "float",
    "bool": "boolean", "boolean": "boolean",
}
INT_TYPES = {"tinyint", "smallint", "int", "bigint"}


def dss_type(dtype: Any) -> str:
    """The DSS column type the Python API gives to a pandas dtype."""
    name = str(dtype)
    if name.startswith("datetime64"):
        return "date"
    return _PANDAS_TO_DSS.get(name, "string")


@dataclass
class WriteEvent:
    """One write session: which dataset, append or overwrite, how many rows."""

    dataset: str
    mode: str
    rows: int


@dataclass
class DatasetState:
    full_name: str
    path: Path
    dataset_type: str = "Filesystem"
    supports_append: bool = True
    schema: list[dict[str, Any]] = field(default_factory=list)
    parts: int = 0


@dataclass
class FolderState:
    id: str
    name: str
    path: Path
    local: bool = False


@dataclass
class ModelVersion:
    """A saved-model version: ``proba(df) -> array (n, n_classes)``.

    - ``auc``: the version's ROC AUC, in its ``list_versions()`` snippet (where the 4.x
      plugin read it) and, for a two-class model, as the saved-model metric
      ``model_perf:AUC`` (the key DSS's own scenario sample reads:
      ``get_performance_values()["AUC"]``);
    - ``metrics``: further saved-model metrics by DSS metric id (``"model_perf:F1"``);
    - ``snippet``: further keys of the ``list_versions()`` snippet;
    - ``drop_row_features``: features whose missing-value handling is "Drop rows"
      (``missing_handling: DROP_ROW``): the predictor leaves out rows where one is empty.
    - ``requires``: Python modules the version was trained with (its pickle imports
      them): ``get_predictor`` imports them in the running environment and fails as
      DSS does when one is missing (a visual ML code environment with XGBoost, say,
      and a plugin code environment without it). ``Model.get_predictor`` loads the
      version in the calling code environment
      (https://developer.dataiku.com/latest/api-reference/python/ml.html); the 4.x
      plugin's error text said it must be compatible with the model's.
    """

    version_id: str
    proba: Callable[[pd.DataFrame], np.ndarray]
    active: bool = False
    train_date: int = 0
    train_rows: int = 0
    auc: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    snippet: dict[str, Any] = field(default_factory=dict)
    drop_row_features: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass
class FireEvent:
    """One ``Trigger().fire(state, params)``."""

    state: str | None
    params: dict[str, Any] | None


@dataclass
class ModelState:
    id: str
    name: str
    classes: list[str]
    versions: list[ModelVersion]


class FakeDSS:
    """One fake DSS instance with one current project."""

    def __init__(self, root: Path, project_key: str = "LABELING") -> None:
        self.root = Path(root)
        self.project_key = project_key
        self.variables: dict[str, dict[str, dict[str, Any]]] = {}
        self.datasets: dict[str, DatasetState] = {}
        self.folders: dict[str, FolderState] = {}
        self.models: dict[str, ModelState] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.run_as = {"authIdentifier": "admin", "groups": ["administrators"]}
        self.webapp_config: dict[str, Any] = {}
        self.recipe_config: dict[str, Any] = {}
        self.trigger_config: dict[str, Any] = {}
        self.step_config: dict[str, Any] = {}
        self.plugin_config: dict[str, Any] = {}
        self.recipe_inputs: dict[str, list[str]] = {}
        self.recipe_outputs: dict[str, list[str]] = {}
        self.writes: list[WriteEvent] = []
        self.reads: list[str] = []
        self.fired: list[FireEvent] = []
        # What DSS keeps for a custom trigger: the state passed to its last fire(state=...)
        # (DKU_TRIGGER_STATE for the next evaluation) and its definition (DKU_TRIGGER).
        self.trigger_state: str | None = None
        self.trigger_definition: dict[str, Any] = {}
        self.active_writers: set[str] = set()

    # -- names ------------------------------------------------------------------------
    def full_name(self, name: str, project_key: str | None = None) -> str:
        if "." in name:
            return name
        return f"{project_key or self.project_key}.{name}"

    # -- datasets ---------------------------------------------------------------------
    def create_dataset(self, name: str, data: pd.DataFrame | None = None, *,
                       schema: list[dict[str, Any]] | None = None,
                       dataset_type: str = "Filesystem",
                       supports_append: bool = True) -> DatasetState:
        """An existing DSS dataset; ``data`` is written once (not logged as a write)."""
        full = self.full_name(name)
        state = DatasetState(full, self.root / "datasets" / full, dataset_type,
                             supports_append)
        state.path.mkdir(parents=True, exist_ok=True)
        self.datasets[full] = state
        if data is not None:
            state.schema = [{"name": str(c), "type": dss_type(data[c].dtype)}
                            for c in data.columns]
            self.store_rows(state, data, append=False)
        elif schema is not None:
            state.schema = copy.deepcopy(schema)
        return state

    def dataset(self, name: str, project_key: str | None = None) -> DatasetState:
        full = self.full_name(name, project_key)
        try:
            return self.datasets[full]
        except KeyError:
            raise Exception(f"Dataset {full} does not exist") from None

    def part_files(self, name: str) -> list[Path]:
        return sorted(self.dataset(name).path.glob("part-*.csv"))

    def writes_to(self, name: str) -> list[WriteEvent]:
        full = self.full_name(name)
        return [w for w in self.writes if w.dataset == full]

    def table(self, name: str) -> pd.DataFrame:
        """The dataset as ``get_dataframe()`` returns it, without logging a read."""
        return read_table(self.dataset(name))

    def store_rows(self, state: DatasetState, frame: pd.DataFrame, *, append: bool) -> None:
        """Commit one write session's rows (already in schema order)."""
        if not append:
            for part in state.path.glob("part-*.csv"):
                part.unlink()
        state.parts += 1
        part = state.path / f"part-{state.parts:05d}.csv"
        _to_csv(frame, state.schema).to_csv(part, header=False, index=False)

    # -- folders, models, users ---------------------------------------------------------
    def create_folder(self, folder_id: str, name: str | None = None, *,
                      files: dict[str, bytes] | None = None, local: bool = False) -> FolderState:
        path = self.root / "folders" / self.project_key / folder_id
        path.mkdir(parents=True, exist_ok=True)
        state = FolderState(folder_id, name or folder_id, path, local)
        self.folders[folder_id] = state
        for rel, content in (files or {}).items():
            target = path / rel.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return state

    def folder(self, lookup: str) -> FolderState:
        lookup = lookup.split(".", 1)[1] if "." in lookup else lookup
        for state in self.folders.values():
            if lookup in (state.id, state.name):
                return state
        raise Exception(f"Managed folder {lookup} does not exist")

    def add_model(self, model_id: str, classes: Iterable[str],
                  versions: Iterable[ModelVersion], name: str | None = None) -> ModelState:
        state = ModelState(model_id, name or model_id, [str(c) for c in classes],
                           list(versions))
        self.models[model_id] = state
        return state

    def model(self, lookup: str) -> ModelState:
        lookup = lookup.split(".", 1)[1] if "." in lookup else lookup
        for state in self.models.values():
            if lookup in (state.id, state.name):
                return state
        raise Exception(f"Saved model {lookup} does not exist")

    def add_user(self, login: str, *, groups: Iterable[str] = (), cookie: str) -> None:
        """A DSS user whose browser sends ``cookie`` as a cookie value."""
        self.users[cookie] = {"authIdentifier": login, "groups": list(groups)}

    def project_variables(self, project_key: str | None = None) -> dict[str, dict]:
        key = project_key or self.project_key
        return self.variables.setdefault(key, {"standard": {}, "local": {}})


def _to_csv(frame: pd.DataFrame, schema: list[dict[str, Any]]) -> pd.DataFrame:
    """Values as DSS stores them: dates in ISO 8601 UTC, the rest as text."""
    out = frame.copy()
    for col in schema:
        if col["type"] == "date" and col["name"] in out.columns:
            values = pd.to_datetime(out[col["name"]], errors="coerce", utc=True)
            out[col["name"]] = values.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    return out


def _raw_table(state: DatasetState, columns: list[str] | None
               ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The stored text of the part files, parsed positionally against the current
    schema as DSS streams it; with ``columns``, only those (an unknown one fails)."""
    if not state.schema:
        raise Exception(f"No column in schema of {state.full_name}."
                        " Have you set up the schema for this dataset?")
    names = [c["name"] for c in state.schema]
    parts = sorted(state.path.glob("part-*.csv"))
    frames = [pd.read_csv(p, header=None, names=names, dtype=object, keep_default_na=True)
              for p in parts if p.stat().st_size > 0]
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=names)
    schema = state.schema
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise Exception(f"Columns {missing} not in {state.full_name}")
        raw = raw[list(columns)]
        schema = [c for c in state.schema if c["name"] in columns]
    return raw, schema


def _typed(raw: pd.DataFrame, schema: list[dict[str, Any]], *, infer_with_pandas: bool,
           parse_dates: bool, use_nullable_integers: bool,
           float_precision: str | None = None) -> pd.DataFrame:
    """One frame of stored text as the dataiku package returns it: with
    ``infer_with_pandas``, pandas guesses the types from these rows alone (dtype=None in
    ``pd.read_table``); otherwise the schema types decide. Decimals go through pandas'
    C parser either way, whose default (``float_precision=None``) is not exact for
    every 17-digit text: "round_trip" is."""
    names = list(raw.columns)
    if infer_with_pandas:
        # Re-parse the text as pandas reads DSS's stream: let it guess the types.
        buffer = io.StringIO()
        raw.to_csv(buffer, header=False, index=False)
        buffer.seek(0)
        frame = (pd.read_csv(buffer, header=None, names=names,
                             float_precision=float_precision) if len(raw)
                 else pd.DataFrame(columns=names))
        frame.index = raw.index
    else:
        frame = raw.copy()
        for col in schema:
            name, kind = col["name"], col["type"]
            if kind in INT_TYPES:
                frame[name] = frame[name].astype("float64").astype(
                    "Int64" if use_nullable_integers else "int64")
            elif kind in ("float", "double"):
                frame[name] = _parsed_decimals(frame[name], float_precision)
            elif kind == "boolean":
                frame[name] = frame[name].map({"true": True, "false": False, "True": True,
                                               "False": False})
    if parse_dates:
        for col in schema:
            if col["type"] == "date":
                frame[col["name"]] = pd.to_datetime(frame[col["name"]], errors="coerce",
                                                    utc=True)
    return frame


def _parsed_decimals(column: pd.Series, float_precision: str | None) -> pd.Series:
    """A column of stored text typed double by the schema, as pandas' C parser reads it."""
    if not len(column):
        return column.astype("float64")
    # An empty cell as a quoted empty field: a blank last line would be no row at all.
    text = "v\n" + "\n".join('""' if pd.isna(v) else str(v) for v in column)
    parsed = pd.read_csv(io.StringIO(text), dtype="float64",
                         float_precision=float_precision)["v"]
    return pd.Series(parsed.to_numpy(), index=column.index, name=column.name)


def read_table(state: DatasetState, *, infer_with_pandas: bool = True,
               parse_dates: bool = True, use_nullable_integers: bool = False,
               columns: list[str] | None = None,
               float_precision: str | None = None) -> pd.DataFrame:
    """The whole dataset as ``get_dataframe()`` reads it (one ``pd.read_table``)."""
    raw, schema = _raw_table(state, columns)
    return _typed(raw, schema, infer_with_pandas=infer_with_pandas, parse_dates=parse_dates,
                  use_nullable_integers=use_nullable_integers,
                  float_precision=float_precision)


def read_chunks(state: DatasetState, *, chunksize: int, infer_with_pandas: bool = True,
                parse_dates: bool = True, columns: list[str] | None = None,
                limit: int | None = None,
                float_precision: str | None = None) -> Iterator[pd.DataFrame]:
    """The dataset as ``iter_dataframes()`` reads it: ``pd.read_table(chunksize=...)``,
    so with ``infer_with_pandas`` each chunk's types are guessed from its own rows (a
    chunk of digit-only ids comes back as numbers, the next one as text), and the row
    numbers of the index continue from chunk to chunk."""
    raw, schema = _raw_table(state, columns)
    if limit is not None:
        raw = raw.head(limit)
    # pandas' chunked reader gives one empty frame, with the columns, for no rows.
    for start in range(0, max(len(raw), 1), chunksize):
        yield _typed(raw.iloc[start:start + chunksize], schema,
                     infer_with_pandas=infer_with_pandas, parse_dates=parse_dates,
                     use_nullable_integers=False, float_precision=float_precision)


_STATE: FakeDSS | None = None


def reset(root: Path, project_key: str = "LABELING") -> FakeDSS:
    """Start a fresh fake DSS; returns it."""
    global _STATE
    if _STATE is not None and _STATE.root == Path(root) and Path(root).exists():
        shutil.rmtree(Path(root) / "datasets", ignore_errors=True)
    _STATE = FakeDSS(Path(root), project_key)
    return _STATE


def state() -> FakeDSS:
    """The current fake DSS (``reset`` must have been called)."""
    if _STATE is None:
        raise RuntimeError("fake dataiku: call dataiku.fake.reset(tmp_path) first")
    return _STATE
