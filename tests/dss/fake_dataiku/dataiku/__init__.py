"""A test double of the internal ``dataiku`` package, limited to what the plugin uses.

Signatures and behaviour follow the public documentation; each class cites its page. The
state lives in :mod:`dataiku.fake` (tests set it up through the ``dss`` fixture).
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import shutil
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
import pandas as pd
from dataikuapi.utils import DataikuException

from . import fake
from .fake import dss_type, read_table

__all__ = ["Dataset", "Folder", "Model", "Project", "api_client", "default_project_key"]


def default_project_key() -> str:
    """The key of the project the code runs in.

    https://developer.dataiku.com/latest/api-reference/python/projects.html
    """
    return fake.state().project_key


# -- datasets ---------------------------------------------------------------------------
class DatasetWriter:
    """Handle to write a dataset: a context manager; rows are committed on ``close()``.

    Only one writer may be active per dataset, and ``spec_item["appendMode"]`` of the
    dataset, read when the writer is created, decides between appending and overwriting
    (the dataiku package's ``DatasetWriter``; see "Chunked reading and writing" on
    https://developer.dataiku.com/latest/concepts-and-examples/datasets/datasets-data.html).
    Dataframes must carry the dataset's schema columns, in schema order: the data is
    streamed to DSS without a header, so DSS reads it positionally ("set the schema
    first on the dataset object, using write_schema_from_dataframe").
    """

    def __init__(self, dataset: Dataset) -> None:
        state = fake.state()
        self._dataset = dataset
        self._ds = state.dataset(dataset.full_name)
        if dataset.full_name in state.active_writers:
            raise Exception("Unable to instanciate a new dataset writer. There is already "
                            f"another active writer for this dataset ({dataset.full_name}).")
        state.active_writers.add(dataset.full_name)
        self._append = bool(dataset.spec_item.get("appendMode"))
        self._frames: list[pd.DataFrame] = []
        self._closed = False

    def _names(self) -> list[str]:
        names = [c["name"] for c in self._ds.schema]
        if not names:
            raise Exception("To write, you need to define the output dataset schema "
                            "beforehands.")
        return names

    def write_dataframe(self, df: pd.DataFrame) -> None:
        """Appends a Pandas dataframe to the dataset being written (may be called often)."""
        names = self._names()
        if [str(c) for c in df.columns] != names:
            raise Exception(f"Dataframe columns {list(df.columns)} do not match the schema "
                            f"of {self._dataset.full_name} {names}")
        self._frames.append(df.copy())

    def write_tuple(self, row: tuple | list) -> None:
        """Write a single row from a tuple of values in the order of the dataset schema."""
        names = self._names()
        if len(row) != len(names):
            raise Exception(f"Expected {len(names)} values, got {len(row)}")
        self._frames.append(pd.DataFrame([list(row)], columns=names))

    def write_row_dict(self, row_dict: dict[str, Any]) -> None:
        """Write a single row from a dict; omitted columns get empty values."""
        names = self._names()
        self.write_tuple([row_dict.get(name) for name in names])

    def close(self) -> None:
        """Commit the write session (append or overwrite)."""
        if self._closed:
            return
        self._closed = True
        state = fake.state()
        state.active_writers.discard(self._dataset.full_name)
        names = self._names()
        frame = (pd.concat(self._frames, ignore_index=True) if self._frames
                 else pd.DataFrame(columns=names))
        # A connector without append support overwrites: "write_mode ... will not be
        # APPEND unless the plugin specifically supports append mode" (custom datasets API).
        append = self._append and self._ds.supports_append
        state.store_rows(self._ds, frame, append=append)
        state.writes.append(fake.WriteEvent(self._dataset.full_name,
                                            "append" if append else "overwrite", len(frame)))

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Dataset:
    """``dataiku.Dataset(name, project_key=None, ignore_flow=False)``.

    https://developer.dataiku.com/latest/api-reference/python/datasets.html
    (and https://doc.dataiku.com/dss/11/python-api/datasets-reference.html). Outside a
    recipe (webapps, notebooks) ``spec_item`` is ``{"appendMode": False}``: writes
    overwrite unless the caller sets ``spec_item["appendMode"] = True``.

    The reading and writing methods take exactly the parameters of DSS 9.0's
    ``dataiku/core/dataset.py``, the oldest version the plugin targets, so a misspelt
    or newer keyword fails with TypeError as it would there. Later versions add reading
    options (``use_nullable_integers``, ``categoricals``, ``filter``…) that code meant
    for every version must not pass. DSS 12 renamed the writers' ``dropAndCreate`` to
    ``drop_and_create`` and added ``**kwargs``, which ignore a misspelt keyword
    silently (dataset.py of DSS 12.6): pass that flag positionally.
    """

    def __init__(self, name: str, project_key: str | None = None,
                 ignore_flow: bool = False) -> None:
        state = fake.state()
        if "." in name:
            self.project_key, self.short_name = name.split(".", 1)
            if project_key is not None and project_key != self.project_key:
                raise ValueError(f"Project key {project_key} incompatible with fullname "
                                 f"dataset {name}.")
        else:
            self.project_key = project_key or state.project_key
            self.short_name = name
        self.name = f"{self.project_key}.{self.short_name}"
        self.ignore_flow = ignore_flow
        self.spec_item: dict[str, Any] = {"appendMode": False}

    @property
    def full_name(self) -> str:
        return f"{self.project_key}.{self.short_name}"

    @staticmethod
    def list(project_key: str | None = None) -> list[str]:
        """Names of the datasets of a project."""
        state = fake.state()
        prefix = f"{project_key or state.project_key}."
        return [n[len(prefix):] for n in state.datasets if n.startswith(prefix)]

    # -- schema ---------------------------------------------------------------------
    def read_schema(self, raise_if_empty: bool = True) -> list[dict[str, Any]]:
        """The schema: ``[{"name": ..., "type": ...}]``; raises when empty unless told.

        The backend call fails for a dataset that does not exist (or that the user may
        not read): ``Exception("Unable to fetch schema for <name>: <DSS message>")``, as
        ``intercom._handle_json_resp`` words it; a dataset that exists but was never
        written has an empty schema.
        """
        try:
            schema = fake.state().dataset(self.full_name).schema
        except Exception as exc:
            raise Exception(f"Unable to fetch schema for {self.name}: {exc}") from None
        if raise_if_empty and not schema:
            raise Exception(f"No column in schema of {self.full_name}. "
                            "Have you set up the schema for this dataset?")
        return copy.deepcopy(schema)

    def write_schema(self, columns: list[dict[str, Any]], dropAndCreate: bool = False) -> None:
        """Replace the schema (existing data is kept and read against the new schema)."""
        for col in columns:
            if "name" not in col or "type" not in col:
                raise Exception(f"Invalid column in schema: {col}")
        fake.state().dataset(self.full_name).schema = [
            {"name": str(c["name"]), "type": c["type"]} for c in columns]

    def write_schema_from_dataframe(self, df: pd.DataFrame, dropAndCreate: bool = False) -> None:
        """Set the schema from a dataframe's columns and dtypes."""
        self.write_schema([{"name": str(c), "type": dss_type(df[c].dtype)} for c in df.columns])

    # -- writing --------------------------------------------------------------------
    def get_writer(self) -> DatasetWriter:
        """A writer; use it as a context manager so that it is closed."""
        return DatasetWriter(self)

    def write_with_schema(self, df: pd.DataFrame, dropAndCreate: bool = False) -> None:
        """Set the schema from the dataframe, then write it (honours appendMode)."""
        self.write_dataframe(df, True, dropAndCreate)

    def write_dataframe(self, df: pd.DataFrame, infer_schema: bool = False,
                        dropAndCreate: bool = False) -> None:
        """Write a dataframe, optionally setting the schema from it first."""
        if not hasattr(df, "to_csv"):
            raise ValueError("Method write_from_dataframe expects a dataframe as argument. "
                             f"You gave a {type(df)}")
        if infer_schema:
            self.write_schema_from_dataframe(df, dropAndCreate)
        with self.get_writer() as writer:
            writer.write_dataframe(df)

    # -- reading --------------------------------------------------------------------
    def get_dataframe(self, columns: list[str] | None = None, sampling: str = "head",
                      sampling_column: str | None = None, limit: int | None = None,
                      ratio: float | None = None, infer_with_pandas: bool = True,
                      parse_dates: bool = True, bool_as_str: bool = False,
                      float_precision: str | None = None, na_values: Any = None,
                      keep_default_na: bool = True) -> pd.DataFrame:
        """The whole dataset (or its first ``limit`` rows) as one dataframe."""
        state = fake.state()
        state.reads.append(self.full_name)
        # DSS reads only the requested columns, so their types alone matter.
        frame = read_table(state.dataset(self.full_name), infer_with_pandas=infer_with_pandas,
                           parse_dates=parse_dates, columns=columns,
                           float_precision=float_precision)
        return frame.head(limit) if limit is not None else frame

    def iter_dataframes(self, chunksize: int = 10000, infer_with_pandas: bool = True,
                        sampling: str = "head", sampling_column: str | None = None,
                        parse_dates: bool = True, limit: int | None = None,
                        ratio: float | None = None, columns: list[str] | None = None,
                        bool_as_str: bool = False, float_precision: str | None = None,
                        na_values: Any = None, keep_default_na: bool = True
                        ) -> Iterator[pd.DataFrame]:
        """Dataframes of at most ``chunksize`` rows, with a RangeIndex per chunk continuing
        the row numbers (as pandas' chunked reader gives them). With
        ``infer_with_pandas`` (the default) the types are guessed chunk by chunk, as
        ``pd.read_table(dtype=None, chunksize=...)`` does in the dataiku package."""
        if columns is not None and not list(columns):
            # The documentation gives no meaning to an empty list (None reads every
            # column): code that sends one depends on behaviour nobody promised.
            raise ValueError("fake dataiku: iter_dataframes(columns=[]) is undocumented")
        state = fake.state()
        state.reads.append(self.full_name)
        yield from fake.read_chunks(state.dataset(self.full_name), chunksize=chunksize,
                                    infer_with_pandas=infer_with_pandas,
                                    parse_dates=parse_dates, columns=columns, limit=limit,
                                    float_precision=float_precision)


# -- managed folders --------------------------------------------------------------------
class Folder:
    """``dataiku.Folder(lookup, project_key=None, ignore_flow=False)``.

    https://developer.dataiku.com/latest/api-reference/python/managed-folders.html —
    paths are "/a/b.png"; ``get_path()`` only works for folders on the local filesystem.
    """

    def __init__(self, lookup: str, project_key: str | None = None,
                 ignore_flow: bool = False) -> None:
        self._state = fake.state().folder(lookup)

    def get_id(self) -> str:
        return self._state.id

    def get_name(self) -> str:
        return self._state.name

    def get_info(self, sensitive_info: bool = False) -> dict[str, Any]:
        return {"id": self._state.id, "name": self._state.name,
                "projectKey": fake.state().project_key,
                "type": "Filesystem" if self._state.local else "S3"}

    def get_path(self) -> str:
        if not self._state.local:
            raise Exception(f"Folder {self._state.name} is not on the local filesystem; "
                            "use get_download_stream / upload_stream")
        return str(self._state.path)

    def _file(self, path: str) -> Path:
        target = (self._state.path / path.lstrip("/")).resolve()
        if self._state.path.resolve() not in target.parents:
            raise Exception(f"Invalid path {path}")
        return target

    def list_paths_in_partition(self, partition: str = "") -> list[str]:
        root = self._state.path
        return sorted("/" + p.relative_to(root).as_posix()
                      for p in root.rglob("*") if p.is_file())

    def get_download_stream(self, path: str) -> BinaryIO:
        """A readable stream, usable as a context manager."""
        target = self._file(path)
        if not target.is_file():
            raise Exception(f"Path {path} does not exist in folder {self._state.name}")
        return io.BytesIO(target.read_bytes())

    def upload_stream(self, path: str, f: BinaryIO) -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            shutil.copyfileobj(f, out)

    def upload_data(self, path: str, data: bytes | str) -> None:
        self.upload_stream(path, io.BytesIO(data.encode() if isinstance(data, str) else data))

    def delete_path(self, path: str) -> None:
        target = self._file(path)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


# -- saved models -----------------------------------------------------------------------
class ComputedMetrics:
    """``dataiku.core.metrics.ComputedMetrics``: the raw answer of the metrics backend,
    ``{"metrics": [{"metric": {"id": ...}, "lastValues": [{"partition": ...,
    "value": "0.81", "dataType": "DOUBLE"}]}]}``; a saved model's values are partitioned
    by version id."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get_metric_by_id(self, metric_id: str) -> dict[str, Any]:
        all_ids = []
        for metric in self.raw["metrics"]:
            all_ids.append(metric["metric"]["id"])
            if metric["metric"]["id"] == metric_id:
                return metric
        raise Exception(f"Metric {metric_id} not found among: {all_ids}")

    def get_partition_data_for_version(self, metric_id: str, version_id: str
                                       ) -> dict[str, Any]:
        for partition_data in self.get_metric_by_id(metric_id)["lastValues"]:
            if partition_data["partition"] == version_id:
                return partition_data
        raise Exception(f"No partition with value data for metric {metric_id}")

    def get_all_ids(self) -> list[str]:
        return [metric["metric"]["id"] for metric in self.raw["metrics"]]

    @staticmethod
    def get_value_from_data(data: dict[str, Any]) -> Any:
        """The value cast by its ``dataType`` (text otherwise)."""
        dtype = data.get("dataType", "STRING")
        if dtype in ("BIGINT", "INT"):
            return int(data["value"])
        if dtype in ("FLOAT", "DOUBLE"):
            return float(data["value"])
        return data["value"]


class SavedModelVersionMetrics:
    """``SavedModelVersionMetrics(metrics, version_id)``, what
    ``Model.get_version_metrics(version_id)`` returns ("Get the training metrics of a
    version of this model", dataiku/core/saved_model.py).

    ``get_performance_values()`` keeps the metrics whose id starts with ``model_perf:``
    and names them without that prefix (``{"AUC": 0.81, ...}``), each read from the
    version's partition; ``get_computed()`` gives the :class:`ComputedMetrics`.
    """

    def __init__(self, metrics: ComputedMetrics, version_id: str) -> None:
        self.metrics = metrics
        self.version_id = version_id

    def get_performance_values(self) -> dict[str, Any]:
        values = {}
        for metric_id in self.metrics.get_all_ids():
            if metric_id.startswith("model_perf:"):
                data = self.metrics.get_partition_data_for_version(metric_id, self.version_id)
                values[metric_id.replace("model_perf:", "")] = \
                    ComputedMetrics.get_value_from_data(data)
        return values

    def get_computed(self) -> ComputedMetrics:
        return self.metrics


class Predictor:
    """Scores dataframes with one saved-model version.

    ``predict(df, with_probas=True)`` returns ``prediction`` and one ``proba_<class>``
    column per class (https://developer.dataiku.com/latest/concepts-and-examples/ml.html).
    As in dataiku/core/saved_model.py, the rows are those the model's preprocessing
    kept, under their input index labels (``pred_df.index = input_mf_index``): a row
    with an empty "Drop rows" feature has no output row; when no row is left, the
    answer is a ``prediction`` column of NaN on the input index; ``with_input_cols``
    joins the input by index, so dropped rows get NaN predictions.
    """

    def __init__(self, classes: list[str], proba: Any,
                 drop_row_features: tuple[str, ...] = ()) -> None:
        self.classes = classes
        self._proba = proba
        self._drop_row_features = tuple(drop_row_features)

    def get_classes(self) -> list[str]:
        return list(self.classes)

    def predict(self, df: pd.DataFrame, with_input_cols: bool = False,
                with_prediction: bool = True, with_probas: bool = True,
                with_conditional_outputs: bool = False,
                with_proba_percentile: bool = False) -> pd.DataFrame:
        kept = df
        present = [c for c in self._drop_row_features if c in df.columns]
        if present:
            kept = df[df[present].notna().all(axis=1)]
        if len(kept) == 0:
            # "special case for all empty scoring data: scikit-learn models reject them"
            pred = pd.DataFrame(columns=["prediction"], index=df.index)
        else:
            probas = np.asarray(self._proba(kept), dtype=float)
            if probas.shape != (len(kept), len(self.classes)):
                raise Exception(f"fake model gave shape {probas.shape}")
            pred = pd.DataFrame(index=kept.index)
            if with_prediction:
                pred["prediction"] = [self.classes[i] for i in probas.argmax(axis=1)]
            if with_probas:
                for i, name in enumerate(self.classes):
                    pred[f"proba_{name}"] = probas[:, i]
        return pd.concat([df, pred], axis=1) if with_input_cols else pred


class Model:
    """``dataiku.Model(lookup, project_key=None, ignore_flow=False)``: a saved model.

    https://developer.dataiku.com/latest/api-reference/python/ml.html — ``list_versions()``
    gives ``{"versionId", "active", "snippet": {"trainDate", "trainInfo": {"trainRows"},
    "auc"}}`` dicts; ``get_predictor(version_id=None)`` uses the active version.
    """

    def __init__(self, lookup: str, project_key: str | None = None,
                 ignore_flow: bool = False) -> None:
        self._state = fake.state().model(lookup)

    def get_id(self) -> str:
        return self._state.id

    def get_name(self) -> str:
        return self._state.name

    def list_versions(self) -> list[dict[str, Any]]:
        return [{"versionId": v.version_id, "active": v.active,
                 "snippet": {"trainDate": v.train_date, "trainInfo": {"trainRows": v.train_rows},
                             "auc": v.auc, **copy.deepcopy(v.snippet)}}
                for v in self._state.versions]

    def _version(self, version_id: str | None) -> fake.ModelVersion:
        for version in self._state.versions:
            if (version_id is None and version.active) or version.version_id == version_id:
                return version
        raise Exception(f"No version {version_id or '(active)'} in model {self._state.id}")

    def get_predictor(self, version_id: str | None = None) -> Predictor:
        version = self._version(version_id)
        for module in version.requires:  # unpickling imports them: ModuleNotFoundError
            importlib.import_module(module)
        return Predictor(self._state.classes, version.proba, version.drop_row_features)

    def get_version_metrics(self, version_id: str) -> SavedModelVersionMetrics:
        """The version's metrics as the metrics backend answers: one entry per metric id,
        valued on the version's partition. ``auc`` of a two-class version is
        ``model_perf:AUC``; ``metrics`` are added under the ids given."""
        version = self._version(version_id)
        values = dict(version.metrics)
        if version.auc is not None and len(self._state.classes) == 2:
            values.setdefault("model_perf:AUC", version.auc)
        raw = {"metrics": [
            {"metric": {"id": metric_id},
             "lastValues": [{"partition": version.version_id, "value": str(value),
                             "dataType": "DOUBLE"}]}
            for metric_id, value in values.items()]}
        return SavedModelVersionMetrics(ComputedMetrics(raw), version_id)


# -- projects and the API client --------------------------------------------------------
class Project:
    """``dataiku.Project(project_key=None)``: variables of a project.

    ``get_variables()`` returns ``{"standard": {...}, "local": {...}}``; ``set_variables``
    replaces both scopes with the given object (a modified copy of ``get_variables()``):
    https://developer.dataiku.com/latest/concepts-and-examples/project-variables.html
    """

    def __init__(self, project_key: str | None = None) -> None:
        self.project_key = project_key or default_project_key()

    def get_variables(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(fake.state().project_variables(self.project_key))

    def set_variables(self, variables: dict[str, dict[str, Any]]) -> None:
        if "standard" not in variables or "local" not in variables:
            raise ValueError("Missing 'standard' or 'local' in the variables object")
        json.dumps(variables)  # sent to DSS as JSON: a numpy number is refused
        store = fake.state().project_variables(self.project_key)
        store["standard"] = copy.deepcopy(variables["standard"])
        store["local"] = copy.deepcopy(variables["local"])


class _DatasetSettings:
    """``dataikuapi.dss.dataset.DSSDatasetSettings``: ``get_raw()`` is the dataset's
    definition, whose ``type`` is the connection kind ("Filesystem", "PostgreSQL"…, or
    "CustomPython_<connector>" for a plugin dataset):
    https://developer.dataiku.com/latest/api-reference/python/datasets.html
    """

    def __init__(self, state: fake.DatasetState) -> None:
        project_key, name = state.full_name.split(".", 1)
        self._raw = {"projectKey": project_key, "name": name, "type": state.dataset_type,
                     "params": {}}

    def get_raw(self) -> dict[str, Any]:
        return self._raw

    @property
    def type(self) -> str:
        return self._raw["type"]


class _DSSDataset:
    """``dataikuapi.dss.dataset.DSSDataset``: a handle on a dataset's settings."""

    def __init__(self, project_key: str, name: str) -> None:
        self.project_key, self.dataset_name = project_key, name

    def get_settings(self) -> _DatasetSettings:
        try:
            state = fake.state().dataset(self.dataset_name, self.project_key)
        except Exception as exc:
            raise DataikuException(str(exc)) from None
        return _DatasetSettings(state)


class _DSSProject(Project):
    """``dataikuapi.dss.project.DSSProject``, what the client's ``get_project`` returns:
    variables as ``dataiku.Project`` has them, and handles on datasets."""

    def get_dataset(self, dataset_name: str) -> _DSSDataset:
        return _DSSDataset(self.project_key, dataset_name)


class _Client:
    """The part of ``dataikuapi.DSSClient`` used by webapp backends.

    ``get_auth_info_from_browser_headers(headers)`` identifies the DSS user behind a
    browser request: ``{"authIdentifier": login, "groups": [...]}``; it fails with a
    ``DataikuException`` when the headers carry no valid DSS session
    (https://doc.dataiku.com/dss/latest/webapps/security.html,
    https://doc.dataiku.com/dss/11/python-api/authinfo.html). In the fake, a session is a
    cookie value registered with ``FakeDSS.add_user``.
    """

    def get_auth_info(self, with_secrets: bool = False) -> dict[str, Any]:
        return copy.deepcopy(fake.state().run_as)

    def get_auth_info_from_browser_headers(self, headers_dict: dict[str, str],
                                           with_secrets: bool = False) -> dict[str, Any]:
        raw = next((v for k, v in headers_dict.items() if k.lower() == "cookie"), "")
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:  # a malformed cookie header authenticates nobody
            cookie = SimpleCookie()
        for morsel in cookie.values():
            info = fake.state().users.get(morsel.value)
            if info is not None:
                return copy.deepcopy(info)
        raise DataikuException("Failed to authenticate: no valid DSS session in headers")

    def get_default_project(self) -> _DSSProject:
        return _DSSProject()

    def get_project(self, project_key: str) -> _DSSProject:
        return _DSSProject(project_key)


def api_client() -> _Client:
    """The API client of the current DSS user (a ``dataikuapi.DSSClient`` in DSS).

    https://doc.dataiku.com/dss/11/python-api/client.html
    """
    return _Client()
