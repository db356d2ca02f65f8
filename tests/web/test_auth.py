"""Accounts: tokens, session cookies with CSRF, roles checked on the server."""

from __future__ import annotations

import pytest


@pytest.fixture
def tokens(store):
    return {
        "ann": store.add_user("ann", "annotator", "ann-password"),
        "vic": store.add_user("vic", "viewer", "vic-password"),
    }


def test_once_accounts_exist_every_request_needs_auth(client, tokens):
    response = client.get("/api/config")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"
    assert client.get("/api/next").status_code == 401


def test_without_accounts_off_loopback_nobody_is_implicit(store, make_app):
    client = make_app(store, local_mode=False).test_client()
    assert client.get("/api/config").status_code == 401


def test_bearer_token(client, tokens):
    headers = {"Authorization": f"Bearer {tokens['ann']}"}
    body = client.get("/api/config", headers=headers).get_json()
    assert body["user"] == {"name": "ann", "role": "annotator"}
    response = client.post("/api/annotations", json={"item_id": "r1", "label": "pos"},
                           headers=headers)
    assert response.status_code == 201
    assert client.get("/api/config",
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/config",
                      headers={"Authorization": "Basic abc"}).status_code == 401


def test_viewer_cannot_label(client, tokens):
    headers = {"Authorization": f"Bearer {tokens['vic']}"}
    assert client.get("/api/stats", headers=headers).status_code == 200
    response = client.post("/api/annotations", json={"item_id": "r1", "label": "pos"},
                           headers=headers)
    assert response.status_code == 403
    assert client.get("/api/next", headers=headers).status_code == 403
    assert client.post("/api/skips", json={"item_id": "r1"},
                       headers=headers).status_code == 403
    assert client.get("/api/history", headers=headers).status_code == 403
    stats = client.get("/api/stats", headers=headers).get_json()
    assert stats["labeled"] == stats["skipped"] == 0  # nothing was written


def test_cookie_login_needs_the_csrf_token_to_write(client, tokens):
    assert client.post("/api/login",
                       json={"name": "ann", "password": "nope"}).status_code == 401
    login = client.post("/api/login", json={"name": "ann", "password": "ann-password"})
    assert login.status_code == 200
    csrf = login.get_json()["csrf_token"]
    assert "HttpOnly" in login.headers["Set-Cookie"]
    config = client.get("/api/config").get_json()
    assert config["user"]["name"] == "ann" and config["csrf_token"] == csrf
    body = {"item_id": "r1", "label": "pos"}
    assert client.post("/api/annotations", json=body).status_code == 403
    assert client.post("/api/annotations", json=body,
                       headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/annotations", json=body,
                       headers={"X-CSRF-Token": csrf}).status_code == 201
    assert client.post("/api/logout").status_code == 403
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/config").status_code == 401
    assert client.post("/api/logout").status_code == 200  # no session: nothing to end
