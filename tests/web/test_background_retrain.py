"""Background retraining (serve --retrain-every) never holds up a labeler's request."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from assisted_labeling import models
from assisted_labeling.retrain import Retrainer, RetrainSettings
from assisted_labeling.standalone import open_project
from assisted_labeling.web.app import create_app

FIT_STARTED = threading.Event()
RELEASE_FIT = threading.Event()
REQUEST_SECONDS = 10  # far more than a request needs; a blocked one waits for the fit


class HeldFit(LogisticRegression):
    """A real classifier whose fit waits until the test lets it go: a slow retraining."""

    def fit(self, X, y, sample_weight=None):
        FIT_STARTED.set()
        if not RELEASE_FIT.wait(60):
            raise TimeoutError("the test never released the fit")
        return super().fit(X, y, sample_weight=sample_weight)


@pytest.fixture
def held_training(monkeypatch):
    build = models.build_pipeline

    def with_held_fit(*args, **kwargs):
        pipeline = build(*args, **kwargs)
        pipeline.set_params(clf=HeldFit(max_iter=2000))
        return pipeline

    monkeypatch.setattr(models, "build_pipeline", with_held_fit)
    FIT_STARTED.clear()
    RELEASE_FIT.clear()
    yield
    RELEASE_FIT.set()  # never leave a retraining thread waiting


def test_labelers_are_served_while_a_retraining_runs(tmp_path, held_training):
    xs = np.random.default_rng(0).random(200)
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"id": range(200), "x": xs}).to_csv(pool, index=False)
    settings = {"categories": "lo,hi", "id_column": "id"}
    db = tmp_path / "labels.db"
    project = open_project(pool, db, settings, progress=False)
    client = create_app(project, local_mode=True, test_config={"TESTING": True}).test_client()
    for i in [*xs.argsort()[:3], *xs.argsort()[-3:]]:
        response = client.post("/api/annotations", json={
            "item_id": str(i), "label": "hi" if xs[i] > 0.5 else "lo"})
        assert response.status_code == 201

    # The worker opens the project on its own, like the spawned retraining process.
    worker = open_project(pool, db, settings, progress=False)
    retrainer = Retrainer(worker, pool, RetrainSettings(
        every=6, model_path=tmp_path / "m.skops", feature_columns=("x",)))
    assert retrainer.due()
    results: list = []
    thread = threading.Thread(target=lambda: results.append(retrainer.run_once()))
    thread.start()
    assert FIT_STARTED.wait(30), "the retraining never reached its fit"

    with ThreadPoolExecutor(1) as pool_of_one:
        def request(method: str, url: str, **kwargs):
            call = pool_of_one.submit(getattr(client, method), url, **kwargs)
            return call.result(timeout=REQUEST_SECONDS)

        served = request("get", "/api/next?count=2").get_json()["items"]
        assert len(served) == 2 and all(i["uncertainty"] is None for i in served)
        saved = request("post", "/api/annotations",
                        json={"item_id": served[0]["id"], "label": "lo"})
        assert saved.status_code == 201
        assert request("post", "/api/skips", json={"item_id": served[1]["id"]}) \
            .status_code == 201
        assert request("get", "/api/config").get_json()["session"] == 0
    assert thread.is_alive() and not results  # all that while, the fit was still held

    RELEASE_FIT.set()
    thread.join(60)
    assert not thread.is_alive() and results[0]["session"] == 1
    # The queue is re-ranked: items come scored now, the new labels' items excluded.
    config = client.get("/api/config").get_json()
    assert config["session"] == 1
    items = client.get("/api/next?count=5").get_json()["items"]
    assert all(i["uncertainty"] is not None for i in items)
    priorities = [project.store.get_item(i["id"]).priority for i in items]
    assert priorities == sorted(priorities, reverse=True)
    assert served[0]["id"] not in {i["id"] for i in items}
