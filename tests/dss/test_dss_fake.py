"""The fake `dataiku` behaves as the documentation says (what the adapter relies on)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from dataiku import fake


def test_writer_overwrites_unless_append_mode_is_set(dss):
    import dataiku

    dss.create_dataset("out", pd.DataFrame({"a": [1, 2]}))
    ds = dataiku.Dataset("out")
    assert ds.spec_item == {"appendMode": False}
    with ds.get_writer() as writer:
        writer.write_dataframe(pd.DataFrame({"a": [3]}))
    assert dss.table("out")["a"].tolist() == [3]

    ds.spec_item["appendMode"] = True
    with ds.get_writer() as writer:
        writer.write_row_dict({"a": 4})
    assert dss.table("out")["a"].tolist() == [3, 4]
    assert [(w.mode, w.rows) for w in dss.writes_to("out")] == [("overwrite", 1), ("append", 1)]
    assert len(dss.part_files("out")) == 2


def test_dataset_without_append_support_overwrites(dss):
    import dataiku

    dss.create_dataset("plugin_ds", pd.DataFrame({"a": [1]}), supports_append=False)
    ds = dataiku.Dataset("plugin_ds")
    ds.spec_item["appendMode"] = True
    ds.write_with_schema(pd.DataFrame({"a": [2]}))
    assert dss.table("plugin_ds")["a"].tolist() == [2]


def test_dataframes_must_follow_the_schema_order(dss):
    import dataiku

    dss.create_dataset("out", pd.DataFrame({"a": [1], "b": ["x"]}))
    with pytest.raises(Exception, match="do not match the schema"), \
            dataiku.Dataset("out").get_writer() as writer:
        writer.write_dataframe(pd.DataFrame({"b": ["y"], "a": [2]}))


def test_only_one_writer_per_dataset(dss):
    import dataiku

    dss.create_dataset("out", pd.DataFrame({"a": [1]}))
    first = dataiku.Dataset("out").get_writer()
    with pytest.raises(Exception, match="another active writer"):
        dataiku.Dataset("out").get_writer()
    first.close()
    dataiku.Dataset("out").get_writer().close()


def test_schema_and_names(dss):
    import dataiku

    dss.create_dataset("empty")
    ds = dataiku.Dataset("LABELING.empty")
    assert (ds.short_name, ds.full_name) == ("empty", "LABELING.empty")
    with pytest.raises(Exception, match="No column in schema"):
        ds.read_schema()
    assert ds.read_schema(raise_if_empty=False) == []
    ds.write_schema([{"name": "n", "type": "bigint"}])
    assert ds.get_dataframe().columns.tolist() == ["n"]


def test_iter_dataframes_reads_in_chunks(dss):
    import dataiku

    dss.create_dataset("big", pd.DataFrame({"a": range(5)}))
    chunks = list(dataiku.Dataset("big").iter_dataframes(chunksize=2))
    assert [len(c) for c in chunks] == [2, 2, 1]


def test_set_variables_replaces_both_scopes(dss):
    import dataiku

    project = dataiku.Project()
    project.set_variables({"standard": {"a": 1}, "local": {"b": 2}})
    variables = project.get_variables()
    variables["standard"] = {"c": 3}
    project.set_variables(variables)
    assert dataiku.Project().get_variables() == {"standard": {"c": 3}, "local": {"b": 2}}
    with pytest.raises(ValueError):
        project.set_variables({"standard": {}})


def test_auth_info_from_browser_headers(dss):
    import dataiku
    from dataikuapi.utils import DataikuException

    dss.add_user("alice", groups=["g1"], cookie="s3cret")
    client = dataiku.api_client()
    info = client.get_auth_info_from_browser_headers({"Cookie": "a=b; dss=s3cret"})
    assert info == {"authIdentifier": "alice", "groups": ["g1"]}
    with pytest.raises(DataikuException):
        client.get_auth_info_from_browser_headers({"Cookie": "dss=wrong"})
    with pytest.raises(DataikuException):
        client.get_auth_info_from_browser_headers({})


def test_predictor_gives_prediction_and_probas(dss):
    import dataiku

    dss.add_model("m1", ["a", "b"], [fake.ModelVersion(
        "v1", lambda df: np.tile([0.2, 0.8], (len(df), 1)), active=True, train_rows=10)])
    frame = pd.DataFrame({"x": [1, 2]}, index=[7, 9])
    out = dataiku.Model("m1").get_predictor().predict(frame, with_probas=True)
    assert out.columns.tolist() == ["prediction", "proba_a", "proba_b"]
    assert out.index.tolist() == [7, 9]
    assert out["prediction"].tolist() == ["b", "b"]
    assert dataiku.Model("m1").list_versions()[0]["snippet"]["trainInfo"]["trainRows"] == 10


def test_folder_streams_and_paths(dss):
    import dataiku

    dss.create_folder("f1", "images", files={"/a/b.png": b"png"})
    folder = dataiku.Folder("images")
    assert folder.list_paths_in_partition() == ["/a/b.png"]
    with folder.get_download_stream("/a/b.png") as stream:
        assert stream.read() == b"png"
    folder.upload_stream("/c.txt", io.BytesIO(b"hi"))
    folder.delete_path("/a/b.png")
    assert folder.list_paths_in_partition() == ["/c.txt"]
    with pytest.raises(Exception, match="not on the local filesystem"):
        folder.get_path()


def test_component_configs_and_trigger(dss):
    from dataiku import customrecipe, customtrigger, customwebapp
    from dataiku.scenario import Trigger

    dss.recipe_inputs = {"unlabeled_samples": ["pool"]}
    dss.trigger_config = {"i_labeling_count": 100.0}
    dss.webapp_config = {"unlabeled": "pool"}
    assert customrecipe.get_input_names_for_role("unlabeled_samples") == ["LABELING.pool"]
    assert customrecipe.get_output_names_for_role("queries") == []
    assert customtrigger.get_trigger_config() == {"i_labeling_count": 100.0}
    assert customwebapp.get_webapp_config() == {"unlabeled": "pool"}
    Trigger().fire()
    assert dss.fired == [fake.FireEvent(None, None)]


def test_trigger_state_is_kept_from_one_fire_to_the_next_evaluations(dss):
    from dataiku.scenario import Trigger

    assert Trigger().get_trigger_state() is None
    Trigger().fire(state='{"labeled": 3}', params={"why": "three labels"})
    assert dss.fired[-1] == fake.FireEvent('{"labeled": 3}', {"why": "three labels"})
    assert Trigger().get_trigger_state() == '{"labeled": 3}'
    Trigger().fire()  # no new state: DSS keeps the last one
    assert Trigger().get_trigger_state() == '{"labeled": 3}'
    with pytest.raises(TypeError, match="sent as text"):
        Trigger().fire(state={"labeled": 4})


def test_iter_dataframes_guesses_types_chunk_by_chunk(dss):
    import dataiku

    dss.create_dataset("ids", pd.DataFrame({"data_id": ["007", "008", "007", "x1"]}))
    ds = dataiku.Dataset("ids")
    chunks = list(ds.iter_dataframes(chunksize=2))
    assert chunks[0]["data_id"].tolist() == [7, 8]  # digits only: read as numbers
    assert chunks[1]["data_id"].tolist() == ["007", "x1"]
    assert [c.index.tolist() for c in chunks] == [[0, 1], [2, 3]]
    texts = list(ds.iter_dataframes(chunksize=2, infer_with_pandas=False))
    assert [c["data_id"].tolist() for c in texts] == [["007", "008"], ["007", "x1"]]
    assert ds.get_dataframe()["data_id"].tolist() == ["007", "008", "007", "x1"]


@pytest.mark.parametrize("infer", [True, False])
def test_decimals_are_read_by_pandas_parser_and_exactly_on_request(dss, infer):
    """As dataiku's ``pd.read_table``: the C parser's default is one unit in the last
    place off for this text, ``float_precision="round_trip"`` is exact."""
    import dataiku

    text = "1.9783288003861852"
    dss.create_dataset("d", pd.DataFrame({"x": [text, None]}, dtype=object),
                       schema=None).schema = [{"name": "x", "type": "double"}]
    ds = dataiku.Dataset("d")
    default = next(ds.iter_dataframes(chunksize=5, infer_with_pandas=infer))["x"]
    exact = ds.get_dataframe(infer_with_pandas=infer, float_precision="round_trip")["x"]
    assert default[0] != float(text) and exact[0] == float(text)
    assert default.isna()[1] and exact.isna()[1]


def test_read_schema_fails_for_a_dataset_that_does_not_exist(dss):
    import dataiku

    with pytest.raises(Exception, match="Unable to fetch schema for LABELING.nope"):
        dataiku.Dataset("nope").read_schema(raise_if_empty=False)


def test_the_predictor_leaves_out_the_rows_its_preprocessing_drops(dss):
    import dataiku

    dss.add_model("m1", ["a", "b"], [fake.ModelVersion(
        "v1", lambda df: np.tile([0.2, 0.8], (len(df), 1)), active=True,
        drop_row_features=("x",))])
    predictor = dataiku.Model("m1").get_predictor()
    frame = pd.DataFrame({"x": [1.0, None, 3.0]}, index=[10, 11, 12])
    assert predictor.predict(frame).index.tolist() == [10, 12]
    joined = predictor.predict(frame, with_input_cols=True)
    assert joined.index.tolist() == [10, 11, 12]
    assert joined["prediction"].isna().tolist() == [False, True, False]
    empty = predictor.predict(frame.iloc[[1]])
    assert empty.columns.tolist() == ["prediction"] and empty.index.tolist() == [11]
    assert empty["prediction"].isna().all()


def test_version_metrics_are_the_model_perf_metrics_of_the_version(dss):
    import dataiku

    dss.add_model("m1", ["a", "b"], [fake.ModelVersion(
        "v1", lambda df: np.tile([0.2, 0.8], (len(df), 1)), active=True, auc=0.81,
        metrics={"model_perf:F1": 0.5, "other:THING": 1.0})])
    metrics = dataiku.Model("m1").get_version_metrics("v1")
    assert metrics.version_id == "v1"
    assert metrics.get_performance_values() == {"AUC": 0.81, "F1": 0.5}
    assert "other:THING" in metrics.get_computed().get_all_ids()


# -- signatures: the dataiku.Dataset methods' own parameter lists ------------------------
@pytest.mark.parametrize("call", [
    lambda ds: list(ds.iter_dataframes(chunk_size=100)),
    lambda ds: ds.get_dataframe(colums=["a"]),
    lambda ds: ds.get_dataframe(use_nullable_integers=True),  # DSS 10+: not in DSS 9
    lambda ds: ds.write_with_schema(pd.DataFrame({"a": [1]}), drop_and_create=True),
    lambda ds: ds.write_with_schema(pd.DataFrame({"a": [1]}), colums=["a"]),
    lambda ds: ds.write_dataframe(pd.DataFrame({"a": [1]}), infer=True),
])
def test_a_parameter_the_dataset_methods_do_not_have_is_refused(dss, call):
    import dataiku

    dss.create_dataset("t", pd.DataFrame({"a": range(3)}))
    with pytest.raises(TypeError):
        call(dataiku.Dataset("t"))


def test_the_dataset_methods_take_their_documented_parameters(dss):
    import dataiku

    dss.create_dataset("t", pd.DataFrame({"a": range(3), "b": list("xyz")}))
    ds = dataiku.Dataset("t")
    assert ds.get_dataframe(columns=["a"], sampling="head", sampling_column=None, limit=2,
                            ratio=None, infer_with_pandas=True, parse_dates=True,
                            bool_as_str=False, float_precision=None, na_values=None,
                            keep_default_na=True).shape == (2, 1)
    chunks = list(ds.iter_dataframes(chunksize=2, infer_with_pandas=False, sampling="head",
                                     sampling_column=None, parse_dates=True, limit=None,
                                     ratio=None, columns=["b"], bool_as_str=False,
                                     float_precision=None, na_values=None,
                                     keep_default_na=True))
    assert [len(c) for c in chunks] == [2, 1]
    # The drop-and-create flag is positional: DSS 9 names it dropAndCreate, DSS 12
    # drop_and_create.
    ds.write_with_schema(pd.DataFrame({"c": [1]}), False)
    ds.write_dataframe(pd.DataFrame({"c": [2]}), infer_schema=True)
    ds.write_schema_from_dataframe(pd.DataFrame({"c": [3]}), False)
    assert dss.table("t")["c"].tolist() == [2]


def test_dataset_settings_come_from_the_api_client_only(dss):
    import dataiku

    dss.create_dataset("sheet", dataset_type="CustomPython_sheets")
    settings = dataiku.api_client().get_project("LABELING").get_dataset("sheet").get_settings()
    assert settings.get_raw()["type"] == settings.type == "CustomPython_sheets"
    assert not hasattr(dataiku.Project(), "get_dataset")  # not on the dataiku package's
    with pytest.raises(dataiku.DataikuException):
        dataiku.api_client().get_project("LABELING").get_dataset("nope").get_settings()


def test_a_dataset_with_columns_and_no_rows_reads_as_one_empty_frame(dss):
    """As pandas' chunked reader, which dataiku uses, gives it."""
    import dataiku

    dss.create_dataset("empty", pd.DataFrame({"a": pd.Series([], dtype=float)}))
    frames = list(dataiku.Dataset("empty").iter_dataframes(chunksize=10))
    assert [(f.shape, list(f.columns)) for f in frames] == [((0, 1), ["a"])]


def test_project_variables_must_be_json(dss):
    """dataiku sends them to DSS as JSON: a numpy number is refused there."""
    import dataiku

    project = dataiku.Project()
    with pytest.raises(TypeError):
        project.set_variables({"standard": {"n": np.int64(1)}, "local": {}})
    project.set_variables({"standard": {"n": 1}, "local": {}})
    assert project.get_variables()["standard"] == {"n": 1}
