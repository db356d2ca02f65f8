"""Bad input is a clear 4xx JSON error, never a 500; comments are kept unless changed."""

from __future__ import annotations

import io

import pytest

from assisted_labeling.web import api
from assisted_labeling.web.api import MAX_BODY_BYTES


def label(client, item_id="r1", value="pos", **extra):
    return client.post("/api/annotations", json={"item_id": item_id, "label": value, **extra})


def post_raw(client, text: str, path="/api/annotations"):
    return client.post(path, data=text, content_type="application/json")


def assert_400(response, code="invalid"):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["code"] == code


# -- comments ------------------------------------------------------------------------


def test_relabeling_without_a_comment_keeps_the_stored_one(client):
    label(client, comment="blurry")
    assert label(client, value="neg").status_code == 201
    assert label(client, value="neg", comment=None).status_code == 201
    assert client.post("/api/skips", json={"item_id": "r1"}).status_code == 201
    history = client.get("/api/history").get_json()["items"]
    assert history[0]["annotation"]["comment"] == "blurry"
    label(client, value="pos", comment="")  # an explicit "" clears it
    assert client.get("/api/history").get_json()["items"][0]["annotation"]["comment"] == ""


@pytest.mark.parametrize("comment", [0, False, {}, [], 5, ["x"]])
def test_a_comment_that_is_not_text_is_a_400(client, comment):
    response = label(client, comment=comment)
    assert_400(response)
    assert '"comment"' in response.get_json()["error"]
    assert client.get("/api/history").get_json()["items"] == []


# -- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["before=99999999999999999999999", "after=9223372036854775808",
                                   "before=-99999999999999999999", "after=1_0", "before=١٢",
                                   "limit=99999999999999999999999"])
def test_history_cursors_out_of_range_are_400(client, query):
    assert_400(client.get(f"/api/history?{query}"))


def test_history_cursor_at_the_largest_id_is_fine(client):
    assert client.get("/api/history?before=9223372036854775807").status_code == 200


@pytest.mark.parametrize("duration", ["NaN", "Infinity", "-Infinity", "-1", "1e300",
                                      "86400001", "true", "\"5\"", "1" + "0" * 400,
                                      "-1" + "0" * 400, "1e400"])
@pytest.mark.parametrize("path", ["/api/annotations", "/api/skips"])
def test_bad_durations_are_400(client, duration, path):
    body = f'{{"item_id": "r1", "label": "pos", "duration_ms": {duration}}}'
    assert_400(post_raw(client, body, path))


def test_a_plausible_duration_is_stored(client):
    label(client, duration_ms=1500.7)
    assert client.get("/api/history").get_json()["items"][0]["annotation"]["duration_ms"] == 1500


# -- text ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"item_id": "\ud800", "label": "pos"},
    {"item_id": "r1", "label": "pos", "comment": "a\udfffb"},
    {"item_id": "r1", "label": "\ud800"},
])
def test_lone_surrogates_are_400(client, body):
    assert_400(client.post("/api/annotations", json=body))
    assert_400(client.post("/api/skips", json=body))


@pytest.mark.parametrize("body", [{"name": "\ud800", "password": "whatever-pass"},
                                  {"name": "ann", "password": "pass\udc00word"}])
def test_lone_surrogates_in_a_login_are_400(client, store, body):
    store.add_user("ann", "annotator", "ann-password")
    assert_400(client.post("/api/login", json=body))


def test_a_surrogate_pair_is_just_an_emoji(client):
    assert label(client, comment="\ud83d\ude00 ok").status_code == 201
    history = client.get("/api/history").get_json()["items"]
    assert history[0]["annotation"]["comment"] == "😀 ok"


@pytest.mark.parametrize("raw", [b"\xed\xa0\x80", b"a\xed\xbf\xbfb", b"\xff"])
def test_surrogates_or_bad_bytes_sent_raw_are_400(client, raw):
    body = b'{"item_id": "r1", "label": "pos", "comment": "' + raw + b'"}'
    assert_400(client.post("/api/annotations", data=body, content_type="application/json"))
    assert client.get("/api/history").get_json()["items"] == []


def test_a_body_without_surrogate_escapes_is_not_walked_again(client, monkeypatch):
    # Walking the decoded body costs ~1.5 ms per 100 KB, on every save.
    walked = []
    monkeypatch.setattr(api, "_no_lone_surrogate", walked.append)
    assert label(client, comment="é ok", pad="x" * 100_000).status_code == 201
    assert walked == []
    assert post_raw(client, '{"item_id": "r2", "label": "pos", "comment": "\\ud83d\\ude00"}'
                    ).status_code == 201
    assert len(walked) == 1


def test_a_utf8_bom_is_allowed(client):
    body = b'\xef\xbb\xbf{"item_id": "r1", "label": "pos"}'
    assert client.post("/api/annotations", data=body,
                       content_type="application/json").status_code == 201


def test_a_login_body_that_is_not_an_object_is_400(client, store):
    store.add_user("ann", "annotator", "ann-password")
    assert_400(post_raw(client, '["ann", "ann-password"]', "/api/login"))


# -- shape and size ------------------------------------------------------------------


def test_deeply_nested_json_is_400(client):
    depth = 100_000
    response = post_raw(client, "[" * depth + "]" * depth)
    assert_400(response)
    assert "nested" in response.get_json()["error"]


@pytest.mark.parametrize("depth", [33, 500, 900, 981])
@pytest.mark.parametrize("surrogate", [False, True])
def test_nesting_the_parser_accepts_is_refused_too(client, depth, surrogate):
    """The steps after parsing recurse through the body too (the message quoting a bad
    label, the check for lone surrogates): a depth the parser just takes overflowed
    there, a 500."""
    extra = ', "c": "\\ud83d\\ude00"' if surrogate else ""
    body = '{"item_id": "1", "label": ' + "[" * depth + "]" * depth + extra + "}"
    response = post_raw(client, body)
    assert_400(response)
    assert "nested too deeply" in response.get_json()["error"]


def chunked(client, data: bytes):
    """A body sent with Transfer-Encoding: chunked (no Content-Length), as gunicorn
    hands it over (it ends the stream: ``wsgi.input_terminated``)."""
    return client.post("/api/annotations", input_stream=io.BytesIO(data),
                       content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413(client):
    response = chunked(client, b'{"item_id": "r1", "label": "pos", "comment": "'
                       + b"x" * (3 * 1024 * 1024) + b'"}')
    assert response.status_code == 413
    assert response.get_json()["code"] == "request_entity_too_large"


def test_a_body_the_server_cannot_read_is_400(client):
    from gunicorn.http.errors import InvalidChunkSize

    class Malformed(io.BytesIO):  # gunicorn's reader of a chunk size "zz"
        def read(self, size=-1):
            raise InvalidChunkSize(b"zz")

    response = client.post("/api/annotations", input_stream=Malformed(),
                           content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 400
    assert "could not be read" in response.get_json()["error"]


def test_a_chunked_body_up_to_the_limit_is_read_whole(client):
    head = b'{"item_id": "r1", "label": "pos", "pad": "'
    body = head + b"x" * (MAX_BODY_BYTES - len(head) - 2) + b'"}'
    assert len(body) == MAX_BODY_BYTES
    assert chunked(client, body).status_code == 201
    assert chunked(client, body[:-2] + b'x"}').status_code == 413


# -- values JSON cannot carry ----------------------------------------------------------


def test_an_item_holding_infinity_is_sent_as_strict_json(make_app, tmp_path):
    """Python's json writes Infinity and NaN, which are not JSON: the page could not read
    /api/next and the item stayed reserved, so every later call failed too."""
    import json

    from assisted_labeling.store import Item
    from assisted_labeling.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "inf.db")
    store.add_items([Item("a", {"x": float("inf"), "y": [float("-inf"), float("nan")]})])
    client = make_app(store).test_client()
    for path in ("/api/next", "/api/next"):
        response = client.get(path)
        assert response.status_code == 200
        item = json.loads(response.get_data(as_text=True),
                          parse_constant=lambda c: pytest.fail(f"{c} sent"))["items"][0]
        assert item["data"] == {"x": "inf", "y": ["-inf", None]}  # as a CSV writes them
    store.close()


def test_a_number_too_long_to_read_is_a_400_in_plain_words(client):
    response = post_raw(client, '{"item_id": "r1", "label": "pos", "duration_ms": '
                        + "9" * 5000 + "}")
    assert_400(response)
    error = response.get_json()["error"]
    assert "5000 digits" in error and "sys." not in error
    # The sign is not a digit: 100 digits and a minus are not "too long".
    negative = post_raw(client, '{"item_id": "r1", "label": "pos", "duration_ms": -'
                        + "9" * 100 + "}")
    assert "too long" not in negative.get_json()["error"]
    assert client.get("/api/history").get_json()["items"] == []


def test_the_json_provider_takes_allow_nan_from_a_caller(app):
    assert app.json.dumps({"a": float("nan")}, allow_nan=True) == '{"a": null}'


def test_a_count_too_big_for_a_number_says_its_range(client):
    response = client.get("/api/next?count=99999999999999999999999")
    assert_400(response)
    assert "between" in response.get_json()["error"]
    assert "whole number" in client.get("/api/next?count=1e3").get_json()["error"]


def test_a_path_with_a_double_slash_is_a_json_404_not_a_redirect(client):
    response = client.post("/api//annotations", json={"item_id": "r1", "label": "pos"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
