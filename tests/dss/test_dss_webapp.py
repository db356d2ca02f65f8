"""The backend on DSS's Flask app: /api, DSS identities, roles, JSON errors."""

from __future__ import annotations

import pytest
from flask import Flask

from assisted_labeling.dku.auth import DssIdentity, RoleMap
from assisted_labeling.dku.webapp import SessionVariable, setup_webapp
from assisted_labeling.errors import AuthenticationError


def as_(client, user: str):
    """Make the test client's browser a signed-in DSS user (its session cookie)."""
    client.set_cookie("dss_session", f"{user}-session")
    return client


@pytest.fixture
def start(project_setup, tmp_path, config_4x):
    opened = []

    def start_(**settings):
        app = Flask("dss-backend")  # what DSS injects as `app`
        webapp = setup_webapp(app, {**config_4x, **settings}, cache_dir=tmp_path / "cache",
                              background=False)
        if webapp is not None:
            opened.append(webapp)
        return app.test_client(), webapp

    yield start_
    for webapp in opened:
        webapp.close()


def test_an_unknown_browser_gets_a_json_401(start):
    client, _ = start()
    for cookie in (None, "stolen"):
        if cookie:
            client.set_cookie("dss_session", cookie)
        response = client.get("/api/config")
        assert response.status_code == 401
        body = response.get_json()
        assert body["code"] == "unauthenticated"
        assert "sign in to DSS" in body["error"]
        assert "Traceback" not in response.get_data(as_text=True)


def test_everyone_annotates_by_default(start):
    client, _ = start()
    body = as_(client, "alice").get("/api/config").get_json()
    assert body["user"] == {"name": "alice", "role": "annotator"}
    assert [c["name"] for c in body["categories"]] == ["pos", "neg"]


def test_roles_from_groups_and_logins(start):
    client, _ = start(reviewer_groups=["reviewers"], manager_users=["alice"])
    assert as_(client, "bob").get("/api/config").get_json()["user"]["role"] == "reviewer"
    assert as_(client, "alice").get("/api/config").get_json()["user"]["role"] == "manager"


def test_label_through_the_api_then_in_dss(start, project_setup):
    client, webapp = start()
    as_(client, "alice")
    item = client.get("/api/next").get_json()["items"][0]
    response = client.post("/api/annotations",
                           json={"item_id": item["id"], "label": "neg", "comment": "meh"})
    assert response.status_code == 201
    assert response.get_json()["stats"]["labeled"] == 1
    webapp.sync.flush()
    row = project_setup.table("labels").iloc[0]
    assert (row["text"], row["label"], row["label_id"]) == (item["data"]["text"], "neg", 1)


def test_a_huge_body_is_a_413(start, project_setup):
    # Flask's default config holds MAX_CONTENT_LENGTH = None: the limit was never set.
    client, _ = start()
    as_(client, "alice")
    item = client.get("/api/next").get_json()["items"][0]
    response = client.post("/api/annotations", json={
        "item_id": item["id"], "label": "neg", "pad": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "Traceback" not in response.get_data(as_text=True)
    assert client.get("/api/stats").get_json()["labeled"] == 0


def test_a_bad_label_is_a_400_with_the_valid_classes(start):
    client, _ = start()
    as_(client, "alice")
    item = client.get("/api/next").get_json()["items"][0]
    response = client.post("/api/annotations", json={"item_id": item["id"], "label": "maybe"})
    assert response.status_code == 400
    assert "expected one of pos, neg" in response.get_json()["error"]


def test_a_config_error_is_shown_by_every_api_call(start):
    client, webapp = start(labels_ds="")
    assert webapp is None
    for path in ("/api/config", "/api/next"):
        response = as_(client, "alice").get(path)
        assert response.status_code == 503
        assert response.get_json()["error"].startswith('Setting "Labels dataset"')


def test_identity_is_asked_to_dss_once_per_session_and_ttl():
    calls = []
    now = [0.0]

    def auth_info(headers):
        calls.append(headers)
        return {"authIdentifier": "alice", "groups": ["g"]}

    identity = DssIdentity(auth_info, RoleMap(), ttl=30, clock=lambda: now[0])
    alice = {"Cookie": "s=1"}
    assert identity(alice).name == "alice"
    identity(alice)
    assert len(calls) == 1
    identity({"Cookie": "s=2"})
    assert len(calls) == 2
    now[0] = 31
    identity(alice)
    assert len(calls) == 3


def test_a_dss_answer_without_login_is_refused():
    identity = DssIdentity(lambda headers: {"groups": []}, RoleMap())
    with pytest.raises(AuthenticationError):
        identity({"Cookie": "s=1"})


def test_role_map_highest_role_wins():
    roles = RoleMap(reviewer_users=["ann"], reviewer_groups=["qa"], manager_groups=["leads"])
    assert roles.role_for("zed", []) == "annotator"
    assert roles.role_for("ann", []) == "reviewer"
    assert roles.role_for("zed", ["qa"]) == "reviewer"
    assert roles.role_for("ann", ["leads"]) == "manager"


def test_the_default_cache_dir_is_private_to_the_user(tmp_path, monkeypatch):
    import os
    import stat
    import tempfile

    from assisted_labeling.dku import webapp as dku_webapp

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    uid = os.getuid()
    base = tmp_path / f"ml-assisted-labeling-{uid}"
    base.mkdir(mode=0o777)
    os.chmod(base, 0o777)  # made open beforehand (by us): it is closed again
    assert dku_webapp.default_cache_dir() == base
    assert stat.S_IMODE(os.stat(base).st_mode) == 0o700
    # Made by another user (seen as such: our uid differs from its owner): not used.
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)
    other = tmp_path / f"ml-assisted-labeling-{uid + 1}"
    other.mkdir()
    chosen = dku_webapp.default_cache_dir()
    assert chosen != other and chosen.parent == tmp_path
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o700
    # A symlink to someone's folder is not followed either.
    other.rmdir()
    other.symlink_to(base)
    assert dku_webapp.default_cache_dir() not in (other, base)


# -- problems with the queries dataset reach the labelers --------------------------------
def test_queries_of_another_dataset_are_a_config_warning(start, project_setup):
    import pandas as pd

    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["zz", "great"], "stars": [9, 5], "uncertainty": [0.9, 0.8]}))
    client, webapp = start(queries_ds="queries")
    warnings = as_(client, "alice").get("/api/config").get_json()["warnings"]
    assert any("1 row of the queries dataset LABELING.queries matches no row of "
               "LABELING.reviews" in w for w in warnings), warnings
    # Fixed by the next sampler run: the warning goes at the next ranking.
    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["great"], "stars": [5], "uncertainty": [0.8]}))
    webapp.refresh_queue(force=True)
    assert as_(client, "alice").get("/api/config").get_json()["warnings"] == []


def test_queries_without_uncertainty_are_a_config_warning(start, project_setup):
    import pandas as pd

    project_setup.create_dataset("queries", pd.DataFrame({"text": ["great"], "stars": [5]}))
    client, _ = start(queries_ds="queries")
    body = as_(client, "alice").get("/api/config").get_json()
    assert any('has no "uncertainty" column' in w and "not ranked" in w
               for w in body["warnings"]), body["warnings"]
    assert "Traceback" not in str(body)


@pytest.mark.parametrize("queries, words", [
    ({"comment": ["a"], "uncertainty": [0.8]}, "has none of the unlabeled data's columns"),
    ({"uncertainty": [0.8]}, "has none of the unlabeled data's columns"),
    ({"text": ["great", "awful"], "stars": [5, 1], "uncertainty": ["high", 0.3]},
     "1 row of the queries dataset LABELING.queries has an uncertainty that is not a "
     "number (such as 'high'): it ranks no item"),
    ({"text": ["great", "awful"], "stars": [5, 1], "uncertainty": [float("inf"), 0.3]},
     "1 row of the queries dataset LABELING.queries has an uncertainty that is not a "
     "number (such as 'inf'): it ranks no item"),
    ({"text": ["great", "awful"], "stars": [5, 1], "uncertainty": ["high", "low"]},
     "2 rows of the queries dataset LABELING.queries have an uncertainty that is not a "
     "number (such as 'high'): they rank no item"),
])
def test_queries_that_rank_nothing_are_a_config_warning(start, project_setup, queries,
                                                        words):
    import pandas as pd

    project_setup.create_dataset("queries", pd.DataFrame(queries))
    client, _ = start(queries_ds="queries")
    warnings = as_(client, "alice").get("/api/config").get_json()["warnings"]
    assert any(words in w for w in warnings), warnings


def test_an_empty_unlabeled_dataset_is_a_config_warning(start, project_setup):
    import pandas as pd

    project_setup.create_dataset("reviews", pd.DataFrame({"text": [], "stars": []}))
    client, _ = start()
    body = as_(client, "alice").get("/api/config").get_json()
    assert body["stats"]["total"] == 0
    assert any("LABELING.reviews has no rows: nothing to label" in w
               for w in body["warnings"]), body["warnings"]


def test_an_unreadable_queries_dataset_is_a_config_warning(start, project_setup,
                                                           monkeypatch):
    import pandas as pd

    from assisted_labeling.dku import datasets as dsio

    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["great"], "stars": [5], "uncertainty": [0.8]}))

    def broken(*args, **kwargs):
        raise RuntimeError("connection reset by peer")

    monkeypatch.setattr(dsio, "iter_priorities", broken)
    client, _ = start(queries_ds="queries")
    warnings = as_(client, "alice").get("/api/config").get_json()["warnings"]
    assert any("could not read the queries dataset LABELING.queries" in w
               and "backend log" in w for w in warnings), warnings


def test_an_unreadable_session_variable_keeps_its_value_and_is_logged_once(caplog):
    answers = [{"standard": {"ML-ASSISTED-LABELING__q__session": 3}}]

    def read():
        if not answers:
            raise OSError("DSS is restarting")
        return answers.pop()

    session = SessionVariable("q", read)
    assert session() == 3
    assert [session.refresh() for _ in range(3)] == [3, 3, 3]
    assert caplog.text.count("DSS is restarting") == 1
    answers.append({"standard": {"ML-ASSISTED-LABELING__q__session": 4}})
    assert session.refresh() == 4


@pytest.mark.parametrize("raw", [True, False, "abc", "2.5", 7.0, "nan", None, "", "3"])
def test_the_webapp_reads_the_session_as_the_sampler_and_trigger_do(raw):
    """Labels are stamped with the session the every-n trigger counts: one reading."""
    from assisted_labeling import loop

    name = "ML-ASSISTED-LABELING__q__session"
    for variables in ({"standard": {name: raw}, "local": {}},
                      {"standard": {}, "local": {name: raw}}):
        expected = loop.session_number(loop.variable_value(variables, name))
        assert SessionVariable("q", lambda v=variables: v)() == expected


@pytest.mark.parametrize("variable", [2, "abc", 7])
def test_queries_appended_run_after_run_rank_by_the_latest_run(start, project_setup,
                                                               variable):
    """A sampler output set to "Append instead of overwrite" keeps every session's rows:
    the older scores ranked the queue, and the repeated rows were taken for copies that
    match no row of the unlabeled data. The variable's run ranks; without a row of it
    (the variable unreadable, or changed by hand), the latest run."""
    import pandas as pd

    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine", "awful", "fine"], "stars": [1, 3, 1, 3],
        "uncertainty": [0.9, 0.2, 0.1, 0.8], "model_uncertainty": [0.9, 0.2, 0.1, 0.8],
        "session": [1, 1, 2, 2]}))
    project_setup.project_variables()["standard"][
        "ML-ASSISTED-LABELING__queries__session"] = variable
    client, _ = start(queries_ds="queries")
    alice = as_(client, "alice")
    assert alice.get("/api/config").get_json()["warnings"] == []
    items = alice.get("/api/next?count=2").get_json()["items"]
    assert [(i["data"]["text"], i["uncertainty"]) for i in items] == [
        ("fine", 0.8), ("awful", 0.1)]


def test_queries_of_one_run_are_read_once_and_others_still_rank(start, project_setup):
    """The rows of the variable's session rank in one pass; queries with none (4.x
    ones, or a variable changed by hand) are read a second time, whole."""
    import pandas as pd

    project_setup.create_dataset("queries", pd.DataFrame({
        "text": ["awful", "fine"], "stars": [1, 3], "uncertainty": [0.2, 0.8],
        "session": [3, 3]}))
    variables = project_setup.project_variables()["standard"]
    variables["ML-ASSISTED-LABELING__queries__session"] = 3
    project_setup.reads.clear()
    client, webapp = start(queries_ds="queries")
    first = as_(client, "alice").get("/api/next").get_json()["items"][0]
    assert first["data"]["text"] == "fine"
    once = project_setup.reads.count("LABELING.queries")
    variables["ML-ASSISTED-LABELING__queries__session"] = 4  # no row of session 4
    webapp.session.refresh()
    project_setup.reads.clear()
    webapp.refresh_queue(force=True)
    assert project_setup.reads.count("LABELING.queries") == 2 * once
    # Still ranked: the item alice does not hold comes with its score.
    item = as_(client, "bob").get("/api/next").get_json()["items"][0]
    assert (item["data"]["text"], item["uncertainty"]) == ("awful", 0.2)


def test_the_dss_backend_answers_strict_json_with_infinite_cells(start, project_setup):
    import json

    import pandas as pd

    project_setup.create_dataset("reviews", pd.DataFrame({
        "text": ["a", "b"], "stars": [float("inf"), float("-inf")]}))
    client, _ = start()
    body = as_(client, "alice").get("/api/next?count=2").get_data(as_text=True)
    items = json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} sent"))["items"]
    assert sorted(i["data"]["stars"] for i in items) == ["-inf", "inf"]
