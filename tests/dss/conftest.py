"""DSS-side tests run against the fake ``dataiku`` package in ``fake_dataiku/``."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest

FAKE_DIR = Path(__file__).resolve().parent / "fake_dataiku"
if str(FAKE_DIR) not in sys.path:
    sys.path.insert(0, str(FAKE_DIR))

# Only the fake may answer to `import dataiku` in these tests.
_imported = sys.modules.get("dataiku")
if _imported is not None and not str(getattr(_imported, "__file__", "")).startswith(
        str(FAKE_DIR)):
    raise RuntimeError(f"A real dataiku package is importable ({_imported.__file__})")

from dataiku import fake  # noqa: E402

CONFIG_4X: dict[str, Any] = {
    # A tabular-labeling config as the 4.x plugin saved it.
    "unlabeled": "reviews",
    "categories": [{"from": "pos", "to": "Positive"}, {"from": "neg", "to": ""}],
    "labels_ds": "labels",
    "metadata_ds": "labels_metadata",
    "label_col_name": "label",
}


def _v4_row_ids(dataset: str) -> list[str]:
    """The 4.x plugin's row ids, computed as it did: the dataset read whole by
    ``get_dataframe()``, each ``iterrows()`` row hashed by
    ``TableBasedDataClassifier.raw_row_to_id`` (lal/classifiers/base_classifier.py)."""
    import dataiku

    df = dataiku.Dataset(dataset).get_dataframe()
    return [str(hashlib.sha256(pd.util.hash_pandas_object(row).values).hexdigest())
            for _, row in df.iterrows()]


@pytest.fixture
def v4_row_ids():
    """``v4_row_ids(dataset name)``: the 4.x ids of the dataset's rows."""
    return _v4_row_ids


@pytest.fixture
def config_4x() -> dict[str, Any]:
    return dict(CONFIG_4X)


@pytest.fixture
def dss(tmp_path: Path) -> Iterator[fake.FakeDSS]:
    """A fresh fake DSS with project LABELING."""
    yield fake.reset(tmp_path / "dss", project_key="LABELING")


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.DataFrame({
        "text": ["great", "awful", "fine", "great"],
        "stars": [5, 1, 3, 5],
    })


@pytest.fixture
def project_setup(dss: fake.FakeDSS, reviews: pd.DataFrame) -> fake.FakeDSS:
    """Unlabeled rows + empty output datasets (no schema yet) + a webapp config + users."""
    dss.create_dataset("reviews", reviews)
    dss.create_dataset("labels")
    dss.create_dataset("labels_metadata")
    dss.webapp_config = dict(CONFIG_4X)
    dss.add_user("alice", groups=["labelers"], cookie="alice-session")
    dss.add_user("bob", groups=["reviewers"], cookie="bob-session")
    return dss


@pytest.fixture
def open_labeling(tmp_path: Path):
    """Open the DSS labeling backend on the fake (no background thread); closed after."""
    from assisted_labeling.dku.webapp import open_webapp

    opened = []

    def open_(config: dict[str, Any] | None = None, **options: Any):
        options.setdefault("cache_dir", tmp_path / "cache")
        options.setdefault("background", False)
        webapp = open_webapp(config, **options)
        opened.append(webapp)
        return webapp

    yield open_
    for webapp in opened:
        webapp.close()


@pytest.fixture
def reversed_unguessed_reads(monkeypatch):
    """``reversed_unguessed_reads()``: from then on, reads without DSS's type guess give
    each chunk's rows reversed, as a SQL table without an order may on a second read."""
    def start() -> None:
        from assisted_labeling.dku import datasets as dsio

        real = dsio.iter_frames

        def frames(dataset, *, chunksize, columns=None, infer_with_pandas=True, **rest):
            for frame in real(dataset, chunksize=chunksize, columns=columns,
                              infer_with_pandas=infer_with_pandas, **rest):
                yield frame if infer_with_pandas else frame.iloc[::-1]

        monkeypatch.setattr(dsio, "iter_frames", frames)

    return start
