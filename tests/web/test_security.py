"""Login sessions kept in the store, the brute-force brake, and the account-less local
mode answering only this machine."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from assisted_labeling.config import build_config
from assisted_labeling.errors import ConflictError
from assisted_labeling.project import LabelingProject
from assisted_labeling.store.sqlite import SQLiteStore
from assisted_labeling.web.app import create_app
from assisted_labeling.web.auth import SESSION_COOKIE, LoginBrake, StoreAuthenticator

LABEL = {"item_id": "r1", "label": "pos"}


def app_on(store, **auth_options):
    config = build_config({"categories": "pos,neg,neutral"})
    auth = StoreAuthenticator(store, local_mode=True, **auth_options)
    return create_app(LabelingProject(config, store), auth=auth,
                      test_config={"TESTING": True})


@pytest.fixture
def accounts(store):
    store.add_user("ann", "annotator", "ann-password")
    store.add_user("vic", "viewer", "vic-password")


def login(client, name="ann", password="ann-password", **kwargs):
    return client.post("/api/login", json={"name": name, "password": password}, **kwargs)


def test_logout_ends_the_session_for_every_copy_of_the_cookie(client, accounts):
    csrf = login(client).get_json()["csrf_token"]
    cookie = client.get_cookie(SESSION_COOKIE).value
    assert client.post("/api/annotations", json=LABEL,
                       headers={"X-CSRF-Token": csrf}).status_code == 201
    # Without its CSRF token, another page (another port of this host) cannot end it.
    assert client.post("/api/logout").status_code == 403
    assert client.get("/api/config").get_json()["user"]["name"] == "ann"
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get_cookie(SESSION_COOKIE) is None
    client.set_cookie(SESSION_COOKIE, cookie)  # replayed, e.g. from a stolen copy
    response = client.get("/api/config")
    assert response.status_code == 401 and "ended" in response.get_json()["error"]
    assert client.post("/api/annotations", json=LABEL,
                       headers={"X-CSRF-Token": csrf}).status_code == 401


def test_a_logout_in_one_process_ends_the_session_in_the_others(store, tmp_path, accounts):
    first = app_on(store).test_client()
    csrf = login(first).get_json()["csrf_token"]
    cookie = first.get_cookie(SESSION_COOKIE).value
    other_store = SQLiteStore(tmp_path / "labels.db")  # another worker, or a restart
    other = app_on(other_store).test_client()
    other.set_cookie(SESSION_COOKIE, cookie)
    assert other.get("/api/config").get_json()["user"]["name"] == "ann"
    assert first.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert other.get("/api/config").status_code == 401
    other_store.close()


def test_the_store_holds_nothing_that_opens_a_session(client, store, accounts):
    login(client)
    assert store.get_meta("secret_key") is None
    stolen = [row[0] for row in store._conn().execute("SELECT id_hash FROM sessions")]
    other = client.application.test_client()
    for value in stolen:
        other.set_cookie(SESSION_COOKIE, value)
        assert other.get("/api/config").status_code == 401


def test_an_expired_session_is_refused(client, store, accounts):
    login(client)
    store._conn().execute("UPDATE sessions SET expires_at = 0")
    assert client.get("/api/config").status_code == 401


def test_a_demotion_or_deletion_applies_to_open_sessions(client, store, accounts):
    csrf = login(client).get_json()["csrf_token"]
    store.set_role("ann", "viewer")
    assert client.get("/api/config").get_json()["user"]["role"] == "viewer"
    assert client.post("/api/annotations", json=LABEL,
                       headers={"X-CSRF-Token": csrf}).status_code == 403
    store.delete_user("ann")
    assert client.get("/api/config").status_code == 401


def test_a_non_ascii_csrf_header_is_a_403(client, accounts):
    login(client)
    response = client.post("/api/annotations", json=LABEL, headers={"X-CSRF-Token": "é"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "session_changed"


def test_a_page_whose_sign_in_was_replaced_is_told_so(client, accounts):
    """Another tab signed in as someone else: the browser's cookie is theirs now, and
    this page's token is its own user's. A distinct code lets the page ask to sign in
    again rather than say that the account may not label."""
    first = login(client).get_json()["csrf_token"]
    login(client, "vic", "vic-password")
    response = client.post("/api/annotations", json=LABEL,
                           headers={"X-CSRF-Token": first})
    assert response.status_code == 403
    body = response.get_json()
    assert body["code"] == "session_changed"
    assert "signed in or out in another tab" in body["error"]


def test_repeated_failed_logins_for_a_name_are_braked_with_429(store, accounts):
    client = app_on(store, brake=LoginBrake(per_name=3, per_address=100,
                                            window=600)).test_client()
    for _ in range(3):
        assert login(client, password="guess-guess").status_code == 401
    response = login(client)  # even the right password now waits
    assert response.status_code == 429
    assert response.get_json()["code"] == "too_many_attempts"
    assert 590 <= int(response.headers["Retry-After"]) <= 600
    assert login(client, "vic", "vic-password").status_code == 200  # other names may


def test_a_success_forgets_the_names_failures(store, accounts):
    client = app_on(store, brake=LoginBrake(per_name=3)).test_client()
    passwords = ["guess-guess"] * 2 + ["ann-password"] + ["guess-guess"] * 2 + ["ann-password"]
    statuses = [login(client, password=password).status_code for password in passwords]
    assert statuses == [401, 401, 200, 401, 401, 200]


def test_failures_from_one_address_are_braked_across_names(store, accounts):
    brake = LoginBrake(per_name=10, per_address=4, window=600)
    client = app_on(store, brake=brake).test_client()
    for name in ("ann", "vic", "bob", "eve"):
        assert login(client, name, "guess-guess").status_code == 401
    assert login(client, "vic", "vic-password").status_code == 429
    elsewhere = {"environ_base": {"REMOTE_ADDR": "10.0.0.9"}}
    assert login(client, "vic", "vic-password", **elsewhere).status_code == 200


def test_the_brake_is_shared_by_every_process_on_the_store(store, tmp_path, accounts):
    brake = LoginBrake(per_name=2)
    first = app_on(store, brake=brake).test_client()
    for _ in range(2):
        login(first, password="guess-guess")
    other_store = SQLiteStore(tmp_path / "labels.db")
    other = app_on(other_store, brake=brake).test_client()
    assert login(other).status_code == 429
    other_store.close()



def test_parallel_guesses_cannot_outrun_the_brake(store, accounts):
    # Each guess is counted before its (slow) password check: 30 at once for one name
    # get at most per_name answers, the others a 429.
    app = app_on(store, brake=LoginBrake(per_name=10, per_address=1000, window=600))
    start = threading.Barrier(30)

    def guess(_: int) -> int:
        client = app.test_client()
        start.wait()
        return login(client, password="guess-guess").status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == 10
    assert login(app.test_client()).status_code == 429  # the right password too


def test_an_errors_headers_go_on_its_response(store):
    app = app_on(store)

    @app.get("/teapot")
    def teapot():
        raise ConflictError("Busy", headers={"Retry-After": "7", "X-Why": "test"})

    response = app.test_client().get("/teapot")
    assert response.status_code == 409 and response.get_json()["code"] == "conflict"
    assert response.headers["Retry-After"] == "7" and response.headers["X-Why"] == "test"

# -- account-less local mode: only this machine --------------------------------------------


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080",
                                  "localhost.attacker.example", "10.0.0.1:80"])
def test_local_mode_refuses_other_host_names(client, host):
    for response in (client.get("/api/next", headers={"Host": host}),
                     client.post("/api/annotations", json=LABEL, headers={"Host": host})):
        assert response.status_code == 403
        assert response.get_json()["code"] == "not_loopback"


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:5000",
                                  "[::1]:8080", "LOCALHOST"])
def test_local_mode_answers_loopback_host_names(client, host):
    assert client.get("/api/config", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("origin", ["http://attacker.example", "null",
                                    "http://127.0.0.1.attacker.example", "file://",
                                    "http://[zz"])
def test_local_mode_refuses_writes_from_other_origins(client, origin):
    response = client.post("/api/annotations", json=LABEL, headers={"Origin": origin})
    assert response.status_code == 403
    assert response.get_json()["code"] == "not_loopback"


def test_local_mode_accepts_writes_from_its_own_pages(client):
    for origin in ("http://127.0.0.1:5000", "http://localhost:8000", "http://[::1]:80"):
        assert client.post("/api/annotations", json=LABEL,
                           headers={"Origin": origin}).status_code == 201


def test_with_accounts_the_host_check_gives_way_to_authentication(client, store):
    token = store.add_user("ann", "annotator", "ann-password")
    response = client.get("/api/config", headers={"Host": "labels.example.org",
                                                  "Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_behind_a_proxy_the_brake_counts_clients_and_cookies_are_secure(store, accounts):
    config = build_config({"categories": "pos,neg,neutral"})
    auth = StoreAuthenticator(store, local_mode=False,
                              brake=LoginBrake(per_name=100, per_address=2))
    app = create_app(LabelingProject(config, store), auth=auth, behind_proxy=True,
                     test_config={"TESTING": True})
    client = app.test_client()

    def attempt(address: str):
        return login(client, password="wrong-password",
                     headers={"X-Forwarded-For": address})

    assert [attempt("203.0.113.7").status_code for _ in range(3)] == [401, 401, 429]
    # Another client behind the same proxy is not locked out by the first one.
    assert attempt("198.51.100.9").status_code == 401
    response = login(client, headers={"X-Forwarded-For": "198.51.100.10",
                                      "X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"]
    # Without the proxy setting, the forwarded headers are not believed.
    direct = app_on(store, brake=LoginBrake(per_name=100, per_address=2)).test_client()
    for address in ("192.0.2.1", "192.0.2.2"):
        login(direct, password="wrong-password", headers={"X-Forwarded-For": address})
    assert login(direct, headers={"X-Forwarded-For": "192.0.2.3"}).status_code == 429


def test_giving_items_back_needs_an_annotator_and_the_csrf_token(client, accounts):
    body = {"item_ids": ["r1"]}
    csrf = login(client, "vic", "vic-password").get_json()["csrf_token"]
    assert client.post("/api/releases", json=body).status_code == 403  # no token
    assert client.post("/api/releases", json=body,
                       headers={"X-CSRF-Token": csrf}).status_code == 403  # a viewer
    csrf = login(client).get_json()["csrf_token"]
    assert client.post("/api/releases", json=body,
                       headers={"X-CSRF-Token": csrf}).get_json() == {"released": 0}
