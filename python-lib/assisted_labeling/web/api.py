"""The JSON API, the same in DSS and standalone. Views only map HTTP to the project."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request, session
from werkzeug.exceptions import HTTPException

from ..errors import LabelingError, ValidationError
from ..project import LabelingProject, Principal
from .auth import Authenticator, StoreAuthenticator, require_role

log = logging.getLogger(__name__)


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f'"{name}" must be a whole number (got {raw!r})') from None


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationError("The request body must be JSON (Content-Type: application/json)")
    return body


def create_api_blueprint(project: LabelingProject, auth: Authenticator) -> Blueprint:
    """Blueprint with every /api route, bound to one project and one authenticator."""
    api = Blueprint("labeling_api", __name__)

    def user(role: str = "viewer") -> Principal:
        principal: Principal = g.get("principal") or auth.identify(request)
        g.principal = principal
        require_role(principal, role)
        return principal

    def with_stats(payload: dict[str, Any], principal: Principal) -> dict[str, Any]:
        payload["stats"] = project.stats(principal).to_dict()
        return payload

    @api.get("/config")
    def get_config():
        principal = user()
        payload = project.config_payload(principal)
        if "csrf" in session:
            payload["csrf_token"] = session["csrf"]
        payload["auth"] = {"can_logout": "user" in session}
        return jsonify(payload)

    @api.get("/next")
    def get_next():
        principal = user("annotator")
        count = _int_arg("count", 1)
        return jsonify({"items": project.next_items(principal, count)})

    @api.post("/annotations")
    def post_annotation():
        principal = user("annotator")
        annotation = project.annotate(principal, _json_body())
        body = with_stats({"label_id": annotation.label_id, "id": annotation.id}, principal)
        return jsonify(body), 201

    @api.post("/skips")
    def post_skip():
        principal = user("annotator")
        annotation = project.skip(principal, _json_body())
        return jsonify(with_stats({"id": annotation.id}, principal)), 201

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
            name, password = body.get("name"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str):
                raise ValidationError('"name" and "password" are required')
            principal = auth.login(name, password)
            return jsonify({"user": {"name": principal.name, "role": principal.role},
                            "csrf_token": session["csrf"]})

        @api.post("/logout")
        def logout():
            session.clear()
            return jsonify({"ok": True})

    return api


def install_error_handlers(app: Flask) -> None:
    """Every error becomes JSON ``{error}`` with its status; never a stack trace."""

    @app.errorhandler(LabelingError)
    def labeling_error(exc: LabelingError):
        return jsonify(exc.to_dict()), exc.status

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
