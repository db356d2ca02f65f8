"""The JSON API through Flask's test client, in loopback single-user mode."""

from __future__ import annotations


def label(client, item_id, value, **extra):
    return client.post("/api/annotations", json={"item_id": item_id, "label": value, **extra})


def test_config_describes_the_project_and_the_user(client):
    body = client.get("/api/config").get_json()
    assert [c["name"] for c in body["categories"]] == ["pos", "neg", "neutral"]
    assert body["user"] == {"name": "local", "role": "manager"}
    assert body["stats"]["total"] == 3
    assert body["warnings"] == []


def test_next_reserves_items_with_data_and_pre_annotation(client):
    items = client.get("/api/next?count=3").get_json()["items"]
    assert sorted(i["id"] for i in items) == ["r1", "r2", "r3"]
    by_id = {i["id"]: i for i in items}
    assert by_id["r1"]["pre_annotation"] == "pos"
    assert by_id["r3"]["pre_annotation"] is None
    assert list(by_id["r1"]["data"]) == ["id", "text", "hint"]  # the table's column order


def test_label_returns_label_id_and_stats(client):
    response = label(client, "r1", "pos", comment="easy", duration_ms=1200)
    assert response.status_code == 201
    body = response.get_json()
    assert body["label_id"] == 1
    assert body["stats"]["per_class"] == {"pos": 1}
    assert body["stats"]["mine"]["labeled"] == 1


def test_unknown_class_names_the_value_and_the_valid_ones(client):
    response = label(client, "r1", "great")
    assert response.status_code == 400
    body = response.get_json()
    assert '"great"' in body["error"] and "pos, neg, neutral" in body["error"]
    assert body["details"]["valid"] == ["pos", "neg", "neutral"]
    # Values as the JSON that was sent, not Python's repr ("None", "{'a': 1}").
    assert "Unknown class null:" in label(client, "r1", None).get_json()["error"]
    assert 'Unknown class {"a": 1}:' in label(client, "r1", {"a": 1}).get_json()["error"]
    count = client.get("/api/next?count=abc").get_json()["error"]
    assert count == "\"count\" must be a whole number (got 'abc')"


def test_unknown_item_is_404(client):
    response = label(client, "nope", "pos")
    assert response.status_code == 404
    assert "nope" in response.get_json()["error"]


def test_malformed_json_is_400(client):
    response = client.post("/api/annotations", data="{bad",
                           content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.get_json()["error"]


def test_body_must_be_an_object_with_item_id(client):
    assert client.post("/api/annotations", json=["r1"]).status_code == 400
    assert client.post("/api/annotations", json={"label": "pos"}).status_code == 400
    assert client.post("/api/annotations", json={"item_id": "r1"}).status_code == 400


def test_bad_comment_and_duration_are_400(client):
    assert label(client, "r1", "pos", comment=5).status_code == 400
    assert label(client, "r1", "pos", comment="x" * 10_001).status_code == 400
    assert label(client, "r1", "pos", duration_ms=-1).status_code == 400


def test_huge_body_is_413_json(client):
    response = client.post("/api/annotations", data="x" * (3 * 1024 * 1024),
                           content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "The request is too large"


def test_bad_count_is_400(client):
    assert client.get("/api/next?count=abc").status_code == 400
    assert client.get("/api/next?count=0").status_code == 400
    assert client.get("/api/next?count=51").status_code == 400


def test_skip_then_history_then_edit(client):
    first = label(client, "r1", "pos").get_json()
    assert client.post("/api/skips", json={"item_id": "r2", "comment": "?"}).status_code == 201
    history = client.get("/api/history").get_json()["items"]
    assert [(h["id"], h["annotation"]["status"]) for h in history] == [
        ("r2", "SKIPPED"), ("r1", "LABELED")]
    older = client.get(f"/api/history?before={history[0]['annotation']['id']}").get_json()
    assert [h["id"] for h in older["items"]] == ["r1"]
    assert older["items"][0]["data"]["text"] == "good"
    edited = label(client, "r1", "neg").get_json()
    assert edited["label_id"] == first["label_id"]
    newer = client.get(f"/api/history?after={first['id']}").get_json()["items"]
    assert [h["id"] for h in newer] == ["r2"]
    stats = client.get("/api/stats").get_json()
    assert stats["per_class"] == {"neg": 1}
    assert (stats["labeled"], stats["skipped"], stats["remaining"]) == (1, 1, 2)


def test_next_and_saves_tell_the_session_the_queue_is_ranked_for(client, store):
    """The page learns of a retraining from its frequent requests, not only from
    /api/config: each answer names the session, as /api/config does."""
    assert client.get("/api/next").get_json()["session"] == 0
    store.set_meta("session", "3")  # the model was retrained meanwhile
    assert client.get("/api/config").get_json()["session"] == 3
    assert client.get("/api/next").get_json()["session"] == 3
    assert label(client, "r1", "pos").get_json()["session"] == 3
    store.set_meta("session", "4")
    skipped = client.post("/api/skips", json={"item_id": "r2"}).get_json()
    assert (skipped["session"], skipped["stats"]["skipped"]) == (4, 1)


def test_history_rejects_both_cursors(client):
    assert client.get("/api/history?before=3&after=1").status_code == 400


def test_multi_label(store, make_app):
    client = make_app(store, multi_label=True).test_client()
    response = label(client, "r1", ["neutral", "pos"])
    assert response.status_code == 201
    history = client.get("/api/history").get_json()["items"]
    assert history[0]["annotation"]["label"] == ["pos", "neutral"]
    assert label(client, "r2", []).status_code == 400
    assert label(client, "r2", ["pos", "wat"]).status_code == 400


def test_unknown_route_and_method_are_json(client):
    response = client.get("/api/nothing")
    assert response.status_code == 404 and "error" in response.get_json()
    response = client.delete("/api/annotations")
    assert response.status_code == 405 and "error" in response.get_json()


def test_internal_errors_hide_the_stack_trace(store, make_app, monkeypatch):
    app = make_app(store)

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app.py line 42")

    monkeypatch.setattr(store, "stats", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/api/stats")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text
    assert response.get_json()["code"] == "internal"


def test_page_and_ui_resources_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<!doctype html>" in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/plugins/ml-assisted-labeling/resource/../plugin.json").status_code == 404


def test_the_page_title_is_escaped():
    from assisted_labeling.web.app import page_html

    page = page_html("tabular", '</title><base href="//evil.example/">&')
    head = page.split("<body>", 1)[0]
    assert "<base" not in head and head.count("</title>") == 1
    assert "&lt;/title&gt;&lt;base href=&quot;//evil.example/&quot;&gt;&amp;" in head


def test_a_new_label_never_overwrites_one_saved_from_another_tab(client):
    """Two tabs of one user hold the same reserved item: the second save, meant as the
    item's first label, is refused and tells which annotation is kept."""
    item = client.get("/api/next").get_json()["items"][0]["id"]
    first = client.post("/api/annotations", json={"item_id": item, "label": "pos",
                                                  "new": True})
    assert first.status_code == 201
    for path, body in (("/api/annotations", {"label": "neg"}), ("/api/skips", {})):
        again = client.post(path, json={"item_id": item, "new": True, **body})
        assert again.status_code == 409
        error = again.get_json()
        assert error["code"] == "already_annotated" and "another tab" in error["error"]
        assert error["details"]["annotation"]["label"] == "pos"
    history = client.get("/api/history").get_json()
    assert [(e["id"], e["annotation"]["label"]) for e in history["items"]] == [(item, "pos")]
    stats = client.get("/api/stats").get_json()
    assert stats["labeled"] == 1 and stats["skipped"] == 0
    # Without "new", saving again is an edit, as before.
    assert label(client, item, "neg").status_code == 201
    assert client.post("/api/annotations", json={"item_id": item, "label": "pos",
                                                 "new": "yes"}).status_code == 400


def test_a_first_save_resent_by_the_page_that_made_it_is_its_edit(client):
    """A page's first save reached the server but its answer was lost: the page's next
    first save of that item is its own edit; another page's is still refused."""
    item = client.get("/api/next").get_json()["items"][0]["id"]

    def first_save(label, page, sequence):
        return client.post("/api/annotations", json={
            "item_id": item, "label": label, "new": True, "client_id": page,
            "sequence": sequence})

    stored = first_save("pos", "tab-1", 1)  # its answer is lost
    assert stored.status_code == 201
    again = first_save("neg", "tab-1", 2)
    assert again.status_code == 201 and again.get_json()["id"] == stored.get_json()["id"]
    other = first_save("pos", "tab-2", 1)
    assert other.status_code == 409 and other.get_json()["code"] == "already_annotated"
    assert first_save("pos", "tab-1", 1).status_code == 409  # delayed: stale
    stats = client.get("/api/stats").get_json()
    assert stats["labeled"] == 1 and stats["per_class"] == {"neg": 1}


def test_a_first_save_never_overwrites_another_pages_label_after_a_refusal(client):
    """A page's first save was refused (nothing stored); another page then labels the
    item: this page's next first save is refused, whatever label it carries."""
    item = client.get("/api/next").get_json()["items"][0]["id"]
    refused = client.post("/api/annotations", json={
        "item_id": item, "label": "nope", "new": True, "client_id": "tab-1",
        "sequence": 1})
    assert refused.status_code == 400
    assert client.post("/api/annotations", json={
        "item_id": item, "label": "pos", "new": True, "client_id": "tab-2",
        "sequence": 1}).status_code == 201
    for label_ in ("pos", "neg"):
        late = client.post("/api/annotations", json={
            "item_id": item, "label": label_, "new": True, "client_id": "tab-1",
            "sequence": 2})
        assert late.status_code == 409 and late.get_json()["code"] == "already_annotated"
    history = client.get("/api/history").get_json()["items"]
    assert [(e["id"], e["annotation"]["label"]) for e in history] == [(item, "pos")]


def test_a_delayed_save_never_replaces_a_later_one_from_the_same_page(client):
    """A page gives up on a slow save and the labeler saves the item again; the first
    request, delayed, then reaches the server: it must not undo the second."""
    item = client.get("/api/next").get_json()["items"][0]["id"]

    def save(label, sequence, page="tab-1", **extra):
        body = {"item_id": item, "client_id": page, "sequence": sequence, **extra}
        if label is None:
            return client.post("/api/skips", json=body)
        return client.post("/api/annotations", json={**body, "label": label})

    saved = save("neg", 2)
    assert saved.status_code == 201
    for late in (save("pos", 1), save(None, 1)):
        assert late.status_code == 409
        error = late.get_json()
        assert error["code"] == "stale" and "later save" in error["error"]
        assert error["details"]["annotation"]["label"] == "neg"
    # The same request twice (resent below the page) is answered as stored, once.
    again = save("neg", 2)
    assert again.status_code == 201 and again.get_json()["id"] == saved.get_json()["id"]
    assert again.get_json()["label_id"] == saved.get_json()["label_id"]
    stats = client.get("/api/stats").get_json()
    assert stats["labeled"] == 1 and stats["skipped"] == 0
    # A save that names no page (a script) is applied and keeps the page's order.
    no_page = client.post("/api/annotations", json={"item_id": item, "label": "pos"})
    assert no_page.status_code == 201
    assert save("neg", 1).status_code == 409
    assert save("neg", 4).status_code == 201
    # Another page (another tab) has its own order: the latest save wins, as before …
    assert save(None, 1, page="tab-2").status_code == 201
    history = client.get("/api/history").get_json()["items"]
    assert history[0]["annotation"]["status"] == "SKIPPED"
    # … and a delayed save of the first page, or its last one resent, never undoes it.
    assert save("pos", 3).status_code == 409
    assert save("neg", 4).status_code == 201
    history = client.get("/api/history").get_json()["items"]
    assert history[0]["annotation"]["status"] == "SKIPPED"
    for bad in ({"client_id": "tab-1"}, {"sequence": 4}, {"client_id": "", "sequence": 4},
                {"client_id": "x" * 65, "sequence": 4}, {"client_id": 7, "sequence": 4},
                {"client_id": "tab-1", "sequence": -1}, {"client_id": "tab-1", "sequence": 1.5},
                {"client_id": "tab-1", "sequence": True},
                {"client_id": "tab-1", "sequence": 2**53}):
        refused = client.post("/api/annotations", json={"item_id": item, "label": "pos", **bad})
        assert refused.status_code == 400, bad
        assert refused.get_json()["code"] == "invalid"


def test_a_page_in_use_keeps_its_items_reserved(make_app, store, monkeypatch):
    """The page re-reads /api/config while in view, with active=1 when its labeler used
    it lately: a labeler reading an item for longer than the reservation must not see it
    handed to someone else, and a page left alone must give its items back."""
    renewed = []
    monkeypatch.setattr(store, "renew_leases",
                        lambda user, **kw: renewed.append((user, kw["lease_seconds"])) or 1)
    client = make_app(store, lease_seconds=120).test_client()
    assert client.get("/api/config?active=1").status_code == 200
    assert client.get("/api/config").status_code == 200
    assert renewed == [("local", 120)]
    assert client.get("/api/config").get_json()["lease_seconds"] == 120


def test_a_viewer_has_no_reservations_to_renew(store, monkeypatch):
    from assisted_labeling.config import build_config
    from assisted_labeling.project import LabelingProject, Principal
    from assisted_labeling.web.app import create_app

    class Viewer:
        def identify(self, request):
            return Principal("vic", "viewer")

    renewed = []
    monkeypatch.setattr(store, "renew_leases", lambda *a, **kw: renewed.append(a))
    app = create_app(LabelingProject(build_config({"categories": "pos,neg"}), store),
                     auth=Viewer(), test_config={"TESTING": True})
    assert app.test_client().get("/api/config?active=1").status_code == 200
    assert renewed == []


def test_a_renewal_that_fails_still_gives_the_configuration(client, store, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("read-only file system")

    monkeypatch.setattr(store, "renew_leases", broken)
    assert client.get("/api/config?active=1").status_code == 200


def test_a_resend_with_other_content_is_a_conflict_not_a_silent_201(client):
    """A script that reuses a client_id and sequence for another label was told 201 and
    its label dropped: the same save again is answered as stored, another one refused."""
    item = client.get("/api/next").get_json()["items"][0]["id"]
    body = {"item_id": item, "label": "pos", "client_id": "script", "sequence": 5,
            "comment": "first"}
    assert client.post("/api/annotations", json=body).status_code == 201
    assert client.post("/api/annotations", json=body).status_code == 201  # a resend
    for other in ({**body, "label": "neg"}, {**body, "comment": "second"}):
        refused = client.post("/api/annotations", json=other)
        assert refused.status_code == 409
        error = refused.get_json()
        assert error["code"] == "resend_differs" and "sequence" in error["error"]
        assert error["details"]["annotation"]["label"] == "pos"
    skip = client.post("/api/skips", json={k: v for k, v in body.items() if k != "label"})
    assert skip.status_code == 409
    history = client.get("/api/history").get_json()["items"]
    assert history[0]["annotation"]["label"] == "pos"
    assert history[0]["annotation"]["comment"] == "first"


def test_items_fetched_ahead_can_be_given_back(client, store):
    """A page drops its items fetched ahead when the queue is ranked anew: given back,
    they take their place in the ranking, free for anyone."""
    reserved = [i["id"] for i in client.get("/api/next?count=3").get_json()["items"]]
    response = client.post("/api/releases", json={"item_ids": reserved[1:] + ["nope"]})
    assert response.status_code == 200 and response.get_json() == {"released": 2}
    assert [i.key for i in store.next_items("bob", count=3)] == reserved[1:]
    again = client.post("/api/releases", json={"item_ids": reserved[1:]}).get_json()
    assert again == {"released": 0}  # bob's now: not the caller's to give back
    for body in ({}, {"item_ids": []}, {"item_ids": "r1"}, {"item_ids": [1]},
                 {"item_ids": ["r1"] * 51}):
        response = client.post("/api/releases", json=body)
        assert response.status_code == 400
        assert '"item_ids" must be a list of 1 to 50 item ids' in response.get_json()["error"]
