"""4.x row ids: computed column-wise, equal to the 4.x loop row for row."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from assisted_labeling.dku.legacy import LegacyKeys, legacy_ids, legacy_row_ids
from assisted_labeling.sampler import PoolKeys


def as_4x(df: pd.DataFrame) -> list[str]:
    """The 4.x line, verbatim (TableBasedDataClassifier.raw_row_to_id over iterrows)."""
    return [str(hashlib.sha256(pd.util.hash_pandas_object(row).values).hexdigest())
            for _, row in df.iterrows()]


FRAMES = {
    "ints": pd.DataFrame({"a": [1, 2, 2], "b": [0, -5, 7]}),
    "ints and floats": pd.DataFrame({"a": [1, 2, 3], "b": [0.5, np.nan, -0.0]}),
    "text and numbers": pd.DataFrame({"text": ["great", None, "fine"], "stars": [5, 1, 3],
                                      "score": [0.1, 1.0, np.nan]}),
    # Equal values of different types in one row: 4.x hashed the first one's text.
    "equal values": pd.DataFrame({"s": ["x", "y"], "i": [1, 0], "f": [1.0, 0.0],
                                  "b": [True, False]}),
    "no text left": pd.DataFrame({"s": [None, np.nan], "i": [3, 4]}),
    "dates": pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-02-01"], utc=True),
                           "s": ["a", None]}),
    "booleans": pd.DataFrame({"b": [True, False]}),
    "numeric column names": pd.DataFrame({0: ["a", "b"], 1: [1.5, 2.5]}),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_legacy_row_ids_equal_the_4x_computation(name):
    frame = FRAMES[name]
    assert legacy_row_ids(frame) == as_4x(frame)


def test_an_id_depends_on_the_row_not_its_position():
    frame = FRAMES["text and numbers"]
    assert legacy_row_ids(frame.iloc[1:]) == as_4x(frame)[1:]
    assert legacy_row_ids(frame.iloc[::-1].reset_index(drop=True)) == as_4x(frame)[::-1]


def test_4x_looking_ids_are_64_hex_digits():
    ours = ["0848522041201314", "0848522041201314-1", "/cats/1.png", "007"]
    old = as_4x(FRAMES["ints"])[0]
    assert legacy_ids([*ours, old, old.upper(), "0cc175b9c0f1b6a831c399e269772661"]) == {old}


def test_the_first_row_of_a_4x_id_takes_it_and_keeps_its_own_key():
    frame = pd.DataFrame({"text": ["great", "awful", "great"], "stars": [5, 1, 5]})
    great = as_4x(frame)[0]
    keys = LegacyKeys(PoolKeys(None, only=()), {great})
    ours = PoolKeys(None, only=())(frame)
    assert keys(frame.iloc[:2]).tolist() == [great, ours[1]]
    assert keys(frame.iloc[2:]).tolist() == [ours[2]]  # the duplicate keeps its key
    assert keys.matched == {great: ours[0]}
