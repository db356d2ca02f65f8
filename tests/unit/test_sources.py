"""Reading tables in chunks and giving rows stable, unique ids."""

from __future__ import annotations

import pandas as pd
import pytest

from assisted_labeling.errors import ConfigError, ValidationError
from assisted_labeling.sources import RowIdentifier, content_hash, iter_rows, json_value


def test_ids_survive_a_dtype_change():
    assert content_hash({"a": 1, "b": "x"}) == content_hash({"b": "x", "a": 1.0})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({"a": None}) == content_hash({"a": json_value(float("nan"))})


def test_duplicate_rows_get_distinct_ids():
    ids = RowIdentifier()
    first, second, other = ids.key({"a": 1}), ids.key({"a": 1}), ids.key({"a": 2})
    assert second == f"{first}-1"
    assert len({first, second, other}) == 3


def test_id_column_must_be_unique_and_filled():
    ids = RowIdentifier("id")
    assert ids.key({"id": 7.0}) == "7"
    with pytest.raises(ValidationError, match='"7" appears twice'):
        ids.key({"id": 7})
    with pytest.raises(ValidationError, match="empty id"):
        RowIdentifier("id").key({"id": None})


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_format_gives_the_same_rows_across_chunks(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["a", "b", "a", None], "n": [1, 2, 1, 3]})
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    whole = list(iter_rows(path, chunksize=100))
    pieces = list(iter_rows(path, chunksize=1))
    assert whole == pieces
    assert [r.data for r in whole] == [
        {"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "a", "n": 1},
        {"text": None, "n": 3}]
    assert whole[2].key == f"{whole[0].key}-1"


def test_unreadable_inputs(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_rows(tmp_path / "nope.csv"))
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(ConfigError, match="expected a file ending in"):
        list(iter_rows(tmp_path / "data.xlsx"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(ConfigError, match="Cannot read"):
        list(iter_rows(broken))
