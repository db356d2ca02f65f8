"""The JSON API, the same in DSS and standalone. Views only map HTTP to the project."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any, NoReturn

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from ..errors import LabelingError, ValidationError, one_line
from ..project import LabelingProject, Principal
from .auth import (
    SESSION_COOKIE,
    Authenticator,
    StoreAuthenticator,
    require_role,
    role_level,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # when the app sets no MAX_CONTENT_LENGTH
_INT64 = 2**63 - 1  # the range of SQL integers (ids and cursors)
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800-\udfff


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ValidationError(f'"{name}" must be a whole number (got {raw[:30]!r})')
    if len(raw.lstrip("-")) > 19 or not -_INT64 <= int(raw) <= _INT64:
        raise ValidationError(f'"{name}" must be between {-_INT64} and {_INT64} '
                              f"(got {raw[:30]!r})")
    return int(raw)


def _read_body() -> bytes:
    """The raw body; 413 past the size limit, 400 when the server cannot read it."""
    try:
        return _read_limited()
    except HTTPException:
        raise
    except Exception as exc:  # the server's parser (a malformed chunk), a cut connection
        log.info("Unreadable request body: %s", one_line(str(exc)))
        raise BadRequest("The request body could not be read: send it again, whole") \
            from None


def _read_limited() -> bytes:
    """The raw body, or 413 past the size limit.

    A body with a Content-Length is read through werkzeug, which refuses one that
    announces too much. A chunked body has no length: werkzeug would cut it silently at
    the limit (then it is not JSON), so read the server's stream ourselves, at most the
    limit + 1 bytes, and refuse it if there is more."""
    limit = request.max_content_length or MAX_BODY_BYTES
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        # With a length, werkzeug reads that much; with neither a length nor a server
        # that ends the stream, it reads nothing rather than wait forever.
        return request.get_data(cache=False)
    stream, chunks, size = request.input_stream, [], 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        # Read (and drop) the rest of a moderately large body before answering: closing
        # with unread data makes the kernel reset the connection, and the client then
        # sees a broken pipe instead of the 413. Past 16 × the limit, stop reading.
        chunks.clear()
        while size <= 16 * limit and stream.read(64 * 1024):
            size += 64 * 1024
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def _whole_number(digits: str) -> int:
    # Python refuses to read past 4,300 digits with advice about its own settings.
    count = len(digits.lstrip("-"))
    if count > 100:
        raise ValueError(f"a number of {count} digits is too long")
    return int(digits)


def _no_lone_surrogate(body: Any) -> None:
    """400 if a decoded string holds a lone surrogate ("\\ud800"): it cannot be stored
    nor hashed."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("The request body holds an invalid character: a lone "
                              "UTF-16 surrogate (\\ud800-\\udfff)") from None


#: Deeper request bodies are refused: no request of ours nests more than a few levels,
#: and the steps after parsing (error messages, checks) recurse through the body.
MAX_JSON_DEPTH = 32


def _check_depth(body: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """400 if ``body`` nests lists and objects deeper than ``limit`` (walked without
    recursion: the check itself must not be what overflows)."""
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    raise ValidationError(f"The request body is nested too deeply (more "
                                          f"than {limit} levels)")
                stack.append((child, depth + 1))


def _json_body() -> Any:
    """The request's JSON body, or a 400 saying what is wrong with it."""
    if not request.is_json:
        raise ValidationError("The request body must be JSON (Content-Type: application/json)")
    try:
        # Strict UTF-8 refuses surrogates sent as raw bytes; json.loads(bytes) would let
        # them through (it decodes with "surrogatepass").
        text = _read_body().decode("utf-8").removeprefix("\ufeff")
        body = json.loads(text, parse_constant=_not_json, parse_int=_whole_number)
    except RecursionError:
        raise ValidationError("The request body is nested too deeply") from None
    except ValueError as exc:  # bad syntax, bad UTF-8, NaN or Infinity
        raise ValidationError(f"The request body is not valid JSON: {exc}") from None
    _check_depth(body)
    # Only an escape can still make a surrogate: walk the whole body (costly on a big
    # one, on every save) only when the text holds one.
    if _SURROGATE_ESCAPE.search(text):
        _no_lone_surrogate(body)
    return body


def create_api_blueprint(project: LabelingProject, auth: Authenticator) -> Blueprint:
    """Blueprint with every /api route, bound to one project and one authenticator."""
    api = Blueprint("labeling_api", __name__)

    def user(role: str = "viewer") -> Principal:
        principal: Principal = g.get("principal") or auth.identify(request)
        g.principal = principal
        require_role(principal, role)
        return principal

    def with_state(payload: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """A save's answer, plus the progress and the session the queue is ranked for."""
        payload["stats"] = project.stats(principal).to_dict()
        payload["session"] = project.ranked_session()
        return with_tag(payload)

    def with_tag(payload: dict[str, Any]) -> dict[str, Any]:
        """The tag of the warnings the page must see at once, where there are some."""
        tag = project.warnings_tag()
        if tag is not None:
            payload["warnings_tag"] = tag
        return payload

    @api.get("/config")
    def get_config():
        principal = user()
        if request.args.get("active") == "1" and \
                role_level(principal.role) >= role_level("annotator"):
            # The page re-reads this while in view, saying whether its labeler used it
            # lately: their items stay theirs however long they read one, and go back
            # to the queue once the page is left alone.
            try:
                project.keep_reservations(principal)
            except Exception:  # a store that cannot write: the configuration still reads
                log.warning("Could not renew %s's reservations", principal.name,
                            exc_info=True)
        payload = project.config_payload(principal)
        csrf = g.get("csrf_token")  # set by a cookie session
        if csrf is not None:
            payload["csrf_token"] = csrf
        payload["auth"] = {"can_logout": csrf is not None}
        return jsonify(payload)

    @api.get("/next")
    def get_next():
        principal = user("annotator")
        count = _int_arg("count", 1)
        # Read before the items: they are ranked for this session or a later one, never
        # an earlier one (a re-ranking in between is told by the next answer).
        session = project.ranked_session()
        return jsonify(with_tag({"items": project.next_items(principal, count),
                                 "session": session}))

    @api.post("/releases")
    def post_releases():
        principal = user("annotator")
        return jsonify({"released": project.release(principal, _json_body())})

    @api.post("/annotations")
    def post_annotation():
        principal = user("annotator")
        annotation = project.annotate(principal, _json_body())
        body = with_state({"label_id": annotation.label_id, "id": annotation.id}, principal)
        return jsonify(body), 201

    @api.post("/skips")
    def post_skip():
        principal = user("annotator")
        annotation = project.skip(principal, _json_body())
        return jsonify(with_state({"id": annotation.id}, principal)), 201

    @api.get("/history")
    def get_history():
        principal = user("annotator")
        before, after = _int_arg("before"), _int_arg("after")
        if before is not None and after is not None:
            raise ValidationError('Give "before" or "after", not both')
        entries = project.history(principal, before=before, after=after,
                                  limit=_int_arg("limit", 20))
        return jsonify({"items": entries})

    @api.get("/stats")
    def get_stats():
        return jsonify(project.stats(user()).to_dict())

    if isinstance(auth, StoreAuthenticator):
        @api.post("/login")
        def login():
            body = _json_body()
            if not isinstance(body, dict):
                raise ValidationError("The request body must be a JSON object")
            name, password = body.get("name"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str):
                raise ValidationError('"name" and "password" are required')
            done = auth.login(name, password, request)
            response = jsonify({
                "user": {"name": done.principal.name, "role": done.principal.role},
                "csrf_token": done.csrf_token,
            })
            response.set_cookie(SESSION_COOKIE, done.session_id,
                                max_age=int(auth.session_lifetime), httponly=True,
                                samesite="Strict", secure=request.is_secure)
            return response

        @api.post("/logout")
        def logout():
            auth.logout(request)
            response = jsonify({"ok": True})
            response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="Strict",
                                   secure=request.is_secure)
            return response

    return api


class FiniteJSONProvider(DefaultJSONProvider):
    """Flask's JSON, strict: Python writes NaN and infinities as ``NaN``/``Infinity``,
    which no JSON parser reads, and a page that cannot read ``/api/next`` is stuck on
    the item reserved for it. NaN goes as null, an infinity as the text a CSV writes
    for it ("inf"), which the page shows in its cell: only item cells can hold one (the
    store keeps no infinite score). Item columns keep their order."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs["allow_nan"] = False
        try:
            return super().dumps(obj, **kwargs)
        except ValueError:  # rare: walk the answer only when it holds such a number
            return super().dumps(_finite(obj), **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value) if math.isinf(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def install_json(app: Flask) -> None:
    """Answers in strict JSON, columns in the table's order (both hosts)."""
    app.json = FiniteJSONProvider(app)


def install_error_handlers(app: Flask) -> None:
    """Every error becomes JSON ``{error}`` with its status; never a stack trace."""

    @app.errorhandler(LabelingError)
    def labeling_error(exc: LabelingError):
        response = jsonify(exc.to_dict())
        response.headers.update(exc.headers)
        return response, exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {413: "The request is too large"}
        message = messages.get(exc.code or 500, exc.description or exc.name)
        return jsonify({"error": message, "code": exc.name.lower().replace(" ", "_")}), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        current_app.logger.exception("Unexpected error on %s %s", request.method, request.path)
        return jsonify({"error": "Internal error: the server log has the details",
                        "code": "internal"}), 500
